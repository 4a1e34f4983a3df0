#!/usr/bin/env bash
# Footprint after the same workload: 1,000,000 readings of 10,000 keys
# (BENCH_FOOTPRINT_ROWS, BENCH_FOOTPRINT_KEYS) arriving in transactions of
# 1,000 (BENCH_FOOTPRINT_BATCH), keys in random order, every reading newer
# than the last. edgestate: INSERT into a sensorstate table. Baseline, in the
# same run: each batch INSERTed into a plain history table and, in the same
# statement, upserted newer-wins into a latest table (DISTINCT ON, then
# ON CONFLICT DO UPDATE). Autovacuum runs as configured; nothing is vacuumed
# by hand, so the latest table carries the dead tuples its updates leave.
#  - the workload's wall time (one session each, synchronous_commit = off).
#  - latest state per key: the latest index's shared memory divided by its
#    capacity in keys (the whole segment: slots, hash index, overflow chunks)
#    against the latest table's total size (heap + primary key) per row.
#  - on disk: the sensorstate table against history + latest table, indexes
#    included (neither history has an index).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rows=${BENCH_FOOTPRINT_ROWS:-1000000}
keys=${BENCH_FOOTPRINT_KEYS:-10000}
batch=${BENCH_FOOTPRINT_BATCH:-1000}

psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS edgestate" >/dev/null
psql_q >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS es_b05_r, es_b05_history, es_b05_latest;
CREATE TABLE es_b05_r (key text, value float8, ts edgestate.hlc, region text, device text)
  USING sensorstate;
CREATE TABLE es_b05_history (key text, value float8, ts timestamptz, region text, device text);
CREATE TABLE es_b05_latest (key text PRIMARY KEY, value float8, ts timestamptz, region text,
                            device text);
SQL

# Reading i: a pseudo-random key, stamped 1 ms after reading i - 1.
readings="SELECT 'k' || k, (abs(hashint4(i)) % 100000) / 1000.0,
                 timestamptz '2026-01-01 00:00:00+00' + i * interval '1 millisecond',
                 'region-' || (k % 4), 'gw-' || (k % 100)
          FROM generate_series(\$1, \$2) i, LATERAL (SELECT abs(hashint4(i * 31)) % $keys AS k) x"

t0=$(date +%s.%N)
{
  echo "SET synchronous_commit = off;"
  echo "PREPARE ours(int, int) AS INSERT INTO es_b05_r $readings;"
  for ((first = 1; first <= rows; first += batch)); do
    echo "EXECUTE ours($first, $((first + batch - 1 > rows ? rows : first + batch - 1)));"
  done
} | psql_q >/dev/null
t1=$(date +%s.%N)
{
  echo "SET synchronous_commit = off;"
  echo "PREPARE baseline(int, int) AS
    WITH h AS (INSERT INTO es_b05_history $readings RETURNING *)
    INSERT INTO es_b05_latest AS l
      SELECT DISTINCT ON (key) key, value, ts, region, device FROM h ORDER BY key, ts DESC
      ON CONFLICT (key) DO UPDATE
        SET value = EXCLUDED.value, ts = EXCLUDED.ts, region = EXCLUDED.region,
            device = EXCLUDED.device
        WHERE l.ts < EXCLUDED.ts;"
  for ((first = 1; first <= rows; first += batch)); do
    echo "EXECUTE baseline($first, $((first + batch - 1 > rows ? rows : first + batch - 1)));"
  done
} | psql_q >/dev/null
t2=$(date +%s.%N)
ours=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
baseline=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')
echo "  workload: $rows readings of $keys keys in transactions of $batch:" \
  "sensorstate ${ours}s, history + upsert ${baseline}s"
report "ingest $(count "$rows") readings, $(count "$batch")-row transactions" "$ours" "$baseline" s lower

# Statistics are flushed when those sessions ended.
psql_q -F ' ' -c "SELECT 'latest table: ' || n_live_tup || ' live, ' || n_dead_tup || ' dead tuples, '
                          || n_tup_upd || ' updates (' || n_tup_hot_upd || ' HOT), autovacuumed '
                          || autovacuum_count || ' time(s)'
                   FROM pg_stat_user_tables WHERE relname = 'es_b05_latest'" | sed 's/^/  /'
psql_q -c "SELECT 'latest index: ' || keys || ' keys in use of ' || capacity || ' slots, '
                  || pg_size_pretty((SELECT allocated_size FROM pg_shmem_allocations
                                     WHERE name = 'edgestate latest index'))
                  || ' of shared memory'
           FROM edgestate.latest_index_stats()" | sed 's/^/  /'

read -r ours baseline < <(psql_q -F ' ' -c "
  SELECT (SELECT allocated_size FROM pg_shmem_allocations WHERE name = 'edgestate latest index')
           / (SELECT capacity FROM edgestate.latest_index_stats()),
         pg_total_relation_size('es_b05_latest') / (SELECT count(*) FROM es_b05_latest)")
report "latest state per key (shmem vs latest table+pkey)" "$ours" "$baseline" bytes lower

read -r ours baseline < <(psql_q -F ' ' -c "
  SELECT pg_total_relation_size('es_b05_r'),
         pg_total_relation_size('es_b05_history') + pg_total_relation_size('es_b05_latest')")
echo "  on disk: sensorstate $(numfmt --to=iec "$ours"), history + latest $(numfmt --to=iec "$baseline")"
report "on disk after $(count "$rows") readings (vs history + latest)" "$ours" "$baseline" bytes lower

psql_q -c "DROP TABLE es_b05_r, es_b05_history, es_b05_latest" >/dev/null
