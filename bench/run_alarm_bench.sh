#!/usr/bin/env bash
# Alarm latency and fan-out: one vigild on a temp folder, loaded by
# vigil-alarm-load (62 gateways x 500 sensors over 31 provinces; one batch in
# 50 of each gateway flips a sensor across its alarm level).
#   1. the maximum ingest rate without subscribers,
#   2. the maximum ingest rate with SUBSCRIBERS (default 1000) streams over the
#      31 province prefixes (fan-out cost = 1 - 2/1); 1 and 2 run PAIRS times
#      (default 2) in the order 1 2 2 1 ..., and the costs are the pairs' mean,
#   3. paced at half of 1 (the mean) with the subscribers: reading sent -> alarm delivered
#      latency (client) and reading received -> journaled (server histogram),
#   4. paced at each rate of RATES (readings/s, space-separated; optional) with
#      the subscribers, then without: the latency curve below saturation.
# Each phase starts once vigild is idle again (`PHASE_settled_after`).
# Client and server share the machine: server_cpu_us_per_reading is vigild's
# own CPU per reading, so fanout_server_cpu_cost is the server's share of the
# fan-out cost (the client's 1000 streams cost CPU on the same cores).
# Prints every figure as `name value unit`, prefixed by the phase.
# LOAD_FLAGS go to every vigil-alarm-load run (e.g. --lockstep: all gateways'
# alarms flip in the same batches, a flood every 50 batches).
#   DURATION=20s SUBSCRIBERS=1000 PAIRS=2 RATES="250000 500000" bench/run_alarm_bench.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
duration="${DURATION:-20s}"
subscribers="${SUBSCRIBERS:-1000}"
read -r -a load_flags <<< "${LOAD_FLAGS:-}"
load="$build/bench/vigil-alarm-load"
for b in "$build/server/vigild" "$load"; do
  [ -x "$b" ] || { echo "run_alarm_bench: $b not found; build it first" >&2; exit 2; }
done
bench_config='ingest: { max_concurrent_streams: 4096 }'
# shellcheck source=bench/vigild_for_bench.sh
source "$(dirname "$0")/vigild_for_bench.sh"
# Waits (at most 60 s) until vigild uses under 5 % of a core, so that a phase
# does not pay for the flushes and compactions of the one before it.
settle() {  # phase
  local waited=0 before after
  before=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  while [ "$waited" -lt 60 ]; do
    sleep 1
    waited=$((waited + 1))
    after=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
    [ $((after - before)) -le $(($(getconf CLK_TCK) / 20)) ] && break
    before=$after
  done
  echo "${1}_settled_after $waited s"
}
run() {  # phase, flags...
  local phase=$1; shift
  settle "$phase"
  "$load" --target "$target" --metrics "$metrics" --duration "$duration" "${load_flags[@]}" "$@" \
    > "$work/$phase.out" \
    || { cat "$work/$phase.out" >&2; echo "run_alarm_bench: phase $phase failed" >&2; exit 1; }
  sed "s/^/${phase}_/" "$work/$phase.out"
}
# Full speed without and with subscribers, PAIRS times, in the order A B B A
# A B B A ...: vigild slows down over its first minute (its heads start writing
# chunks after ~20 s), and one pair's difference is within this VM's noise.
# The alternation cancels the drift; fanout_*_cost is the pairs' mean, and
# each pair's own figures are printed too.
pairs="${PAIRS:-2}"
figure() {  # phase, name
  awk -v n="$2" '$1 == n {print $2}' "$work/$1.out"
}
costs=() cpu_costs=() maxima=()
for pair in $(seq 1 "$pairs"); do
  suffix=""
  [ "$pair" -gt 1 ] && suffix="_$pair"
  register=()
  [ "$pair" -eq 1 ] && register=(--register)
  if [ $((pair % 2)) -eq 1 ]; then
    run "max_no_subscribers$suffix" "${register[@]}" --subscribers 0 --rate 0
    run "max_with_subscribers$suffix" --subscribers "$subscribers" --rate 0
  else
    run "max_with_subscribers$suffix" --subscribers "$subscribers" --rate 0
    run "max_no_subscribers$suffix" --subscribers 0 --rate 0
  fi
  max0=$(figure "max_no_subscribers$suffix" ingest_readings_per_s)
  max1=$(figure "max_with_subscribers$suffix" ingest_readings_per_s)
  cpu0=$(figure "max_no_subscribers$suffix" server_cpu_us_per_reading)
  cpu1=$(figure "max_with_subscribers$suffix" server_cpu_us_per_reading)
  maxima+=("$max0")
  costs+=("$(awk -v a="$max0" -v b="$max1" 'BEGIN { printf "%.1f", (a - b) * 100 / a }')")
  cpu_costs+=("$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')")
  echo "pair_${pair}_fanout_ingest_cost ${costs[-1]} %"
  echo "pair_${pair}_fanout_server_cpu_cost ${cpu_costs[-1]} %"
done
mean() {  # format, values...
  local format=$1; shift
  printf '%s\n' "$@" | awk -v f="$format" '{s += $1} END { printf f, s / NR }'
}
echo "fanout_ingest_cost $(mean %.1f "${costs[@]}") %"
echo "fanout_server_cpu_cost $(mean %.1f "${cpu_costs[@]}") %"
max0=$(mean %d "${maxima[@]}")
echo "max_no_subscribers_mean $max0 readings/s"
run half_rate --subscribers "$subscribers" --rate "$(awk -v a="$max0" 'BEGIN { printf "%d", a / 2 }')"
for rate in ${RATES:-}; do
  run "rate_${rate}_subscribers" --subscribers "$subscribers" --rate "$rate"
  run "rate_${rate}_no_subscribers" --subscribers 0 --rate "$rate"
done
