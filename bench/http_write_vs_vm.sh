#!/usr/bin/env bash
# Vigil's InfluxDB line-protocol /write (HTTP, acked once durable) against
# VictoriaMetrics' /write on the same shared/peers data, in one run. VM goes
# through shared/peers/run_peers.py unchanged (acked, then force-flushed and
# counted); Vigil through bench/http_write_load.py with loader.py's very
# batches. Prints `name value unit` lines. Loopback only, bounded.
#
# Usage: bench/http_write_vs_vm.sh [BUILD_DIR] [--sensors N] [--readings R] [--dir DIR] [--mode cold|warm] [--rounds K]
#   --mode warm: both servers first take the file untimed, then a second pass shifted forward in
#   time by R steps is timed (the peers' --warm: series exist, steady state). Default: cold.
#   --rounds K: K runs of each server, in the order VM Vigil, Vigil VM, VM Vigil, ... (with 2:
#   A B B A), each on a fresh server; the ratio is then that of the medians. On a shared machine
#   the load of other processes moves between runs: more rounds, fairer ratio. Default: 1.
#   BUILD_DIR holds server/vigild and bench/vigil-load (default build/); nothing is built.
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$repo_root/build
sensors=20000 readings=20 dir=/tmp/vigil-http-vs-vm workers=4 batch=5000 mode=cold rounds=1
if [[ $# -gt 0 && $1 != --* ]]; then build_dir=$1; shift; fi
while [[ $# -gt 0 ]]; do
  case $1 in
    --sensors) sensors=$2; shift 2 ;;
    --readings) readings=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
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
# shellcheck source=bench/lp_vigild.sh
source "$repo_root/bench/lp_vigild.sh"
rm -rf "$dir"; mkdir -p "$dir"
server_pid=""
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

data=$dir/iot.lp
python3 "$peers/gen_data.py" --sensors "$sensors" --readings "$readings" --out "$data" >&2
lines=$((sensors * readings))

[[ $mode == cold || $mode == warm ]] || { echo "http_write_vs_vm: --mode cold|warm" >&2; exit 2; }

# VictoriaMetrics (fresh data folder) through the peers' own script; prints its figures.
run_vm() {
  local out=$dir/vm$1
  timeout -k 10 900 python3 "$peers/run_peers.py" --targets vm --reps 1 --mode "$mode" --data "$data" \
    --batch "$batch" --workers "$workers" --quiet-pct "${QUIET_PCT:-15}" --quiet-timeout-s 120 \
    --max-attempts "${MAX_ATTEMPTS:-2}" --results "$out.json" >"$out.out" 2>"$out.err" ||
    { tail -n 20 "$out.err" >&2; exit 1; }
  python3 - "$out.json" <<'PY' | tee "$out.result"
import json, sys
r = json.load(open(sys.argv[1]))[0]
# Acked, flushed and counted (the peers' rule), over the readings sent.
print(f"vm_write_readings_per_s {r['readings_expected'] / r['durable_s']:.0f} readings/s")
print(f"vm_write_ack_readings_per_s {r['readings_per_s_ack']} readings/s")
print(f"vm_write_server_cpu_us_per_reading {r['server_us_per_reading']} us")
print(f"vm_write_other_cpu_pct {r['other_cpu_pct']} %")
PY
}

# Vigil: a fresh vigild, the registry from the file (untimed), then the same batches.
run_vigil() {
  local d=$dir/vigil$1
  start_lp_vigild "$d"
  local shift_steps=0
  if [[ $mode == warm ]]; then
    # The untimed first pass, as loader.py --warm does for the peers.
    timeout -k 10 900 python3 "$repo_root/bench/http_write_load.py" --peers "$peers" --data "$data" \
      --http "$http" --server-pid "$server_pid" --batch "$batch" --workers "$workers" \
      --prefix vigil_http_write_first_pass >"$d/first_pass"
    shift_steps=$readings
  fi
  timeout -k 10 900 python3 "$repo_root/bench/http_write_load.py" --peers "$peers" --data "$data" \
    --http "$http" --server-pid "$server_pid" --batch "$batch" --workers "$workers" \
    --shift-steps "$shift_steps" | tee "$d/result"
  { kill "$server_pid" && wait "$server_pid"; } 2>/dev/null || true
  server_pid=""
}

for ((round = 1; round <= rounds; round++)); do
  if ((round % 2 == 1)); then
    run_vm "$round"
    run_vigil "$round"
  else
    run_vigil "$round"
    run_vm "$round"
  fi
done
python3 - "$dir" "$rounds" <<'PY'
import statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
def rate(path, key):
    for line in open(path):
        k, v, *_ = line.split()
        if k == key:
            return float(v)
vm = [rate(f"{d}/vm{r}.result", "vm_write_readings_per_s") for r in range(1, rounds + 1)]
vigil = [rate(f"{d}/vigil{r}/result", "vigil_http_write_readings_per_s") for r in range(1, rounds + 1)]
if rounds > 1:
    print(f"vm_write_readings_per_s_median {statistics.median(vm):.0f} readings/s")
    print(f"vigil_http_write_readings_per_s_median {statistics.median(vigil):.0f} readings/s")
    print("vigil_http_write_vs_vm_write_ratio_by_round " +
          " ".join(f"{a / b:.2f}" for a, b in zip(vigil, vm)) + " x")
print(f"vigil_http_write_vs_vm_write_ratio {statistics.median(vigil) / statistics.median(vm):.2f} x")
PY
echo "# $mode: $lines readings ($sensors sensors x $readings), $workers connections, $batch lines per request, $rounds round(s)" >&2
