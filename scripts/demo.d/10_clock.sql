-- step: 2. Hybrid logical clock: one strictly increasing clock for every backend
\echo 'hlc_now() is wall-clock milliseconds plus a logical counter; it never repeats or goes back,'
\echo 'even across restarts with the wall clock set back:'
SELECT hlc_now() AS first, hlc_now() AS second, hlc_now()::timestamptz AS as_timestamptz;
\echo 'A gateway timestamp is folded in with hlc_observe(); one too far in the future is refused:'
SELECT hlc_observe(hlc(clock_timestamp() + interval '100 ms')) AS observed_100ms_ahead;
\set ON_ERROR_STOP 0
SELECT hlc_observe(hlc(clock_timestamp() + interval '10 min')) AS observed_10min_ahead;
\set ON_ERROR_STOP 1
