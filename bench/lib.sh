# Helpers for benchmark scripts (bench/[0-9]*.sh). Each script runs against
# the throwaway server bench/run.sh started (PGHOST/PGPORT/... are set) and
# reports with `report`, which bench/run.sh turns into the results table.

psql_q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }

# Seconds one SQL statement takes inside the server (no client round trips).
sql_seconds() {
  psql_q -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN EXECUTE \$q\$$1\$q\$;
    RAISE NOTICE 'elapsed %', extract(epoch FROM clock_timestamp() - t0); END \$\$" 2>&1 \
    | sed -nE 's/.*elapsed ([0-9.e-]+).*/\1/p'
}

# Best rate (operations per second) of a statement doing $2 operations, over
# $3 runs (default 3).
best_rate() {
  local best=0 seconds rate
  for _ in $(seq 1 "${3:-3}"); do
    seconds=$(sql_seconds "$1")
    rate=$(awk -v n="$2" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')
    (( rate > best )) && best=$rate
  done
  echo "$best"
}

# report NAME OURS BASELINE UNIT higher|lower
# "higher": more is better (throughput); "lower": less is better (time, bytes).
report() {
  echo "RESULT|$1|$2|$3|$4|$5"
}
