-- bench/07 baseline: the same reading into a sensorstate table whose per-row
-- AFTER INSERT trigger calls pg_notify('readings_' || region, key); edgestate's
-- own invalidations are off for these runs (PGOPTIONS).
\set k random(0, 9999)
\set r :k % 2
\set d :k % 100
\set v random(0, 1000000) / 1000.0
INSERT INTO es_b07_t (key, value, ts, region, device)
VALUES ('k' || :k, :v, edgestate.hlc_now(), CASE WHEN :r = 0 THEN 'eu-west' ELSE 'us-east' END,
        'gw' || :d);
