#!/usr/bin/env bash
# Overload: 8 gateways keep 64 batches of 5,000 readings in flight each, as fast
# as the client can build them (far past what vigild can store on this box),
# for SECONDS (default 60). vigild must push back (flow control,
# RESOURCE_EXHAUSTED over ingest.max_buffered_bytes = 64 MiB), stay under its
# memory bound, never crash, and store every batch it acked. Prints the
# figures as `name value unit` lines; exits non-zero when a check failed.
#   bench/run_overload.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build="${1:-build}"
seconds="${2:-60}"
bin="$build/tests/e2e/e2e_tests"
[ -x "$bin" ] || { echo "no $bin: build first (cmake --build $build)" >&2; exit 2; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
if ! VIGIL_OVERLOAD_SECONDS="$seconds" VIGIL_E2E_VERBOSE=1 "$bin" "[overload]" >"$out" 2>&1; then
  grep -v '^ts=' "$out" | tail -40
  echo "overload run FAILED" >&2
  exit 1
fi
grep -E '^overload_[a-z0-9_]+ [0-9.e+-]+ ' "$out"
