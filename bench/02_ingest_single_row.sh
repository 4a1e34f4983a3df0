#!/usr/bin/env bash
# Single-row ingest, pgbench with 2 clients: a reading inserted into a
# sensorstate table (history plus the shared-memory latest index, merged at
# commit) against the plain-PostgreSQL way in the same run: a history INSERT
# and a newer-wins INSERT ... ON CONFLICT DO UPDATE into a latest table in one
# transaction (the issue's baseline), and, as a stronger variant, both in one
# statement (one round trip). synchronous_commit = off
# for both: this measures CPU, not fsync. Both start with all 10,000 keys
# present, so the baseline's upserts are updates (its steady state). The two
# are run alternately, BENCH_PGBENCH_ROUNDS times each for BENCH_INGEST_SECONDS,
# and the best tps of each is reported.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
seconds=${BENCH_INGEST_SECONDS:-8}
rounds=${BENCH_PGBENCH_ROUNDS:-2}
clients=2

psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS edgestate" >/dev/null
psql_q >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS es_b02_r, es_b02_history, es_b02_latest;
CREATE TABLE es_b02_r (key text, value float8, ts edgestate.hlc, region text, device text)
  USING sensorstate;
CREATE TABLE es_b02_history (key text, value float8, ts timestamptz, region text, device text);
CREATE TABLE es_b02_latest (key text PRIMARY KEY, value float8, ts timestamptz, region text,
                            device text);
INSERT INTO es_b02_r
  SELECT 'k' || k, 0, edgestate.hlc_now(), 'eu-west', 'gw' || (k % 100) FROM generate_series(0, 9999) k;
WITH h AS (
  INSERT INTO es_b02_history
    SELECT 'k' || k, 0, clock_timestamp(), 'eu-west', 'gw' || (k % 100) FROM generate_series(0, 9999) k
    RETURNING *)
INSERT INTO es_b02_latest SELECT * FROM h;
VACUUM ANALYZE es_b02_r, es_b02_history, es_b02_latest;
SQL

# tps of one pgbench run of script $1.
run_pgbench() {
  local out tps
  psql_q -c "CHECKPOINT" >/dev/null
  out=$(PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off" pgbench -n -M prepared \
    -c "$clients" -j "$clients" -T "$seconds" -f "$1" 2>&1) || { echo "$out" >&2; return 1; }
  tps=$(sed -nE 's/^tps = ([0-9]+).*/\1/p' <<<"$out")
  [[ -n "$tps" ]] || { echo "$out" >&2; return 1; }
  echo "$tps"
}

ours=0 baseline=0 one_statement=0
for round in $(seq 1 "$rounds"); do
  tps=$(run_pgbench "$here/pgbench/02_sensorstate_insert.sql")
  echo "  round $round: sensorstate insert ${tps} tps"
  (( tps > ours )) && ours=$tps
  tps=$(run_pgbench "$here/pgbench/02_plain_two_statements.sql")
  echo "  round $round: history insert + latest upsert, one transaction ${tps} tps"
  (( tps > baseline )) && baseline=$tps
  tps=$(run_pgbench "$here/pgbench/02_plain_upsert.sql")
  echo "  round $round: history insert + latest upsert, one statement ${tps} tps"
  (( tps > one_statement )) && one_statement=$tps
done

# Both paths kept every key's newest reading.
check=$(psql_q -c "SELECT (SELECT count(*) FROM edgestate.latest('es_b02_r')) || ' / ' ||
                          (SELECT count(*) FROM es_b02_latest)")
echo "  keys in latest: sensorstate / latest table = $check"

psql_q -c "DROP TABLE es_b02_r, es_b02_history, es_b02_latest" >/dev/null
report "single-row ingest, pgbench -c $clients, sync_commit off" "$ours" "$baseline" tps higher
report "  ... vs both in one statement (stronger baseline)" "$ours" "$one_statement" tps higher
