#!/usr/bin/env bash
# Runs the kill -9 fault test for many cycles (default 200; CI runs 20) and
# prints its figures as `name value unit` lines. Each cycle: gateways stream
# and two command centers watch the alarm stream, vigild is killed with
# SIGKILL at a varied moment, restarted, every reading is read back, unacked
# batches are resent, and the alarm journal, the subscribers' events and a
# replay of the stored readings through alarm::Engine are compared. Any loss,
# duplicate or gap fails the run (non-zero exit).
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
grep -E '^crash_[a-z_]+ [0-9]+ count$' "$out"
echo "crash_wall_seconds $(( $(date +%s) - start )) s"
