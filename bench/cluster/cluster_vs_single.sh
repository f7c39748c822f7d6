#!/usr/bin/env bash
# Cluster ingest against one node, in one run (issue 23's figures): the same
# vigil-load against a single vigild on RocksDB (S) and against node A of a
# cluster of two vigild nodes (A, B) on one nats-server's JetStream stream,
# in the order S C C S so drift on this shared machine shows. Prints
# `name value unit` lines: readings/s of each pass, the ratio, and CPU per
# reading -- the server's alone for S; A + B + nats-server for the cluster
# (every node applies every batch) -- and the ingest stream's bytes per reading.
#
#   bench/cluster/cluster_vs_single.sh [build-dir] [duration]   (defaults: build 10s)
#
# SERIAL_GROUPS=1 adds a second cluster pair (C, D) on its own stream with
# ingest_log.groups_in_flight 1 (the writer's pipelining off) and passes
# P S S P between the pipelined pair and it: `pipelined_over_serial_*` ratios.
#
# Needs nats-server (deploy/install-deps.sh --test). Bounded: each pass runs
# `duration` plus warm-up and drain; every start waits at most 30 s.
set -euo pipefail
build="${1:-build}"
duration="${2:-10s}"
vigild="$build/server/vigild"
load="$build/bench/vigil-load"
[ -x "$vigild" ] && [ -x "$load" ] || { echo "build vigild and vigil-load first ($build)" >&2; exit 1; }
command -v nats-server >/dev/null || { echo "nats-server is missing: deploy/install-deps.sh --test" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

nats_port="$(free_port)"
nats_mon="$(free_port)"
cat > "$work/nats.conf" <<CFG
listen: 127.0.0.1:$nats_port
http: 127.0.0.1:$nats_mon
max_payload: 16MB
jetstream { store_dir: "$work/nats" }
CFG
nats-server -c "$work/nats.conf" > "$work/nats.log" 2>&1 &
nats_pid=$!
pids+=("$nats_pid")
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$nats_mon/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# start_vigild NAME EXTRA_YAML: sets ${NAME}_pid and ${NAME}_target.
start_vigild() {
  local name="$1" extra="$2"
  cat > "$work/$name.yaml" <<CFG
server: { listen: "127.0.0.1:0", metrics_listen: "" }
storage: { durability: fsync }
$extra
CFG
  "$vigild" --config "$work/$name.yaml" --data-dir "$work/$name" > "$work/$name.out" 2> "$work/$name.err" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 300); do
    grep -q 'vigild listening grpc=' "$work/$name.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/$name.err" >&2; exit 1; }
    sleep 0.1
  done
  local line
  line="$(grep -m1 'vigild listening grpc=' "$work/$name.out")" || { echo "$name did not start" >&2; exit 1; }
  printf -v "${name}_pid" '%s' "$pid"
  printf -v "${name}_target" '%s' "$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' <<<"$line")"
}

jetstream="ingest_log: { backend: jetstream, nats_urls: [\"nats://127.0.0.1:$nats_port\"] }"
start_vigild single ""
start_vigild node_a "$jetstream"
start_vigild node_b "$jetstream"
compare_groups="${SERIAL_GROUPS:-}"
if [ -n "$compare_groups" ]; then
  # Its own nats-server: two streams cannot both hold vigil.ingest.>.
  nats2_port="$(free_port)"
  sed "s/127.0.0.1:$nats_port/127.0.0.1:$nats2_port/; s/127.0.0.1:$nats_mon/127.0.0.1:$(free_port)/; s|$work/nats\"|$work/nats2\"|" \
    "$work/nats.conf" > "$work/nats2.conf"
  nats-server -c "$work/nats2.conf" > "$work/nats2.log" 2>&1 &
  nats2_pid=$!
  pids+=("$nats2_pid")
  sleep 1
  serial="ingest_log: { backend: jetstream, groups_in_flight: $compare_groups, nats_urls: [\"nats://127.0.0.1:$nats2_port\"] }"
  start_vigild node_c "$serial"
  start_vigild node_d "$serial"
fi

cpu_ticks() {  # utime + stime of pid $1, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}
hz="$(getconf CLK_TCK)"

# pass NAME TARGET PIDS...: one measured vigil-load pass; prints its figures
# and sets pass_rps and pass_cpu_us (CPU of PIDS per reading, µs).
pass() {
  local name="$1" target="$2"
  shift 2
  local before=() p
  for p in "$@"; do before+=("$(cpu_ticks "$p")"); done
  local out
  out="$("$load" --target "$target" --gateways 20 --sensors-per-gateway 500 --readings-per-batch 5000 \
    --duration "$duration" --warmup 0s --no-register 2>/dev/null)"
  local readings rps
  # No warm-up: the CPU taken around the pass covers the measured readings
  # (and the drain of the last acks, a small bias against both).
  rps="$(awk '$1 == "readings_per_s" {print $2}' <<<"$out")"
  readings="$(awk -v r="$rps" '$1 == "measured_s" {print r * $2}' <<<"$out")"
  local ticks=0 i=0
  for p in "$@"; do ticks=$((ticks + $(cpu_ticks "$p") - before[i])); i=$((i + 1)); done
  pass_rps="$rps"
  pass_readings="$readings"
  pass_cpu_us="$(awk -v t="$ticks" -v hz="$hz" -v n="$readings" 'BEGIN { printf "%.3f", (n > 0 ? t / hz * 1e6 / n : 0) }')"
  echo "${name}_readings_per_s $rps 1/s"
  echo "${name}_cpu_us_per_reading $pass_cpu_us us"
}

# Register the simulated gateways and sensors at every node (the registry is per node).
targets=("$single_target" "$node_a_target" "$node_b_target")
[ -n "$compare_groups" ] && targets+=("$node_c_target" "$node_d_target")
for t in "${targets[@]}"; do
  "$load" --target "$t" --gateways 20 --sensors-per-gateway 500 --register-only >/dev/null
done

nats_bytes() { curl -sf "http://127.0.0.1:$nats_mon/jsz?streams=true" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(s["state"]["bytes"] for a in d.get("account_details", []) for s in a.get("stream_detail", [])))'; }

pass single_1 "$single_target" "$single_pid"; s1="$pass_rps"; s1c="$pass_cpu_us"
bytes_before="$(nats_bytes)"
pass cluster_1 "$node_a_target" "$node_a_pid" "$node_b_pid" "$nats_pid"; c1="$pass_rps"; c1c="$pass_cpu_us"
c1_readings="$pass_readings"
bytes_after="$(nats_bytes)"
pass cluster_2 "$node_a_target" "$node_a_pid" "$node_b_pid" "$nats_pid"; c2="$pass_rps"; c2c="$pass_cpu_us"
pass single_2 "$single_target" "$single_pid"; s2="$pass_rps"; s2c="$pass_cpu_us"

awk -v s1="$s1" -v s2="$s2" -v c1="$c1" -v c2="$c2" -v s1c="$s1c" -v s2c="$s2c" -v c1c="$c1c" -v c2c="$c2c" \
  -v b0="$bytes_before" -v b1="$bytes_after" -v d="$duration" 'BEGIN {
  printf "cluster_over_single_throughput %.3f ratio\n", (c1 + c2) / (s1 + s2)
  printf "cluster_over_single_cpu_per_reading %.3f ratio\n", (c1c + c2c) / (s1c + s2c)
}'
# Bytes the stream stored over the first cluster pass, per reading acked in it.
readings_c1="$c1_readings"
awk -v b0="$bytes_before" -v b1="$bytes_after" -v n="$readings_c1" \
  'BEGIN { if (n > 0) printf "stream_bytes_per_reading %.2f B\n", (b1 - b0) / n }'

if [ -n "$compare_groups" ]; then
  pass pipelined_1 "$node_a_target" "$node_a_pid" "$node_b_pid" "$nats_pid"; p1="$pass_rps"; p1c="$pass_cpu_us"
  pass serial_1 "$node_c_target" "$node_c_pid" "$node_d_pid" "$nats2_pid"; q1="$pass_rps"; q1c="$pass_cpu_us"
  pass serial_2 "$node_c_target" "$node_c_pid" "$node_d_pid" "$nats2_pid"; q2="$pass_rps"; q2c="$pass_cpu_us"
  pass pipelined_2 "$node_a_target" "$node_a_pid" "$node_b_pid" "$nats_pid"; p2="$pass_rps"; p2c="$pass_cpu_us"
  awk -v p1="$p1" -v p2="$p2" -v q1="$q1" -v q2="$q2" -v p1c="$p1c" -v p2c="$p2c" -v q1c="$q1c" -v q2c="$q2c" 'BEGIN {
    printf "pipelined_over_serial_throughput %.3f ratio\n", (p1 + p2) / (q1 + q2)
    printf "pipelined_over_serial_cpu_per_reading %.3f ratio\n", (p1c + p2c) / (q1c + q2c)
  }'
fi
