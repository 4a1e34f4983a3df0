-- The sensorstate table access method and its latest index
-- (docs/sensorstate.md).

CREATE FUNCTION sensorstate_handler(internal) RETURNS table_am_handler
  AS 'MODULE_PATHNAME', 'es_sensorstate_handler' LANGUAGE C STRICT;
CREATE ACCESS METHOD sensorstate TYPE TABLE HANDLER sensorstate_handler;
COMMENT ON ACCESS METHOD sensorstate IS
  'append-only readings table (heap storage) with a shared-memory latest state per key';

CREATE FUNCTION _check_sensorstate(regclass) RETURNS void
  AS 'MODULE_PATHNAME', 'es_check_sensorstate' LANGUAGE C STRICT;

-- Column mappings and TTLs are security labels of provider 'edgestate': on a
-- column, its role (key, value, ts, region, device, skew_bound); on the table,
-- 'ttl=<interval>'. They belong to the table's definition, so pg_dump restores
-- them before the rows and they vanish with the table.
CREATE VIEW sensorstate_config AS
SELECT c.oid::regclass AS table_name,
       max(a.attname) FILTER (WHERE l.label = 'key') AS key_column,
       max(a.attname) FILTER (WHERE l.label = 'value') AS value_column,
       max(a.attname) FILTER (WHERE l.label = 'ts') AS ts_column,
       max(a.attname) FILTER (WHERE l.label = 'region') AS region_column,
       max(a.attname) FILTER (WHERE l.label = 'device') AS device_column,
       max(a.attname) FILTER (WHERE l.label = 'skew_bound') AS skew_bound_column,
       (SELECT substr(t.label, 5)::interval FROM pg_catalog.pg_seclabel t
        WHERE t.classoid = 'pg_catalog.pg_class'::regclass AND t.objoid = c.oid
          AND t.objsubid = 0 AND t.provider = 'edgestate') AS ttl
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_am am ON am.oid = c.relam AND am.amname = 'sensorstate'
LEFT JOIN pg_catalog.pg_seclabel l
  ON l.classoid = 'pg_catalog.pg_class'::regclass AND l.objoid = c.oid AND l.objsubid > 0
     AND l.provider = 'edgestate'
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = l.objsubid
WHERE c.relkind = 'r'
GROUP BY c.oid;

-- Maps columns to roles and sets the TTL; arguments left NULL keep what the
-- table has (a conventional name, or an earlier mapping). Checks the table.
CREATE FUNCTION configure(table_name regclass, key_column name DEFAULT NULL,
                          value_column name DEFAULT NULL, ts_column name DEFAULT NULL,
                          region_column name DEFAULT NULL, device_column name DEFAULT NULL,
                          skew_bound_column name DEFAULT NULL, ttl interval DEFAULT NULL)
  RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  mapping text[][] := ARRAY[['key', key_column], ['value', value_column], ['ts', ts_column],
                            ['region', region_column], ['device', device_column],
                            ['skew_bound', skew_bound_column]];
  pair text[];
  previous name;
BEGIN
  FOREACH pair SLICE 1 IN ARRAY mapping LOOP
    CONTINUE WHEN pair[2] IS NULL;
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = configure.table_name
                   AND attname = pair[2] AND attnum > 0 AND NOT attisdropped) THEN
      RAISE EXCEPTION 'sensorstate table "%" has no column "%"', configure.table_name, pair[2]
        USING ERRCODE = 'invalid_table_definition',
              HINT = 'Name an existing column of the table for each role you map.';
    END IF;
    FOR previous IN
      SELECT a.attname FROM pg_seclabel l JOIN pg_attribute a
        ON a.attrelid = l.objoid AND a.attnum = l.objsubid
      WHERE l.classoid = 'pg_class'::regclass AND l.objoid = configure.table_name
        AND l.provider = 'edgestate' AND l.label = pair[1] AND a.attname <> pair[2]
    LOOP
      EXECUTE format('SECURITY LABEL FOR edgestate ON COLUMN %s.%I IS NULL',
                     configure.table_name, previous);
    END LOOP;
    EXECUTE format('SECURITY LABEL FOR edgestate ON COLUMN %s.%I IS %L',
                   configure.table_name, pair[2], pair[1]);
  END LOOP;
  IF configure.ttl IS NOT NULL THEN
    EXECUTE format('SECURITY LABEL FOR edgestate ON TABLE %s IS %L',
                   configure.table_name, 'ttl=' || configure.ttl::text);
  END IF;
  PERFORM edgestate._check_sensorstate(configure.table_name);
END $$;

-- The row of latest(): a named type, so that a call does not rebuild its
-- descriptor from OUT parameters (most of the cost of a one-key read).
CREATE TYPE latest_row AS (key text, value float8, ts hlc, region text, device text,
                           version bigint, age interval, fresh boolean, conflicted boolean,
                           state state, arrival timestamptz);

CREATE FUNCTION latest(table_name regclass) RETURNS SETOF latest_row
  AS 'MODULE_PATHNAME', 'es_latest_all' LANGUAGE C STABLE STRICT;
CREATE FUNCTION latest(table_name regclass, key text) RETURNS SETOF latest_row
  AS 'MODULE_PATHNAME', 'es_latest_key' LANGUAGE C STABLE STRICT ROWS 1;

-- Deletes readings older than now() - older_than (for cron); the latest state
-- is then recomputed from what remains.
CREATE FUNCTION purge(table_name regclass, older_than interval) RETURNS bigint
  AS 'MODULE_PATHNAME', 'es_purge' LANGUAGE C VOLATILE STRICT;

-- Purges every table with a configured ttl.
CREATE FUNCTION purge_expired(OUT table_name regclass, OUT purged bigint) RETURNS SETOF record
  LANGUAGE sql VOLATILE
  BEGIN ATOMIC
    SELECT c.table_name, edgestate.purge(c.table_name, c.ttl)
    FROM edgestate.sensorstate_config c WHERE c.ttl IS NOT NULL ORDER BY 1;
  END;

CREATE FUNCTION latest_index_stats(OUT hits bigint, OUT misses bigint, OUT evictions bigint,
                                   OUT reloads bigint, OUT keys bigint, OUT capacity bigint)
  AS 'MODULE_PATHNAME', 'es_latest_index_stats' LANGUAGE C VOLATILE STRICT;
