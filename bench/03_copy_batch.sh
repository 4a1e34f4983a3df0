#!/usr/bin/env bash
# A 1,000,000-row COPY batch (10,000 keys x 100 readings, shuffled) into a
# sensorstate table, against the plain-PostgreSQL way in the same run: COPY
# into a temporary staging table, then in the same transaction
# INSERT INTO history SELECT * FROM staging and a newer-wins
# INSERT INTO latest SELECT DISTINCT ON (key) ... ON CONFLICT (key) DO UPDATE
# (the batch has to be deduplicated and sorted first, or ON CONFLICT fails on
# its repeated keys). Both read the same server-side CSV file; wall-clock time
# of the whole transaction, commit included (the latest index is merged at
# commit), synchronous_commit = off; the baseline's session gets 256MB of
# temp_buffers and work_mem for its staging table and sort. Every round
# writes a new batch whose readings are newer than the previous one, so the
# baseline updates all its keys; round 0 (into empty tables) is a warm-up.
# Median of BENCH_COPY_ROUNDS (default 9: single rounds on 2 shared cores
# swing by a third, and the medians of 5 still moved the ratio between 2.45x
# and 3.68x from run to run). Each round also times the floor described below.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off"
keys=${BENCH_COPY_KEYS:-10000}
per_key=${BENCH_COPY_READINGS_PER_KEY:-100}
rounds=${BENCH_COPY_ROUNDS:-9}
rows=$((keys * per_key))
dir=${ES_SCRATCH:-/tmp}
csv="$dir/es_b03_batch.csv"

psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS edgestate" >/dev/null
psql_q >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS es_b03_r, es_b03_history, es_b03_latest, es_b03_heap;
CREATE TABLE es_b03_r (key text, value float8, ts edgestate.hlc, region text, device text)
  USING sensorstate;
CREATE TABLE es_b03_history (key text, value float8, ts timestamptz, region text, device text);
CREATE TABLE es_b03_latest (key text PRIMARY KEY, value float8, ts timestamptz, region text,
                            device text);
SQL

# Writes batch $1 to $csv (written by the server, so the server can read it):
# every key's readings 1 s apart, each batch 1000 s after the previous one,
# in a deterministic shuffled order. Values are written as a gateway sends
# them (float8 text such as 23.619; a numeric division would pad them to 16
# decimals, which only makes every float8 parse slower).
write_batch() {
  psql_q -c "SET work_mem = '256MB'" -c "COPY (
    SELECT 'k' || k, ((abs(hashint4(k * 1000 + j + $1)) % 100000) / 1000.0)::float8,
           date_trunc('second', now()) - interval '1 day' + ($1 * 1000 + j) * interval '1 second'
             + k * interval '1 millisecond',
           'region-' || (k % 4), 'gw-' || (k % 100)
    FROM generate_series(0, $keys - 1) k, generate_series(0, $per_key - 1) j
    ORDER BY hashint4(k * 1000 + j + $1 * 7919)) TO '$csv' (FORMAT csv)" >/dev/null
}

# Wall-clock seconds of one psql session running the SQL on stdin.
wall_seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  psql_q >/dev/null || return 1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

ours_batch() {
  wall_seconds <<<"COPY es_b03_r FROM '$csv' (FORMAT csv);"
}

baseline_batch() {
  wall_seconds <<SQL
SET temp_buffers = '256MB';
SET work_mem = '256MB';
BEGIN;
CREATE TEMP TABLE es_b03_staging (LIKE es_b03_history) ON COMMIT DROP;
COPY es_b03_staging FROM '$csv' (FORMAT csv);
INSERT INTO es_b03_history SELECT * FROM es_b03_staging;
INSERT INTO es_b03_latest AS l
  SELECT DISTINCT ON (key) key, value, ts, region, device FROM es_b03_staging ORDER BY key, ts DESC
  ON CONFLICT (key) DO UPDATE
    SET value = EXCLUDED.value, ts = EXCLUDED.ts, region = EXCLUDED.region, device = EXCLUDED.device
    WHERE l.ts < EXCLUDED.ts;
COMMIT;
SQL
}

# The floor: the same COPY into a plain heap table with sensorstate's column
# types and nothing else (no capture, no latest state). Storage is heap's, so
# no sensorstate COPY can beat it, and baseline / floor is the largest ratio
# this benchmark can show on this machine.
floor_batch() {
  psql_q -c "TRUNCATE es_b03_heap" -c "CHECKPOINT" >/dev/null
  wall_seconds <<<"COPY es_b03_heap FROM '$csv' (FORMAT csv);"
}
psql_q -c "CREATE TABLE es_b03_heap (LIKE es_b03_r)" >/dev/null

ours_all=() baseline_all=() floor_all=()
for round in $(seq 0 "$rounds"); do
  write_batch "$round"
  psql_q -c "CHECKPOINT" >/dev/null
  o=$(ours_batch)
  psql_q -c "CHECKPOINT" >/dev/null
  b=$(baseline_batch)
  f=$(floor_batch)
  if (( round == 0 )); then
    echo "  warm-up batch of $rows rows: sensorstate ${o}s, staging + history + upsert ${b}s, plain heap ${f}s"
  else
    echo "  round $round: sensorstate COPY ${o}s, staging + history + upsert ${b}s, plain heap COPY ${f}s"
    ours_all+=("$o") baseline_all+=("$b") floor_all+=("$f")
  fi
done
ours=$(printf '%s\n' "${ours_all[@]}" | median)
baseline=$(printf '%s\n' "${baseline_all[@]}" | median)
floor=$(printf '%s\n' "${floor_all[@]}" | median)
awk -v o="$ours" -v b="$baseline" -v f="$floor" 'BEGIN {
  printf "  medians: sensorstate %.3fs, plain heap %.3fs (capture costs %.0f%%); ceiling baseline / plain heap %.2fx\n",
         o, f, (o / f - 1) * 100, b / f }'
# The ratio within each round, whose three timings are seconds apart: the
# machine's speed drifts less within a round than across the run.
paired=$(for i in "${!ours_all[@]}"; do
  awk -v o="${ours_all[$i]}" -v b="${baseline_all[$i]}" 'BEGIN { printf "%.3f\n", b / o }'; done)
echo "  baseline / sensorstate within each round: from $(sort -g <<<"$paired" | head -1)x to" \
     "$(sort -g <<<"$paired" | tail -1)x, median $(median <<<"$paired")x"

# Both paths hold the newest reading of every key.
diff=$(psql_q -c "SELECT count(*) FROM edgestate.latest('es_b03_r') o
                  FULL JOIN es_b03_latest b USING (key)
                  WHERE o.ts::timestamptz IS DISTINCT FROM b.ts OR o.value IS DISTINCT FROM b.value")
echo "  keys whose latest value differs between the two: $diff"

rm -f "$csv"
psql_q -c "DROP TABLE es_b03_r, es_b03_history, es_b03_latest, es_b03_heap" >/dev/null
report "COPY batch, $(count "$rows") rows, $(count "$keys") keys" "$ours" "$baseline" s lower
