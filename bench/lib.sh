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

# 10000000 -> 10M, 10000 -> 10k (for report names).
count() { awk -v n="$1" 'BEGIN { if (n % 1000000 == 0) printf "%dM", n / 1000000;
  else if (n % 1000 == 0) printf "%dk", n / 1000; else printf "%d", n }'; }

# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

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

# The invalidation benchmarks (07-09) compare two sensorstate tables: PREFIX_r,
# whose writers queue edgestate's invalidations, and PREFIX_t, with
# invalidations off and a per-row AFTER INSERT trigger calling
# pg_notify(NOTIFY_ARGS), the baseline. With a REGION expression of k, both
# start with the 10,000 keys k0..k9999 (the steady state of a dashboard).
# Usage: invalidation_tables PREFIX NOTIFY_ARGS [REGION]
invalidation_tables() {
  local prefix=$1 notify_args=$2 region=${3:-}
  psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS edgestate" >/dev/null
  psql_q >/dev/null <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS ${prefix}_r, ${prefix}_t;
DROP FUNCTION IF EXISTS ${prefix}_notify();
CREATE TABLE ${prefix}_r (key text, value float8, ts edgestate.hlc, region text, device text)
  USING sensorstate;
CREATE TABLE ${prefix}_t (key text, value float8, ts edgestate.hlc, region text, device text)
  USING sensorstate;
CREATE FUNCTION ${prefix}_notify() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  PERFORM pg_notify($notify_args);
  RETURN NULL;
END \$\$;
SQL
  if [[ -n "$region" ]]; then
    psql_q >/dev/null <<SQL
SET edgestate.invalidations = off;
INSERT INTO ${prefix}_r
  SELECT 'k' || k, 0, edgestate.hlc_now(), $region, 'gw' || (k % 100) FROM generate_series(0, 9999) k;
INSERT INTO ${prefix}_t SELECT * FROM ${prefix}_r;
VACUUM ANALYZE ${prefix}_r, ${prefix}_t;
SQL
  fi
  # After the seed rows, which must not notify.
  psql_q -c "CREATE TRIGGER ${prefix}_notify AFTER INSERT ON ${prefix}_t
             FOR EACH ROW EXECUTE FUNCTION ${prefix}_notify()" >/dev/null
  # One insert with invalidations on, so that the database's worker is running.
  psql_q -c "INSERT INTO ${prefix}_r VALUES ('k0', 0, edgestate.hlc_now(), 'eu-west', 'gw0')" >/dev/null
}

# Drops what invalidation_tables created (and any further objects named).
# Usage: drop_invalidation_tables PREFIX [SQL ...]
drop_invalidation_tables() {
  local prefix=$1 statements=() sql
  shift
  for sql in "$@"; do statements+=(-c "$sql"); done
  psql_q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS ${prefix}_r, ${prefix}_t" \
    -c "DROP FUNCTION IF EXISTS ${prefix}_notify()" "${statements[@]}" >/dev/null 2>&1 || true
}

# The listener probe of the invalidation benchmarks (bench/tools/notify_latency,
# built by make core).
probe_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/notify_latency"

# Ends the calling benchmark, without failing the run, when the probe is missing.
require_probe() {
  if [[ ! -x "$probe_bin" ]]; then
    echo "  skipped: $probe_bin is missing (make core builds it)" >&2
    exit 0
  fi
}

# For benchmarks 07-09: $work, a scratch directory for the probe's output, and
# a cleanup at exit that stops the probe and drops what invalidation_tables
# created (and any further objects named).
# Usage: probe_workspace PREFIX [SQL ...]
probe_workspace() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/es-$1.XXXXXX")
  probe_pid=
  probe_drop=("$@")
  trap 'stop_background "$probe_pid"; drop_invalidation_tables "${probe_drop[@]}"; rm -rf "$work"' EXIT
}

# The channels benchmarks 07 and 09 listen on: the per-row trigger's and
# edgestate's, for eu-west and us-east.
region_channels() {
  channels=(readings_eu-west readings_us-east
            "$(psql_q -c "SELECT edgestate.channel('eu-west')")"
            "$(psql_q -c "SELECT edgestate.channel('us-east')")")
}

# Starts the probe with the given arguments, its output in $work/NAME.out and
# .err, and waits until it listens; fails if it exits or is not ready in 10 s.
# Usage: start_probe NAME ARG...
start_probe() {
  local name=$1
  shift
  "$probe_bin" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  probe_pid=$!
  for _ in $(seq 1 100); do
    grep -qs '^ready' "$work/$name.err" && return 0
    kill -0 "$probe_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/$name.err" >&2
  return 1
}

# Stops the probe; its summary line is then in $work/NAME.out.
stop_probe() {
  kill "$probe_pid"
  wait "$probe_pid" || { cat "$work/$1.err" >&2; return 1; }
  probe_pid=
}

# Stops a background process started by a benchmark, if there is one.
stop_background() {
  [[ -n "${1:-}" ]] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
