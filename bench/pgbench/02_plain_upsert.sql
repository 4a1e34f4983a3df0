-- bench/02 baseline: the same reading into a plain history table and, in the
-- same statement (one transaction, one round trip), a newer-wins upsert into
-- the latest table.
\set k random(0, 9999)
\set d :k % 100
\set v random(0, 1000000) / 1000.0
WITH h AS (
  INSERT INTO es_b02_history (key, value, ts, region, device)
  VALUES ('k' || :k, :v, clock_timestamp(), 'eu-west', 'gw' || :d)
  RETURNING key, value, ts, region, device)
INSERT INTO es_b02_latest AS l (key, value, ts, region, device)
SELECT key, value, ts, region, device FROM h
ON CONFLICT (key) DO UPDATE
  SET value = EXCLUDED.value, ts = EXCLUDED.ts, region = EXCLUDED.region, device = EXCLUDED.device
  WHERE l.ts < EXCLUDED.ts;
