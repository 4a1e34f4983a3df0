-- bench/04: one key's latest reading from the shared-memory latest index.
\set k random(0, :keys - 1)
SELECT key, value, ts, region, device FROM edgestate.latest('es_b04_r', 'k' || :k);
