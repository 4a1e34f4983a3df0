-- The sensorstate access method: the column contract, heap behaviour
-- (indexes, COPY, VACUUM, TRUNCATE), append-only refusals, retention, and
-- edgestate.latest() against the oracle merge_agg(state_of(...)).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
SET search_path = public, edgestate;
SET extra_float_digits = 0;

-- The oracle: how many keys differ between latest() and merge_agg over rows.
CREATE FUNCTION pg_temp.oracle_mismatches(t regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE mismatches bigint;
BEGIN
  EXECUTE format($q$
    SELECT count(*) FROM (SELECT key, state FROM edgestate.latest(%1$L)) l
    FULL JOIN (SELECT key::text AS key,
                      edgestate.merge_agg(edgestate.state_of(value, ts, region, device)) AS s
               FROM %1$s GROUP BY key) o USING (key)
    WHERE l.state IS DISTINCT FROM o.s$q$, t) INTO mismatches;
  RETURN mismatches;
END $$;

CREATE TABLE readings (
  key text NOT NULL, value float8 NOT NULL, ts hlc NOT NULL, region text NOT NULL, device text
) USING sensorstate;
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'readings';

-- INSERT, multi-row INSERT, INSERT ... SELECT.
INSERT INTO readings VALUES ('t-1', 21.5, '2026-11-26 06:20:40.123+00', 'eu-west', 'gw-7');
INSERT INTO readings VALUES ('t-1', 20.9, '2026-11-26 06:20:40.113+00', 'us-east', 'gw-1'),
                            ('t-2', 5, '2026-11-26 06:00:00+00', 'eu-west', NULL);
INSERT INTO readings
SELECT 'h-' || (i % 50), i, hlc('2026-01-01+00'::timestamptz + (i * 7919 % 10000) * interval '1 s', i % 3),
       (ARRAY['eu-west', 'us-east', 'ap-south'])[1 + i % 3], 'gw-' || (i % 4)
FROM generate_series(1, 5000) i;
SELECT key, value, ts, region, device, conflicted FROM latest('readings') WHERE key LIKE 't-%' ORDER BY key;
SELECT key, value, ts, region, device, version > 0 AS versioned, age > interval '0' AS aged,
       fresh, conflicted, state, arrival <= now() AS arrived FROM latest('readings', 't-1');
SELECT key, value, state FROM latest('readings', 'no such key');
SELECT pg_temp.oracle_mismatches('readings');

-- The version increases exactly when the latest value changes.
SELECT version AS v0 FROM latest('readings', 't-2') \gset
INSERT INTO readings VALUES ('t-2', 4, '2026-11-26 05:00:00+00', 'eu-west', NULL);
SELECT version = :v0 AS older_reading_keeps_version, value FROM latest('readings', 't-2');
INSERT INTO readings VALUES ('t-2', 6, '2026-11-26 07:00:00+00', 'eu-west', NULL);
SELECT version > :v0 AS newer_reading_bumps_version, value FROM latest('readings', 't-2');

-- Aborted transactions and rolled-back savepoints leave no trace.
BEGIN;
INSERT INTO readings VALUES ('aborted', 1, '2030-01-01+00', 'eu-west', NULL);
ROLLBACK;
BEGIN;
INSERT INTO readings VALUES ('kept-1', 1, '2026-11-26+00', 'eu-west', NULL);
SAVEPOINT s1;
INSERT INTO readings VALUES ('rolled-back', 1, '2026-11-26+00', 'eu-west', NULL);
INSERT INTO readings VALUES ('kept-1', 99, '2031-01-01+00', 'eu-west', NULL);
ROLLBACK TO s1;
SAVEPOINT s2;
INSERT INTO readings VALUES ('kept-2', 2, '2026-11-26+00', 'eu-west', NULL);
RELEASE s2;
COMMIT;
SELECT key, value FROM latest('readings') WHERE key IN ('aborted', 'rolled-back', 'kept-1', 'kept-2') ORDER BY key;
SELECT pg_temp.oracle_mismatches('readings');

-- Released savepoints hand their changes to the enclosing one, merged with
-- its change of the same key (sp-merge) or taken over whole (sp-deep, three
-- levels up); that one may still roll back (the newer readings of 2030) or be
-- kept.
BEGIN;
SAVEPOINT a;
INSERT INTO readings VALUES ('sp-merge', 91, '2030-01-01 01:00:00+00', 'eu-west', NULL);
SAVEPOINT b;
INSERT INTO readings VALUES ('sp-merge', 92, '2030-01-01 02:00:00+00', 'eu-west', NULL),
                            ('sp-merge', 93, '2030-01-01 01:30:00+00', 'us-east', NULL);
SAVEPOINT c;
INSERT INTO readings VALUES ('sp-deep', 94, '2030-01-01 01:00:00+00', 'eu-west', NULL);
RELEASE c;
RELEASE b;
ROLLBACK TO a;
SAVEPOINT b;
INSERT INTO readings VALUES ('sp-merge', 2, '2026-11-26 02:00:00+00', 'eu-west', NULL),
                            ('sp-merge', 3, '2026-11-26 02:00:00.010+00', 'us-east', NULL);
SAVEPOINT c;
INSERT INTO readings VALUES ('sp-deep', 4, '2026-11-26 01:00:00+00', 'eu-west', NULL),
                            ('sp-merge', 0, '2026-11-26 00:30:00+00', 'eu-west', NULL);
RELEASE c;
RELEASE b;
RELEASE a;
COMMIT;
SELECT key, value, conflicted, state_candidates_jsonb(state) FROM latest('readings')
WHERE key LIKE 'sp-%' ORDER BY key;
SELECT pg_temp.oracle_mismatches('readings');

-- A PL/pgSQL EXCEPTION block is a subtransaction: one per row, every fifth
-- rolled back. Nested ones: a committed inner block hands its rows to the
-- outer one, which may still roll back (A, B) or commit (C, D).
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    BEGIN
      INSERT INTO readings VALUES ('sub-' || i % 7, i,
        ('2026-11-26 08:00:00+00'::timestamptz + i * interval '1 second')::text::hlc, 'eu-west', NULL);
      IF i % 5 = 0 THEN RAISE EXCEPTION 'skip row %', i; END IF;
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
  END LOOP;
  BEGIN  -- A
    BEGIN  -- B
      INSERT INTO readings VALUES ('nest-b', 1, '2026-11-26+00', 'eu-west', NULL);
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
    INSERT INTO readings VALUES ('nest-a', 1, '2026-11-26+00', 'eu-west', NULL);
    RAISE EXCEPTION 'undo A';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  BEGIN  -- C
    BEGIN  -- D
      INSERT INTO readings VALUES ('nest-d', 1, '2026-11-26+00', 'eu-west', NULL);
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
END $$;
SELECT key, value FROM latest('readings') WHERE key LIKE 'sub-%' OR key LIKE 'nest-%' ORDER BY key;
SELECT pg_temp.oracle_mismatches('readings');

-- COPY with a key repeated many times, out of order.
COPY readings FROM stdin;
c-1	3	2026-11-26 06:00:00.003+00#0	eu-west	gw-1
c-1	1	2026-11-26 06:00:00.001+00#0	eu-west	gw-1
c-1	5	2026-11-26 06:00:00.005+00#0	eu-west	gw-1
c-1	2	2026-11-26 06:00:00.002+00#0	eu-west	gw-1
c-1	4	2026-11-26 06:00:00.004+00#0	us-east	gw-2
c-1	4	2026-11-26 06:00:00.004+00#0	us-east	gw-2
c-2	NaN	2026-11-26 06:00:00+00#0	eu-west	gw-1
c-2	Infinity	2026-11-26 06:00:00+00#1	eu-west	gw-1
\.
SELECT key, value, ts, region, conflicted, state_candidates_jsonb(state) FROM latest('readings') WHERE key LIKE 'c-%' ORDER BY key;
SELECT pg_temp.oracle_mismatches('readings');

-- A COPY batch is captured in chunks of 64 rows, each read before any is
-- recorded: 1,000 rows of 7 bigint keys, every key in every chunk, out of order.
CREATE TABLE copied (key bigint, value float8, ts hlc, region text, device text) USING sensorstate;
COPY copied FROM PROGRAM 'seq 1 1000 | awk ''{ t = $1 * 37 % 1000; printf "%d,%d,2027-01-01 00:%02d:%02d+00,eu,gw-%d\n", $1 % 7, $1, t / 60, t % 60, $1 % 3 }''' (FORMAT csv);
SELECT key, value, ts, device FROM latest('copied') ORDER BY key::bigint;
SELECT pg_temp.oracle_mismatches('copied');
-- A bad row deep in a batch (line 150 has no region) fails the whole COPY
-- with its SQLSTATE; nothing of it is kept.
\set VERBOSITY sqlstate
COPY copied (key, value, ts, region) FROM PROGRAM 'seq 1 200 | awk ''{ printf "%d,%d,2028-01-01 00:00:00+00,%s\n", $1 % 7, $1, $1 == 150 ? "" : "eu" }''' (FORMAT csv);
\set VERBOSITY default
SELECT count(*) FROM copied;
SELECT key, value, ts FROM latest('copied') ORDER BY key::bigint;
SELECT pg_temp.oracle_mismatches('copied');

-- latest(t) copies a partition's entries out before building rows, in a
-- buffer that starts at 16 kB and doubles: 30,000 keys of 40 bytes (with
-- their states, each entry in one slot of the index) fill about 24 kB per partition.
CREATE TABLE many (key text, value float8, ts hlc, region text, device text) USING sensorstate;
INSERT INTO many SELECT rpad('sensor-' || i, 40, '.'), i, '2026-01-01+00', 'eu-west', 'gw-1'
FROM generate_series(1, 30000) i;
SELECT hits AS hits_before FROM latest_index_stats() \gset
SELECT count(*), sum(value) FROM latest('many');
SELECT hits = :hits_before + 1 AS served_by_the_index FROM latest_index_stats();
SELECT pg_temp.oracle_mismatches('many');
DROP TABLE many;

-- Indexes and a primary key (index builds scan the heap through its own code).
CREATE INDEX readings_key_ts ON readings (key, ts DESC);
CREATE INDEX CONCURRENTLY readings_ts ON readings (ts);
CREATE TABLE keyed (key text, value float8, ts hlc, region text, device text,
                    PRIMARY KEY (key, ts, region)) USING sensorstate;
INSERT INTO keyed SELECT key, value, ts, region, device FROM readings
  ON CONFLICT DO NOTHING;
INSERT INTO keyed SELECT key, value, ts, region, device FROM readings LIMIT 10
  ON CONFLICT DO NOTHING;
SELECT count(*) = (SELECT count(DISTINCT (key, ts, region)) FROM readings) AS deduplicated FROM keyed;
SELECT pg_temp.oracle_mismatches('keyed');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT value FROM readings WHERE key = 't-1' ORDER BY ts DESC LIMIT 1;
SELECT value FROM readings WHERE key = 't-1' ORDER BY ts DESC LIMIT 1;
RESET enable_seqscan;
-- Long values are TOASTed into a heap TOAST table.
CREATE TABLE wide (key text, value float8, ts hlc, region text, device text, note text) USING sensorstate;
INSERT INTO wide VALUES ('w', 1, '2026-01-01+00', 'eu-west', NULL, repeat(md5('x'), 10000));
SELECT a.amname FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid JOIN pg_am a ON a.oid = t.relam
WHERE c.relname = 'wide';
SELECT length(note) FROM wide;
CLUSTER readings USING readings_key_ts;
VACUUM FULL wide;
VACUUM (ANALYZE) readings;
SELECT reltuples > 0 AS analyzed FROM pg_class WHERE relname = 'readings';
SELECT pg_temp.oracle_mismatches('readings');

-- UPDATE and DELETE are refused; nothing committed is lost.
SELECT count(*) AS rows_before FROM readings \gset
\set VERBOSITY sqlstate
UPDATE readings SET value = 0 WHERE key = 't-1';
DELETE FROM readings WHERE key = 't-1';
\set VERBOSITY default
UPDATE readings SET value = 0 WHERE key = 't-1';
SELECT count(*) = :rows_before AS nothing_lost FROM readings;

-- Bad readings are refused at INSERT, with the statement rolled back.
\set VERBOSITY sqlstate
INSERT INTO readings VALUES (NULL, 1, '2026-01-01+00', 'eu-west', NULL);
INSERT INTO readings VALUES ('k', NULL, '2026-01-01+00', 'eu-west', NULL);
INSERT INTO readings VALUES ('k', 1, NULL, 'eu-west', NULL);
INSERT INTO readings VALUES ('k', 1, '2026-01-01+00', NULL, NULL);
INSERT INTO readings VALUES ('k', 1, '2026-01-01+00', '', NULL);
INSERT INTO readings VALUES ('k', 1, '2026-01-01+00', repeat('r', 64), NULL);
INSERT INTO readings VALUES (repeat('k', 256), 1, '2026-01-01+00', 'eu-west', NULL);
INSERT INTO readings VALUES ('k', 1, '2026-01-01+00', 'eu-west', NULL), ('k2', 1, '2026-01-01+00', '', NULL);
\set VERBOSITY default
SELECT count(*) = :rows_before AS nothing_lost FROM readings;
SELECT count(*) AS no_partial_insert FROM latest('readings', 'k');

-- The column contract: conventional names, or a mapping with configure().
CREATE TABLE misnamed (sensor_id bigint, temp float8, at hlc, site text) USING sensorstate;
\set VERBOSITY default
INSERT INTO misnamed VALUES (1, 1, '2026-01-01+00', 'eu-west');
SELECT count(*) FROM latest('misnamed');
SELECT configure('misnamed', key_column => 'sensor_id', value_column => 'temp', ts_column => 'at',
                 region_column => 'site', ttl => '30 days');
SELECT * FROM sensorstate_config WHERE table_name = 'misnamed'::regclass;
-- The mapping is a set of security labels of provider edgestate.
SELECT objsubid, label FROM pg_seclabel WHERE objoid = 'misnamed'::regclass AND provider = 'edgestate' ORDER BY 1;
-- Remapping one role moves its label.
ALTER TABLE misnamed ADD COLUMN site2 text;
SELECT configure('misnamed', region_column => 'site2');
SELECT region_column FROM sensorstate_config WHERE table_name = 'misnamed'::regclass;
SELECT configure('misnamed', region_column => 'site');
INSERT INTO misnamed VALUES (1, 1.5, '2026-01-01+00', 'eu-west'), (2, 2.5, '2026-01-01+00', 'us-east'),
                            (-9000000000, 3, '2026-01-01+00', 'eu-west');
SELECT key, value, region, device FROM latest('misnamed') ORDER BY key;
SELECT key, value FROM latest('misnamed', '-9000000000');
SELECT key, value FROM latest('misnamed', '99999999999999999999');
CREATE TABLE wrong_types (key text, value numeric, ts timestamptz, region text) USING sensorstate;
INSERT INTO wrong_types VALUES ('k', 1, now(), 'eu-west');
SELECT configure('wrong_types', ts_column => 'region');
SELECT configure('wrong_types', value_column => 'nope');
SELECT configure('pg_class');
SELECT * FROM latest('pg_class');
SECURITY LABEL FOR edgestate ON COLUMN misnamed.temp IS 'temperature';
SECURITY LABEL FOR edgestate ON TABLE misnamed IS 'ttl=-1 day';
SECURITY LABEL FOR edgestate ON TABLE misnamed IS 'retention';
SECURITY LABEL FOR edgestate ON TABLE pg_class IS 'ttl=1 day';
\set VERBOSITY sqlstate
INSERT INTO wrong_types VALUES ('k', 1, now(), 'eu-west');
SELECT * FROM latest('pg_class');
\set VERBOSITY default

-- Retention: purge(table, older_than); keys whose readings are all purged
-- disappear from latest(); the rest recompute from what remains.
CREATE TABLE retained (key text, value float8, ts hlc, region text, device text) USING sensorstate;
INSERT INTO retained VALUES ('old', 1, hlc(now() - interval '40 days'), 'eu-west', NULL),
                            ('mixed', 2, hlc(now() - interval '40 days'), 'eu-west', NULL),
                            ('mixed', 3, hlc(now() - interval '1 day'), 'eu-west', NULL),
                            ('mixed', 4, hlc(now() - interval '50 days'), 'us-east', NULL);
SELECT key, value FROM latest('retained') ORDER BY key;
SELECT purge('retained', '30 days');
SELECT key, value, region FROM latest('retained') ORDER BY key;
SELECT pg_temp.oracle_mismatches('retained');
SELECT configure('retained', ttl => '12 hours');
SELECT * FROM purge_expired() WHERE table_name = 'retained'::regclass;
SELECT count(*) FROM latest('retained');
\set VERBOSITY sqlstate
SELECT purge('retained', '-1 day');
SELECT purge('pg_class', '1 day');
\set VERBOSITY default

-- TRUNCATE empties the latest state; DROP forgets the table's configuration.
TRUNCATE keyed;
SELECT count(*) FROM latest('keyed');
INSERT INTO keyed VALUES ('after', 1, '2026-01-01+00', 'eu-west', NULL);
SELECT key FROM latest('keyed');
BEGIN;
INSERT INTO keyed VALUES ('before-truncate', 1, '2026-01-01+00', 'eu-west', NULL);
TRUNCATE keyed;
INSERT INTO keyed VALUES ('after-truncate', 1, '2026-01-01+00', 'eu-west', NULL);
COMMIT;
SELECT key FROM latest('keyed');
DROP TABLE misnamed;
SELECT count(*) FROM sensorstate_config WHERE table_name::text = 'misnamed';

-- Counters of the index.
SELECT hits > 0 AS hits, misses > 0 AS misses, keys > 0 AS keys, capacity >= keys AS bounded
FROM latest_index_stats();

-- Reading the latest state needs SELECT on the table, like reading its rows.
CREATE ROLE regress_es_reader;
GRANT USAGE ON SCHEMA edgestate TO regress_es_reader;
SET ROLE regress_es_reader;
\set VERBOSITY sqlstate
SELECT count(*) FROM latest('readings');
SELECT count(*) FROM latest('readings', 't-1');
RESET ROLE;
GRANT SELECT ON readings TO regress_es_reader;
SET ROLE regress_es_reader;
SELECT count(*) > 0 AS granted FROM latest('readings');
RESET ROLE;
\set VERBOSITY default
REVOKE ALL ON readings FROM regress_es_reader;
REVOKE USAGE ON SCHEMA edgestate FROM regress_es_reader;
DROP ROLE regress_es_reader;

-- Row-level security: a reader subject to policies gets the latest state of
-- the rows it may see, computed from them (version 0: not from the index,
-- which is left alone); with row_security off it gets 42501, as a query would.
CREATE TABLE secured (key text, value float8, ts hlc, region text, device text) USING sensorstate;
INSERT INTO secured VALUES ('s-1', 1, '2026-11-26 06:00:00+00', 'eu-west', 'gw-1'),
                           ('s-1', 2, '2026-11-26 07:00:00+00', 'us-east', 'gw-2'),
                           ('s-2', 3, '2026-11-26 06:00:00+00', 'us-east', 'gw-2');
ALTER TABLE secured ENABLE ROW LEVEL SECURITY;
CREATE POLICY eu_only ON secured FOR SELECT USING (region = 'eu-west');
CREATE ROLE regress_es_eu;
GRANT USAGE ON SCHEMA edgestate TO regress_es_eu;
GRANT SELECT ON secured TO regress_es_eu;
SELECT key, value, region, version > 0 AS indexed FROM latest('secured') ORDER BY key;
SET ROLE regress_es_eu;
SELECT key, value, region, version FROM latest('secured') ORDER BY key;
SELECT key, value, region, version FROM latest('secured', 's-1');
SELECT count(*) AS hidden FROM latest('secured', 's-2');
SELECT pg_temp.oracle_mismatches('secured');
SET row_security = off;
\set VERBOSITY sqlstate
SELECT count(*) FROM latest('secured');
SELECT count(*) FROM latest('secured', 's-1');
\set VERBOSITY default
RESET row_security;
RESET ROLE;
SELECT key, value, region, version > 0 AS indexed FROM latest('secured') ORDER BY key;
SELECT key, value, region, version > 0 AS indexed FROM latest('secured', 's-2');
DROP TABLE secured;
REVOKE USAGE ON SCHEMA edgestate FROM regress_es_eu;
DROP ROLE regress_es_eu;

-- A partitioned table of sensorstate partitions: latest() merges the
-- partitions' answers by key, from the index where it holds them, and equals
-- the oracle over the partitioned table's rows. Sub-partitions count as
-- partitions; a heap partition is refused.
CREATE TABLE by_day (key text, value float8, ts hlc, region text, device text, day date)
  PARTITION BY RANGE (day);
CREATE TABLE by_day_1 PARTITION OF by_day FOR VALUES FROM ('2026-11-25') TO ('2026-11-26')
  USING sensorstate;
CREATE TABLE by_day_2 PARTITION OF by_day FOR VALUES FROM ('2026-11-26') TO ('2026-11-27')
  USING sensorstate;
PREPARE load_by_day AS INSERT INTO by_day
SELECT 'p-' || (i % 20), i, hlc('2026-11-25 00:00+00'::timestamptz + i * interval '1 minute', 0),
       (ARRAY['eu-west', 'us-east'])[1 + i % 2], 'gw-' || (i % 3),
       date '2026-11-25' + i / 1440
FROM generate_series(1, 2000) i;
EXECUTE load_by_day;
SELECT count(*), sum(value), bool_and(version > 0) AS indexed FROM latest('by_day');
SELECT pg_temp.oracle_mismatches('by_day');
SELECT key, value, region, version > 0 AS indexed FROM latest('by_day', 'p-7');
SELECT count(*) AS none FROM latest('by_day', 'nope');
CREATE TABLE by_day_3 PARTITION OF by_day FOR VALUES FROM ('2026-11-27') TO ('2026-11-28')
  PARTITION BY LIST (region);
CREATE TABLE by_day_3_eu PARTITION OF by_day_3 FOR VALUES IN ('eu-west') USING sensorstate;
CREATE TABLE by_day_3_rest PARTITION OF by_day_3 DEFAULT USING sensorstate;
INSERT INTO by_day VALUES ('p-7', 99, '2026-11-27 01:00+00', 'us-east', 'gw-9', '2026-11-27');
SELECT key, value, region FROM latest('by_day', 'p-7');
SELECT pg_temp.oracle_mismatches('by_day');
-- A partition the index does not hold (TRUNCATE resets it; rows loaded since
-- leave it so) is computed and held again.
TRUNCATE by_day_1;
EXECUTE load_by_day;
SELECT pg_temp.oracle_mismatches('by_day');
SELECT count(*), bool_and(version > 0) AS indexed FROM latest('by_day');
-- A reader with SELECT on the partitioned table only: a partition the index
-- does not hold cannot be queried on its own, so the answer is computed
-- through the partitioned table (version 0), and the index is left alone.
CREATE ROLE regress_es_parts;
GRANT USAGE ON SCHEMA edgestate TO regress_es_parts;
GRANT SELECT ON by_day TO regress_es_parts;
SET ROLE regress_es_parts;
SELECT count(*), sum(value), bool_and(version > 0) AS indexed FROM latest('by_day');
RESET ROLE;
TRUNCATE by_day_2;
EXECUTE load_by_day;
SET ROLE regress_es_parts;
SELECT count(*), sum(value), bool_and(version = 0) AS computed FROM latest('by_day');
SELECT key, value, version FROM latest('by_day', 'p-7');
SELECT pg_temp.oracle_mismatches('by_day');
RESET ROLE;
-- Policies of the partitioned table apply to latest() of it.
ALTER TABLE by_day ENABLE ROW LEVEL SECURITY;
CREATE POLICY eu_only ON by_day FOR SELECT USING (region = 'eu-west');
SET ROLE regress_es_parts;
SELECT count(*), bool_and(region = 'eu-west') AS eu_only FROM latest('by_day');
SELECT pg_temp.oracle_mismatches('by_day');
RESET ROLE;
SELECT count(*), bool_and(version > 0) AS indexed FROM latest('by_day');
-- Windows and arrival delays are per partition: the partitioned table is
-- refused, saying so.
\set SHOW_CONTEXT never
SELECT * FROM edgestate.window('by_day', '1 min', '0 s');
SELECT recommended_lateness('by_day', 'eu-west');
\set SHOW_CONTEXT errors
-- Two partitions the index does not hold, computed in one call.
ALTER TABLE by_day DISABLE ROW LEVEL SECURITY;
TRUNCATE by_day_1, by_day_2;
EXECUTE load_by_day;
SELECT count(*), sum(value) FROM latest('by_day');
SELECT pg_temp.oracle_mismatches('by_day');
CREATE TABLE by_day_heap PARTITION OF by_day FOR VALUES FROM ('2026-11-28') TO ('2026-11-29')
  USING heap;
SELECT count(*) FROM latest('by_day');
DEALLOCATE load_by_day;
DROP TABLE by_day;
REVOKE USAGE ON SCHEMA edgestate FROM regress_es_parts;
DROP ROLE regress_es_parts;

-- ALTER TABLE ... SET ACCESS METHOD: a table that leaves sensorstate is
-- written without capture; when it comes back, its latest state is reloaded.
CREATE TABLE switched (key text, value float8, ts hlc, region text, device text);
INSERT INTO switched VALUES ('w', 1, '2026-11-25 10:00+00', 'eu-west', 'gw-1');
ALTER TABLE switched SET ACCESS METHOD sensorstate;
SELECT key, value FROM latest('switched');
INSERT INTO switched VALUES ('w', 2, '2026-11-26 10:00+00', 'eu-west', 'gw-1');
ALTER TABLE switched SET ACCESS METHOD heap;
INSERT INTO switched VALUES ('w', 3, '2026-11-27 10:00+00', 'eu-west', 'gw-1');
ALTER TABLE switched SET ACCESS METHOD sensorstate;
SELECT key, value FROM latest('switched');
SELECT key, value FROM latest('switched', 'w');
SELECT pg_temp.oracle_mismatches('switched');
DROP TABLE switched;

-- Changes of columns (renamed, type, dropped) reset the table too: its latest
-- state is reloaded under the new column contract.
CREATE TABLE altered (key text, value float8, ts hlc, region text, gw text) USING sensorstate;
INSERT INTO altered VALUES ('1', 1, '2026-11-25 10:00+00', 'eu-west', 'gw-1'),
                           ('2', 2, '2026-11-25 10:00+00', 'eu-west', 'gw-2');
SELECT key, value, device FROM latest('altered') ORDER BY key;
ALTER TABLE altered RENAME COLUMN gw TO device;
SELECT key, value, device FROM latest('altered') ORDER BY key;
SELECT pg_temp.oracle_mismatches('altered');
ALTER TABLE altered ALTER COLUMN key TYPE bigint USING key::bigint;
SELECT key, value, device FROM latest('altered') ORDER BY key;
SELECT key, value FROM latest('altered', '2');
SELECT pg_temp.oracle_mismatches('altered');
ALTER TABLE altered DROP COLUMN device;
SELECT key, value, device FROM latest('altered') ORDER BY key;
-- The rows a rewrite copies into PostgreSQL's transient relation are not
-- captured (the table is reset anyway): no notice about more keys than kept.
INSERT INTO altered SELECT i, i, '2026-11-25 11:00+00', 'eu-west' FROM generate_series(3, 1102) i;
SET edgestate.max_pending_keys = 1000;
ALTER TABLE altered ALTER COLUMN value TYPE float8 USING value * 2;
RESET edgestate.max_pending_keys;
SELECT count(*), sum(value) FROM latest('altered');
DROP TABLE altered;
-- So do configure() giving a column another role, and ALTER TYPE ...
-- ATTRIBUTE for a table created OF a composite type.
CREATE TABLE relabeled (key text, value float8, ts hlc, region text, device text, gw text)
  USING sensorstate;
INSERT INTO relabeled VALUES ('a', 1, '2026-11-25 10:00+00', 'eu-west', 'dev-1', 'gw-1');
SELECT key, value, device FROM latest('relabeled');
SELECT configure('relabeled', device_column => 'gw');
SELECT key, value, device FROM latest('relabeled');
DROP TABLE relabeled;
CREATE TYPE reading_row AS (key text, value float8, ts hlc, region text, gw text);
CREATE TABLE typed OF reading_row USING sensorstate;
INSERT INTO typed VALUES ('a', 1, '2026-11-25 10:00+00', 'eu-west', 'gw-1');
SELECT key, value, device FROM latest('typed');
ALTER TYPE reading_row RENAME ATTRIBUTE gw TO device CASCADE;
SELECT key, value, device FROM latest('typed');
SELECT pg_temp.oracle_mismatches('typed');
DROP TABLE typed;
DROP TYPE reading_row;
-- A column the contract cannot read, added or renamed, leaves the latest
-- state alone (no reload after an ADD COLUMN, instant or rewriting); a column
-- added under a conventional name resets it.
CREATE TABLE widened (key text, value float8, ts hlc, region text) USING sensorstate;
INSERT INTO widened VALUES ('a', 1, '2026-11-25 10:00+00', 'eu-west');
SELECT reloads AS reloads_before FROM latest_index_stats() \gset
ALTER TABLE widened ADD COLUMN note text, ADD COLUMN batch int DEFAULT 7,
  ADD COLUMN drawn float8 DEFAULT random();  -- rewrites the table
ALTER TABLE widened RENAME COLUMN note TO remark;
INSERT INTO widened VALUES ('a', 2, '2026-11-25 11:00+00', 'eu-west', 'r', 1);
SELECT key, value, version > 0 AS from_index FROM latest('widened');
SELECT reloads = :reloads_before AS not_reloaded FROM latest_index_stats();
ALTER TABLE widened ADD COLUMN device text;
SELECT key, value, device FROM latest('widened');
SELECT reloads > :reloads_before AS reloaded FROM latest_index_stats();
SELECT pg_temp.oracle_mismatches('widened');
DROP TABLE widened;
-- A materialized view cannot use sensorstate.
CREATE MATERIALIZED VIEW readings_mv USING sensorstate AS SELECT 1 AS x;

DROP TABLE readings, keyed, wide, wrong_types, retained;
