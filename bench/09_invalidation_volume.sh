#!/usr/bin/env bash
# NOTIFY volume with and without coalescing. BENCH_VOLUME_UPDATES (default
# 2,000) readings over 100 keys (so keys repeat) and 2 regions, written in
# bursts: transactions of 10 readings each, synchronous_commit = off, committed
# back to back by one session (a procedure), then by 4 concurrent sessions
# (pgbench); both ways draw the same pseudo-random keys for both runs:
#   coalesced - edgestate's invalidations: the worker merges repeated keys per
#               table and region and sends one payload per batch;
#   per-row   - invalidations off and a per-row trigger calling
#               pg_notify('readings_' || region, key) (PostgreSQL itself folds
#               identical notifications within one transaction).
# A listener (build/notify_latency, count mode) on all four channels counts
# the notifications and their bytes (channel name + payload) that arrive;
# edgestate.invalidation_stats() deltas are printed beside it. Reported per
# 1,000 updates. How much coalesces depends on timing: an idle worker sends at
# once, a busy one gathers for edgestate.invalidation_batch_window, so the
# figure varies from run to run, and slower commits (synchronous_commit = on)
# leave the worker idle between them (about one payload per transaction and
# region).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
updates=${BENCH_VOLUME_UPDATES:-2000}
per_tx=10
require_probe
probe_workspace es_b09 "DROP PROCEDURE IF EXISTS es_b09_bursts(regclass, int, int)"

invalidation_tables es_b09 "'readings_' || NEW.region, NEW.key"
psql_q >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP PROCEDURE IF EXISTS es_b09_bursts(regclass, int, int);
-- n_tx transactions of per_tx readings each, keys k0..k99 drawn with a fixed
-- seed; a key's region is fixed (even: eu-west, odd: us-east).
CREATE PROCEDURE es_b09_bursts(target regclass, n_tx int, per_tx int) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM setseed(0.42);
  FOR i IN 1 .. n_tx LOOP
    EXECUTE format($q$
      INSERT INTO %s (key, value, ts, region, device)
      SELECT 'k' || k, random(), edgestate.hlc_now(),
             CASE WHEN k %% 2 = 0 THEN 'eu-west' ELSE 'us-east' END, 'gw' || (k %% 10)
      FROM (SELECT floor(random() * 100)::int AS k FROM generate_series(1, %s)) r$q$,
      target, per_tx);
    COMMIT;
  END LOOP;
END $$;
SQL
region_channels

stats() { psql_q -F ' ' -c "SELECT appended, sent_messages, sent_keys, sent_bytes, coalesced, lost, failures FROM edgestate.invalidation_stats()"; }

# Waits until the invalidation worker has sent everything appended so far.
wait_until_sent() {
  local s
  for _ in $(seq 1 100); do
    s=$(psql_q -c "SELECT appended - sent_keys - coalesced - lost FROM edgestate.invalidation_stats()")
    (( s <= 0 )) && return 0
    sleep 0.05
  done
  echo "  warning: the worker has not sent $s invalidations after 5 s" >&2
}

# run NAME WRITER TABLE EXTRA_PGOPTIONS: writes the bursts (WRITER: procedure, one
# session; pgbench, 4 concurrent sessions) and sets NAME to "messages bytes" the
# listener heard.
run() {
  local summary out
  start_probe "$1" count "${channels[@]}"
  if [[ $2 == procedure ]]; then
    PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off $4" \
      psql_q -c "CALL es_b09_bursts('$3', $((updates / per_tx)), $per_tx)" >/dev/null
  else
    out=$(PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off $4" pgbench -n -c 4 -j 2 \
      -t $((updates / per_tx / 4)) --random-seed=42 -D tbl="$3" -f "$here/pgbench/09_burst.sql" 2>&1) \
      || { echo "$out" >&2; return 1; }
  fi
  wait_until_sent
  sleep 0.3
  stop_probe "$1"
  summary=$(sed -nE 's/^messages ([0-9]+) bytes ([0-9]+).*/\1 \2/p' "$work/$1.out")
  printf -v "$1" '%s' "$summary"
}

per1000() { awk -v v="$1" -v n="$updates" 'BEGIN { printf "%.1f", v * 1000 / n }'; }

# scenario WRITER LABEL
scenario() {
  local a0 m0 k0 b0 c0 l0 f0 a1 m1 k1 b1 c1 l1 f1 a2 ours_messages ours_bytes row_messages row_bytes
  wait_until_sent
  read -r a0 m0 k0 b0 c0 l0 f0 <<<"$(stats)"
  run coalesced "$1" es_b09_r ""
  read -r a1 m1 k1 b1 c1 l1 f1 <<<"$(stats)"
  run perrow "$1" es_b09_t "-c edgestate.invalidations=off"
  read -r a2 _ <<<"$(stats)"
  read -r ours_messages ours_bytes <<<"$coalesced"
  read -r row_messages row_bytes <<<"$perrow"
  echo "  $2: $updates updates over 100 keys, $((updates / per_tx)) transactions of $per_tx"
  echo "    coalesced: $ours_messages notifications, $ours_bytes bytes heard; invalidation_stats:" \
       "appended $((a1 - a0)), sent_messages $((m1 - m0)), sent_keys $((k1 - k0))," \
       "payload bytes $((b1 - b0)), coalesced $((c1 - c0)), lost $((l1 - l0)), failures $((f1 - f0))"
  echo "    per-row trigger: $row_messages notifications, $row_bytes bytes heard" \
       "(ring entries appended meanwhile: $((a2 - a1)))"
  report "NOTIFY messages per 1000 updates, coalesced vs per-row$3" \
    "$(per1000 "$ours_messages")" "$(per1000 "$row_messages")" messages lower
  report "NOTIFY bytes per 1000 updates, coalesced vs per-row$3" \
    "$(per1000 "$ours_bytes")" "$(per1000 "$row_bytes")" bytes lower
}

scenario procedure "one writer, transactions back to back" ""
scenario pgbench "4 concurrent writers (pgbench)" ", 4 writers"
