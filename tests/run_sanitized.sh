#!/usr/bin/env bash
# The sanitizer and thread-safety builds, each in a build folder of its own.
# Not part of ctest: each build takes 10-20 minutes on 2 cores (run them
# under `nice`); the runs themselves take minutes. docs/testing.md says what
# each covers.
#
#   tests/run_sanitized.sh [asan] [Catch2 args]  the e2e security suite against a vigild built
#       with AddressSanitizer + UndefinedBehaviorSanitizer (g++), in build-asan/.
#       Catch2 args default to "[security]".
#   tests/run_sanitized.sh tsan [Catch2 args]    ThreadSanitizer (g++), in build-tsan/: the
#       pipeline tests (tests/server, server_tests) and the e2e tests against a TSan vigild.
#       Catch2 args (default: all) go to both binaries.
#   tests/run_sanitized.sh clang                 clang++-14 -Wthread-safety -Werror, in
#       build-clang/: the alarm, storage and server libraries, vigild and vigilctl; fails on
#       any VIGIL_GUARDED_BY/VIGIL_REQUIRES a function breaks (alarm/thread_annotations.h).
#   tests/run_sanitized.sh all                   clang, then tsan, then asan (default args).
#
# Any sanitizer finding aborts vigild (or the test binary), which fails the
# run; the script also greps every output, vigild's included, for findings.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode=asan
case "${1:-}" in
  asan | tsan | clang | all) mode="$1"; shift ;;
esac
jobs="$(nproc)"

run_asan() {
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
    -DVIGIL_SANITIZE=ON -DVIGIL_BUILD_BENCH=OFF -DVIGIL_WERROR=ON >/dev/null
  cmake --build build-asan -j "$jobs" --target e2e_tests
  local log status=0
  log="$(mktemp)"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 VIGIL_E2E_VERBOSE=1 \
    build-asan/tests/e2e/e2e_tests "${@:-[security]}" >"$log" 2>&1 || status=$?
  if grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$log"; then
    echo "sanitizer findings (full output: rerun with the same arguments)" >&2
    status=1
  fi
  tail -n 3 "$log"
  rm -f "$log"
  return "$status"
}

# ThreadSanitizer. tests/tsan.supp suppresses races inside third-party
# libraries only (each entry says why). halt_on_error stops a vigild at its
# first report (its e2e test then fails); the test binaries go on, exit 66
# at the end, and the grep below catches every report either way.
# ThreadSanitizer slows vigild and the test binaries 5-15 times:
# VIGIL_E2E_TIME_SCALE (default 5 here) stretches the e2e tests' own bounded
# waits on vigild's work (Scaled() in tests/e2e/vigild_process.h), never what
# a test asserts vigild promises in time.
run_tsan() {
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 \
    -DVIGIL_TSAN=ON -DVIGIL_BUILD_BENCH=OFF -DVIGIL_WERROR=ON >/dev/null
  cmake --build build-tsan -j "$jobs" --target server_tests e2e_tests
  local log=build-tsan/run_sanitized.log status=0 binary
  : >"$log"
  for binary in build-tsan/tests/server/server_tests build-tsan/tests/e2e/e2e_tests; do
    echo "== $binary" >>"$log"
    TSAN_OPTIONS="suppressions=$root/tests/tsan.supp second_deadlock_stack=1 history_size=7" \
      VIGIL_E2E_TIME_SCALE="${VIGIL_E2E_TIME_SCALE:-5}" VIGIL_E2E_VERBOSE=1 \
      "$binary" "$@" >>"$log" 2>&1 || status=$?
    tail -n 3 "$log"
  done
  if grep -E "WARNING: ThreadSanitizer|ERROR: ThreadSanitizer" "$log"; then
    echo "ThreadSanitizer findings" >&2
    status=1
  fi
  echo "full output: $log"
  return "$status"
}

# Clang's thread-safety analysis: CMakeLists.txt adds -Wthread-safety for
# clang++ to our warning flags; gRPC, protobuf, Abseil and RocksDB headers are
# system includes, so only our code is checked.
run_clang() {
  cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
    -DVIGIL_BUILD_TESTS=OFF -DVIGIL_BUILD_BENCH=OFF -DVIGIL_WERROR=ON >/dev/null
  cmake --build build-clang -j "$jobs" --target vigil_alarm vigil_storage vigil_server vigild vigilctl
}

case "$mode" in
  asan) run_asan "$@" ;;
  tsan) run_tsan "$@" ;;
  clang) run_clang ;;
  all) run_clang && run_tsan && run_asan ;;
esac
