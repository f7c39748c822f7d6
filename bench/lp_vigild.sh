# Sourced by the bench scripts that send a shared/peers line-protocol file to
# vigild over HTTP (http_write_vs_vm.sh, protocols_same_data.sh). Needs
# $vigild, $vigil_load, $data, $workers and $batch set.
#
# start_lp_vigild DIR [YAML]: a fresh vigild in DIR (durability wal, the HTTP
# listener with the sensor_id tag as sensor id, http.threads $HTTP_THREADS
# (default 1), YAML lines appended), its registry made from $data (untimed, as
# vigil-load --register-only --lp-group block). Sets server_pid, grpc and http
# (host:port). Bounded: 30 s for the start, 600 s for the registry.
start_lp_vigild() {
  local d=$1
  mkdir -p "$d"
  cat >"$d/vigild.yaml" <<YAML
storage: { durability: wal }
http:
  listen: 127.0.0.1:0
  threads: ${HTTP_THREADS:-1}
  line_protocol: { sensor_id: "{sensor_id}" }
${2:-}
YAML
  "$vigild" --config "$d/vigild.yaml" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    --data-dir "$d/data" >"$d/out" 2>"$d/err" &
  server_pid=$!
  for ((i = 0; i < 300; i++)); do
    grep -q 'vigild listening' "$d/out" && break
    sleep 0.1
  done
  grpc=$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' "$d/out")
  http=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' "$d/out")
  [[ -n $grpc && -n $http ]] || { tail -n 20 "$d/err" >&2; exit 1; }
  timeout -k 10 600 "$vigil_load" --target "$grpc" --lp-file "$data" --lp-group block \
    --lp-streams "$workers" --connections "$workers" --readings-per-batch "$batch" \
    --register-only >"$d/register.txt"
}
