-- Every panel query of docs/grafana-dashboard.json runs against a real server and
-- returns rows. The dashboard is read from the copy of docs/ that scripts/test.sh
-- puts beside sql/ and expected/; Grafana's macros and variables are replaced the
-- way Grafana replaces them ($__timeFrom() becomes a quoted RFC 3339 string, a
-- single-value variable its raw text).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
-- A schema of its own, so that 'readings' (the dashboard's default table) is this
-- test's table whatever other tests leave in public.
CREATE SCHEMA grafana;
SET search_path = grafana, public, edgestate;

CREATE TABLE readings (
  key text NOT NULL, value float8 NOT NULL, ts hlc NOT NULL, region text NOT NULL, device text
) USING sensorstate;
-- An hour of history: per region one reading a minute, the newest 20 s old.
INSERT INTO readings
SELECT r || '/t-' || (i % 3), 20 + i % 7, hlc(now() - interval '20 s' - i * interval '1 min'),
       r, 'gw-' || (i % 2)
FROM generate_series(0, 59) i, unnest(ARRAY['grafana-eu', 'grafana-us', 'grafana-ap']) r;
-- Live traffic, stamped as it arrives: over 99% of each region's arrival delays
-- are short, so the calibrated lateness stays well below 20 s and the last final
-- minute holds history readings.
INSERT INTO readings
SELECT r || '/t-' || (i % 3), 20 + i % 5, hlc(now()), r, 'gw-' || (i % 2)
FROM generate_series(1, 9000) i, unnest(ARRAY['grafana-eu', 'grafana-us', 'grafana-ap']) r;
-- Remote clocks seen per region (the clock-skew panel). Clock skews are kept per
-- region for the whole server: the region names are this test's own.
SELECT r, hlc_observe(hlc(now() - interval '1 s'), r) IS NOT NULL AS observed
FROM unnest(ARRAY['grafana-eu', 'grafana-us', 'grafana-ap']) r;
SELECT count(*) AS regions, bool_and(recommended_lateness < interval '20 s') AS short_lateness
FROM arrival_delays('readings');

\set dashboard `cat docs/grafana-dashboard.json`
CREATE TEMP TABLE dashboard AS SELECT :'dashboard'::jsonb AS d;

-- The dashboard's shape: a ${DS} data source variable, a table variable defaulting
-- to readings, and every target a raw SQL query with a format.
SELECT d->>'schemaVersion' AS schema_version, d->>'uid' AS uid,
       jsonb_path_query_array(d, 'strict $.templating.list[*].name') AS variables,
       jsonb_path_query_first(d, 'strict $.templating.list[*] ? (@.name == "table").current.value')
         AS default_table
FROM dashboard;
SELECT p->>'title' AS panel, p->>'type' AS type, t->>'refId' AS ref, t->>'format' AS format,
       t->>'rawSql' IS NOT NULL AS has_sql,
       p->'datasource'->>'uid' = '${DS}' AND t->'datasource'->>'uid' = '${DS}' AS uses_ds
FROM dashboard, jsonb_path_query(d, 'strict $.** ? (exists(@.targets))') WITH ORDINALITY AS x(p, n),
     jsonb_array_elements(p->'targets') t
ORDER BY n, t->>'refId';

-- Grafana's substitutions, with a one-hour time range ending now; $table is the
-- dashboard's default.
CREATE FUNCTION pg_temp.grafana_sql(raw text, dash jsonb, sensor text) RETURNS text
  LANGUAGE sql STABLE AS $fn$
  SELECT replace(replace(replace(replace(replace(raw,
    '$__timeFrom()', quote_literal(to_char((now() - interval '1 hour') AT TIME ZONE 'UTC',
                                           'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))),
    '$__timeTo()', quote_literal(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))),
    '$table', jsonb_path_query_first(dash, 'strict $.templating.list[*] ? (@.name == "table").current.value') #>> '{}'),
    '$bucket', '1m'),
    '$sensor', replace(sensor, '''', ''''''))
$fn$;

-- Runs every target (with the sensor variable set: those that use it); a failure
-- is reported with its SQLSTATE, not raised.
CREATE FUNCTION pg_temp.run_panels(dash jsonb, sensor text DEFAULT '')
  RETURNS TABLE (panel text, ref text, ran boolean, has_rows boolean, error text)
  LANGUAGE plpgsql AS $fn$
DECLARE
  p jsonb;
  t jsonb;
  query text;
  found_rows bigint;
BEGIN
  FOR p IN SELECT jsonb_path_query(dash, 'strict $.** ? (exists(@.targets))') LOOP
    FOR t IN SELECT jsonb_array_elements(p->'targets') LOOP
      CONTINUE WHEN sensor <> '' AND strpos(t->>'rawSql', '$sensor') = 0;
      panel := p->>'title';
      ref := t->>'refId';
      query := pg_temp.grafana_sql(t->>'rawSql', dash, sensor);
      ran := false;
      has_rows := NULL;
      error := NULL;
      IF query ~ '\$(__|\{|[A-Za-z])' THEN
        error := 'unsubstituted Grafana macro or variable: ' || substring(query FROM '\$[_{A-Za-z]\w*');
      ELSE
        BEGIN
          EXECUTE format('SELECT count(*) FROM (%s) panel_query', query) INTO found_rows;
          ran := true;
          has_rows := found_rows > 0;
        EXCEPTION WHEN OTHERS THEN
          error := SQLSTATE || ': ' || SQLERRM;
        END;
      END IF;
      RETURN NEXT;
    END LOOP;
  END LOOP;
END $fn$;

SELECT * FROM pg_temp.run_panels((SELECT d FROM dashboard));
-- One sensor chosen.
SELECT * FROM pg_temp.run_panels((SELECT d FROM dashboard), 'grafana-eu/t-0');

-- A reader role with the grants docs/observability.md lists for Grafana runs
-- every panel too.
CREATE ROLE regress_grafana;
GRANT USAGE ON SCHEMA edgestate TO regress_grafana;
GRANT SELECT ON edgestate.metrics, edgestate.sensorstate_config TO regress_grafana;
GRANT USAGE ON SCHEMA grafana TO regress_grafana;
GRANT SELECT ON readings TO regress_grafana;
SET ROLE regress_grafana;
SELECT panel, ran, has_rows, error FROM pg_temp.run_panels(:'dashboard'::jsonb);
RESET ROLE;

-- The table variable's query lists the test's table.
SELECT v->>'name' AS variable, v->>'query' AS query
FROM dashboard, jsonb_path_query(d, 'strict $.templating.list[*] ? (@.type == "query")') v;
DO $fn$
DECLARE
  listed boolean;
BEGIN
  EXECUTE format('SELECT %L = ANY (ARRAY(%s))', 'readings',
                 jsonb_path_query_first((SELECT d FROM dashboard),
                                        'strict $.templating.list[*] ? (@.name == "table").query')
                   #>> '{}')
    INTO listed;
  RAISE NOTICE 'table variable lists readings: %', listed;
END $fn$;

-- Every fixed bucket the dashboard offers is an interval that date_bin() (inside
-- window_series) accepts.
SELECT o->>'value' AS bucket, (o->>'value')::interval > interval '0' AS positive,
       date_bin((o->>'value')::interval, now(), now() - interval '1 hour') IS NOT NULL AS binnable
FROM dashboard,
     jsonb_path_query(d, 'strict $.templating.list[*] ? (@.name == "bucket").options[*]') o
WHERE o->>'value' NOT LIKE '$%';

SET client_min_messages = warning;
DROP SCHEMA grafana CASCADE;
DROP OWNED BY regress_grafana;
DROP ROLE regress_grafana;
RESET client_min_messages;
RESET search_path;
