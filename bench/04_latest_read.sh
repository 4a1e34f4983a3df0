#!/usr/bin/env bash
# Reading latest values from a 10,000,000-row readings table of 100,000 keys
# (BENCH_READ_ROWS, BENCH_READ_KEYS): edgestate.latest() from the shared-memory
# latest index, against the plain-PostgreSQL way in the same run: the same
# rows in a heap history table with a (key, ts DESC) btree index, both
# vacuumed and analysed.
#  - all keys: SELECT ... FROM edgestate.latest('r') against
#    SELECT DISTINCT ON (key) ... ORDER BY key, ts DESC, and, for reference,
#    the fastest plain query we know (a recursive "skip scan" over the index);
#    time inside the server (rows produced, not sent), one warm-up, median of
#    BENCH_ROUNDS.
#  - one key: edgestate.latest('r', key) against WHERE key = $1 ORDER BY ts
#    DESC LIMIT 1, as calls per second of a PL/pgSQL loop in one backend
#    (server-side cost; best of BENCH_ROUNDS), and as pgbench tps with 2
#    clients (end to end; run alternately BENCH_PGBENCH_ROUNDS times for
#    BENCH_READ_SECONDS each, best of each).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

here=$(cd "$(dirname "$0")" && pwd)
rows=${BENCH_READ_ROWS:-10000000}
keys=${BENCH_READ_KEYS:-100000}
rounds=${BENCH_ROUNDS:-3}
calls=${BENCH_READ_CALLS:-100000}
seconds=${BENCH_READ_SECONDS:-5}
pgbench_rounds=${BENCH_PGBENCH_ROUNDS:-2}
chunk=1000000

psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS edgestate" >/dev/null
psql_q >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS es_b04_r, es_b04_history;
CREATE TABLE es_b04_r (key text, value float8, ts edgestate.hlc, region text, device text)
  USING sensorstate;
CREATE TABLE es_b04_history (key text, value float8, ts timestamptz, region text, device text);
SQL

# Readings in time order, keys interleaved (as they arrive), 1 ms apart, in
# transactions of $chunk rows; then the same rows into the history table.
t0=$(date +%s)
for ((first = 1; first <= rows; first += chunk)); do
  last=$((first + chunk - 1)); ((last > rows)) && last=$rows
  echo "INSERT INTO es_b04_r
    SELECT 'k' || (i % $keys), (abs(hashint4(i)) % 100000) / 1000.0,
           edgestate.hlc(timestamptz '2026-01-01 00:00:00+00' + i * interval '1 millisecond'),
           'region-' || (i % $keys % 4), 'gw-' || (i % $keys % 100)
    FROM generate_series($first, $last) i;"
done | PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off" psql_q >/dev/null
psql_q >/dev/null <<'SQL'
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
INSERT INTO es_b04_history SELECT key, value, ts::timestamptz, region, device FROM es_b04_r;
CREATE INDEX es_b04_history_key_ts ON es_b04_history (key, ts DESC);
VACUUM ANALYZE es_b04_r;
VACUUM ANALYZE es_b04_history;
SQL
echo "  loaded $rows rows of $keys keys into both tables in $(($(date +%s) - t0))s"

# Median milliseconds of a statement over $rounds runs, after one warm-up.
median_ms() {
  local runs=() s
  sql_seconds "$1" >/dev/null
  for _ in $(seq 1 "$rounds"); do
    s=$(sql_seconds "$1")
    [[ -n "$s" ]] || { echo "query failed: $1" >&2; psql_q -c "$1" >/dev/null; return 1; }
    runs+=("$s")
  done
  printf '%s\n' "${runs[@]}" | median | awk '{ printf "%.1f", $1 * 1000 }'
}

q_ours="SELECT key, value, ts FROM edgestate.latest('es_b04_r')"
q_distinct="SELECT DISTINCT ON (key) key, value, ts FROM es_b04_history ORDER BY key, ts DESC"
q_skip="WITH RECURSIVE k AS (
    (SELECT key FROM es_b04_history ORDER BY key LIMIT 1)
    UNION ALL
    SELECT (SELECT h.key FROM es_b04_history h WHERE h.key > k.key ORDER BY h.key LIMIT 1)
    FROM k WHERE k.key IS NOT NULL)
  SELECT k.key, l.value, l.ts FROM k, LATERAL (
    SELECT h.value, h.ts FROM es_b04_history h WHERE h.key = k.key ORDER BY h.ts DESC LIMIT 1) l"

ours=$(median_ms "$q_ours")
distinct=$(median_ms "$q_distinct")
skip=$(median_ms "$q_skip")
echo "  all keys: latest() ${ours} ms, DISTINCT ON ${distinct} ms, recursive skip scan ${skip} ms"
check=$(psql_q -c "SELECT count(*) FROM ($q_ours) o FULL JOIN ($q_distinct) b USING (key)
                   WHERE o.ts::timestamptz IS DISTINCT FROM b.ts OR o.value IS DISTINCT FROM b.value")
echo "  keys whose latest value differs between the two: $check"
report "latest of all $(count "$keys") keys, $(count "$rows") rows, vs DISTINCT ON" "$ours" "$distinct" ms lower
report "latest of all $(count "$keys") keys, $(count "$rows") rows, vs skip scan" "$ours" "$skip" ms lower

loop() {
  echo "DO \$loop\$ BEGIN FOR i IN 1..$calls LOOP
    PERFORM key, value, ts, region, device FROM $1;
  END LOOP; END \$loop\$ "  # (the space: no "\$\$" inside sql_seconds' DO body)
}
key_expr="'k' || (i * 7919 % $keys)"
ours=$(best_rate "$(loop "edgestate.latest('es_b04_r', $key_expr)")" "$calls")
baseline=$(best_rate "$(loop "es_b04_history WHERE key = $key_expr ORDER BY ts DESC LIMIT 1")" "$calls")
echo "  one key, server side: latest(r, key) $ours calls/s, index scan LIMIT 1 $baseline calls/s"
report "latest of one key, 1 backend, server side" "$ours" "$baseline" calls/s higher

run_pgbench() {
  local out tps
  out=$(pgbench -n -M prepared -c 2 -j 2 -T "$seconds" -D keys="$keys" -f "$1" 2>&1) \
    || { echo "$out" >&2; return 1; }
  tps=$(sed -nE 's/^tps = ([0-9]+).*/\1/p' <<<"$out")
  [[ -n "$tps" ]] || { echo "$out" >&2; return 1; }
  echo "$tps"
}
ours=0 baseline=0
for _ in $(seq 1 "$pgbench_rounds"); do
  tps=$(run_pgbench "$here/pgbench/04_sensorstate_latest_key.sql"); ((tps > ours)) && ours=$tps
  tps=$(run_pgbench "$here/pgbench/04_plain_latest_key.sql"); ((tps > baseline)) && baseline=$tps
done
echo "  one key, pgbench -c 2: latest(r, key) $ours tps, index scan LIMIT 1 $baseline tps"
report "latest of one key, pgbench -c 2" "$ours" "$baseline" tps higher

psql_q -c "DROP TABLE es_b04_r, es_b04_history" >/dev/null
