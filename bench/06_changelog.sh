#!/usr/bin/env bash
# The change-log (the `edgestate` logical decoding output plugin, binary
# format) against the other output plugins, all decoding the same WAL: one
# logical slot per plugin is created before the workload.
# Workload: a sensorstate table (key text, value float8, ts edgestate.hlc,
# region text, device text), 2,000 keys (BENCH_CHANGELOG_KEYS) in 3 regions
# and 100 devices, 200,000 readings (BENCH_CHANGELOG_ROWS) arriving in
# gateway transactions of 100 (BENCH_CHANGELOG_BATCH): round j sends one
# reading of every key, each key's successive readings exactly 1 s apart,
# values in hundredths drifting slowly (a sine of period ~4 min, at most
# 0.04 per second), INSERT ... SELECT, one statement per transaction.
#  - bytes per reading: sum(octet_length(data)) of everything the plugin sends
#    (begin/commit/relation messages included) / readings, against pgoutput
#    (proto_version 1, a publication of the table), test_decoding, wal2json
#    (format-version 2: one JSON object per change) and decoderbufs (protobuf;
#    reported as n/a if it cannot be used). The edgestate JSON mode is shown
#    for reference.
#  - decoding throughput: readings per second through
#    pg_logical_slot_peek_binary_changes(), edgestate vs pgoutput, time inside
#    the server, best of BENCH_ROUNDS; the sessions get 256MB of work_mem so
#    that neither result set spills to disk.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

rows=${BENCH_CHANGELOG_ROWS:-200000}
keys=${BENCH_CHANGELOG_KEYS:-2000}
batch=${BENCH_CHANGELOG_BATCH:-100}
rounds=${BENCH_ROUNDS:-3}
slots=(es_b06_edgestate es_b06_pgoutput es_b06_test_decoding es_b06_wal2json es_b06_decoderbufs)
# Decoding sessions keep the peeked rows in memory.
export PGOPTIONS="${PGOPTIONS:-} -c work_mem=256MB"

cleanup() {
  local slot
  for slot in "${slots[@]}"; do
    psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
               WHERE slot_name = '$slot'" >/dev/null 2>&1 || true
  done
  psql_q -c "DROP PUBLICATION IF EXISTS es_b06_pub" -c "DROP TABLE IF EXISTS es_b06_r" \
    >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS edgestate" >/dev/null
cleanup
psql_q >/dev/null <<'SQL'
CREATE TABLE es_b06_r (key text, value float8, ts edgestate.hlc, region text, device text)
  USING sensorstate;
CREATE PUBLICATION es_b06_pub FOR TABLE es_b06_r;
SQL
psql_q -c "SELECT pg_create_logical_replication_slot('es_b06_edgestate', 'edgestate')" \
  -c "SELECT pg_create_logical_replication_slot('es_b06_pgoutput', 'pgoutput')" \
  -c "SELECT pg_create_logical_replication_slot('es_b06_test_decoding', 'test_decoding')" \
  -c "SELECT pg_create_logical_replication_slot('es_b06_wal2json', 'wal2json')" >/dev/null
# decoderbufs is optional: without it, its comparison is reported as n/a.
decoderbufs=1
if ! err=$(psql_q -c "SELECT pg_create_logical_replication_slot('es_b06_decoderbufs', 'decoderbufs')" \
             2>&1 >/dev/null); then
  decoderbufs=0
  echo "  decoderbufs: cannot create a slot, reported as n/a: $(grep -v '^INFO' <<<"$err" | head -1)"
fi

# Reading i is round j = i / keys of key k = i % keys: consecutive readings of
# a key are 1 s apart, a transaction holds $batch consecutive keys of a round.
t0=$(date +%s.%N)
{
  echo "SET synchronous_commit = off;"
  echo "PREPARE batch(int, int) AS INSERT INTO es_b06_r
    SELECT 'k' || k, round((15 + (k % 50) * 0.25 + 1.5 * sin((j + 7 * k) / 40.0))::numeric, 2),
           edgestate.hlc(timestamptz '2026-01-01 00:00:00+00' + j * interval '1 second'
                         + (k % 1000) * interval '1 millisecond'),
           'region-' || (k % 3), 'gw-' || (k % 100)
    FROM generate_series(\$1, \$2) i, LATERAL (SELECT i % $keys AS k, i / $keys AS j) x;"
  for ((first = 0; first < rows; first += batch)); do
    last=$((first + batch - 1)); ((last >= rows)) && last=$((rows - 1))
    echo "EXECUTE batch($first, $last);"
  done
} | psql_q >/dev/null
t1=$(date +%s.%N)
# Logical decoding stops at the flushed end of WAL, and the workload committed
# asynchronously: wait for the WAL writer to flush all of it.
psql_q -c "DO \$\$ DECLARE target pg_lsn := pg_current_wal_insert_lsn(); BEGIN
  WHILE pg_current_wal_flush_lsn() < target LOOP PERFORM pg_sleep(0.05); END LOOP; END \$\$"
txns=$(((rows + batch - 1) / batch))
echo "  workload: $rows readings of $keys keys in $txns transactions of $batch" \
  "($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s)"

# The calls that read a slot's whole contents, without consuming them.
peek_es="pg_logical_slot_peek_binary_changes('es_b06_edgestate', NULL, NULL)"
peek_es_json="pg_logical_slot_peek_changes('es_b06_edgestate', NULL, NULL, 'format', 'json')"
peek_po="pg_logical_slot_peek_binary_changes('es_b06_pgoutput', NULL, NULL,
           'proto_version', '1', 'publication_names', 'es_b06_pub')"
peek_td="pg_logical_slot_peek_changes('es_b06_test_decoding', NULL, NULL)"
peek_wj="pg_logical_slot_peek_changes('es_b06_wal2json', NULL, NULL, 'format-version', '2')"
peek_db="pg_logical_slot_peek_binary_changes('es_b06_decoderbufs', NULL, NULL)"

# bytes per reading with 2 decimals, from a total byte count.
per_reading() { awk -v b="$1" -v n="$rows" 'BEGIN { printf "%.2f", b / n }'; }
readings_counter() {
  psql_q -c "SELECT value FROM edgestate.counters() WHERE name = 'changelog_readings'"
}

# edgestate binary: frames, one per transaction; the plugin's counter says how
# many readings they carried.
before=$(readings_counter)
read -r es_msgs es_bytes < <(psql_q -F ' ' -c "SELECT count(*), sum(octet_length(data)) FROM $peek_es")
es_readings=$(($(readings_counter) - before))
es=$(per_reading "$es_bytes")
echo "  edgestate binary: $es_msgs frames, $es_readings readings, $es_bytes bytes, $es bytes/reading"
# A row is one transaction's lines, separated by newlines.
read -r n bytes < <(psql_q -F ' ' -c "SELECT sum(length(data) - length(replace(data, E'\\n', '')) + 1),
                                            sum(octet_length(data)) FROM $peek_es_json")
echo "  edgestate json (for reference): $n lines, $bytes bytes, $(per_reading "$bytes") bytes/reading"

read -r n inserts bytes < <(psql_q -F ' ' -c "
  SELECT count(*), count(*) FILTER (WHERE get_byte(data, 0) = ascii('I')), sum(octet_length(data))
  FROM $peek_po")
po=$(per_reading "$bytes")
echo "  pgoutput: $n messages, $inserts inserts, $bytes bytes, $po bytes/reading"

read -r n inserts bytes < <(psql_q -F ' ' -c "
  SELECT count(*), count(*) FILTER (WHERE data LIKE 'table public.es_b06_r: INSERT:%'),
         sum(octet_length(data))
  FROM $peek_td")
td=$(per_reading "$bytes")
echo "  test_decoding: $n lines, $inserts inserts, $bytes bytes, $td bytes/reading"

read -r n inserts bytes < <(psql_q -F ' ' -c "
  SELECT count(*), count(*) FILTER (WHERE data LIKE '{\"action\":\"I\"%'), sum(octet_length(data))
  FROM $peek_wj")
wj=$(per_reading "$bytes")
echo "  wal2json (format-version 2): $n objects, $inserts inserts, $bytes bytes, $wj bytes/reading"

db=n/a
if ((decoderbufs)); then
  # decoderbufs writes INFO lines to the client whatever client_min_messages says.
  errors="${ES_SCRATCH:-/tmp}/es_b06_decoderbufs.err"
  if out=$(psql_q -F ' ' -c "SELECT count(*), sum(octet_length(data)) FROM $peek_db" 2>"$errors"); then
    read -r n bytes <<<"$out"
    db=$(per_reading "$bytes")
    # A begin and a commit message per transaction, one message per insert.
    echo "  decoderbufs: $n messages ($((n - 2 * txns)) besides begin/commit), $bytes bytes," \
      "$db bytes/reading"
  else
    echo "  decoderbufs: decoding failed, reported as n/a: $(grep -v '^INFO' "$errors" | head -1)"
  fi
  rm -f "$errors"
fi
[[ "$es_readings" == "$rows" ]] \
  || echo "  WARNING: the edgestate frames carried $es_readings readings, not $rows"

# Decoding throughput, same slot contents, alternating, best of $rounds.
best_es=0 best_po=0
for round in $(seq 1 "$rounds"); do
  s_es=$(sql_seconds "SELECT count(*), sum(octet_length(data)) FROM $peek_es")
  s_po=$(sql_seconds "SELECT count(*), sum(octet_length(data)) FROM $peek_po")
  r_es=$(awk -v n="$rows" -v s="$s_es" 'BEGIN { printf "%.0f", n / s }')
  r_po=$(awk -v n="$rows" -v s="$s_po" 'BEGIN { printf "%.0f", n / s }')
  echo "  decoding round $round: edgestate ${s_es}s ($r_es readings/s), pgoutput ${s_po}s ($r_po readings/s)"
  ((r_es > best_es)) && best_es=$r_es
  ((r_po > best_po)) && best_po=$r_po
done

cleanup
trap - EXIT

report "change-log bytes per reading vs pgoutput" "$es" "$po" bytes lower
report "change-log bytes per reading vs test_decoding" "$es" "$td" bytes lower
report "change-log bytes per reading vs wal2json" "$es" "$wj" bytes lower
if [[ "$db" == n/a ]]; then
  report "change-log bytes per reading vs decoderbufs (n/a)" "$es" 0 bytes lower
else
  report "change-log bytes per reading vs decoderbufs" "$es" "$db" bytes lower
fi
report "change-log decoding, readings/s vs pgoutput" "$best_es" "$best_po" \
  readings/s higher
