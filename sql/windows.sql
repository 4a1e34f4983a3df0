-- Windowed reads, calibration, freshness and metrics: deterministic parts
-- (the calibrated lateness itself is tested in test/tap/106_window_calibration.pl).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
SET search_path = public, edgestate;
SET extra_float_digits = 0;
SET TimeZone = 'UTC';

CREATE TABLE win (key text, value float8, ts hlc, region text, device text) USING sensorstate;
-- Readings every 100 ms for 10 s before a fixed instant, two keys, two regions.
INSERT INTO win
SELECT 'k' || (i % 2), i, hlc('2026-01-01 00:00:10+00'::timestamptz - i * interval '100 ms'),
       CASE WHEN i % 4 < 2 THEN 'eu-west' ELSE 'us-east' END, NULL
FROM generate_series(1, 100) i;

-- [at - lateness - width, at - lateness) with an explicit lateness.
SELECT key, readings, min, max, mean, last, last_ts, window_start, window_end
FROM edgestate.window('win', '1 s', '2 s', at => '2026-01-01 00:00:10+00');
SELECT key, readings, min, max, last
FROM edgestate.window('win', '1 s', '2 s', 'us-east', '2026-01-01 00:00:10+00');
SELECT key, readings, min, max, last, window_start, window_end
FROM key_window('win', 'k1', '5 s', '0 s', '2026-01-01 00:00:10+00');
SELECT count(*) AS no_row_for_unknown_key
FROM key_window('win', 'nope', '5 s', '0 s', '2026-01-01 00:00:10+00');
-- Buckets over a range; every bucket ended long ago, so all are complete.
SELECT "time", key, readings, min, max, last, complete
FROM window_series('win', '2 s', '2026-01-01 00:00:00+00', '2026-01-01 00:00:10+00', 'k0', '0 s');
SELECT count(*) AS buckets, sum(readings) AS readings
FROM window_series('win', '1 s', '2026-01-01 00:00:00+00', '2026-01-01 00:00:10+00', lateness => '0 s');

-- Calibration sees the rows inserted above (they arrived long after their
-- time, so the recommendation is clamped to edgestate.max_lateness).
SELECT region, observations, recommended_lateness FROM arrival_delays('win') ORDER BY region;
SELECT recommended_lateness('win', 'eu-west'), recommended_lateness('win');
-- Window edges between two milliseconds: the reading of .000 s is before a
-- window from .0005 s; the reading of 1.000 s is in it.
CREATE TABLE edge (key text, value float8, ts hlc, region text) USING sensorstate;
INSERT INTO edge VALUES ('a', 1, '2026-01-01 00:00:00.000+00', 'x'), ('a', 2, '2026-01-01 00:00:01.000+00', 'x'),
                        ('a', 3, '2026-01-01 00:00:01.000+00#5', 'x');
SELECT readings, min, window_start FROM edgestate.window('edge', '1 s', '0 s', at => '2026-01-01 00:00:01.0005+00');
SELECT "time", readings, min FROM window_series('edge', '1 s', '2026-01-01 00:00:00.0005+00',
                                                '2026-01-01 00:00:01.0005+00', lateness => '0 s');
DROP TABLE edge;
-- Integer keys come in numeric order; NULL arguments are refused (22004).
CREATE TABLE numbered (key bigint, value float8, ts hlc, region text) USING sensorstate;
INSERT INTO numbered SELECT k, k, '2026-01-01 00:00:01+00', 'x' FROM unnest(ARRAY[10, 2, 1]) k;
SELECT key FROM edgestate.window('numbered', '10 s', '0 s', at => '2026-01-01 00:00:05+00');
SELECT key FROM window_series('numbered', '10 s', '2026-01-01+00', '2026-01-01 00:00:10+00',
                              lateness => '0 s');
\set VERBOSITY terse
SELECT * FROM edgestate.window(NULL, '10 s', '0 s');
SELECT * FROM edgestate.window('numbered', '10 s', '0 s', at => NULL);
SELECT * FROM window_series('numbered', '10 s', NULL, '2026-01-01+00', lateness => '0 s');
\set VERBOSITY default
DROP TABLE numbered;
-- Ties on ts: region, then value, decides last, in all three functions.
CREATE TABLE tie (key text, value float8, ts hlc, region text) USING sensorstate;
INSERT INTO tie VALUES ('b', 5, '2026-01-01 00:00:01+00', 'us'), ('b', 7, '2026-01-01 00:00:01+00', 'eu'),
                       ('b', 3, '2026-01-01 00:00:01+00', 'us');
SELECT (SELECT last FROM edgestate.window('tie', '10 s', '0 s', at => '2026-01-01 00:00:05+00')) AS "window",
       (SELECT last FROM key_window('tie', 'b', '10 s', '0 s', '2026-01-01 00:00:05+00')) AS key_window,
       (SELECT last FROM window_series('tie', '10 s', '2026-01-01+00', '2026-01-01 00:00:10+00',
                                       lateness => '0 s')) AS window_series;
DROP TABLE tie;
-- Rows a rolled-back savepoint inserted are not observed: a few are dropped
-- exactly; when too many to tell apart (more than 16 in the transaction),
-- the transaction's observations are all dropped.
CREATE TABLE cal (key text, value float8, ts hlc, region text) USING sensorstate;
BEGIN;
INSERT INTO cal VALUES ('a', 1, hlc(now() - interval '1 s'), 'x');
SAVEPOINT sp;
INSERT INTO cal SELECT 'b', i, hlc(now() - interval '1000 s'), 'x' FROM generate_series(1, 3) i;
ROLLBACK TO sp;
SAVEPOINT kept;
INSERT INTO cal VALUES ('c', 1, hlc(now() - interval '1 s'), 'x');
RELEASE kept;
COMMIT;
SELECT observations, max < interval '100 s' AS no_rolled_back_delay FROM arrival_delays('cal');
BEGIN;
INSERT INTO cal VALUES ('a', 1, hlc(now() - interval '1 s'), 'x');
SAVEPOINT sp;
INSERT INTO cal SELECT 'b', i, hlc(now() - interval '1000 s'), 'x' FROM generate_series(1, 500) i;
ROLLBACK TO sp;
COMMIT;
SELECT observations, max < interval '100 s' AS no_rolled_back_delay FROM arrival_delays('cal');
DROP TABLE cal;
SET edgestate.max_lateness = '90s';
SELECT recommended_lateness('win', 'eu-west');
RESET edgestate.max_lateness;

-- Freshness against per-region bounds.
SELECT freshness_bound('eu-west'), freshness_bound('anywhere');
SET edgestate.freshness_bounds = 'eu-west=10s, "us ""east"""=500ms';
SELECT freshness_bound('eu-west'), freshness_bound('us "east"'), freshness_bound('us-east');
SELECT region, keys, fresh_share, bound FROM freshness('win');
SET edgestate.freshness_bounds = 'us-east=1000d';
SELECT region, keys, fresh_share FROM freshness('win');
RESET edgestate.freshness_bounds;

-- Clock skew per region from hlc_observe(remote, region).
SELECT hlc_observe(hlc(clock_timestamp() - interval '1 s'), 'eu-west') IS NOT NULL AS observed;
SELECT region, observations, p50 >= interval '0.9 s' AND p50 <= interval '1.1 s' AS about_one_second
FROM clock_skews() WHERE region = 'eu-west';

-- Bad input: each a clear error with an SQLSTATE.
\set VERBOSITY sqlstate
SELECT * FROM edgestate.window('win', '0 s', '1 s');
SELECT * FROM edgestate.window('win', '-1 s', '1 s');
SELECT * FROM edgestate.window('win', '1 s', '-1 s');
SELECT * FROM edgestate.window('win', '1 s', '1 s', 'mars');
SELECT * FROM edgestate.window('pg_class', '1 s', '1 s');
SELECT recommended_lateness('win', 'mars');
SELECT * FROM window_series('win', '1 s', '2026-01-02+00', '2026-01-01+00');
SELECT * FROM window_series('win', '0 s', '2026-01-01+00', '2026-01-02+00');
-- A month has no fixed length: refused before any row is binned.
SELECT * FROM window_series('win', '1 month', '2026-01-01+00', '2026-03-01+00');
SELECT * FROM window_series('win', '1 year 1 day', '2026-01-01+00', '2028-01-01+00');
SELECT * FROM window_series('win', '1 ms', '2026-01-01+00', '2026-01-02+00', lateness => '0 s');
SET edgestate.window_confidence = 1.5;
SET edgestate.window_confidence = 0.1;
SET edgestate.freshness_bounds = 'eu-west=10 parsecs';
SET edgestate.freshness_bounds = 'eu-west=1s, eu-west=2s';
SET edgestate.freshness_bounds = 'x=20000000000d';
SELECT configure('win', ttl => '1 min');
SELECT * FROM edgestate.window('win', '30 s', '45 s');
-- window_series too, with the calibrated lateness (past the TTL).
SELECT count(*) FROM window_series('win', '10 s', now() - interval '1 min', now());
\set VERBOSITY default
SELECT * FROM edgestate.window('win', '30 s', '45 s');
SELECT * FROM edgestate.window('win', '1 s', '1 s', 'mars');
SET edgestate.freshness_bounds = 'eu-west=10 parsecs';

-- Metrics: the families present and a well-formed exposition.
SELECT name, type FROM edgestate.metrics GROUP BY name, type ORDER BY name;
SELECT labels FROM edgestate.metrics WHERE name = 'edgestate_regional_freshness_seconds'
  AND labels->>'table' = 'win' ORDER BY labels::text;
SELECT count(*) AS malformed_lines FROM regexp_split_to_table(prometheus(), E'\n') line
WHERE line <> '' AND line !~ '^# (HELP|TYPE) edgestate_[a-z_]+ '
  AND line !~ '^edgestate_[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$';
SELECT count(*) FILTER (WHERE line LIKE '# TYPE %') AS families,
       count(*) FILTER (WHERE line LIKE '# TYPE % counter') AS counters
FROM regexp_split_to_table(prometheus(), E'\n') line;
DROP TABLE win;
