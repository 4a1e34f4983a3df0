-- step: 3. Sensors in three regions write readings into a sensorstate table
CREATE TABLE readings (
  key text NOT NULL, value float8 NOT NULL, ts hlc NOT NULL DEFAULT hlc_now(),
  region text NOT NULL, device text
) USING sensorstate;
CREATE INDEX ON readings (key);
\echo '20 sensors in 3 regions: 6,000 readings from the gateways, then two regions report sensor-07 10 ms apart:'
SELECT setseed(0.42) \gset
INSERT INTO readings (key, value, ts, region, device)
SELECT 'sensor-' || lpad((i % 20)::text, 2, '0'),
       round((20 + 5 * sin(i / 50.0) + (i % 7) * 0.1)::numeric, 2),
       -- stamped by the device, arriving after a network delay of ~150 ms on average
       hlc(clock_timestamp() - (-ln(1 - random()) * 150) * interval '1 ms'),
       (ARRAY['eu-west', 'us-east', 'ap-south'])[1 + (i / 20) % 3],
       'gw-' || (i % 4)
FROM generate_series(1, 6000) AS i;
-- Two regions report sensor-07 within 10 ms of each other: a conflict.
INSERT INTO readings (key, value, ts, region, device) VALUES
  ('sensor-07', 99.5, hlc(clock_timestamp() + interval '5 ms'), 'eu-west', 'gw-9'),
  ('sensor-07', 98.0, hlc(clock_timestamp() - interval '5 ms'), 'us-east', 'gw-3');
SELECT count(*) AS readings_stored FROM readings;
