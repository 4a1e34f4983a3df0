#!/usr/bin/env bash
# Commit-to-listener latency of invalidations at a steady 5,000 committed
# single-row inserts per second (pgbench --rate, -c 4 -j 2, synchronous_commit
# = off, BENCH_LATENCY_SECONDS, default 10), one region, a listener
# (build/notify_latency) LISTENing for the whole run:
#   edgestate - the coalesced NOTIFYs of the invalidation worker. For every
#               change a payload covers (first_seq..last_seq), latency =
#               receive time - the change's commit time from
#               edgestate.invalidations_since() (looked up on a second
#               connection after the receive time is taken);
#   trigger   - a per-row trigger calling pg_notify(channel, key || ' ' ||
#               clock_timestamp() in microseconds), invalidations off; latency =
#               receive time - that timestamp. The trigger's clock runs before
#               commit, edgestate's commit time is taken just after it, so the
#               baseline's figure also includes its commit.
# Both clocks are this machine's CLOCK_REALTIME. Targets for edgestate:
# p50 <= 1 ms, p99 <= 5 ms.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
seconds=${BENCH_LATENCY_SECONDS:-10}
rate=5000
require_probe
probe_workspace es_b08

invalidation_tables es_b08 \
  "'es_b08_trig', NEW.key || ' ' || (extract(epoch FROM clock_timestamp()) * 1000000)::int8::text" \
  "'eu-west'"
sleep 0.2

# run NAME MODE CHANNEL_OR_REGION SCRIPT EXTRA_PGOPTIONS: sets the variable named NAME
# to the listener's summary line.
run() {
  local out summary
  psql_q -c "CHECKPOINT" >/dev/null
  start_probe "$1" --seconds $((seconds + 30)) "$2" "$3"
  out=$(PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off $5" pgbench -n -M prepared \
    -c 4 -j 2 -T "$seconds" --rate="$rate" -f "$4" 2>&1) || { echo "$out" >&2; return 1; }
  sleep 0.5  # the last notifications
  stop_probe "$1"
  summary=$(cat "$work/$1.out")
  printf -v "$1" '%s' "$summary"
  local tps lag
  tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$out")
  lag=$(sed -nE 's/^rate limit schedule lag: avg ([0-9.]+).*max ([0-9.]+).*/avg \1 ms, max \2 ms/p' <<<"$out")
  echo "  $1: pgbench ${tps%.*} tps (schedule lag $lag); listener: $summary"
  awk -v t="$tps" -v r="$rate" 'BEGIN { exit !(t < 0.9 * r) }' \
    && echo "  $1: WARNING: the writers did not reach the target rate ($rate/s)"
  return 0
}

field() { sed -nE "s/.*(^| )$2 ([0-9.]+).*/\2/p" <<<"$1"; }

counters() { psql_q -F ' ' -c "SELECT appended, lost FROM edgestate.invalidation_stats()"; }
read -r appended0 lost0 <<<"$(counters)"
run edgestate edgestate eu-west "$here/pgbench/08_sensorstate_insert.sql" ""
read -r appended1 lost1 <<<"$(counters)"
run trigger trigger es_b08_trig "$here/pgbench/08_trigger_insert.sql" "-c edgestate.invalidations=off"

for who in edgestate trigger; do
  line=${!who}
  echo "  $who: p50 $(field "$line" p50_ms) ms, p99 $(field "$line" p99_ms) ms," \
       "max $(field "$line" max_ms) ms over $(field "$line" samples) changes" \
       "in $(field "$line" messages) notifications"
done
echo "  edgestate: $((appended1 - appended0)) changes appended to the ring, $(field "$edgestate" samples)" \
     "covered by payloads received; worker's lost counter +$((lost1 - lost0));" \
     "$(field "$edgestate" lost) payloads whose changes the ring no longer held at look-up"
echo "  edgestate, each payload's last_seq only: p50 $(field "$edgestate" last_p50_ms) ms," \
     "p99 $(field "$edgestate" last_p99_ms) ms"
# A probe that understood no payload measured nothing: fail rather than
# report zeros.
for who in edgestate trigger; do
  line=${!who}
  if [[ "$(field "$line" samples)" == 0 ]]; then
    echo "  $who: the probe matched no change to a notification ($line)" >&2
    exit 1
  fi
done
p50=$(field "$edgestate" p50_ms) p99=$(field "$edgestate" p99_ms)
echo "  targets: p50 <= 1 ms $(awk -v v="$p50" 'BEGIN { print (v <= 1 ? "met" : "NOT met") }')," \
     "p99 <= 5 ms $(awk -v v="$p99" 'BEGIN { print (v <= 5 ? "met" : "NOT met") }')"

report "commit-to-listener latency p50 at 5k updates/s" "$p50" "$(field "$trigger" p50_ms)" ms lower
report "commit-to-listener latency p99 at 5k updates/s" "$p99" "$(field "$trigger" p99_ms)" ms lower
