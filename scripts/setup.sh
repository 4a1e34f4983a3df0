#!/usr/bin/env bash
# Installs the Debian 12 packages edgestate needs to build, test, benchmark and
# demo, but only those that are missing. Safe to run any number of times.
set -euo pipefail

packages=(
  # building the extension (PGXS) and the core (CMake)
  g++ make cmake pkg-config
  postgresql-15 postgresql-server-dev-15 libpq-dev
  libboost-dev
  # unit tests, property tests, micro-benchmarks
  googletest libgtest-dev librapidcheck-dev libbenchmark-dev
  # TAP tests (PostgreSQL::Test::Cluster) and clock-skew tests
  libipc-run-perl faketime
  # the change-log decoder's fuzz target (libFuzzer)
  clang libclang-rt-14-dev
  # output plugins the change-log benchmark compares with
  postgresql-15-wal2json postgresql-15-decoderbufs
  # tools the test and demo scripts call
  util-linux procps
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} required packages are installed"
  exit 0
fi

echo "setup: installing missing packages: ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
