#!/usr/bin/env bash
# Builds the libFuzzer targets (clang++-14, ASan + UBSan; CMake option VIGIL_FUZZ
# in its own build folder) and runs each for a bounded time, --jobs at once,
# from the seeds in tests/fuzz/corpus/<target>/. New inputs go to a scratch
# folder, not to the repository (unless --update-corpus).
#
#   tests/fuzz/run_fuzzers.sh [--seconds N] [--jobs N] [--rss-mb N] [--build-dir DIR]
#                             [--work-dir DIR] [--update-corpus] [TARGET...]
#
# TARGET: batch rules config registry registry_api chunk ingest_record (default: all).
# --jobs: targets fuzzed at once, one core each (default 2).
# Prints per target `fuzz_<target>_execs N count` and `fuzz_<target>_seconds N s`.
# Exit: 0 no failure; 1 a target crashed or broke a check (the reproducer's
# path is printed); 2 bad arguments or build failure; 77 clang-14 or
# libclang-rt-14-dev missing (skipped).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"

seconds=20
jobs=2
rss_mb=2048
build_dir="$root/build-fuzz"
work_dir=""
update_corpus=0
targets=()
all_targets=(batch rules config registry registry_api chunk ingest_record json_ingest line_protocol)

usage() { sed -n "6,15p" "$0" | sed "s/^# \{0,1\}//" >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?}"; shift 2 ;;
    --rss-mb) rss_mb="${2:?}"; shift 2 ;;
    --jobs) jobs="${2:?}"; shift 2 ;;
    --build-dir) build_dir="${2:?}"; shift 2 ;;
    --work-dir) work_dir="${2:?}"; shift 2 ;;
    --update-corpus) update_corpus=1; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "run_fuzzers.sh: unknown option '$1'" >&2; usage ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  if [[ ! " ${all_targets[*]} " == *" $t "* ]]; then
    echo "run_fuzzers.sh: unknown target '$t' (known: ${all_targets[*]})" >&2
    exit 2
  fi
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "run_fuzzers.sh: --seconds wants a positive integer" >&2; exit 2; }
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "run_fuzzers.sh: --jobs wants a positive integer" >&2; exit 2; }
work_dir="${work_dir:-$build_dir/work}"

if ! command -v clang++-14 >/dev/null ||
   ! compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a" >/dev/null; then
  echo "run_fuzzers.sh: skipped: needs the Debian packages clang-14 and libclang-rt-14-dev" >&2
  exit 77
fi

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
build_log="$build_dir/build.log"
mkdir -p "$build_dir"
if ! { cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVIGIL_FUZZ=ON \
         -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" &&
       cmake --build "$build_dir" -j 2 --target fuzzers; } >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  echo "run_fuzzers.sh: fuzz build failed (log: $build_log)" >&2
  exit 2
fi

export UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}"
# A smaller quarantine than the default 256 MiB keeps long runs well under the
# RSS limit (the YAML targets reached 1 GiB in 10 minutes with the default).
export ASAN_OPTIONS="quarantine_size_mb=64:${ASAN_OPTIONS:-}"
# One target: its report lines on stdout, the failure details on stderr, and
# its verdict in $work_dir/$t.rc (0 passed, 1 failed).
run_target() {  # target
  local t=$1
  local bin="$build_dir/tests/fuzz/${t}_fuzzer"
  local corpus="$work_dir/corpus/$t"
  local artifacts="$work_dir/artifacts/$t"
  local log="$work_dir/$t.log"
  mkdir -p "$corpus" "$artifacts"
  rm -f "$artifacts"/*
  local start rc=0 elapsed_ms execs
  start=$(date +%s%N)
  # The first corpus folder receives the new inputs; the seeds are only read.
  "$bin" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  echo "fuzz_${t}_execs ${execs:-0} count"
  printf 'fuzz_%s_seconds %d.%03d s\n' "$t" $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
  if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR: |SUMMARY: |check failed|runtime error' "$log" | head -n 5 >&2 || true
    for f in "$artifacts"/*; do
      [ -e "$f" ] || continue
      echo "fuzz_${t}: FAILED (exit $rc); reproducer: $f" >&2
      echo "  reproduce: $bin $f" >&2
    done
    echo "  log: $log" >&2
  fi
  if [ "$update_corpus" -eq 1 ]; then
    "$bin" -merge=1 -rss_limit_mb="$rss_mb" "$root/tests/fuzz/corpus/$t" "$corpus" \
      >>"$log" 2>&1 || true
  fi
  if [ "$rc" -eq 0 ]; then echo 0; else echo 1; fi >"$work_dir/$t.rc"
}

# JOBS targets at a time (each fuzzer uses one core), reports printed in
# target order once all are done.
mkdir -p "$work_dir"
for t in "${targets[@]}"; do
  rm -f "$work_dir/$t.rc"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_target "$t" >"$work_dir/$t.report" 2>"$work_dir/$t.errors" &
done
wait
failed=0
for t in "${targets[@]}"; do
  cat "$work_dir/$t.report"
  cat "$work_dir/$t.errors" >&2
  [ "$(cat "$work_dir/$t.rc" 2>/dev/null)" = 0 ] || failed=1
done
exit "$failed"
