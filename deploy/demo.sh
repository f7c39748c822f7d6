#!/usr/bin/env bash
# The Vigil demo: a simulated province of coal mines, chemical plants and
# tailings dams reports in, and its alarms appear and clear, live.
#
#   ./deploy/run-local.sh --demo [OPTIONS]     (the same as deploy/demo.sh [OPTIONS])
#
# Installs missing Debian packages and builds Release in build/ (as
# run-local.sh does); writes the simulator's registry and alarm rules; starts
# vigild on them with a fresh data folder on a free port; streams the province
# with vigil-sim in compressed time (every gateway its own gRPC stream, with
# injected gas rises, drifts, chattering values, frozen sensors, broken
# instruments, gateway outages, a tank heating fast); prints every alarm event
# as vigild journals it; and when the run ends (or on Ctrl-C) stops everything
# and prints the checker's figures: the alarms the scenario had to raise,
# matched, missed, extra, chattering, late, and how long they took.
#
# Options:
#   --duration D        simulated time, e.g. 90m, 6h, 2d. Default: 2d
#   --speed X           simulated seconds per wall second. Default: 600 (2 days ~ 5 min)
#   --enterprises N     Default: 30
#   --seed S            Default: 1
#   --events-per-enterprise N
#                       injected events per enterprise, one after another. Default: 3
#   --gateway-offline-after D
#                       the rules' gateway_offline.after, on vigild's clock. Default: 10s
#                       (100 simulated minutes at speed 600)
#   --data-dir DIR      keep everything (data, config, rules, logs, ground truth) in DIR
#                       instead of a temporary folder removed at the end
#   --keep              keep the temporary folder
#   --build-dir DIR     Default: build
#   --no-build          use the binaries in --build-dir as they are (no apt, no cmake)
#   --help
#
# Exit status: vigil-sim's (0: every batch acked and stored, every alarm as
# expected); 1 also when vigild would not start or did not stop cleanly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

duration=2d
speed=600
enterprises=30
seed=1
events=3
offline_after=10s
data_dir=""
keep=0
build_dir=build
do_build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --speed) speed="$2"; shift 2 ;;
    --enterprises) enterprises="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --events-per-enterprise) events="$2"; shift 2 ;;
    --gateway-offline-after) offline_after="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$do_build" = 1 ]; then
  bash deploy/install-deps.sh
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVIGIL_BUILD_BENCH=ON >/dev/null
  cmake --build "$build_dir" --target vigild vigilctl vigil-sim -j "$(nproc)"
fi
vigild="$build_dir/server/vigild"
vigilctl="$build_dir/server/vigilctl"
sim="$build_dir/bench/vigil-sim"
for b in "$vigild" "$sim"; do
  [ -x "$b" ] || { echo "demo: $b is missing (build it, or drop --no-build)" >&2; exit 1; }
done

if [ -n "$data_dir" ]; then
  mkdir -p "$data_dir"
  work="$(cd "$data_dir" && pwd)"
  keep=1
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-demo.XXXXXX")"
fi

vigild_pid=""
vigild_status=0
watch_pid=""
interrupted=0
# Stops the watcher, then vigild (SIGTERM: it drains and exits 0; SIGKILL after 30 s).
stop_all() {
  if [ -n "$watch_pid" ]; then
    kill -TERM "$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
    watch_pid=""
  fi
  if [ -n "$vigild_pid" ]; then
    kill -TERM "$vigild_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$vigild_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$vigild_pid" 2>/dev/null; then
      echo "demo: vigild did not stop within 30 s; killing it" >&2
      kill -KILL "$vigild_pid" 2>/dev/null || true
    fi
    vigild_status=0
    wait "$vigild_pid" 2>/dev/null || vigild_status=$?
    [ "$vigild_status" = 0 ] || echo "demo: vigild exit status $vigild_status" >&2
    vigild_pid=""
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  if [ "$keep" = 1 ]; then
    echo "demo: everything is in $work (vigild.log, truth.txt, observed.txt, figures.txt)" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
# Ctrl-C reaches vigil-sim (it stops making batches, delivers what it made and
# checks the time lived); the script then cleans up. vigild and the watcher run
# in sessions of their own, out of the terminal's reach, and are stopped here.
trap 'interrupted=1' INT TERM

province=(--seed "$seed" --enterprises "$enterprises" --gateway-offline-after "$offline_after")
"$sim" "${province[@]}" --write-registry "$work/registry.yaml" --write-rules "$work/rules.yaml"
cat >"$work/vigil.yaml" <<EOF
# vigild config of the demo (deploy/demo.sh); every key: deploy/vigil.yaml.
server:
  listen: "127.0.0.1:0"
  metrics_listen: "127.0.0.1:0"
storage:
  data_dir: "$work/data"
alarms:
  heartbeat_interval: 1s
rules_file: rules.yaml
registry_file: registry.yaml
EOF

: >"$work/vigild.out"  # before the background start opens it: read at once below
setsid "$vigild" --config "$work/vigil.yaml" >>"$work/vigild.out" 2>"$work/vigild.log" </dev/null &
vigild_pid=$!
address=""
for _ in $(seq 1 300); do
  address="$(sed -n 's/^vigild listening grpc=\([^ ]*\).*/\1/p' "$work/vigild.out" || true)"
  [ -n "$address" ] && break
  if ! kill -0 "$vigild_pid" 2>/dev/null || [ "$interrupted" = 1 ]; then break; fi
  sleep 0.1
done
if [ -z "$address" ]; then
  echo "demo: vigild did not start; its log:" >&2
  tail -n 20 "$work/vigild.log" >&2 || true
  exit 1
fi
metrics="$(sed -n 's/^vigild listening .*metrics=\([^ ]*\).*/\1/p' "$work/vigild.out")"
echo "demo: vigild serves gRPC on $address, /metrics on http://$metrics/metrics; data in $work" >&2
echo "demo: $enterprises enterprises, $duration simulated at ${speed}x; alarm events below" \
  "(time, journal seq, transition, severity, alarm, source, value, enterprise, state)." \
  "Ctrl-C ends the run early." >&2

# The live alarm stream: vigilctl's watcher when it has one, else vigil-sim's own.
watch=(--watch)
if [ -x "$vigilctl" ] && "$vigilctl" --help 2>&1 | grep -q '^ *alarms '; then
  setsid "$vigilctl" --server "$address" alarms watch </dev/null &
  watch_pid=$!
  watch=()
fi

set +e
"$sim" "${province[@]}" --target "$address" --duration "$duration" --speed "$speed" \
  --events-per-enterprise "$events" --spread-events --write-ground-truth "$work/truth.txt" \
  --write-observed "$work/observed.txt" "${watch[@]}" >"$work/figures.txt"
status=$?
set -e
stop_all

echo
echo "== vigil-sim figures (name value unit; every one in figures.txt) =="
shown='sensors|events|readings|readings_stored|readings_rejected|stream_complete|sim_stopped_at_ms'
shown+='|alarm_stream_events|alarm_stream_caught_up|alarms_(expected|matched|missed|extra)'
shown+='|alarms_(chattering|early|late)|clears_(missed|early|late)|(raise|clear)_latency_[a-z0-9]+_ms'
grep -E "^($shown) " "$work/figures.txt" || true
grep -E '^alarms_(expected|missed|extra)\.[a-z_]+ [1-9]' "$work/figures.txt" || true
if [ "$status" = 0 ]; then
  echo "demo: every batch acked and stored, every expected alarm raised and cleared on time"
else
  echo "demo: vigil-sim exit status $status (findings above: missed, extra or chattering" \
    "alarms, or a stream problem)"
fi
[ "$status" = 0 ] && [ "$vigild_status" != 0 ] && status=1
exit "$status"
