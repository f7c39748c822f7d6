#!/usr/bin/env bash
# A Vigil cluster on this machine, for a try: three nats-server nodes (one
# JetStream cluster) and three vigild nodes sharing one replicated ingest stream
# (replicas 3), all on 127.0.0.1 with free ports. Prints where to connect, then
# runs until Ctrl-C or SIGTERM and stops everything. docs/cluster.md explains
# what the cluster does today; deploy/cluster/ has the production files.
#
#   deploy/run-cluster.sh [OPTIONS]
#
# NATS runs as in production (deploy/cluster/nats/): TLS with client
# certificates from a throwaway CA made here with openssl, the users and
# permissions of deploy/cluster/nats/auth.conf, max_payload 16MB. Every vigild
# loads the same registry and rules (deploy/registry.yaml, deploy/rules.yaml)
# and serves plaintext gRPC on loopback without tokens.
#
# Options:
#   --build-dir DIR   where vigild and vigilctl were built (DIR/server/vigild).
#                     Default: $VIGIL_BUILD_DIR, else build/ of this checkout
#                     (cmake --build build --target vigild vigilctl send_reading)
#   --work-dir DIR    keep configs, certificates, stores, data and logs in DIR
#                     (created; kept at the end; run again on it, the cluster
#                     restarts on its stores and data) instead of a temporary folder
#   --keep            keep the temporary folder
#   --smoke           start; write readings through vigild-1 and read them back
#                     from vigild-2 and vigild-3; kill -9 vigild-3, write through
#                     vigild-2, restart vigild-3 and read those from it; check
#                     NATS refused vigild no subject; stop. About 5 s, every wait
#                     bounded (a minute at most). Exit 0 when all passed.
#   --help
#
# Needs nats-server (Debian's nats-server package; $NATS_SERVER overrides),
# openssl and curl. Exit 1 when a process does not start or the smoke check
# fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

build_dir="${VIGIL_BUILD_DIR:-$root/build}"
work=""
keep=0
smoke=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --work-dir) work="$2"; keep=1; shift 2 ;;
    --keep) keep=1; shift ;;
    --smoke) smoke=1; shift ;;
    --help|-h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-cluster: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
case "$build_dir" in /*) ;; *) build_dir="$PWD/$build_dir" ;; esac
vigild="$build_dir/server/vigild"
vigilctl="$build_dir/server/vigilctl"
send_reading="$build_dir/deploy/examples/send_reading"
nats_server="${NATS_SERVER:-$(command -v nats-server || true)}"
for tool in "$vigild" "$vigilctl"; do
  if [ ! -x "$tool" ]; then
    echo "run-cluster: no $tool; build it: cmake --build $build_dir --target vigild vigilctl" \
      "send_reading (or --build-dir DIR)" >&2
    exit 1
  fi
done
if [ "$smoke" = 1 ] && [ ! -x "$send_reading" ]; then
  echo "run-cluster: --smoke needs $send_reading (cmake --build $build_dir --target" \
    "send_reading)" >&2
  exit 1
fi
if [ -z "$nats_server" ]; then
  echo "run-cluster: no nats-server (apt-get install nats-server)" >&2
  exit 1
fi
for tool in openssl curl; do
  command -v "$tool" >/dev/null || { echo "run-cluster: no $tool" >&2; exit 1; }
done

if [ -z "$work" ]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-cluster.XXXXXX")"
else
  mkdir -p "$work"
  work="$(cd "$work" && pwd)"
fi

nodes=(1 2 3)
nats_pids=()
vigild_pids=()
stopping=0

# Stops the vigild nodes first (SIGTERM: they drain and ack what they read),
# then NATS; each wait bounded, then SIGKILL.
stop_all() {
  local pid
  for pid in "${vigild_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${vigild_pids[@]}"; do
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for pid in "${nats_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${nats_pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  vigild_pids=()
  nats_pids=()
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  if [ "$keep" = 1 ]; then
    echo "run-cluster: configs, data and logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'stopping=1' INT TERM

die() {
  echo "run-cluster: $*" >&2
  exit 1
}

# Free loopback ports: bound by the kernel, then released for the servers.
free_ports() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# --- certificates: a throwaway CA, one server certificate for the three NATS
# nodes (clients and routes), and the client certificate of the vigil user.
tls="$work/tls"
mkdir -p "$tls"
cert() {  # cert NAME SUBJECT EXTENSIONS
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tls/$1.key" -out "$tls/$1.csr" -subj "$2" 2>/dev/null
  printf '%s\n' "$3" >"$tls/$1.ext"
  openssl x509 -req -in "$tls/$1.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 7 -out "$tls/$1.crt" -extfile "$tls/$1.ext" 2>/dev/null
}
if [ ! -f "$tls/ca.crt" ]; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" -days 7 -subj "/O=Vigil/CN=run-cluster CA" \
    2>/dev/null || die "openssl could not make a CA"
  cert server "/O=Vigil/CN=nats" \
    $'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth'
  cert vigil "/O=Vigil/CN=vigil" "extendedKeyUsage=clientAuth"
  chmod 0600 "$tls"/*.key
fi

# --- NATS: three nodes, one JetStream cluster.
read -r -a ports <<<"$(free_ports 9)"
client_ports=("${ports[@]:0:3}")
route_ports=("${ports[@]:3:3}")
http_ports=("${ports[@]:6:3}")
routes=""
nats_urls=""
for n in "${nodes[@]}"; do
  routes+="    nats-route://127.0.0.1:${route_ports[n - 1]}"$'\n'
  nats_urls+="${nats_urls:+, }\"tls://127.0.0.1:${client_ports[n - 1]}\""
done
for n in "${nodes[@]}"; do
  dir="$work/nats-$n"
  mkdir -p "$dir/store"
  cp "$root/deploy/cluster/nats/auth.conf" "$dir/auth.conf"
  cat >"$dir/nats.conf" <<EOF
# nats-$n of deploy/run-cluster.sh; production: deploy/cluster/nats/.
server_name: nats-$n
listen: 127.0.0.1:${client_ports[n - 1]}
http: 127.0.0.1:${http_ports[n - 1]}
max_payload: 16MB
tls {
  cert_file: "$tls/server.crt"
  key_file: "$tls/server.key"
  ca_file: "$tls/ca.crt"
  verify_and_map: true
  timeout: 5
}
jetstream {
  store_dir: "$dir/store"
  max_memory_store: 64MB
  max_file_store: 4GB
}
cluster {
  name: vigil
  listen: 127.0.0.1:${route_ports[n - 1]}
  no_advertise: true
  tls {
    cert_file: "$tls/server.crt"
    key_file: "$tls/server.key"
    ca_file: "$tls/ca.crt"
    timeout: 5
  }
  routes: [
$routes  ]
}
include ./auth.conf
EOF
  setsid "$nats_server" -c "$dir/nats.conf" >"$dir/nats.log" 2>&1 </dev/null &
  nats_pids+=($!)
done
for n in "${nodes[@]}"; do
  ok=0
  for _ in $(seq 1 300); do
    if curl -fs -o /dev/null "http://127.0.0.1:${http_ports[n - 1]}/healthz"; then ok=1; break; fi
    kill -0 "${nats_pids[n - 1]}" 2>/dev/null || break
    [ "$stopping" = 1 ] && exit 130
    sleep 0.1
  done
  [ "$ok" = 1 ] || { tail -n 20 "$work/nats-$n/nats.log" >&2; die "nats-$n did not get ready"; }
done

# --- vigild: three nodes on the one stream.
grpc=()
metrics=()
start_vigild() {  # start_vigild N: spawn (again) on its config and data
  local dir="$work/vigild-$1"
  : >"$dir/vigild.out"
  setsid "$vigild" --config "$dir/vigil.yaml" >>"$dir/vigild.out" 2>>"$dir/vigild.log" \
    </dev/null &
  vigild_pids[$1 - 1]=$!
}
# wait_vigild N: its listening line, then grpc.health SERVING. A vigild that
# exits while starting is started again, twice at most, as systemd or Kubernetes
# would: on a fresh JetStream cluster the stream's creation (its leader election)
# can outlast vigild's start-up wait ("create stream VIGIL_INGEST: Timeout").
wait_vigild() {
  local dir="$work/vigild-$1" address="" ok=0 attempt
  for attempt in 1 2 3; do
    for _ in $(seq 1 600); do
      address="$(sed -n 's/^vigild listening grpc=\([^ ]*\).*/\1/p' "$dir/vigild.out")"
      [ -n "$address" ] && break
      kill -0 "${vigild_pids[$1 - 1]}" 2>/dev/null || break
      [ "$stopping" = 1 ] && exit 130
      sleep 0.1
    done
    [ -n "$address" ] && break
    { wait "${vigild_pids[$1 - 1]}"; } 2>/dev/null || true
    if [ "$attempt" -lt 3 ] && grep -q "cannot start" "$dir/vigild.log"; then
      echo "run-cluster: vigild-$1 exited while starting ($(grep "cannot start" \
        "$dir/vigild.log" | tail -n 1)); starting it again" >&2
      sleep 1
      start_vigild "$1"
    fi
  done
  [ -n "$address" ] || { tail -n 20 "$dir/vigild.log" >&2; die "vigild-$1 did not start"; }
  grpc[$1 - 1]="$address"
  metrics[$1 - 1]="$(sed -n 's/^vigild listening .*metrics=\([^ ]*\).*/\1/p' "$dir/vigild.out")"
  for _ in $(seq 1 300); do
    if "$vigilctl" --server "$address" health >/dev/null 2>&1; then ok=1; break; fi
    [ "$stopping" = 1 ] && exit 130
    sleep 0.1
  done
  [ "$ok" = 1 ] || { tail -n 20 "$dir/vigild.log" >&2; die "vigild-$1 not SERVING"; }
}
for n in "${nodes[@]}"; do
  dir="$work/vigild-$n"
  mkdir -p "$dir"
  cat >"$dir/vigil.yaml" <<EOF
# vigild-$n of deploy/run-cluster.sh; production: deploy/cluster/vigil.yaml.
server:
  listen: "127.0.0.1:0"
  metrics_listen: "127.0.0.1:0"
  shards: 2                       # the same at every node: alarm ids depend on it
storage:
  data_dir: "$dir/data"
registry_file: "$root/deploy/registry.yaml"
rules_file: "$root/deploy/rules.yaml"
ingest_log:
  backend: jetstream
  nats_urls: [$nats_urls]
  nats_tls_ca_file: "$tls/ca.crt"
  nats_tls_cert_file: "$tls/vigil.crt"
  nats_tls_key_file: "$tls/vigil.key"
  replicas: 3
EOF
done
# vigild-1 first: it creates the stream. A vigild asking for the stream's info
# while another one's create is still electing the stream's leader gets no answer
# and exits ("stream info VIGIL_INGEST: Timeout"; systemd or Kubernetes would
# restart it). Once vigild-1 serves, the others find the stream.
start_vigild 1
wait_vigild 1
start_vigild 2
start_vigild 3
wait_vigild 2
wait_vigild 3

echo "run-cluster: 3 NATS + 3 vigild nodes ready (work folder $work)"
for n in "${nodes[@]}"; do
  echo "  vigild-$n  grpc ${grpc[n - 1]}  metrics http://${metrics[n - 1]}/metrics" \
    " log $work/vigild-$n/vigild.log"
done
for n in "${nodes[@]}"; do
  echo "  nats-$n    tls://127.0.0.1:${client_ports[n - 1]}" \
    " monitoring http://127.0.0.1:${http_ports[n - 1]}/healthz  log $work/nats-$n/nats.log"
done
echo "  e.g. $vigilctl --server ${grpc[0]} latest --enterprise e-370105-001"
echo "  NATS client certificate of the vigil user: $tls/vigil.crt (key vigil.key, CA ca.crt)"

if [ "$smoke" = 0 ]; then
  echo "run-cluster: Ctrl-C stops everything. Kill a node (kill -9 PID) to see the"
  echo "  others carry on; this script tells how to start it again."
  for n in "${nodes[@]}"; do
    echo "  pids: vigild-$n ${vigild_pids[n - 1]}  nats-$n ${nats_pids[n - 1]}"
  done
  reported=" "
  while [ "$stopping" = 0 ]; do
    for n in "${nodes[@]}"; do
      if ! kill -0 "${vigild_pids[n - 1]}" 2>/dev/null && [[ "$reported" != *" v$n "* ]]; then
        reported+="v$n "
        echo "run-cluster: vigild-$n (pid ${vigild_pids[n - 1]}) exited. Start it again" \
          "(in another terminal; stop it with Ctrl-C there): $vigild --config" \
          "$work/vigild-$n/vigil.yaml"
      fi
      if ! kill -0 "${nats_pids[n - 1]}" 2>/dev/null && [[ "$reported" != *" n$n "* ]]; then
        reported+="n$n "
        echo "run-cluster: nats-$n (pid ${nats_pids[n - 1]}) exited. Start it again" \
          "(in another terminal): $nats_server -c $work/nats-$n/nats.conf"
      fi
    done
    sleep 1
  done
  echo "run-cluster: stopping" >&2
  exit 0
fi

# --- smoke: readings written through vigild-1 are read back from vigild-2 and
# vigild-3 (each applies the whole stream into its own RocksDB); vigild-3 killed
# (-9) misses readings written through vigild-2, and has them after its restart
# (it replays the stream from its checkpoint); the three alarm journals agree.
readable() {  # readable N SENSOR VALUE: vigild-N serves it (bounded: 10 s)
  for _ in $(seq 1 100); do
    if "$vigilctl" --utc --server "${grpc[$1 - 1]}" readings "$2" --since 10m 2>/dev/null |
      grep -Eq "[[:space:]]$3([[:space:]]|\$)"; then
      return 0
    fi
    [ "$stopping" = 1 ] && exit 130
    sleep 0.1
  done
  die "smoke: $2 = $3 not readable at vigild-$1"
}
send() {  # send N GATEWAY SENSOR VALUE: one reading through vigild-N, acked
  "$send_reading" --server "${grpc[$1 - 1]}" "$2" "$3" "$4" >/dev/null ||
    die "smoke: send_reading $3 through vigild-$1 failed"
}
# same_journals: the three alarm journals agree, seq by seq, on every event all
# of them hold (a node may be a tick ahead), and hold the methane alarm (bounded: 10 s).
same_journals() {
  local n
  for _ in $(seq 1 50); do
    for n in "${nodes[@]}"; do
      "$vigilctl" --server "${grpc[n - 1]}" alarms history --since 1h --json \
        >"$work/journal-$n.json" 2>/dev/null || true
    done
    if /usr/bin/python3 - "$work" <<'PY'
import json, sys
journals = []
for n in (1, 2, 3):
    with open(f"{sys.argv[1]}/journal-{n}.json") as f:
        events = [json.loads(line) for line in f if line.strip()]
    journals.append({e["seq"]: e for e in events if e.get("type") == "event"})
common = min(max(j, default=0) for j in journals)
ok = all(set(range(1, common + 1)) <= set(j) for j in journals)
ok = ok and all(j[s] == journals[0][s] for j in journals for s in range(1, common + 1))
ok = ok and any(journals[0][s]["alarm"]["sensor_id"] == "s-370883-001-ch4-wf3101"
                and journals[0][s]["kind"] == "raised" for s in range(1, common + 1))
print(f"smoke: the alarm journals agree through seq {common}" if ok else "", end="")
sys.exit(0 if ok else 1)
PY
    then
      echo
      return 0
    fi
    [ "$stopping" = 1 ] && exit 130
    sleep 0.2
  done
  die "smoke: the nodes' alarm journals differ ($work/journal-*.json)"
}
# One reading per gateway: send_reading numbers its batch 1 of an epoch of the
# current second, so a second batch of one gateway within a second is a duplicate.
send 1 gw-370105-001 s-370105-001-lt101 7.25
send 1 gw-370305-001 s-370305-001-tt201 21.5
# 1.8 %CH4 at a coal face: a red alarm (deploy/rules.yaml, ch4-coal-face).
send 1 gw-370883-001 s-370883-001-ch4-wf3101 1.8
for n in 2 3; do
  readable "$n" s-370105-001-lt101 7.25
  readable "$n" s-370305-001-tt201 21.5
  readable "$n" s-370883-001-ch4-wf3101 1.8
  echo "smoke: vigild-$n reads the 3 readings written through vigild-1"
done
kill -KILL "${vigild_pids[2]}"
{ wait "${vigild_pids[2]}"; } 2>/dev/null || true
send 2 gw-370685-001 s-370685-001-wl-01 3.5
readable 1 s-370685-001-wl-01 3.5
start_vigild 3
wait_vigild 3
readable 3 s-370685-001-wl-01 3.5
readable 3 s-370105-001-lt101 7.25
echo "smoke: vigild-3, killed (-9) and restarted, reads what vigild-2 acked meanwhile"
# Numbered alike at every node (same stream, same server.shards), also after
# vigild-3's restart: a command center may resume by seq at any node.
same_journals
if grep -h "Violation" "$work"/nats-*/nats.log >&2; then
  die "smoke: NATS refused a subject to vigild (deploy/cluster/nats/auth.conf)"
fi
echo "smoke: no NATS permission violation"
echo "smoke: ok"
