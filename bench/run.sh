#!/usr/bin/env bash
# Runs every benchmark in bench/ against one throwaway server and prints, per
# benchmark, our figure, the plain-PostgreSQL baseline measured in the same run,
# and the ratio (> 1 means edgestate is better). Then the core micro-benchmarks.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ES_ROOT"

make_scratch bench
trap 'stop_temp_server; cleanup_scratch' EXIT
start_temp_server "shared_buffers = '512MB'" "max_connections = 100"
echo "bench: throwaway server on 127.0.0.1:$PGPORT ($("$PG_BINDIR/postgres" --version))"

results="$ES_SCRATCH/results"
: >"$results"
for script in bench/[0-9]*.sh; do
  echo "bench: running $script"
  # Progress lines are shown; a script that prints only results is fine too.
  if ! bash "$script" | tee -a "$results" | { grep -v '^RESULT|' || true; }; then
    echo "bench: $script failed" >&2
    exit 1
  fi
done

echo
printf '%-58s %16s %16s %-10s %8s\n' "benchmark" "edgestate" "baseline" "unit" "ratio"
grep '^RESULT|' "$results" | while IFS='|' read -r _ name ours baseline unit better; do
  ratio=$(awk -v o="$ours" -v b="$baseline" -v w="$better" \
    'BEGIN { if (o == 0 || b == 0) print "n/a"; else printf "%.2fx", (w == "higher" ? o / b : b / o) }')
  printf '%-58s %16s %16s %-10s %8s\n' "$name" "$ours" "$baseline" "$unit" "$ratio"
done

if [[ -x build/core_bench ]]; then
  echo
  echo "core micro-benchmarks (no server; items_per_second is merges or ticks per second per core):"
  build/core_bench --benchmark_min_time=0.5 2>/dev/null
fi
