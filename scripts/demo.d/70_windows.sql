-- step: 7. Windows that do not jump, freshness, and the figures operators watch
\echo 'Arrival delay per region, and the lateness that makes a window final with 99% confidence:'
SELECT region, observations, p50, p99, recommended_lateness FROM arrival_delays('readings') ORDER BY region;
\echo 'The last 10 seconds per sensor, lagging by the calibrated lateness (first 5 sensors):'
SELECT key, readings, round(mean::numeric, 2) AS mean, last, complete
FROM edgestate.window('readings', '10 s') ORDER BY key LIMIT 5;
\echo 'Freshness per region (the data behind a heatmap); eu-west has a tighter bound:'
SET edgestate.freshness_bounds = 'eu-west=10ms';
SELECT region, keys, fresh_share, age_p50, age_p99, bound FROM freshness('readings');
RESET edgestate.freshness_bounds;
\echo 'Prometheus exposition (SELECT edgestate.prometheus()), the families:'
SELECT name, type, count(*) AS series FROM edgestate.metrics GROUP BY name, type ORDER BY name;
