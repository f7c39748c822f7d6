#!/usr/bin/env bash
# Side by side: Vigil and Debian's peers (VictoriaMetrics, and with --peers also
# InfluxDB 1.6 and Prometheus) on the same generated data, on this machine, in
# one run. Prints a table and `name value unit` lines.
#
# Usage: bench/compare_peers.sh [BUILD_DIR] [options]
#   BUILD_DIR          holds server/vigild and bench/vigil-load (default: build/);
#                      this script builds nothing
#   --sensors N        sensors (default 100000)      } passed to gen_data.py;
#   --readings R       readings per sensor (def. 20) } smaller = smoke run
#   --dir DIR          data folder (default /tmp/vigil-peers)
#   --reps N           repetitions (default 1); each rep runs every peer cold and
#                      warm, then one vigild (cold pass, then warm pass)
#   --peers LIST       peers to run, comma-separated: vm (victoria-metrics),
#                      influx (influxdb), prom (prometheus). Default: vm
#   --batch B          lines per request/batch (default 5000; must divide --sensors
#                      for equal batches, as in loader.py)
#   --workers W        connections = streams (default 4)
#   --window K         Vigil batches in flight per stream (default 1 = loader.py's
#                      one request in flight per keep-alive connection)
#   --group block|ent  how Vigil streams are formed (vigil-load --lp-group; default block)
#   --skip-vm          Vigil only (same as --peers "")
# Environment:
#   KEEP=1             keep DIR (data file, logs, results) at the end
#   QUIET_PCT          start a run only when the machine is below this busy % of
#                      one core (default 15, as run_peers.py)
#   QUIET_TIMEOUT      ... waiting at most this many seconds (default 180)
#   MAX_ATTEMPTS       peers: redo a run disturbed by other work (> 30 % of a core) up
#                      to this many times (default 2; run_peers.py's own default is 6)
#
# Measurement (same rules as shared/peers/MEASURED.md):
#   readings/s = readings / time until every reading is acknowledged, durable by
#   the server's own rule, and readable.
#   Peers (shared/peers/run_peers.py and loader.py, unchanged): POSTs acked,
#     then a count query polled until it returns every reading (time = when the
#     successful query was issued); VM is flushed first (/internal/force_flush,
#     it has no WAL); InfluxDB acks after its WAL fsync; Prometheus after its WAL
#     append (remote-write receiver).
#   Vigil (vigil-load --lp-file): time until the last IngestAck. An ack is sent
#     only after the batch is in the RocksDB WAL (durability wal: written, not
#     fsynced) and queued to its shard ahead of any later read, so it is
#     readable then. Checked after the timed pass (not timed): vigil-load
#     ReadRaws EVERY sensor and compares every timestamp and value with the
#     file, and /metrics vigil_readings_ingested_total must equal the readings sent.
#   cold = fresh server, sensors created (VM) / registered untimed just before
#   (Vigil); warm = second pass shifted forward by R x interval on the same server.
#   Server CPU = utime+stime of the server PID over the timed window (/proc).
# Every server listens on 127.0.0.1 only and is stopped by its own PID; every
# wait is bounded; DIR is removed at the end unless KEEP=1.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers=${PEERS_DIR:-$repo_root/../shared/peers}
[[ -d $peers ]] || peers=/work/shared/peers

build_dir=$repo_root/build
if [[ $# -gt 0 && $1 != --* ]]; then
  build_dir=$1
  shift
fi
sensors=100000
readings=20
dir=/tmp/vigil-peers
reps=1
batch=5000
workers=4
window=1
group=block
peer_list=vm
while [[ $# -gt 0 ]]; do
  case $1 in
    --sensors) sensors=$2; shift 2 ;;
    --readings) readings=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --group) group=$2; shift 2 ;;
    --skip-vm) peer_list=""; shift ;;
    --peers) peer_list=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare_peers: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
quiet_pct=${QUIET_PCT:-15}
quiet_timeout=${QUIET_TIMEOUT:-180}
max_attempts=${MAX_ATTEMPTS:-2}

vigild="$build_dir/server/vigild"
vigil_load="$build_dir/bench/vigil-load"
for binary in "$vigild" "$vigil_load"; do
  if [[ ! -x $binary ]]; then
    echo "compare_peers: $binary not found; build it first (ninja -C $build_dir vigild vigil-load)" >&2
    exit 2
  fi
done
IFS=, read -r -a peers_run <<<"$peer_list"
for peer in "${peers_run[@]}"; do
  case $peer in
    vm) binary=victoria-metrics package=victoria-metrics ;;
    influx) binary=influxd package=influxdb ;;
    prom) binary=prometheus package=prometheus ;;
    *) echo "compare_peers: unknown peer '$peer' (vm, influx, prom)" >&2; exit 2 ;;
  esac
  if ! command -v "$binary" >/dev/null; then
    echo "compare_peers: $binary not installed (apt-get install $package) or leave $peer out of --peers" >&2
    exit 2
  fi
done
case $dir in /tmp/*) ;; *) echo "compare_peers: --dir must be under /tmp" >&2; exit 2 ;; esac

mkdir -p "$dir"
data="$dir/iot.lp"
server_pid=""
status=0

# Stops vigild (if running) by its own PID; bounded.
stop_server() {
  [[ -n $server_pid ]] || return 0
  local pid=$server_pid state=gone
  server_pid=""
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do # 60 s
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
    [[ $state == Z || $state == gone ]] && break
    sleep 0.1
  done
  if [[ $state != Z && $state != gone ]]; then
    echo "compare_peers: vigild (pid $pid) still running 60 s after SIGTERM; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    status=1
  fi
  wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
  stop_server
  if [[ ${KEEP:-0} == 1 ]]; then
    echo "compare_peers: kept $dir" >&2
  else
    rm -rf "$dir"
    # run_peers.py keeps its (emptied) run folders under /tmp/peerbench: remove them if empty.
    for peer in "${peers_run[@]}"; do rmdir "/tmp/peerbench/$peer" 2>/dev/null || true; done
    rmdir /tmp/peerbench 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Machine CPU busy over one second, in % of one core.
busy_percent() {
  local a b
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat)
  echo $(((b - a) * 100 / $(getconf CLK_TCK)))
}
# Waits (bounded) until the machine is below QUIET_PCT of one core.
wait_quiet() {
  local busy start=$SECONDS
  busy=$(busy_percent)
  while [[ $busy -ge $quiet_pct && $((SECONDS - start)) -lt $quiet_timeout ]]; do
    sleep 2
    busy=$(busy_percent)
  done
  echo "# machine busy ${busy}% of one core before the run (waited $((SECONDS - start)) s)" >&2
}

# 1. The workload, once (fresh: Vigil rejects readings > 90 days old, and the
# warm pass must stay < 5 min ahead of now).
meta_ok=0
if [[ -f $data && -f $data.meta.json ]] && [[ -z $(find "$data" -mmin +1440) ]]; then
  meta_ok=$(python3 -c "import json,sys; m=json.load(open('$data.meta.json')); \
print(int(m['sensors']==$sensors and m['readings_per_sensor']==$readings))")
fi
if [[ $meta_ok != 1 ]]; then
  echo "# generating $sensors sensors x $readings readings into $data" >&2
  python3 "$peers/gen_data.py" --sensors "$sensors" --readings "$readings" --out "$data" >&2
fi
interval_ms=$(python3 -c "import json; print(json.load(open('$data.meta.json'))['interval_ms'])")
lines=$((sensors * readings))
shift_ms=$((readings * interval_ms))
echo "# data: $data ($lines readings, $(du -m "$data" | cut -f1) MB); warm shift $shift_ms ms" >&2

mkdir -p "$dir/results" "$dir/logs"
for ((rep = 1; rep <= reps; rep++)); do
  # 2. The peers, through their own scripts (data under /tmp/peerbench/PEER).
  for peer in "${peers_run[@]}"; do
    for mode in cold warm; do
      echo "# rep $rep: $peer $mode (run_peers.py)" >&2
      timeout -k 10 1800 python3 "$peers/run_peers.py" --targets "$peer" --reps 1 --mode "$mode" \
        --data "$data" --batch "$batch" --workers "$workers" --quiet-pct "$quiet_pct" \
        --quiet-timeout-s "$quiet_timeout" --max-attempts "$max_attempts" \
        --results "$dir/results/${peer}_${mode}_$rep.json" >"$dir/logs/${peer}_${mode}_$rep.out" \
        2>"$dir/logs/${peer}_${mode}_$rep.err" || {
        echo "compare_peers: run_peers.py $peer $mode failed:" >&2
        tail -n 20 "$dir/logs/${peer}_${mode}_$rep.err" >&2
        exit 1
      }
      head -n 1 "$dir/logs/${peer}_${mode}_$rep.out" >&2
    done
  done

  # 3. Vigil on the same file: fresh server, register (untimed), cold pass, warm
  # pass; redone (fresh server) like run_peers.py when other work took > 30 % of a core.
  for ((attempt = 1; attempt <= max_attempts; attempt++)); do
    work="$dir/vigil$rep"
    rm -rf "$work"
    mkdir -p "$work"
    cat >"$work/vigild.yaml" <<EOF
# Generated by bench/compare_peers.sh; --listen and --data-dir come as flags.
storage:
  durability: wal
EOF
    "$vigild" --config "$work/vigild.yaml" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
      --data-dir "$work/data" >"$work/vigild.out" 2>"$work/vigild.err" &
    server_pid=$!
    target="" metrics=""
    for ((i = 0; i < 300; i++)); do # 30 s
      line=$(grep -m1 'vigild listening grpc=' "$work/vigild.out" || true)
      if [[ -n $line ]]; then
        target=$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' <<<"$line")
        metrics=$(sed -n 's/.*metrics=\([^ ]*\).*/\1/p' <<<"$line")
        break
      fi
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if [[ -z $target || -z $metrics ]]; then
      echo "compare_peers: vigild did not print its listening line; its stderr:" >&2
      tail -n 20 "$work/vigild.err" >&2
      exit 1
    fi
    case $target in 127.0.0.1:*) ;; *) echo "compare_peers: vigild not on loopback: $target" >&2; exit 1 ;; esac
    echo "# rep $rep: vigild pid $server_pid grpc=$target metrics=$metrics" >&2
    common=(--target "$target" --lp-file "$data" --lp-group "$group" --lp-streams "$workers"
      --connections "$workers" --readings-per-batch "$batch" --window "$window")
    timeout -k 10 600 "$vigil_load" "${common[@]}" --register-only >"$work/register.txt" || {
      echo "compare_peers: registration failed" >&2
      tail -n 20 "$work/vigild.err" >&2
      exit 1
    }
    expected_total=0
    for mode in cold warm; do
      pass_shift=0
      [[ $mode == warm ]] && pass_shift=$shift_ms
      wait_quiet
      echo "# rep $rep: vigil $mode" >&2
      timeout -k 10 900 "$vigil_load" "${common[@]}" --no-register --server-pid "$server_pid" \
        --data-dir "$work/data" --time-shift-ms "$pass_shift" --quiet-pct "$quiet_pct" \
        --lp-verify 0 >"$dir/results/vigil_${mode}_$rep.txt" || {
        echo "compare_peers: vigil-load $mode failed:" >&2
        cat "$dir/results/vigil_${mode}_$rep.txt" >&2
        status=1
      }
      expected_total=$((expected_total + lines))
      ingested=$(curl -s --max-time 10 "http://$metrics/metrics" |
        awk '$1 == "vigil_readings_ingested_total" { printf "%d", $2 }')
      echo "metrics_readings_ingested_total ${ingested:-0} readings" >>"$dir/results/vigil_${mode}_$rep.txt"
      if [[ ${ingested:-0} != "$expected_total" ]]; then
        echo "compare_peers: /metrics vigil_readings_ingested_total=${ingested:-?}, expected $expected_total" >&2
        status=1
      fi
      echo "# $(grep -E '^(readings_per_s|server_cpu_percent|verify_bad_sensors|other_cpu_percent) ' \
        "$dir/results/vigil_${mode}_$rep.txt" | tr '\n' ' ')" >&2
    done
    peak=$(awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$server_pid/status")
    echo "server_rss_peak_bytes_at_end $peak bytes" >>"$dir/results/vigil_warm_$rep.txt"
    stop_server
    disk=$( (du -sb "$work/data" 2>/dev/null || echo 0) | awk '{print $1}')
    echo "disk_bytes_after_stop $disk bytes" >>"$dir/results/vigil_warm_$rep.txt"
    [[ ${KEEP:-0} == 1 ]] || rm -rf "$work/data"
    disturbed=$(cat "$dir/results/vigil_cold_$rep.txt" "$dir/results/vigil_warm_$rep.txt" |
      awk '$1 == "other_cpu_percent" && $2 > 30 { n++ } END { print n + 0 }')
    for mode in cold warm; do
      echo "attempt $attempt count" >>"$dir/results/vigil_${mode}_$rep.txt"
    done
    [[ $disturbed == 0 ]] && break
    echo "# rep $rep attempt $attempt: other work took > 30 % of a core during a Vigil pass" \
      "$([[ $attempt -lt $max_attempts ]] && echo '; redoing' || echo '; keeping it (contended)')" >&2
  done
done

# 4. Side-by-side table and figures.
python3 - "$dir/results" "$reps" "$lines" "$peer_list" <<'EOF'
import glob, json, os, statistics, sys
res, reps, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
peers = [p for p in sys.argv[4].split(",") if p]
names = {"vm": "VictoriaMetrics", "influx": "InfluxDB 1.6", "prom": "Prometheus"}

def vigil(mode):
    out = []
    for rep in range(1, reps + 1):
        f = {}
        for line in open(f"{res}/vigil_{mode}_{rep}.txt"):
            p = line.split()
            if len(p) >= 2:
                try:
                    f[p[0]] = float(p[1])
                except ValueError:
                    pass
        out.append(f)
    return out

def peer_runs(peer, mode):
    out = []
    for rep in range(1, reps + 1):
        out.extend(json.load(open(f"{res}/{peer}_{mode}_{rep}.json")))
    return out

med = lambda xs: statistics.median(xs) if xs else float("nan")
rows, figs = [], []
for mode in ("cold", "warm"):
    vg = vigil(mode)
    v_rate = [r.get("readings_per_s", 0) for r in vg]
    v_us = med([r.get("server_us_per_reading", 0) for r in vg])
    v_cpu = med([r.get("server_cpu_percent", 0) for r in vg])
    v_cli = med([r.get("client_cpu_percent", 0) for r in vg])
    v_oth = med([r.get("other_cpu_percent", 0) for r in vg])
    v_rss = med([r.get("server_rss_peak_bytes", 0) for r in vg]) / 1e6
    v_disk = med([r.get("disk_bytes", 0) for r in vg]) / 1e6
    v_ack = med([r.get("ack_s", 0) for r in vg])
    peer_rows = {}
    for peer in peers:
        vr = peer_runs(peer, mode)
        m_rate = [r["readings_per_s"] for r in vr]
        rows.append((names[peer], mode, med(m_rate), min(m_rate), max(m_rate),
                     med([r["durable_s"] for r in vr]), med([r["server_cpu_pct"] for r in vr]),
                     med([r["loader_cpu_pct"] for r in vr]), med([r["other_cpu_pct"] for r in vr]),
                     med([r["server_us_per_reading"] for r in vr]),
                     med([r["server_rss_mb"] or 0 for r in vr]),
                     med([r["disk_mb_after_stop"] for r in vr])))
        peer_rows[peer] = rows[-1]
        figs += [(f"{peer}_{mode}_readings_per_s", round(med(m_rate)), "readings/s"),
                 (f"{peer}_{mode}_server_us_per_reading", rows[-1][9], "us"),
                 (f"{peer}_{mode}_contended_runs", sum(1 for r in vr if r.get("contended")),
                  "runs")]
    rows.append(("Vigil", mode, med(v_rate), min(v_rate), max(v_rate), v_ack, v_cpu, v_cli,
                 v_oth, v_us, v_rss, v_disk))
    figs += [(f"vigil_{mode}_contended_runs",
              sum(1 for r in vg if r.get("other_cpu_percent", 0) > 30), "runs"),
             (f"vigil_{mode}_readings_per_s", round(med(v_rate)), "readings/s"),
             (f"vigil_{mode}_server_us_per_reading", round(v_us, 3), "us")]
    for peer, row in peer_rows.items():
        figs += [(f"vigil_vs_{peer}_{mode}_ratio", round(med(v_rate) / row[2], 2) if row[2] else 0,
                  "x"),
                 (f"vigil_vs_{peer}_{mode}_server_cpu_per_reading_ratio",
                  round(v_us / row[9], 3) if row[9] else 0, "x")]

print(f"\n{lines:,} readings per pass, {reps} rep(s); median [min-max]")
print("| server | mode | readings/s | min | max | timed s | server CPU % (of 200) | loader CPU % "
      "| other CPU % | server us/reading | server peak RSS MB | disk MB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | **{r[2]:,.0f}** | {r[3]:,.0f} | {r[4]:,.0f} | {r[5]:.3f} | "
          f"{r[6]:.1f} | {r[7]:.1f} | {r[8]:.1f} | {r[9]:.3f} | {r[10]:.0f} | {r[11]:.1f} |")
print("\n(disk: peers after stop, cold = 1 pass, warm = 2 passes; Vigil: data folder while "
      "running, cold = 1 pass, warm = 2 passes)\n")
for name, value, unit in figs:
    print(f"{name} {value} {unit}")
EOF
for ((rep = 1; rep <= reps; rep++)); do
  awk '$1 == "disk_bytes_after_stop" || $1 == "verify_bad_sensors" || $1 == "metrics_readings_ingested_total" {
    print "vigil_rep'"$rep"'_" $1, $2, $3 }' "$dir/results/vigil_warm_$rep.txt"
done
exit $status
