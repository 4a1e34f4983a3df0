-- bench/07: one reading into a sensorstate table; 10,000 keys over 2 regions
-- (the key decides the region). Invalidations on or off by PGOPTIONS.
\set k random(0, 9999)
\set r :k % 2
\set d :k % 100
\set v random(0, 1000000) / 1000.0
INSERT INTO es_b07_r (key, value, ts, region, device)
VALUES ('k' || :k, :v, edgestate.hlc_now(), CASE WHEN :r = 0 THEN 'eu-west' ELSE 'us-east' END,
        'gw' || :d);
