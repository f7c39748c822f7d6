# Sourced by the bench scripts: starts one vigild on a temp folder and cleans
# up on exit. Before sourcing set `build` (build folder) and `bench_config`
# (extra YAML lines, may be empty); afterwards $work, $server_pid, $target
# (gRPC host:port) and $metrics (/metrics host:port) are set. Every wait is
# bounded (30 s for the start).
vigild="$build/server/vigild"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cat > "$work/vigild.yaml" <<CFG
server: { listen: "127.0.0.1:0", metrics_listen: "127.0.0.1:0" }
$bench_config
CFG
"$vigild" --config "$work/vigild.yaml" --data-dir "$work/data" > "$work/vigild.out" 2> "$work/vigild.err" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q 'vigild listening grpc=' "$work/vigild.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/vigild.err" >&2; exit 1; }
  sleep 0.1
done
line="$(grep -m1 'vigild listening grpc=' "$work/vigild.out" || true)"
[ -n "$line" ] || { echo "vigild did not start within 30 s" >&2; exit 1; }
target="$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' <<<"$line")"
metrics="$(sed -n 's/.*metrics=\([^ ]*\).*/\1/p' <<<"$line")"
