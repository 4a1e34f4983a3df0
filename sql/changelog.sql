-- The edgestate output plugin: committed sensorstate rows only, binary frames
-- and JSON lines, options and bad options.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
SET search_path = public, edgestate;

CREATE TABLE cl_readings (key text, value float8, ts hlc, region text, device text) USING sensorstate;
CREATE TABLE cl_counters (key bigint, value float8, ts hlc, region text) USING sensorstate;
CREATE TABLE cl_plain (key text, value float8);
SELECT 'slot' FROM pg_create_logical_replication_slot('cl_binary', 'edgestate');
SELECT 'slot' FROM pg_create_logical_replication_slot('cl_json', 'edgestate');

INSERT INTO cl_readings VALUES ('k1', 21.5, '2026-01-01 00:00:00+00', 'eu-west', 'gw-1'),
                               ('k2', 'NaN', '2026-01-01 00:00:00+00#1', 'eu-west', NULL);
INSERT INTO cl_plain VALUES ('not', 1);
BEGIN;
INSERT INTO cl_readings VALUES ('aborted', 1, '2026-01-01+00', 'eu-west', NULL);
ROLLBACK;
BEGIN;
INSERT INTO cl_readings VALUES ('k1', 21.75, '2026-01-01 00:00:01+00', 'eu-west', 'gw-1');
SAVEPOINT s;
INSERT INTO cl_readings VALUES ('rolled-back', 1, '2026-01-01+00', 'eu-west', NULL);
ROLLBACK TO s;
INSERT INTO cl_counters VALUES (-42, '-Infinity', '2026-01-01+00', 'us "east"');
COMMIT;

-- JSON: one object per committed reading, in commit order; a row (message)
-- per transaction, its lines numbered by seq.
SELECT c.ord AS message, d->'seq' AS seq, d->>'table' AS "table", d->'key' AS key,
       d->'value' AS value, d->>'ts' AS ts, d->>'region' AS region, d->'device' AS device,
       d->'skew_ms' AS skew_ms, d ? 'commit_time' AS has_commit_time,
       d->>'lsn' ~ '^[0-9A-F]+/[0-9A-F]+$' AS lsn_format
FROM pg_logical_slot_get_changes('cl_json', NULL, NULL, 'format', 'json')
       WITH ORDINALITY AS c(lsn, xid, data, ord),
     regexp_split_to_table(c.data, E'\n') WITH ORDINALITY AS l(line, n),
     LATERAL (SELECT l.line::jsonb AS d) j
ORDER BY c.ord, l.n;

-- Binary: one self-checking frame per transaction that wrote sensorstate rows
-- (the aborted one and the plain table's insert emit nothing).
SELECT length(data) AS frame_bytes, get_byte(data, 0) = 229 AS magic, get_byte(data, 1) AS version
FROM pg_logical_slot_peek_binary_changes('cl_binary', NULL, NULL);
SELECT count(*) AS frames FROM pg_logical_slot_get_binary_changes('cl_binary', NULL, NULL);

-- Options.
INSERT INTO cl_readings VALUES ('k3', 3, '2026-01-01+00', 'eu-west', NULL);
INSERT INTO cl_counters VALUES (7, 7, '2026-01-01+00', 'eu-west');
SELECT data::jsonb->>'table' AS "table", data::jsonb ? 'commit_time' AS has_commit_time
FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'format', 'json',
                                  'tables', 'public.cl_counters', 'include-timestamps', 'false');
SELECT count(*) AS readings
FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'format', 'json',
                                  'tables', 'public.cl_readings, public.cl_counters',
                                  'origin', 'local'),
     regexp_split_to_table(data, E'\n');

-- Names with dots or capitals are quoted as in SQL, so "a.b".c and a."b.c"
-- stay apart, in the output and in `tables`.
CREATE SCHEMA a;
CREATE SCHEMA "a.b";
CREATE TABLE "a.b".c (key text, value float8, ts hlc, region text, device text) USING sensorstate;
CREATE TABLE a."b.c" (key text, value float8, ts hlc, region text, device text) USING sensorstate;
CREATE TABLE public."Mixed" (key text, value float8, ts hlc, region text, device text) USING sensorstate;
INSERT INTO "a.b".c VALUES ('d1', 1, '2026-01-01+00', 'eu-west', NULL);
INSERT INTO a."b.c" VALUES ('d2', 2, '2026-01-01+00', 'eu-west', NULL);
INSERT INTO public."Mixed" VALUES ('d3', 3, '2026-01-01+00', 'eu-west', NULL);
SELECT data::jsonb->>'table' AS "table"
FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'format', 'json');
SELECT data::jsonb->>'table' AS "table"
FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'format', 'json', 'tables', '"a.b".c');
SELECT data::jsonb->>'table' AS "table"
FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'format', 'json',
                                  'tables', 'a."b.c", public.Mixed');
-- A table renamed within a transaction is named as it was at each change.
CREATE TABLE public.before_rename (key text, value float8, ts hlc, region text, device text)
  USING sensorstate;
BEGIN;
INSERT INTO before_rename VALUES ('r1', 1, '2026-01-01+00', 'eu-west', NULL);
ALTER TABLE before_rename RENAME TO after_rename;
INSERT INTO after_rename VALUES ('r2', 2, '2026-01-01+00', 'eu-west', NULL);
COMMIT;
SELECT line::jsonb->>'key' AS key, line::jsonb->>'table' AS "table"
FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'format', 'json',
                                  'tables', 'public.before_rename,public.after_rename'),
     regexp_split_to_table(data, E'\n') line;
DROP TABLE after_rename;
-- Origins are named as they are: no case folding.
SELECT pg_replication_origin_create('RegionA') > 0 AS created;
SELECT count(*) AS readings
FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'format', 'json', 'origin', 'skip:RegionA');
DROP TABLE "a.b".c, a."b.c", public."Mixed";
DROP SCHEMA a, "a.b";

-- Bad options.
\set VERBOSITY sqlstate
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'origin', 'skip:nosuch');
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'origin', 'skip:RegionA,');
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'format', 'xml');
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'colour', 'blue');
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'tables', 'cl_readings');
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'tables', '');
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'origin', 'nearby');
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'origin', 'skip:');
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'include-timestamps', 'maybe');
\set VERBOSITY default
SELECT * FROM pg_logical_slot_peek_changes('cl_json', NULL, NULL, 'colour', 'blue');
-- Binary output cannot be read as text.
SELECT * FROM pg_logical_slot_peek_changes('cl_binary', NULL, NULL);

-- What was emitted is counted.
SELECT value > 0 AS readings_counted FROM counters() WHERE name = 'changelog_readings';

SELECT pg_drop_replication_slot('cl_binary');
SELECT pg_drop_replication_slot('cl_json');
SELECT pg_replication_origin_drop('RegionA');
DROP TABLE cl_readings, cl_counters, cl_plain;
