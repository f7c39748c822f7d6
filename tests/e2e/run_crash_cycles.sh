#!/usr/bin/env bash
# Runs the kill -9 fault test for many cycles (default 200; CI runs 20) and
# prints its figures as `name value unit` lines. Each cycle: gateways stream
# and two command centers watch the alarm stream, vigild is killed with
# SIGKILL at a varied moment, restarted, every reading is read back, unacked
# batches are resent, and the alarm journal, the subscribers' events and a
# replay of the stored readings through alarm::Engine are compared. Any loss,
# duplicate or gap fails the run (non-zero exit), and so does a restart whose
# replay seals more readings than came since the previous restart (the test
# checks it per cycle). Per cycle it prints the time from restart to serving,
# the data folder's size and the readings the replay wrote and found stored
# already; it fails when the time to serve grows with the cycles (the median
# of the last 5 above 4x that of the first 5 plus 2 s).
#   tests/e2e/run_crash_cycles.sh [BUILD_DIR] [CYCLES]
set -euo pipefail
build="${1:-build}"
cycles="${2:-200}"
bin="$build/tests/e2e/e2e_tests"
[ -x "$bin" ] || { echo "no $bin: build first (cmake --build $build)" >&2; exit 2; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
start=$(date +%s)
if ! VIGIL_CRASH_CYCLES="$cycles" VIGIL_E2E_VERBOSE=1 \
    "$bin" "kill -9 cycles*" >"$out" 2>&1; then
  grep -v '^ts=' "$out" | tail -60
  echo "crash cycles FAILED" >&2
  exit 1
fi
# crash_cycle N serve_ms X data_bytes Y replay_written W replay_repeated R
grep -E '^crash_cycle [0-9]+ ' "$out" |
  awk '{ printf "crash_cycle_%d_serve_ms %d ms\ncrash_cycle_%d_data_bytes %d bytes\ncrash_cycle_%d_replay_written %d count\ncrash_cycle_%d_replay_repeated %d count\n", $2, $4, $2, $6, $2, $8, $2, $10 }'
grep -E '^crash_[a-z_]+ [0-9]+ count$' "$out"
echo "crash_wall_seconds $(( $(date +%s) - start )) s"
serve=($(grep -E '^crash_cycle [0-9]+ ' "$out" | awk '{ print $4 }'))
n=${#serve[@]}
if [ "$n" -ge 10 ]; then
  median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
  first=$(median "${serve[@]:0:5}")
  last=$(median "${serve[@]:$((n - 5)):5}")
  echo "crash_serve_ms_first5_median $first ms"
  echo "crash_serve_ms_last5_median $last ms"
  if [ "$last" -gt $(( 4 * first + 2000 )) ]; then
    echo "time to serve grew with the cycles: $first ms -> $last ms" >&2
    exit 1
  fi
fi
