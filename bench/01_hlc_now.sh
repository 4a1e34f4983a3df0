#!/usr/bin/env bash
# hlc_now() calls per second in one backend, against clock_timestamp() (the
# plain-PostgreSQL way to stamp a row) in the same run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
psql_q -c "CREATE EXTENSION IF NOT EXISTS edgestate" >/dev/null
calls=2000000
ours=$(best_rate "SELECT count(edgestate.hlc_now()) FROM generate_series(1, $calls)" $calls)
baseline=$(best_rate "SELECT count(clock_timestamp()) FROM generate_series(1, $calls)" $calls)
report "hlc_now() vs clock_timestamp(), 1 backend" "$ours" "$baseline" "calls/s" higher
