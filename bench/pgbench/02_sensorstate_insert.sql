-- bench/02: one reading into a sensorstate table (the latest index follows at commit).
\set k random(0, 9999)
\set d :k % 100
\set v random(0, 1000000) / 1000.0
INSERT INTO es_b02_r (key, value, ts, region, device)
VALUES ('k' || :k, :v, edgestate.hlc_now(), 'eu-west', 'gw' || :d);
