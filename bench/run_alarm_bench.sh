#!/usr/bin/env bash
# Alarm latency and fan-out: one vigild on a temp folder, loaded by
# vigil-alarm-load (62 gateways x 500 sensors over 31 provinces; one batch in
# 50 of each gateway flips a sensor across its alarm level).
#   1. the maximum ingest rate without subscribers,
#   2. the maximum ingest rate with SUBSCRIBERS (default 1000) streams over the
#      31 province prefixes (fan-out cost = 1 - 2/1),
#   3. paced at half of 1 with the subscribers: reading sent -> alarm delivered
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
#   DURATION=20s SUBSCRIBERS=1000 RATES="250000 500000" bench/run_alarm_bench.sh [BUILD_DIR]
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
run max_no_subscribers --register --subscribers 0 --rate 0
max0=$(awk '/^ingest_readings_per_s/ {print $2}' "$work/max_no_subscribers.out")
run max_with_subscribers --subscribers "$subscribers" --rate 0
max1=$(awk '/^ingest_readings_per_s/ {print $2}' "$work/max_with_subscribers.out")
awk -v a="$max0" -v b="$max1" 'BEGIN { printf "fanout_ingest_cost %.1f %%\n", (a - b) * 100 / a }'
cpu0=$(awk '/^server_cpu_us_per_reading/ {print $2}' "$work/max_no_subscribers.out")
cpu1=$(awk '/^server_cpu_us_per_reading/ {print $2}' "$work/max_with_subscribers.out")
awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "fanout_server_cpu_cost %.1f %%\n", (b - a) * 100 / a }'
run half_rate --subscribers "$subscribers" --rate "$(awk -v a="$max0" 'BEGIN { printf "%d", a / 2 }')"
for rate in ${RATES:-}; do
  run "rate_${rate}_subscribers" --subscribers "$subscribers" --rate "$rate"
  run "rate_${rate}_no_subscribers" --subscribers 0 --rate "$rate"
done
