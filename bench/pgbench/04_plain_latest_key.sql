-- bench/04 baseline: one key's newest reading from the history table through
-- its (key, ts DESC) btree index.
\set k random(0, :keys - 1)
SELECT key, value, ts, region, device FROM es_b04_history
WHERE key = 'k' || :k ORDER BY ts DESC LIMIT 1;
