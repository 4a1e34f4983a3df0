-- bench/08: one reading into a sensorstate table, one region; edgestate's
-- invalidations on (the default).
\set k random(0, 9999)
\set d :k % 100
\set v random(0, 1000000) / 1000.0
INSERT INTO es_b08_r (key, value, ts, region, device)
VALUES ('k' || :k, :v, edgestate.hlc_now(), 'eu-west', 'gw' || :d);
