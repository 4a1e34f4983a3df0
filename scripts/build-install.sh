#!/usr/bin/env bash
# Builds the extension with PGXS and installs it into the server's directories
# (a plain `make install`; through sudo when not root). Starts no server.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ES_ROOT"
make -s -j2 PG_CONFIG="$PG_CONFIG"
if [[ -w "$PG_PKGLIBDIR" ]]; then
  make -s install PG_CONFIG="$PG_CONFIG"
else
  echo "build-install: installing into $PG_PKGLIBDIR needs root; using sudo"
  sudo make -s install PG_CONFIG="$PG_CONFIG"
fi
