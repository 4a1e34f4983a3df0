-- Invalidations: channel names, the ring seen through invalidations_since(),
-- resync, and what aborted transactions leave (nothing). Delivery over
-- NOTIFY is tested in test/tap/108_invalidations.pl.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS edgestate;
RESET client_min_messages;
SET search_path = public, edgestate;

-- Safe, distinct channel names for any region name.
SELECT region, channel(region), channel(region) ~ '^edgestate_[a-z0-9_]*_[0-9a-f]{8}$' AS safe,
       length(channel(region)) <= 63 AS fits
FROM (VALUES ('eu-west'), ('EU-West'), ('us "east"'), ('ap.south 1'), ('Zürich ☃'), (''),
             (repeat('x', 63))) r(region);
SELECT count(DISTINCT channel(region)) AS distinct_channels
FROM (VALUES ('eu-west'), ('EU-West'), ('eu_west'), ('eu west')) r(region);
-- The prefix is server-wide (postgresql.conf), so that clients and the worker agree.
SET edgestate.channel_prefix = 'dash_';

CREATE TABLE inv (key text, value float8, ts hlc, region text, device text) USING sensorstate;
SELECT invalidation_head() AS h0 \gset
INSERT INTO inv VALUES ('k1', 1, '2026-01-01 00:00:01+00', 'eu-west', NULL),
                       ('k2', 2, '2026-01-01 00:00:01+00', 'eu-west', NULL);
BEGIN;
INSERT INTO inv VALUES ('aborted', 1, '2026-01-01+00', 'eu-west', NULL);
ROLLBACK;
-- An older reading does not change the latest value: no invalidation.
INSERT INTO inv VALUES ('k1', 0, '2026-01-01 00:00:00+00', 'eu-west', NULL);
-- A newer one does, for the region that wrote it.
INSERT INTO inv VALUES ('k1', 3, '2026-01-01 00:00:02+00', 'us "east"', NULL);
-- (Within one transaction the order of keys is unspecified.)
SELECT table_name, region, key, resync, commit_time <= now() AS committed
FROM invalidations_since(:h0) ORDER BY region, key;
SELECT count(*) = count(DISTINCT seq) AND min(seq) > :h0 AS sequenced FROM invalidations_since(:h0);
SELECT count(*) AS nothing_new FROM invalidations_since(invalidation_head());
-- Asking from before the ring's oldest entry (here: from before this server
-- started) or from the future: one row telling the client to resync.
SELECT seq = invalidation_head() AS at_head, table_name, key, resync FROM invalidations_since(0);
SELECT resync FROM invalidations_since(invalidation_head() + 1000);
SELECT appended >= 3 AS appended FROM invalidation_stats();

-- A caller sees the keys and resets only of tables it may SELECT from (as
-- latest() requires); a dropped table's reset reaches everyone.
CREATE ROLE regress_inv_reader;
GRANT USAGE ON SCHEMA edgestate TO regress_inv_reader;
GRANT SELECT ON inv TO regress_inv_reader;
CREATE TABLE inv_secret (key text, value float8, ts hlc, region text, device text) USING sensorstate;
SELECT invalidation_head() AS h1 \gset
INSERT INTO inv VALUES ('k9', 9, '2026-01-01 00:00:09+00', 'eu-west', NULL);
INSERT INTO inv_secret VALUES ('s1', 1, '2026-01-01 00:00:09+00', 'eu-west', NULL);
INSERT INTO inv VALUES ('k8', 8, '2026-01-01 00:00:08+00', 'eu-west', NULL);
TRUNCATE inv_secret;
SET ROLE regress_inv_reader;
SELECT table_name, key, resync FROM invalidations_since(:h1) ORDER BY seq;
RESET ROLE;
SELECT table_name, key, resync FROM invalidations_since(:h1) ORDER BY seq;
SELECT invalidation_head() AS h2 \gset
DROP TABLE inv_secret;
SET ROLE regress_inv_reader;
SELECT table_name, key, resync FROM invalidations_since(:h2);
RESET ROLE;
DROP OWNED BY regress_inv_reader;
DROP ROLE regress_inv_reader;

-- A prepared transaction's rows are published by no one key by key: its
-- COMMIT PREPARED makes clients of each table it wrote resync; PREPARE
-- itself and ROLLBACK PREPARED tell them nothing.
SELECT invalidation_head() AS h3 \gset
BEGIN;
INSERT INTO inv VALUES ('p1', 1, '2026-01-01 00:00:10+00', 'eu-west', NULL);
PREPARE TRANSACTION 'regress_inv_insert';
SELECT count(*) AS after_prepare FROM invalidations_since(:h3);
COMMIT PREPARED 'regress_inv_insert';
SELECT table_name, key, resync FROM invalidations_since(:h3);
SELECT key, value FROM latest('inv', 'p1');
SELECT invalidation_head() AS h4 \gset
BEGIN;
TRUNCATE inv;
PREPARE TRANSACTION 'regress_inv_truncate';
ROLLBACK PREPARED 'regress_inv_truncate';
SELECT count(*) AS after_rollback FROM invalidations_since(:h4);
BEGIN;
TRUNCATE inv;
PREPARE TRANSACTION 'regress_inv_truncate';
COMMIT PREPARED 'regress_inv_truncate';
SELECT table_name, key, resync FROM invalidations_since(:h4);
SELECT count(*) AS keys_left FROM latest('inv');
DROP TABLE inv;

-- A table rewrite (VACUUM FULL, CLUSTER, a rewriting ALTER) goes through a
-- transient relation that the same transaction creates and drops: it leaves
-- nothing in the ring, so no client resyncs. A table created and dropped in
-- one transaction neither.
CREATE TABLE rewritten (key text, value float8, ts hlc, region text, device text) USING sensorstate;
INSERT INTO rewritten VALUES ('r1', 1, '2026-01-01 00:00:10+00', 'eu-west', NULL);
SELECT invalidation_head() AS h5 \gset
VACUUM FULL rewritten;
ALTER TABLE rewritten ADD COLUMN note text DEFAULT random()::text;
BEGIN;
CREATE TABLE fleeting (key text, value float8, ts hlc, region text, device text) USING sensorstate;
INSERT INTO fleeting VALUES ('f1', 1, '2026-01-01 00:00:10+00', 'eu-west', NULL);
DROP TABLE fleeting;
COMMIT;
SELECT count(*) AS after_rewrites FROM invalidations_since(:h5);
SELECT key, value FROM latest('rewritten');
DROP TABLE rewritten;
