# Shared shell helpers for the test, demo and benchmark scripts.
# Everything that starts PostgreSQL runs it as an unprivileged account (the
# Debian `postgres` user when invoked as root), in a fresh temporary directory,
# on loopback and a free port, and never touches an existing cluster.

ES_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-$(ls /usr/lib/postgresql/15/bin/pg_config 2>/dev/null || command -v pg_config)}
PG_BINDIR=$("$PG_CONFIG" --bindir)
PG_PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
PG_PGXSDIR=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/../.." && pwd)
export PATH="$PG_BINDIR:$PATH"

# The OS account that owns throwaway servers: PostgreSQL refuses to run as root.
if [[ $(id -u) -eq 0 ]]; then
  ES_PG_USER=postgres
  id "$ES_PG_USER" >/dev/null 2>&1 || { echo "no '$ES_PG_USER' account; run scripts/setup.sh" >&2; exit 1; }
else
  ES_PG_USER=$(id -un)
fi

# Runs a command as the server account, with PATH and selected variables kept.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u "$ES_PG_USER" -- env PATH="$PATH" HOME="${ES_SCRATCH:-/tmp}" "$@"
  else
    "$@"
  fi
}

# Creates a scratch directory the server account can write to; removed on exit
# unless ES_KEEP_SCRATCH=1.
make_scratch() {
  ES_SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/edgestate-$1.XXXXXX")
  chmod 755 "$ES_SCRATCH"
  [[ $(id -u) -eq 0 ]] && chown "$ES_PG_USER" "$ES_SCRATCH"
  export ES_SCRATCH
}

cleanup_scratch() {
  [[ -n "${ES_SCRATCH:-}" && -d "$ES_SCRATCH" && "${ES_KEEP_SCRATCH:-0}" != 1 ]] && rm -rf "$ES_SCRATCH"
  return 0
}

port_is_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts a throwaway server in $ES_SCRATCH/data with test/config/temp.conf plus
# any extra settings given as arguments; sets PGHOST/PGPORT/PGUSER/PGDATABASE.
start_temp_server() {
  local data="$ES_SCRATCH/data"
  as_pg initdb -D "$data" -A trust -U postgres -E UTF8 --no-locale >"$ES_SCRATCH/initdb.log" 2>&1 \
    || { cat "$ES_SCRATCH/initdb.log" >&2; return 1; }
  {
    cat "$ES_ROOT/test/config/temp.conf"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$ES_SCRATCH'"
    for setting in "$@"; do echo "$setting"; done
  } | as_pg tee -a "$data/postgresql.conf" >/dev/null
  local attempt port
  for attempt in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    port_is_free "$port" || continue
    if as_pg pg_ctl -D "$data" -o "-p $port" -l "$ES_SCRATCH/server.log" -w -t 60 start >/dev/null; then
      export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
      return 0
    fi
  done
  echo "could not start a throwaway server; see $ES_SCRATCH/server.log" >&2
  tail -20 "$ES_SCRATCH/server.log" >&2
  return 1
}

stop_temp_server() {
  [[ -n "${ES_SCRATCH:-}" && -f "$ES_SCRATCH/data/postmaster.pid" ]] \
    && as_pg pg_ctl -D "$ES_SCRATCH/data" -m fast -w stop >/dev/null 2>&1
  return 0
}
