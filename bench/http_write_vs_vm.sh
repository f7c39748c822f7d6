#!/usr/bin/env bash
# Vigil's InfluxDB line-protocol /write (HTTP, acked once durable) against
# VictoriaMetrics' /write on the same shared/peers data, in one run. VM goes
# through shared/peers/run_peers.py unchanged (acked, then force-flushed and
# counted); Vigil through bench/http_write_load.py with loader.py's very
# batches. Prints `name value unit` lines. Loopback only, bounded.
#
# Usage: bench/http_write_vs_vm.sh [BUILD_DIR] [--sensors N] [--readings R] [--dir DIR] [--mode cold|warm]
#   --mode warm: both servers first take the file untimed, then a second pass shifted forward in
#   time by R steps is timed (the peers' --warm: series exist, steady state). Default: cold.
#   BUILD_DIR holds server/vigild and bench/vigil-load (default build/); nothing is built.
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$repo_root/build
sensors=20000 readings=20 dir=/tmp/vigil-http-vs-vm workers=4 batch=5000 mode=cold
if [[ $# -gt 0 && $1 != --* ]]; then build_dir=$1; shift; fi
while [[ $# -gt 0 ]]; do
  case $1 in
    --sensors) sensors=$2; shift 2 ;;
    --readings) readings=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    *) echo "http_write_vs_vm: unknown option $1" >&2; exit 2 ;;
  esac
done
peers=${PEERS_DIR:-$repo_root/../shared/peers}
[[ -d $peers ]] || peers=/work/shared/peers
vigild=$build_dir/server/vigild
vigil_load=$build_dir/bench/vigil-load
for f in "$vigild" "$vigil_load" "$peers/run_peers.py" /usr/bin/victoria-metrics; do
  [[ -e $f ]] || { echo "http_write_vs_vm: $f missing (apt-get install victoria-metrics; build vigild vigil-load)" >&2; exit 77; }
done
rm -rf "$dir"; mkdir -p "$dir"
server_pid=""
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

data=$dir/iot.lp
python3 "$peers/gen_data.py" --sensors "$sensors" --readings "$readings" --out "$data" >&2
lines=$((sensors * readings))

# VictoriaMetrics, cold (fresh data folder), through the peers' own script.
[[ $mode == cold || $mode == warm ]] || { echo "http_write_vs_vm: --mode cold|warm" >&2; exit 2; }
timeout -k 10 900 python3 "$peers/run_peers.py" --targets vm --reps 1 --mode "$mode" --data "$data" \
  --batch "$batch" --workers "$workers" --quiet-pct "${QUIET_PCT:-15}" --quiet-timeout-s 120 \
  --max-attempts "${MAX_ATTEMPTS:-2}" --results "$dir/vm.json" >"$dir/vm.out" 2>"$dir/vm.err" ||
  { tail -n 20 "$dir/vm.err" >&2; exit 1; }
python3 - "$dir/vm.json" <<'PY' | tee "$dir/vm.result"
import json, sys
r = json.load(open(sys.argv[1]))[0]
# Acked, flushed and counted (the peers' rule), over the readings sent.
print(f"vm_write_readings_per_s {r['readings_expected'] / r['durable_s']:.0f} readings/s")
print(f"vm_write_ack_readings_per_s {r['readings_per_s_ack']} readings/s")
print(f"vm_write_server_cpu_us_per_reading {r['server_us_per_reading']} us")
print(f"vm_write_other_cpu_pct {r['other_cpu_pct']} %")
PY

# Vigil, cold: fresh vigild, registry from the file (untimed), then the same batches.
mkdir -p "$dir/vigil"
cat >"$dir/vigil/vigild.yaml" <<YAML
storage: { durability: wal }
http:
  listen: 127.0.0.1:0
  threads: ${HTTP_THREADS:-1}
  line_protocol: { sensor_id: "{sensor_id}" }
YAML
"$vigild" --config "$dir/vigil/vigild.yaml" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --data-dir "$dir/vigil/data" >"$dir/vigil/out" 2>"$dir/vigil/err" &
server_pid=$!
for ((i = 0; i < 300; i++)); do
  grep -q 'vigild listening' "$dir/vigil/out" && break
  sleep 0.1
done
grpc=$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' "$dir/vigil/out")
http=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' "$dir/vigil/out")
[[ -n $grpc && -n $http ]] || { tail -n 20 "$dir/vigil/err" >&2; exit 1; }
timeout -k 10 600 "$vigil_load" --target "$grpc" --lp-file "$data" --lp-group block \
  --lp-streams "$workers" --connections "$workers" --readings-per-batch "$batch" \
  --register-only >"$dir/vigil/register.txt"
shift_steps=0
if [[ $mode == warm ]]; then
  # The untimed first pass, as loader.py --warm does for the peers.
  timeout -k 10 900 python3 "$repo_root/bench/http_write_load.py" --peers "$peers" --data "$data" \
    --http "$http" --server-pid "$server_pid" --batch "$batch" --workers "$workers" \
    --prefix vigil_http_write_first_pass >"$dir/vigil/first_pass"
  shift_steps=$readings
fi
timeout -k 10 900 python3 "$repo_root/bench/http_write_load.py" --peers "$peers" --data "$data" \
  --http "$http" --server-pid "$server_pid" --batch "$batch" --workers "$workers" \
  --shift-steps "$shift_steps" | tee "$dir/vigil/result"
python3 - "$dir" <<'PY'
import sys
vals = {}
for f in ("vm.result", "vigil/result"):
    for line in open(f"{sys.argv[1]}/{f}"):
        k, v, *_ = line.split()
        vals[k] = float(v)
ratio = vals["vigil_http_write_readings_per_s"] / vals["vm_write_readings_per_s"]
print(f"vigil_http_write_vs_vm_write_ratio {ratio:.2f} x")
PY
echo "# $mode: $lines readings ($sensors sensors x $readings), $workers connections, $batch lines per request" >&2
