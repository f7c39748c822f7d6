#!/usr/bin/env bash
# The e2e security suite (bad-input tour, callers, limits, TLS) against a
# vigild built with AddressSanitizer + UndefinedBehaviorSanitizer (g++), in
# build-asan/. Not part of ctest: the extra build takes about 20 minutes on
# 2 cores; the run itself well under a minute. Any sanitizer finding aborts
# vigild (or the test binary), which fails the run; the script also greps
# every vigild output for findings. Extra arguments go to the Catch2 binary
# (default: "[security]").
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
  -DVIGIL_SANITIZE=ON -DVIGIL_BUILD_BENCH=OFF -DVIGIL_WERROR=ON >/dev/null
cmake --build build-asan -j "$(nproc)" --target e2e_tests
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 VIGIL_E2E_VERBOSE=1 \
  build-asan/tests/e2e/e2e_tests "${@:-[security]}" >"$log" 2>&1 || status=$?
if grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$log"; then
  echo "sanitizer findings (full output: rerun with the same arguments)" >&2
  status=1
fi
tail -n 3 "$log"
exit "$status"
