-- bench/08 baseline: the same reading into a sensorstate table whose per-row
-- trigger calls pg_notify with the key and clock_timestamp() (invalidations off).
\set k random(0, 9999)
\set d :k % 100
\set v random(0, 1000000) / 1000.0
INSERT INTO es_b08_t (key, value, ts, region, device)
VALUES ('k' || :k, :v, edgestate.hlc_now(), 'eu-west', 'gw' || :d);
