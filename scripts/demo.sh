#!/usr/bin/env bash
# The edgestate demo: a throwaway server with the extension preloaded, sensors
# in three regions writing readings, and the dashboard queries a user runs.
# Assumes `make build-install` ran (make demo does that).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ES_ROOT"

make_scratch demo
trap 'stop_temp_server; cleanup_scratch' EXIT
start_temp_server
echo "demo: throwaway PostgreSQL on 127.0.0.1:$PGPORT (data in $ES_SCRATCH, removed at the end)"

step() { printf '\n=== %s\n' "$1"; }
sql() { psql -X -v ON_ERROR_STOP=1 -P pager=off "$@"; }

step "1. Install the extension (the server preloads it: shared_preload_libraries = 'edgestate')"
sql -q <<'SQL'
CREATE EXTENSION edgestate;
ALTER DATABASE postgres SET search_path = public, edgestate;
SQL
sql -c '\dx edgestate'

for script in scripts/demo.d/*.sql; do
  step "$(sed -n 's/^-- step: //p' "$script")"
  sql -f "$script"
done

printf '\ndemo: done; the server is shut down and its directory removed.\n'
