#!/usr/bin/env bash
# Soak: one vigild under a steady, realistic load (vigil-load paced at RATE
# readings/s, default 200,000, from 100 gateways) for DURATION (default 30m),
# sampling the server's resident memory, open file descriptors and data-folder
# size every INTERVAL seconds (default 30). Flat means fine: the summary gives
# first, last and peak of each as `name value unit` lines, plus the growth of
# the last half over the first half.
#   DURATION=30m RATE=200000 INTERVAL=30 bench/run_soak.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
duration="${DURATION:-30m}"
rate="${RATE:-200000}"
interval="${INTERVAL:-30}"
load="$build/bench/vigil-load"
for b in "$build/server/vigild" "$load"; do
  [ -x "$b" ] || { echo "run_soak: $b not found; build it first" >&2; exit 2; }
done
bench_config='storage: { checkpoint_interval: 60s }'
# shellcheck source=bench/vigild_for_bench.sh
source "$(dirname "$0")/vigild_for_bench.sh"
"$load" --target "$target" --register-only > /dev/null
"$load" --target "$target" --no-register --rate "$rate" --duration "$duration" --warmup 0s \
  > "$work/load.out" 2>&1 &
load_pid=$!
echo "# time_s rss_bytes fds data_bytes"
samples="$work/samples"
start=$(date +%s)
while kill -0 "$load_pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$server_pid/status")
  fds=$(ls "/proc/$server_pid/fd" | wc -l)
  data=$(du -sb "$work/data" | cut -f1)
  echo "$(( $(date +%s) - start )) $rss $fds $data" | tee -a "$samples"
  sleep "$interval"
done
wait "$load_pid" || { cat "$work/load.out" >&2; echo "run_soak: vigil-load failed" >&2; exit 1; }
grep -E '^(readings_per_s|ack_latency_p99_ms) ' "$work/load.out" || true
awk '
  { t[NR] = $1; r[NR] = $2; f[NR] = $3; d[NR] = $4
    if ($2 > pr) pr = $2; if ($3 > pf) pf = $3; if ($4 > pd) pd = $4 }
  END {
    n = NR; h = int(n / 2); if (h < 1) h = 1
    for (i = 1; i <= h; i++) { r1 += r[i]; f1 += f[i] }
    for (i = n - h + 1; i <= n; i++) { r2 += r[i]; f2 += f[i] }
    printf "soak_samples %d count\n", n
    printf "soak_rss_first %d bytes\nsoak_rss_last %d bytes\nsoak_rss_peak %d bytes\n", r[1], r[n], pr
    printf "soak_rss_growth_second_half %.1f %%\n", (r2 / h - r1 / h) * 100 / (r1 / h)
    printf "soak_fds_first %d count\nsoak_fds_last %d count\nsoak_fds_peak %d count\n", f[1], f[n], pf
    printf "soak_data_last %d bytes\nsoak_data_peak %d bytes\n", d[n], pd
  }' "$samples"
kill "$server_pid"
wait "$server_pid" && server_pid="" || { echo "run_soak: vigild did not stop cleanly" >&2; exit 1; }
