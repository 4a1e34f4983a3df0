-- The sensorstate table access method and its latest index
-- (docs/sensorstate.md).

CREATE FUNCTION sensorstate_handler(internal) RETURNS table_am_handler
  AS 'MODULE_PATHNAME', 'es_sensorstate_handler' LANGUAGE C STRICT;
CREATE ACCESS METHOD sensorstate TYPE TABLE HANDLER sensorstate_handler;
COMMENT ON ACCESS METHOD sensorstate IS
  'append-only readings table (heap storage) with a shared-memory latest state per key';

-- Column mappings and retention of sensorstate tables whose columns are not
-- named key, value, ts, region, device, skew_bound. Dumped by pg_dump.
CREATE TABLE sensorstate_config (
  table_name regclass PRIMARY KEY,
  key_column name,
  value_column name,
  ts_column name,
  region_column name,
  device_column name,
  skew_bound_column name,
  ttl interval CHECK (ttl > interval '0')
);
SELECT pg_catalog.pg_extension_config_dump('sensorstate_config', '');

CREATE FUNCTION _check_sensorstate(regclass) RETURNS void
  AS 'MODULE_PATHNAME', 'es_check_sensorstate' LANGUAGE C STRICT;

-- Maps a table's columns (NULL keeps the conventional name) and sets its
-- retention; checks the table at once.
CREATE FUNCTION configure(table_name regclass, key_column name DEFAULT NULL,
                          value_column name DEFAULT NULL, ts_column name DEFAULT NULL,
                          region_column name DEFAULT NULL, device_column name DEFAULT NULL,
                          skew_bound_column name DEFAULT NULL, ttl interval DEFAULT NULL)
  RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO edgestate.sensorstate_config
  VALUES (configure.table_name, configure.key_column, configure.value_column,
          configure.ts_column, configure.region_column, configure.device_column,
          configure.skew_bound_column, configure.ttl)
  ON CONFLICT ON CONSTRAINT sensorstate_config_pkey DO UPDATE SET
    key_column = EXCLUDED.key_column, value_column = EXCLUDED.value_column,
    ts_column = EXCLUDED.ts_column, region_column = EXCLUDED.region_column,
    device_column = EXCLUDED.device_column, skew_bound_column = EXCLUDED.skew_bound_column,
    ttl = EXCLUDED.ttl;
  PERFORM edgestate._check_sensorstate(configure.table_name);
END $$;

CREATE FUNCTION latest(table_name regclass, OUT key text, OUT value float8, OUT ts hlc,
                       OUT region text, OUT device text, OUT version bigint, OUT age interval,
                       OUT fresh boolean, OUT conflicted boolean, OUT state state,
                       OUT arrival timestamptz)
  RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'es_latest_all' LANGUAGE C STABLE STRICT;
CREATE FUNCTION latest(table_name regclass, key text, OUT key text, OUT value float8,
                       OUT ts hlc, OUT region text, OUT device text, OUT version bigint,
                       OUT age interval, OUT fresh boolean, OUT conflicted boolean,
                       OUT state state, OUT arrival timestamptz)
  RETURNS SETOF record
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
