-- bench/09: one transaction of 10 readings over keys k0..k99 (a key's region
-- is fixed: even eu-west, odd us-east). Simple query mode: :tbl names the table.
\set k1 random(0, 99)
\set k2 random(0, 99)
\set k3 random(0, 99)
\set k4 random(0, 99)
\set k5 random(0, 99)
\set k6 random(0, 99)
\set k7 random(0, 99)
\set k8 random(0, 99)
\set k9 random(0, 99)
\set k10 random(0, 99)
INSERT INTO :tbl (key, value, ts, region, device)
SELECT 'k' || k, random(), edgestate.hlc_now(),
       CASE WHEN k % 2 = 0 THEN 'eu-west' ELSE 'us-east' END, 'gw' || (k % 10)
FROM unnest(ARRAY[:k1, :k2, :k3, :k4, :k5, :k6, :k7, :k8, :k9, :k10]) AS k;
