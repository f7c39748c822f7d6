#!/usr/bin/env bash
# A/B of two vigild builds under the same alarm load, interleaved A B B A ...
# (ROUNDS pairs), each run on a fresh vigild: this VM's speed drifts by ±10 %
# from one minute to the next, so only interleaved runs compare two builds.
#   RATE=700000 DURATION=10 SUBSCRIBERS=0 ROUNDS=2 bench/ab_alarm.sh BUILD_A BUILD_B
# RATE 0 is full speed. Each run registers and warms up for WARMUP seconds
# (default 4) at RATE, then runs vigil-alarm-load for DURATION seconds; WARMUP=30
# is past the heads' first chunk seals (~20 s at 700 k/s), which a short run
# never pays for. Meanwhile vigild's threads' CPU time is read from /proc over
# the load's measured window (from 3 s after its start to 1 s before its end),
# grouped by thread name without its number.
# Prints per run `RUN_FIGURE value unit` (RUN = a_1, b_1, b_2, a_2, ...): the
# loader's figures, then `thread_GROUP_us_per_reading` for every group over
# 0.01 µs; then per build the mean of each figure as `a_FIGURE` / `b_FIGURE`.
set -euo pipefail
[ $# -eq 2 ] || { sed -n "2,14p" "$0" | sed "s/^# \{0,1\}//" >&2; exit 2; }
rate="${RATE:-700000}"
duration="${DURATION:-10}"
warmup="${WARMUP:-4}"
subscribers="${SUBSCRIBERS:-0}"
rounds="${ROUNDS:-2}"
if ! [[ "$duration" =~ ^[1-9][0-9]*$ ]] || [ "$duration" -lt 5 ]; then
  echo "ab_alarm: DURATION is whole seconds, at least 5" >&2
  exit 2
fi
if ! [[ "$warmup" =~ ^[1-9][0-9]*$ ]]; then
  echo "ab_alarm: WARMUP is whole seconds, at least 1" >&2
  exit 2
fi
for b in "$1" "$2"; do
  for f in server/vigild bench/vigil-alarm-load; do
    [ -x "$b/$f" ] || { echo "ab_alarm: $b/$f not found; build it first" >&2; exit 2; }
  done
done
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# CPU ticks (utime + stime) of each thread group of process $1.
thread_ticks() {
  for task in /proc/"$1"/task/*; do
    # comm may hold spaces; the fields after its closing ')' are fixed.
    local stat comm rest
    stat="$(cat "$task/stat" 2>/dev/null)" || continue
    comm="${stat#*(}"
    comm="${comm%)*}"
    rest="${stat##*) }"
    read -r -a fields <<<"$rest"
    [[ "$comm" =~ ^(.*)-[0-9]+$ ]] && comm="${BASH_REMATCH[1]}"  # vigil-shard-1 -> vigil-shard
    echo "${comm// /_} $((fields[11] + fields[12]))"
  done | awk '{t[$1] += $2} END {for (k in t) print k, t[k]}'
}

run() {  # label, build
  local label=$1
  (
    build=$2
    bench_config='ingest: { max_concurrent_streams: 4096 }'
    # shellcheck source=bench/vigild_for_bench.sh
    source "$here/vigild_for_bench.sh"
    load=("$build/bench/vigil-alarm-load" --target "$target" --metrics "$metrics")
    "${load[@]}" --duration "${warmup}s" --register --subscribers "$subscribers" --rate "$rate" >/dev/null
    sleep 2
    (
      sleep 3
      thread_ticks "$server_pid" >"$out/$label.before"
      sleep $((duration - 2))
      thread_ticks "$server_pid" >"$out/$label.after"
    ) &
    local sampler=$!
    "${load[@]}" --duration "${duration}s" --subscribers "$subscribers" --rate "$rate" \
      >"$out/$label.load"
    wait "$sampler"
  )
  sed "s/^/${label}_/" "$out/$label.load"
  local per_s
  per_s=$(awk '$1 == "ingest_readings_per_s" {print $2}' "$out/$label.load")
  # ticks -> µs, over (duration - 2) s of readings at the measured rate.
  awk -v label="$label" -v hz="$(getconf CLK_TCK)" -v per_s="$per_s" -v secs=$((duration - 2)) '
    NR == FNR { before[$1] = $2; next }
    { us = ($2 - before[$1]) * 1e6 / hz / (per_s * secs)
      if (us >= 0.01) printf "%s_thread_%s_us_per_reading %.3f us\n", label, $1, us }' \
    "$out/$label.before" "$out/$label.after" | sort
}

for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order=(a b); else order=(b a); fi
  for side in "${order[@]}"; do
    if [ "$side" = a ]; then build="$1"; else build="$2"; fi
    run "${side}_${round}" "$build" | tee -a "$out/all"
  done
done
# Means per build and figure.
awk '{ split($1, p, "_"); side = p[1]; name = substr($1, length(p[1]) + length(p[2]) + 3)
       sum[side "_" name] += $2; n[side "_" name]++; unit[side "_" name] = $3 }
     END { for (k in sum) printf "%s %.3f %s\n", k, sum[k] / n[k], unit[k] }' "$out/all" | sort
