#!/usr/bin/env bash
# Installs the Debian 12 packages Vigil builds (and, with --test, tests) with,
# if any are missing. As root it runs apt-get; otherwise it prints the exact
# command and exits 1. Nothing is downloaded outside Debian's package archive.
set -euo pipefail

PACKAGES=(g++ cmake ninja-build pkg-config libboost-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc librocksdb-dev prometheus-cpp-dev catch2
  libyaml-cpp-dev libcli11-dev libbenchmark-dev libsystemd-dev libssl-dev libnats-dev
  rapidjson-dev zlib1g-dev nlohmann-json3-dev libjs-dygraphs libpaho-mqtt-dev)
# libcli11-dev: CLI11 (header-only), the command lines of vigild, vigilctl and the bench tools.
# libnats-dev: the NATS C client (3.4.1), linked by cluster/ (the ingest log on JetStream),
# so every build needs it; found through pkg-config (Debian's cnats CMake config is broken).
# rapidjson-dev: the JSON ingest body (server/http): a SAX reader that reports the exact byte
# offset of an error, validates UTF-8 while reading and fills the batch with no document tree
# (no allocation per reading); header-only. zlib1g-dev: gzip request bodies (line protocol).
# nlohmann-json3-dev: the web console's JSON (server/http/console*.cc): small documents built
# and read as trees, where a DOM is clearer than rapidjson's SAX; header-only.
# libjs-dygraphs: the console's trend plot (a time-series chart library), served by vigild
# from /usr/share/javascript/dygraphs, so the page needs nothing from npm or the network.
# libpaho-mqtt-dev: Eclipse Paho C (1.3.12), vigild's MQTT client (server/mqtt): its async
# client sends a QoS 1 PUBACK only after the message callback returns, which is how vigild
# holds the broker's ack until a batch is durable (docs/mqtt-ingest.md).
# Test tools: promtool (package prometheus) lints /metrics and the alert rules; the
# e2e tests run a real Prometheus and a real Alertmanager (prometheus-alertmanager);
# clang-14 with libclang-rt-14-dev builds and runs the libFuzzer targets (tests/fuzz);
# python3-yaml lints the deployment manifests (tests/deploy/check_shipped_configs.py);
# nats-server (2.9.10) runs the real JetStream nodes of tests/cluster and bench/cluster. It is a
# test package, not a build one: vigild's embedded default runs without NATS, and a cluster's
# NATS nodes are deployed on their own (not necessarily on the build machine). Its package
# enables a systemd service; the policy-rc.d guard below keeps it from starting here.
# python3-influxdb: InfluxDB's own Python client writes line protocol to vigild's /write
# (tests/e2e/http_ingest_e2e_test.cc); curl drives the JSON ingest there.
# chromium, chromium-driver and python3-selenium: the console's browser test
# (tests/e2e/console/console_browser_test.py, ctest label "browser"), headless.
# mosquitto (2.0.11) is the real broker the MQTT e2e tests start on a free loopback port
# (tests/testing/mosquitto_broker.h); mosquitto-clients (mosquitto_pub) and python3-paho-mqtt
# publish to it as gateways do, and deploy/examples/mqtt_gateway.py uses the latter. Like
# nats-server, its package enables a service; the policy-rc.d guard keeps it from starting.
# python3-grpcio and python3-protobuf run deploy/examples/grpc_gateway.py (tests/e2e/
# example_gateways_e2e_test.cc); its stubs come from protoc and grpc_python_plugin, built-in.
TEST_PACKAGES=(prometheus prometheus-alertmanager clang-14 libclang-rt-14-dev python3-yaml
  nats-server python3-influxdb curl chromium chromium-driver python3-selenium mosquitto
  mosquitto-clients python3-paho-mqtt python3-grpcio python3-protobuf)

wanted=("${PACKAGES[@]}")
[ "${1:-}" = "--test" ] && wanted+=("${TEST_PACKAGES[@]}")

missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Vigil needs these Debian packages: ${missing[*]}" >&2
  echo "Run as root:" >&2
  echo "  $cmd" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
# The prometheus, prometheus-alertmanager and nats-server packages would start their own daemons;
# the tests start their own instances on free ports instead.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  guard=/usr/sbin/policy-rc.d
fi
trap 'if [ -n "$guard" ]; then rm -f "$guard"; fi' EXIT
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
