#!/usr/bin/env bash
# Set up and run: installs missing Debian packages, builds Release in build/,
# and runs vigild on its embedded default (RocksDB in ./vigil-data, the
# sample config and registry from deploy/). Extra arguments go to vigild,
# e.g. --listen 0.0.0.0:7070 or --data-dir /var/lib/vigil.
#
# ./deploy/run-local.sh --demo [OPTIONS] runs the demo instead (deploy/demo.sh):
# a simulated province streamed through a fresh vigild, its alarms shown live.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "${1:-}" = "--demo" ]; then
  shift
  exec bash deploy/demo.sh "$@"
fi
bash deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target vigild -j "$(nproc)"
exec build/server/vigild --config deploy/vigil.yaml "$@"
