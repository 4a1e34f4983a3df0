-- The hlc type: text and binary forms, comparisons, opclasses, casts, the
-- server clock, and bad input.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
SET search_path = public, edgestate;
SET TimeZone = 'UTC';

-- Canonical text round-trips exactly; any timestamptz literal is accepted.
SELECT '2026-11-26 06:20:40.123+00#5'::hlc;
SELECT '2026-11-26 08:20:40.123+02#5'::hlc = '2026-11-26 06:20:40.123+00#5'::hlc AS same_instant;
SELECT '2026-11-26 06:20:40.123456+00'::hlc AS rounds_down_to_ms;
SELECT '1970-01-01 00:00:00+00#0'::hlc, '10889-08-02 05:31:50.655+00#65535'::hlc;
SELECT hlc_physical_ms('2026-11-26 06:20:40.123+00#5'), hlc_logical('2026-11-26 06:20:40.123+00#5');
SELECT hlc('2026-11-26 06:20:40.123+00', 7);
-- The text form does not depend on the session's time zone or date style.
SET TimeZone = 'America/New_York';
SET DateStyle = 'SQL, DMY';
SELECT '2026-11-26 06:20:40.123+00#5'::hlc;
SELECT '2026-11-26 06:20:40.123+00#5'::hlc::timestamptz;
RESET DateStyle;
SET TimeZone = 'UTC';

-- The binary form is the 8-byte value, network byte order.
SELECT hlc_send('2026-11-26 06:20:40.123+00#5'::hlc);

-- Ordering: by physical time, then the logical counter.
SELECT v FROM (VALUES ('2026-11-26 06:20:40.123+00#5'::hlc), ('2026-11-26 06:20:40.123+00#0'),
  ('2026-11-26 06:20:40.124+00#0'), ('1999-01-01 00:00:00+00#65535')) t(v) ORDER BY v;
SELECT '2026-01-01+00#1'::hlc < '2026-01-01+00#2', '2026-01-01+00#2'::hlc >= '2026-01-01+00#2',
       '2026-01-01+00#2'::hlc <> '2026-01-01+00#3', max(v), min(v)
FROM (VALUES ('2026-01-01+00#1'::hlc), ('2026-01-01+00#9')) t(v);
-- Values above 2^63 (physical part past year 6429) still sort as unsigned.
SELECT '7000-01-01+00'::hlc > '2026-01-01+00'::hlc AS unsigned_order;

-- btree and hash opclasses serve indexes, merge joins and hash joins.
CREATE TABLE stamps (ts hlc PRIMARY KEY);
CREATE INDEX stamps_hash ON stamps USING hash (ts);
INSERT INTO stamps SELECT hlc('2026-01-01+00'::timestamptz + i * interval '1 ms', i % 3)
  FROM generate_series(1, 1000) i;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM stamps WHERE ts = '2026-01-01 00:00:00.010+00#1';
SELECT * FROM stamps WHERE ts = '2026-01-01 00:00:00.010+00#1';
RESET enable_seqscan;
SELECT count(*) FROM stamps a JOIN stamps b USING (ts);
SELECT count(DISTINCT ts) FROM stamps;
-- Binary COPY round-trips through send/receive.
\copy stamps TO 'hlc_binary.dat' WITH (FORMAT binary)
CREATE TABLE stamps_copy (ts hlc);
\copy stamps_copy FROM 'hlc_binary.dat' WITH (FORMAT binary)
SELECT count(*) AS missing FROM (SELECT ts FROM stamps EXCEPT SELECT ts FROM stamps_copy) d;
DROP TABLE stamps_copy;

-- Casts: timestamptz -> hlc (assignment) and back.
INSERT INTO stamps VALUES ('2030-01-01 00:00:00.5+00'::timestamptz);
SELECT ts FROM stamps WHERE ts > '2029-01-01+00';
SELECT '2026-11-26 06:20:40.123+00#5'::hlc::timestamptz;

-- The server clock is strictly increasing within a statement and a session.
SELECT bool_and(a < b) AS increasing FROM (
  SELECT hlc_now() AS a, hlc_now() AS b FROM generate_series(1, 1000)) t;
SELECT count(DISTINCT v) = 10000 AS all_distinct FROM (SELECT hlc_now() v FROM generate_series(1, 10000)) t;
SELECT abs(extract(epoch FROM hlc_now()::timestamptz - clock_timestamp())) < 5 AS near_wall_clock;

-- hlc_observe: the receive rule advances the clock past a remote timestamp in
-- the near future, and refuses one beyond edgestate.max_clock_offset.
WITH r AS (SELECT hlc(clock_timestamp() + interval '300 ms', 42) AS remote)
SELECT hlc_observe(remote) > remote AS advanced_past_remote, remote AS observed FROM r \gset
SELECT :'advanced_past_remote' AS advanced_past_remote, hlc_now() > :'observed'::hlc AS clock_moved_with_it;
SELECT hlc_observe(hlc(clock_timestamp() - interval '1 day')) > hlc(clock_timestamp() - interval '1 hour')
  AS old_remote_keeps_local;
SELECT value AS rejected_before FROM counters() WHERE name = 'clock_offset_rejected' \gset
SELECT hlc_now() AS before_refusal \gset
\set VERBOSITY sqlstate
SELECT hlc_observe(hlc(clock_timestamp() + interval '1 hour'));
\set VERBOSITY default
-- The refusal is counted and the clock did not jump an hour ahead.
SELECT value - :rejected_before AS newly_rejected FROM counters() WHERE name = 'clock_offset_rejected';
SELECT hlc_now()::timestamptz < :'before_refusal'::hlc::timestamptz + interval '10 min' AS clock_not_advanced;
SET edgestate.max_clock_offset = '5s';
SELECT hlc_observe(hlc(clock_timestamp() + interval '2 s')) IS NOT NULL AS accepted_with_larger_bound;
SET edgestate.max_clock_offset = '2h';
RESET edgestate.max_clock_offset;

-- Bad input: each a clear error with an SQLSTATE.
\set VERBOSITY sqlstate
SELECT 'yesterday-ish'::hlc;
SELECT '2026-11-26 06:20:40+00#'::hlc;
SELECT '2026-11-26 06:20:40+00#65536'::hlc;
SELECT '2026-11-26 06:20:40+00#-1'::hlc;
SELECT '2026-11-26 06:20:40+00#1x'::hlc;
SELECT '1969-12-31 23:59:59+00'::hlc;
SELECT '10889-08-02 05:31:50.656+00'::hlc;
SELECT 'infinity'::hlc;
SELECT hlc('2026-01-01+00', 70000);
SELECT hlc('2026-01-01+00', -1);
SELECT '-infinity'::timestamptz::hlc;
\set VERBOSITY default
SELECT 'yesterday-ish'::hlc;
SELECT '2026-11-26 06:20:40+00#65536'::hlc;
SELECT '1969-12-31 23:59:59+00'::hlc;
SELECT NULL::hlc IS NULL AS null_is_null, hlc_logical(NULL) IS NULL AS strict;
DROP TABLE stamps;

-- Common ISO 8601 texts take a fast path; it agrees with timestamptz input.
WITH g AS (
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD') || sep || to_char(t AT TIME ZONE 'UTC', 'HH24:MI:SS')
         || frac || zone AS s
  FROM generate_series('1971-01-01'::timestamptz, '2100-01-01', interval '12345678 s 891 ms') t,
       (VALUES (' '), ('T')) a(sep),
       (VALUES (''), ('.1'), ('.12'), ('.123'), ('.1234'), ('.123456')) b(frac),
       (VALUES ('+00'), ('Z'), ('+05:30'), ('-08'), ('-0330'), ('+14'), ('-12:45')) c(zone))
SELECT count(*) > 25000 AS checked, count(*) FILTER (WHERE s::hlc <> hlc(s::timestamptz)) AS disagreements
FROM g;
SELECT '2026-11-26T06:20:40.129Z#7'::hlc, '2024-02-29 23:59:59.9999-01:30'::hlc;
-- What it does not recognise still goes to the general parser.
SELECT '2026-11-26 06:20'::hlc, 'Nov 26 2026 06:20:40.5 UTC'::hlc, '2026-11-26 23:59:60+00'::hlc;
\set VERBOSITY sqlstate
SELECT '2023-02-29 00:00:00+00'::hlc;
SELECT '2026-11-26 06:20:40+00#65536'::hlc;
\set VERBOSITY default
