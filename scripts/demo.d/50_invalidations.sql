-- step: 5. Dashboards learn which keys changed: coalesced NOTIFY per region
\echo 'The eu-west dashboard LISTENs on its region''s channel:'
SELECT channel('eu-west') AS channel \gset
SELECT :'channel' AS channel;
LISTEN :"channel";
\echo 'Gateways commit new readings (the writers never call NOTIFY themselves)...'
INSERT INTO readings (key, value, region, device)
SELECT 'sensor-' || lpad(i::text, 2, '0'), 30 + i, 'eu-west', 'gw-1' FROM generate_series(1, 5) i;
INSERT INTO readings (key, value, region, device) VALUES ('sensor-01', 31.5, 'eu-west', 'gw-1');
\echo '...and the dashboard gets the keys (never values) with their sequence range, coalesced:'
SELECT pg_sleep(0.3);
\echo 'A dashboard that missed some asks what changed since its last sequence number:'
SELECT seq - (SELECT min(seq) - 1 FROM invalidations_since(invalidation_head() - 6)) AS n, region, key
FROM invalidations_since(invalidation_head() - 6) ORDER BY seq;
SELECT appended, sent_messages, sent_keys, coalesced FROM invalidation_stats();
UNLISTEN *;
