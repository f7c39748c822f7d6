#!/usr/bin/env bash
# Vigil's ingest protocols on the same data: the shared/peers line-protocol
# file sent as gRPC IngestBatches (vigil-load --lp-file), HTTP JSON batches
# (POST /api/v1/ingest), InfluxDB line protocol (POST /write) and MQTT JSON
# messages through a local mosquitto (answered on the ack topics), each to a
# fresh vigild (durability wal): the registry made untimed, one untimed pass,
# then a timed pass shifted forward in time (warm, as http_write_vs_vm.sh
# --mode warm). Every protocol sends the same batches: one time step x 5,000
# consecutive sensors, 4 connections, each its own gateway. Each figure is
# until every batch is durable (its ack, 200/204, or its MQTT answer). Prints
# `name value unit` lines. Loopback only, bounded.
#
# Usage: bench/protocols_same_data.sh [BUILD_DIR] [--sensors N] [--readings R] [--protocols grpc,json,lp,mqtt]
#   BUILD_DIR holds server/vigild and bench/vigil-load (default build/); nothing is built.
#   Environment: HTTP_THREADS (vigild's http.threads, default 1).
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$repo_root/build
sensors=20000 readings=20 workers=4 batch=5000 protocols=grpc,json,lp,mqtt
dir=/tmp/vigil-protocols
if [[ $# -gt 0 && $1 != --* ]]; then build_dir=$1; shift; fi
while [[ $# -gt 0 ]]; do
  case $1 in
    --sensors) sensors=$2; shift 2 ;;
    --readings) readings=$2; shift 2 ;;
    --protocols) protocols=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "protocols_same_data: unknown option $1" >&2; exit 2 ;;
  esac
done
peers=${PEERS_DIR:-$repo_root/../shared/peers}
[[ -d $peers ]] || peers=/work/shared/peers
vigild=$build_dir/server/vigild
vigil_load=$build_dir/bench/vigil-load
for f in "$vigild" "$vigil_load" "$peers/gen_data.py" /usr/sbin/mosquitto; do
  [[ -e $f ]] || { echo "protocols_same_data: $f missing" >&2; exit 77; }
done
# shellcheck source=bench/lp_vigild.sh
source "$repo_root/bench/lp_vigild.sh"
rm -rf "$dir"; mkdir -p "$dir"
server_pid="" broker_pid=""
stop() { # pid
  [[ -n $1 ]] || return 0
  { kill "$1" && wait "$1"; } 2>/dev/null || true
}
cleanup() { stop "$server_pid"; stop "$broker_pid"; rm -rf "$dir"; }
trap cleanup EXIT

data=$dir/iot.lp
python3 "$peers/gen_data.py" --sensors "$sensors" --readings "$readings" --out "$data" >&2
interval_ms=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['interval_ms'])" "$data.meta.json")
broker_port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")

for protocol in ${protocols//,/ }; do
  d=$dir/$protocol
  mkdir -p "$d"
  mqtt_yaml=""
  if [[ $protocol == mqtt ]]; then
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' \
      "$broker_port" >"$d/mosquitto.conf"
    /usr/sbin/mosquitto -c "$d/mosquitto.conf" >"$d/mosquitto.log" 2>&1 &
    broker_pid=$!
    sleep 0.5
    mqtt_yaml="mqtt: { broker: \"tcp://127.0.0.1:$broker_port\", client_id: vigild-bench, reconnect_min: 100ms }"
  fi
  start_lp_vigild "$d" "$mqtt_yaml"
  common=(--target "$grpc" --lp-file "$data" --lp-group block --lp-streams "$workers"
    --connections "$workers" --readings-per-batch "$batch")
  for pass in first timed; do
    steps=0
    [[ $pass == timed ]] && steps=$readings
    prefix=vigil_${protocol}_write
    case $protocol in
      grpc)
        timeout -k 10 900 "$vigil_load" "${common[@]}" --no-register --server-pid "$server_pid" \
          --time-shift-ms $((steps * interval_ms)) >"$d/$pass.txt"
        awk -v p="$prefix" '$1 == "readings_per_s" { print p "_readings_per_s " $2 " readings/s" }
          $1 == "server_us_per_reading" { print p "_server_cpu_us_per_reading " $2 " us" }' \
          "$d/$pass.txt" >"$d/$pass.result" ;;
      json | lp)
        timeout -k 10 900 python3 "$repo_root/bench/http_write_load.py" --peers "$peers" \
          --data "$data" --http "$http" --server-pid "$server_pid" --batch "$batch" \
          --workers "$workers" --shift-steps "$steps" --format "$protocol" --prefix "$prefix" \
          >"$d/$pass.result" ;;
      mqtt)
        timeout -k 10 900 /usr/bin/python3 "$repo_root/bench/mqtt_write_load.py" --peers "$peers" \
          --data "$data" --broker "127.0.0.1:$broker_port" --server-pid "$server_pid" \
          --batch "$batch" --workers "$workers" --shift-steps "$steps" --prefix "$prefix" \
          >"$d/$pass.result" ;;
    esac
  done
  grep -E "_readings_per_s |_server_cpu_us_per_reading " "$d/timed.result"
  stop "$server_pid"; server_pid=""
  stop "$broker_pid"; broker_pid=""
done
echo "# warm: $((sensors * readings)) readings ($sensors sensors x $readings), $workers connections, $batch readings per batch" >&2
