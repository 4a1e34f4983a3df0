#!/usr/bin/env bash
# Runs every suite: CTest (core unit and property tests), pg_regress, isolation
# and TAP. Servers are throwaway instances owned by an unprivileged account in a
# scratch directory. Ends with one line "N passed, N failed"; exits non-zero on
# any failure. Assumes `make build-install core` ran (make test does that).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ES_ROOT"

passed=0
failed=0
failed_suites=()

tally() {  # suite passed failed
  passed=$((passed + $2))
  failed=$((failed + $3))
  [[ $3 -gt 0 ]] && failed_suites+=("$1")
  printf '== %s: %d passed, %d failed\n' "$1" "$2" "$3"
}

make_scratch test
trap cleanup_scratch EXIT
# The server account reads the tests (and the docs the Grafana test checks)
# from a copy in the scratch directory.
cp -r sql expected test docs "$ES_SCRATCH/"
mkdir -p "$ES_SCRATCH/bin" && cp build/edgestate-decode build/edgestate-listen "$ES_SCRATCH/bin/"
[[ $(id -u) -eq 0 ]] && chown -R "$ES_PG_USER" "$ES_SCRATCH"

run_ctest() {
  echo "== core unit and property tests (ctest)"
  local log="$ES_SCRATCH/ctest.log"
  (cd build && ctest --output-on-failure -j2) | tee "$log" | grep -vE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed' || true
  local total fails
  total=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\2/p' "$log")
  fails=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/p' "$log")
  if [[ -z "$total" ]]; then tally ctest 0 1; return; fi
  tally ctest $((total - fails)) "$fails"
}

# pg_regress prints one line per test ending in "ok" or "FAILED".
count_regress() {  # suite log status
  local ok bad
  ok=$(grep -cE '\.\.\. ok|^ok ' "$2")
  bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed|^not ok ' "$2")
  [[ $3 -ne 0 && $bad -eq 0 ]] && bad=1
  tally "$1" "$ok" "$bad"
}

run_regress() {
  echo "== SQL regression tests (pg_regress)"
  local tests log="$ES_SCRATCH/regress.log" status
  tests=$(cd sql && ls *.sql | sed 's/\.sql$//' | sort)
  (cd "$ES_SCRATCH" && as_pg "$PG_PGXSDIR/src/test/regress/pg_regress" \
      --temp-instance="$ES_SCRATCH/regress_instance" --temp-config=test/config/temp.conf \
      --no-locale --encoding=UTF8 --inputdir=. --outputdir=regress_out $tests) >"$log" 2>&1
  status=$?
  cat "$log"
  [[ -f "$ES_SCRATCH/regress_out/regression.diffs" ]] && cp "$ES_SCRATCH/regress_out/regression.diffs" regression.diffs && head -200 regression.diffs
  count_regress pg_regress "$log" "$status"
}

run_isolation() {
  echo "== isolation tests (pg_isolation_regress)"
  local tests log="$ES_SCRATCH/isolation.log" status
  tests=$(cd test/isolation/specs && ls *.spec | sed 's/\.spec$//' | sort)
  (cd "$ES_SCRATCH/test/isolation" && as_pg "$PG_PGXSDIR/src/test/isolation/pg_isolation_regress" \
      --temp-instance="$ES_SCRATCH/isolation_instance" --temp-config="$ES_SCRATCH/test/config/temp.conf" \
      --no-locale --encoding=UTF8 --inputdir=. --outputdir=out $tests) >"$log" 2>&1
  status=$?
  cat "$log"
  [[ -f "$ES_SCRATCH/test/isolation/out/regression.diffs" ]] && head -200 "$ES_SCRATCH/test/isolation/out/regression.diffs"
  count_regress isolation "$log" "$status"
}

# A bounded libFuzzer run of the change-log decoder (Clang build of its own).
run_fuzz() {
  echo "== change-log decoder fuzzing (libFuzzer, bounded)"
  local log="$ES_SCRATCH/fuzz.log"
  if ! command -v clang++ >/dev/null; then
    echo "clang++ is missing; run scripts/setup.sh"
    tally fuzz 0 1
    return
  fi
  if cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$log" 2>&1 &&
     cmake --build build-fuzz -j2 --target changelog_decode_fuzz >>"$log" 2>&1 &&
     (cd build-fuzz && ctest -R changelog_fuzz_smoke --output-on-failure) >>"$log" 2>&1; then
    grep -E "Done [0-9]+ runs|tests passed" "$log" | tail -2
    tally fuzz 1 0
  else
    tail -40 "$log"
    tally fuzz 0 1
  fi
}

run_tap() {
  echo "== TAP tests (prove, PostgreSQL::Test::Cluster)"
  local log="$ES_SCRATCH/tap.log" status
  (cd "$ES_SCRATCH" && as_pg env TESTDIR="$ES_SCRATCH" TEMP_CONFIG="$ES_SCRATCH/test/config/temp.conf" \
      PG_REGRESS="$PG_PGXSDIR/src/test/regress/pg_regress" ES_ROOT="$ES_ROOT" \
      EDGESTATE_DECODE="$ES_SCRATCH/bin/edgestate-decode" \
      EDGESTATE_LISTEN="$ES_SCRATCH/bin/edgestate-listen" \
      prove -I "$PG_PGXSDIR/src/test/perl" -I test/tap test/tap/*.pl) >"$log" 2>&1
  status=$?
  cat "$log"
  local total bad
  total=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$log")
  bad=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' "$log" | awk -F'[ /]' '{s += $2} END {print s + 0}')
  [[ -z "$total" ]] && total=0
  [[ $status -ne 0 && $bad -eq 0 ]] && bad=1
  if [[ $status -ne 0 ]]; then
    for f in "$ES_SCRATCH"/tmp_check/log/*; do echo "--- $f"; tail -40 "$f"; done
  fi
  tally tap $((total - bad < 0 ? 0 : total - bad)) "$bad"
}

run_ctest
run_fuzz
run_regress
run_isolation
run_tap

[[ ${#failed_suites[@]} -gt 0 ]] && echo "failed suites: ${failed_suites[*]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
