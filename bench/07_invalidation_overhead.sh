#!/usr/bin/env bash
# What invalidations cost writers. pgbench, single-row INSERT into a sensorstate
# table (10,000 random keys over 2 regions, synchronous_commit = off: CPU, not
# fsync), with 2 and with 8 concurrent writers, three ways:
#   on      - edgestate's invalidations (the default): at commit the writer
#             appends the key to the shared ring; the background worker sends
#             coalesced NOTIFYs;
#   off     - SET edgestate.invalidations = off (superuser): no ring, nothing sent;
#   trigger - invalidations off, and a per-row AFTER INSERT trigger calling
#             pg_notify('readings_' || region, key) (the issue's baseline: every
#             notifying commit takes NOTIFY's cluster-wide lock).
# A listener (build/notify_latency in count mode, or psql LISTEN as a fallback)
# is LISTENing on all four channels during every run, so NOTIFY's queue and
# listener signalling are really exercised. Runs alternate; each configuration
# runs BENCH_PGBENCH_ROUNDS times (default 2) for BENCH_INVALIDATION_SECONDS
# (default 8) and the best tps is reported. Target: on >= 95% of off.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
seconds=${BENCH_INVALIDATION_SECONDS:-8}
rounds=${BENCH_PGBENCH_ROUNDS:-2}
probe_workspace es_b07

invalidation_tables es_b07 "'readings_' || NEW.region, NEW.key" \
  "CASE k % 2 WHEN 0 THEN 'eu-west' ELSE 'us-east' END"
region_channels

start_listener() {
  : >"$work/listener.out"; : >"$work/listener.err"
  [[ -x "$probe_bin" ]] && { start_probe listener count "${channels[@]}"; return; }
  # Fallback: a psql session that LISTENs and sleeps (notifications queue up).
  { for c in "${channels[@]}"; do printf 'LISTEN "%s";\n' "$c"; done
    echo "SELECT pg_sleep($seconds + 5);"; } | psql -X -q >/dev/null 2>&1 &
  probe_pid=$!
  sleep 0.5
}

# Sets heard to what the listener received.
stop_listener() {
  stop_background "$probe_pid"
  probe_pid=
  heard=$(sed -nE 's/^messages ([0-9]+) bytes ([0-9]+).*/\1 notifications received/p' "$work/listener.out")
}

# One pgbench run: $1 script, $2 clients, $3 extra PGOPTIONS; sets tps and heard.
run_pgbench() {
  local out
  psql_q -c "CHECKPOINT" >/dev/null
  start_listener
  out=$(PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off $3" pgbench -n -M prepared \
    -c "$2" -j 2 -T "$seconds" -f "$1" 2>&1) || { stop_listener; echo "$out" >&2; return 1; }
  sleep 0.3  # let the last notifications arrive
  stop_listener
  tps=$(sed -nE 's/^tps = ([0-9]+).*/\1/p' <<<"$out")
  [[ -n "$tps" ]] || { echo "$out" >&2; return 1; }
}

stats() { psql_q -F ' ' -c "SELECT appended, sent_messages, sent_keys, coalesced, lost, failures FROM edgestate.invalidation_stats()"; }
read -r a0 m0 k0 c0 l0 f0 <<<"$(stats)"
declare -A best
for clients in 2 8; do
  best[on$clients]=0 best[off$clients]=0 best[trigger$clients]=0
  for round in $(seq 1 "$rounds"); do
    order=(off on trigger)
    (( round % 2 == 0 )) && order=(on off trigger)
    for mode in "${order[@]}"; do
      case $mode in
        on) run_pgbench "$here/pgbench/07_sensorstate_insert.sql" "$clients" "" ;;
        off) run_pgbench "$here/pgbench/07_sensorstate_insert.sql" "$clients" \
               "-c edgestate.invalidations=off" ;;
        trigger) run_pgbench "$here/pgbench/07_trigger_insert.sql" "$clients" \
                   "-c edgestate.invalidations=off" ;;
      esac
      echo "  $clients writers, round $round: $mode ${tps} tps${heard:+ (listener: $heard)}"
      (( tps > best[$mode$clients] )) && best[$mode$clients]=$tps
    done
  done
  on=${best[on$clients]} off=${best[off$clients]} trig=${best[trigger$clients]}
  echo "  $clients writers: on = $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.1f", 100 * a / b }')% of off" \
       "(target >= 95%: $(awk -v a="$on" -v b="$off" 'BEGIN { print (a >= 0.95 * b ? "met" : "NOT met") }'));" \
       "pg_notify trigger = $(awk -v a="$trig" -v b="$off" 'BEGIN { printf "%.1f", 100 * a / b }')% of off" \
       "(costs $(awk -v a="$trig" -v b="$off" 'BEGIN { printf "%.1f", 100 * (1 - a / b) }')% of throughput)"
done

read -r a1 m1 k1 c1 l1 f1 <<<"$(stats)"
echo "  invalidation_stats over these runs: appended $((a1 - a0)), sent_messages $((m1 - m0))," \
     "sent_keys $((k1 - k0)), coalesced $((c1 - c0)), lost $((l1 - l0)), failures $((f1 - f0))"

report "invalidations on vs off, 2 writers" "${best[on2]}" "${best[off2]}" tps higher
report "invalidations vs pg_notify trigger, 2 writers" "${best[on2]}" "${best[trigger2]}" tps higher
report "invalidations on vs off, 8 writers" "${best[on8]}" "${best[off8]}" tps higher
report "invalidations vs pg_notify trigger, 8 writers" "${best[on8]}" "${best[trigger8]}" tps higher
