-- step: 4. The dashboard: latest value of every sensor, from shared memory
\echo 'SELECT ... FROM edgestate.latest(''readings'') -- no scan of the readings table:'
SELECT key, value, ts, region, device, version, fresh, conflicted
FROM latest('readings') ORDER BY key LIMIT 8;
\echo 'A conflicted sensor keeps the other region''s reading as a candidate; resolvers decide what to show:'
SELECT key, value AS winner, resolve(state, 'max') AS max, resolve(state, 'mean') AS mean,
       resolve(state, 'prefer_region', 'us-east') AS prefer_us_east,
       state_candidates_jsonb(state) AS candidates
FROM latest('readings', 'sensor-07');
\echo 'It always equals merge_agg over the rows (the correctness oracle):'
SELECT count(*) AS keys_differing_from_oracle
FROM latest('readings') l
FULL JOIN (SELECT key, merge_agg(state_of(value, ts, region, device)) AS s
           FROM readings GROUP BY key) o USING (key)
WHERE l.state IS DISTINCT FROM o.s;
\echo 'UPDATE and DELETE are refused (append-only); purge() retires old readings:'
\set ON_ERROR_STOP 0
UPDATE readings SET value = 0 WHERE key = 'sensor-01';
\set ON_ERROR_STOP 1
\echo 'What to watch: the index hit ratio, keys held, evictions; cluster-wide counters:'
SELECT hits, misses, evictions, keys, capacity FROM latest_index_stats();
SELECT * FROM counters();
