-- bench/02 baseline as the issue states it: in one transaction, a history
-- INSERT, then a newer-wins INSERT ... ON CONFLICT DO UPDATE into the latest
-- table.
\set k random(0, 9999)
\set d :k % 100
\set v random(0, 1000000) / 1000.0
BEGIN;
INSERT INTO es_b02_history (key, value, ts, region, device)
VALUES ('k' || :k, :v, clock_timestamp(), 'eu-west', 'gw' || :d);
INSERT INTO es_b02_latest AS l (key, value, ts, region, device)
VALUES ('k' || :k, :v, clock_timestamp(), 'eu-west', 'gw' || :d)
ON CONFLICT (key) DO UPDATE
  SET value = EXCLUDED.value, ts = EXCLUDED.ts, region = EXCLUDED.region, device = EXCLUDED.device
  WHERE l.ts < EXCLUDED.ts;
COMMIT;
