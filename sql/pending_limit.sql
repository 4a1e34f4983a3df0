-- A transaction keeps the changes it makes to sensorstate tables in backend
-- memory until its commit, at most edgestate.max_pending_keys of them. Past
-- that it stops tracking the table that went over, and the table's latest
-- state is reloaded from the table after the commit: memory stays bounded
-- and latest() stays exact.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
SET search_path = public, edgestate;

CREATE TABLE bulk (key text, value float8, ts hlc, region text) USING sensorstate;
CREATE TABLE other (key text, value float8, ts hlc, region text) USING sensorstate;
CREATE VIEW bulk_oracle_mismatches AS
  SELECT count(*) AS mismatches FROM (SELECT key, state FROM latest('bulk')) l
  FULL JOIN (SELECT key, merge_agg(state_of(value, ts, region, NULL)) s FROM bulk GROUP BY key) o
  USING (key) WHERE l.state IS DISTINCT FROM o.s;
INSERT INTO bulk SELECT 'k' || i, 1, hlc_now(), 'eu' FROM generate_series(1, 10) i;
SELECT count(*), max(value) FROM latest('bulk');

SET edgestate.max_pending_keys = 1000;
SHOW edgestate.max_pending_keys;
SET edgestate.max_pending_keys = 999;

-- 5,000 keys in one transaction: a NOTICE, and the table is reloaded.
SELECT reloads AS reloads_before FROM latest_index_stats() \gset
BEGIN;
INSERT INTO bulk SELECT 'k' || i, 2, hlc_now(), 'eu' FROM generate_series(1, 5000) i;
INSERT INTO bulk SELECT 'k' || i, 3, hlc_now(), 'eu' FROM generate_series(1, 3) i;
-- Another table written in the same transaction is unaffected.
INSERT INTO other VALUES ('o1', 1, hlc_now(), 'eu');
COMMIT;
SELECT count(*), min(value), max(value), count(*) FILTER (WHERE value = 3) AS newer
FROM latest('bulk');
SELECT reloads > :reloads_before AS reloaded FROM latest_index_stats();
SELECT * FROM bulk_oracle_mismatches;
SELECT key, value FROM latest('other');

-- Rolled back: nothing changes.
BEGIN;
INSERT INTO bulk SELECT 'k' || i, 4, hlc_now(), 'eu' FROM generate_series(1, 2000) i;
ROLLBACK;
SELECT count(*), max(value) FROM latest('bulk');

-- Past the limit inside a savepoint that rolls back, then a committed change.
BEGIN;
INSERT INTO bulk VALUES ('k1', 5, hlc_now(), 'eu');
SAVEPOINT s;
INSERT INTO bulk SELECT 'k' || i, 6, hlc_now(), 'eu' FROM generate_series(1, 2000) i;
ROLLBACK TO s;
INSERT INTO bulk VALUES ('k2', 7, hlc_now(), 'eu');
COMMIT;
SELECT key, value FROM latest('bulk') WHERE key IN ('k1', 'k2', 'k3') ORDER BY key;
SELECT * FROM bulk_oracle_mismatches;

-- COPY, the batched path: 3,000 rows of 1,500 keys (each twice, out of
-- order) go past the limit too.
COPY bulk FROM PROGRAM 'seq 3000 -1 1 | awk ''{ printf "k%d,%d,2027-01-01 00:00:%02d.%03d+00,eu\n", $1 % 1500, $1, $1 / 1000, $1 % 1000 }''' (FORMAT csv);
SELECT count(*), max(value) FROM latest('bulk');
SELECT * FROM bulk_oracle_mismatches;

DROP VIEW bulk_oracle_mismatches;
DROP TABLE bulk, other;
