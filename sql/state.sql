-- edgestate.state: state_of, merge, merge_agg (serial and parallel), resolve,
-- accessors, text and binary forms, and bad input.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
SET search_path = public, edgestate;
SET extra_float_digits = 0;

-- The worked example of docs/merge-policy.md: two regions write the same
-- sensor 10 ms apart under a 50 ms bound. The later reading wins; the other is
-- kept as a conflict candidate.
SELECT merge(state_of(21.5, '2026-11-26 06:20:40.123+00', 'eu-west', 'gw-7', '50 ms'),
             state_of(20.9, '2026-11-26 06:20:40.113+00', 'us-east', 'gw-1', '50 ms')) AS s \gset
SELECT :'s'::state;
SELECT state_value(:'s'), state_ts(:'s'), state_region(:'s'), state_device(:'s'),
       state_skew_bound(:'s'), state_conflicted(:'s'), state_truncated(:'s');
SELECT * FROM state_entries(:'s');
SELECT * FROM state_candidates(:'s');
SELECT state_candidates_jsonb(:'s');

-- Resolvers change only what is displayed.
SELECT resolve(:'s', 'lww') AS lww, resolve(:'s', 'max') AS max, resolve(:'s', 'min') AS min,
       resolve(:'s', 'mean') AS mean, resolve(:'s', 'prefer_region', 'us-east') AS prefer_us,
       resolve(:'s', 'prefer_region', 'ap-south') AS prefer_missing;
CREATE FUNCTION pg_temp.second_opinion(s state) RETURNS float8 LANGUAGE sql
  RETURN (SELECT min(value) FROM state_candidates(s));
SELECT resolve(:'s', 'pg_temp.second_opinion(edgestate.state)'::regprocedure) AS user_resolver;
SELECT :'s'::state = merge(:'s', :'s') AS idempotent;
-- Resolving a conflicted state is counted (8 resolve calls above).
SELECT value > 0 AS conflicts_resolved_counted FROM counters() WHERE name = 'conflicts_resolved';

-- Outside the bound: 60 ms apart under 50 ms bounds is no conflict, but the
-- older reading is retained (a later winner with a larger bound may need it).
SELECT s, state_conflicted(s) FROM (
  SELECT merge(state_of(21.5, '2026-11-26 06:20:40.173+00', 'eu-west', 'gw-7', '50 ms'),
               state_of(20.9, '2026-11-26 06:20:40.113+00', 'us-east', 'gw-1', '50 ms')) s) t;
-- Exactly at the bound is a conflict; the larger of the two bounds counts.
SELECT state_conflicted(merge(state_of(1, '2026-01-01 00:00:00.050+00', 'a', NULL, '50 ms'),
                              state_of(2, '2026-01-01 00:00:00.000+00', 'b', NULL, '50 ms'))) AS at_bound,
       state_conflicted(merge(state_of(1, '2026-01-01 00:00:00.051+00', 'a', NULL, '50 ms'),
                              state_of(2, '2026-01-01 00:00:00.000+00', 'b', NULL, '50 ms'))) AS past_bound,
       state_conflicted(merge(state_of(1, '2026-01-01 00:00:00.051+00', 'a', NULL, '0 ms'),
                              state_of(2, '2026-01-01 00:00:00.000+00', 'b', NULL, '60 ms'))) AS larger_bound;
-- Same origin never conflicts: the newer reading supersedes.
SELECT merge(state_of(1, '2026-01-01 00:00:00.050+00', 'a', 'd', '1 s'),
             state_of(2, '2026-01-01 00:00:00.000+00', 'a', 'd', '1 s'));
-- Equal timestamps: the origin decides, then the value bytes.
SELECT state_region(merge(state_of(1, '2026-01-01+00', 'b'), state_of(2, '2026-01-01+00', 'a')));
SELECT state_value(merge(state_of(1, '2026-01-01+00', 'a', 'x'), state_of(2, '2026-01-01+00', 'a', 'x')));

-- NaN and infinities: ordered by their bits for tie-breaks, resolved with
-- PostgreSQL's float8 order (NaN above Infinity).
SELECT merge(merge(state_of('NaN', '2026-01-01 00:00:00.002+00', 'a'),
                   state_of('Infinity', '2026-01-01 00:00:00.001+00', 'b')),
             state_of('-Infinity', '2026-01-01+00', 'c')) AS nan_state \gset
SELECT :'nan_state'::state;
SELECT resolve(:'nan_state', 'max') AS max, resolve(:'nan_state', 'min') AS min,
       resolve(:'nan_state', 'mean') AS mean, resolve(:'nan_state', 'lww') AS lww;
SELECT state_of('-0', '2026-01-01+00', 'a') AS negative_zero;

-- edgestate.default_skew_bound applies when a reading gives none.
SET edgestate.default_skew_bound = '5s';
SELECT state_skew_bound(state_of(1, '2026-01-01+00', 'a'));
RESET edgestate.default_skew_bound;

-- merge_agg: the same answer for any order, serial or parallel. 30 sensors,
-- 4 regions x 3 devices, many equal timestamps.
CREATE TABLE readings AS
SELECT 'sensor-' || (i % 30) AS sensor,
       round((sin(i) * 40)::numeric, 2)::float8 AS value,
       hlc('2026-01-01+00'::timestamptz + ((i * 7919) % 500) * interval '1 ms', i % 3) AS ts,
       (ARRAY['eu-west', 'us-east', 'ap-south', 'sa-east'])[1 + i % 4] AS region,
       'gw-' || (i % 7) AS device
FROM generate_series(1, 20000) i;
CREATE TABLE serial_result AS
SELECT sensor, merge_agg(state_of(value, ts, region, device, '20 ms')) AS s
FROM readings GROUP BY sensor;
SELECT count(*) AS sensors, count(*) FILTER (WHERE state_conflicted(s)) AS conflicted,
       count(*) FILTER (WHERE state_truncated(s)) AS truncated FROM serial_result;
-- Reverse and shuffled input orders give byte-identical states.
SELECT count(*) AS differing FROM serial_result r JOIN (
  SELECT sensor, merge_agg(state_of(value, ts, region, device, '20 ms') ORDER BY ts DESC, value) AS s
  FROM readings GROUP BY sensor) o USING (sensor) WHERE r.s <> o.s;
SELECT count(*) AS differing FROM serial_result r JOIN (
  SELECT sensor, merge_agg(state_of(value, ts, region, device, '20 ms') ORDER BY md5(value::text || ts::text)) AS s
  FROM readings GROUP BY sensor) o USING (sensor) WHERE r.s <> o.s;
-- Parallel aggregation combines partial states with merge.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT sensor, merge_agg(state_of(value, ts, region, device, '20 ms')) FROM readings GROUP BY sensor;
SELECT count(*) AS differing FROM serial_result r JOIN (
  SELECT sensor, merge_agg(state_of(value, ts, region, device, '20 ms')) AS s
  FROM readings GROUP BY sensor) p USING (sensor) WHERE r.s <> p.s;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- Text and binary forms round-trip.
SELECT count(*) AS text_roundtrip_differs FROM serial_result WHERE s::text::state <> s;
\copy serial_result TO 'state_binary.dat' WITH (FORMAT binary)
CREATE TABLE binary_copy (LIKE serial_result);
\copy binary_copy FROM 'state_binary.dat' WITH (FORMAT binary)
SELECT count(*) AS binary_roundtrip_differs FROM serial_result r JOIN binary_copy b USING (sensor)
WHERE r.s <> b.s;
-- Names with quotes, spaces and non-ASCII survive both forms.
SELECT state_of(1, '2026-01-01+00', 'eu "west" 1', 'gerät ☃') AS odd \gset
SELECT :'odd'::state, state_region(:'odd'::state), state_device(:'odd'::state);

-- Bad input: each a clear error with an SQLSTATE.
\set VERBOSITY sqlstate
SELECT 'not a state'::state;
SELECT '{}'::state;
SELECT '{21.5 @ 2026-11-26 06:20:40.123+00#5 "eu-west"/"gw-7" skew 50ms'::state;
SELECT '{21.5 @ 2026-11-26 06:20:40.123+00 "eu-west"/"gw-7" skew 50ms}'::state;
SELECT '{21.5 @ 2026-11-26 06:20:40.123+00#5 ""/"gw-7" skew 50ms}'::state;
SELECT '{1 @ 2026-01-01 00:00:00.000+00#0 "a"/"" skew 0ms, 2 @ 2026-01-01 00:00:00.000+00#1 "b"/"" skew 0ms}'::state;
SELECT '{1 @ 2026-01-01 00:00:00.000+00#1 "a"/"" skew 0ms, 2 @ 2026-01-01 00:00:00.000+00#0 "a"/"" skew 0ms}'::state;
SELECT '{1 @ 2026-01-01 00:00:00.000+00#0 "a"/"" skew 90000000ms}'::state;
SELECT state_of(NULL, '2026-01-01+00', 'a');
SELECT state_of(1, NULL, 'a');
SELECT state_of(1, '2026-01-01+00', NULL);
SELECT state_of(1, '2026-01-01+00', '');
SELECT state_of(1, '2026-01-01+00', repeat('r', 64));
SELECT state_of(1, '2026-01-01+00', 'a', repeat('d', 64));
SELECT state_of(1, '2026-01-01+00', 'a', NULL, '-1 ms');
SELECT state_of(1, '2026-01-01+00', 'a', NULL, '25 hours');
SELECT state_of(1, '2026-01-01+00', 'a', NULL, '1 month');
SELECT resolve(:'s', 'median');
SELECT resolve(:'s', NULL);
SELECT resolve(:'s', 'prefer_region');
SELECT resolve(:'s', 'abs(float8)'::regprocedure);
\set VERBOSITY default
SELECT state_of(1, '2026-01-01+00', repeat('r', 64));
SELECT '{1 @ 2026-01-01 00:00:00.000+00#1 "a"/"" skew 0ms, 2 @ 2026-01-01 00:00:00.000+00#0 "a"/"" skew 0ms}'::state;
SELECT resolve(:'s', 'median');
-- Multi-byte names are limited in bytes (63), like PostgreSQL identifiers.
SELECT length(state_region(state_of(1, '2026-01-01+00', repeat('é', 31)))) AS fits;
\set VERBOSITY sqlstate
SELECT state_of(1, '2026-01-01+00', repeat('é', 32));
-- NULL is the empty state for merge; merge_agg skips NULLs.
SELECT merge(NULL, :'s') = :'s'::state AS left_identity, merge(:'s', NULL) = :'s'::state AS right_identity,
       merge(NULL, NULL) IS NULL AS both_null;
SELECT merge_agg(s) = :'s'::state AS skips_nulls FROM (VALUES (NULL::state), (:'s'::state), (NULL)) t(s);

-- Corrupted binary states: from the binary protocol (22P03) and stored (XX001).
CREATE TABLE corrupt_bytes (b bytea);
INSERT INTO corrupt_bytes VALUES ('\x0200010000000000000000000000000000000001006100');
\copy corrupt_bytes TO 'state_corrupt.dat' WITH (FORMAT binary)
CREATE TABLE corrupt_state (s state);
\copy corrupt_state FROM 'state_corrupt.dat' WITH (FORMAT binary)
TRUNCATE corrupt_bytes;
INSERT INTO corrupt_bytes VALUES ('\x01000100000000000000000000000000000000010061');
\copy corrupt_bytes TO 'state_corrupt.dat' WITH (FORMAT binary)
\copy corrupt_state FROM 'state_corrupt.dat' WITH (FORMAT binary)
SELECT count(*) AS nothing_loaded FROM corrupt_state;
CREATE CAST (bytea AS state) WITHOUT FUNCTION;
SELECT '\x01000100'::bytea::state;
SELECT state_value('\x01'::bytea::state);
SELECT merge(:'s', '\x0100010000'::bytea::state);
\set VERBOSITY default
SELECT '\x01000100'::bytea::state;
DROP CAST (bytea AS state);
DROP TABLE readings, serial_result, binary_copy, corrupt_bytes, corrupt_state;
