// End-to-end: the example gateways of deploy/examples/ (Debian's
// /usr/bin/python3) against the real vigild. The HTTP ones start while vigild
// is down, the MQTT one while the broker is down: each buffers, resends with
// the same numbers once the server is there, and every batch is stored once.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <thread>

#include "tests/e2e/external_process.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/mosquitto_broker.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: s-2, enterprise: e-1, quantity: pressure, unit: MPa }
  - { id: s-3, enterprise: e-1, quantity: temperature, unit: degC }
gateways:
  - { id: gw-1, enterprise: e-1 }
)";

std::string Example(const std::string& name) {
  return std::string("/usr/bin/python3 ") + VIGIL_SOURCE_DIR + "/deploy/examples/" + name;
}

// A gateway run to its end (--count), in a thread: exit code and output.
class GatewayRun {
 public:
  explicit GatewayRun(std::string command)
      : thread_([this, c = std::move(command)] {
          FILE* p = popen(("timeout 90 " + c + " 2>&1").c_str(), "r");
          if (p == nullptr) return;
          char buf[4096];
          size_t n;
          while ((n = fread(buf, 1, sizeof buf, p)) > 0) output_.append(buf, n);
          const int rc = pclose(p);
          code_ = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
        }) {}
  ~GatewayRun() {
    if (thread_.joinable()) thread_.join();
  }
  // Waits for the gateway to exit; its exit code.
  int Wait() {
    thread_.join();
    return code_;
  }
  const std::string& output() const { return output_; }

 private:
  std::string output_;
  int code_ = -1;
  std::thread thread_;
};

size_t StoredSince(VigildProcess& proc, const std::string& sensor, int64_t from) {
  return ReadAll(proc.query(), sensor, from, NowMs() + 60'000).size();
}

TEST_CASE("Example HTTP gateways buffer while vigild is down and deliver every batch once",
          "[e2e][examples][http]") {
  const int http_port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(http_port);
  VigildProcess proc({.config_yaml = "storage: { durability: wal }\nhttp: { listen: "
                                     "\"127.0.0.1:" +
                                     std::to_string(http_port) + "\" }\n",
                      .registry_yaml = kRegistry});
  const int64_t t0 = NowMs() - 1000;
  GatewayRun json(Example("http_json_gateway.py") + " --url " + url +
                  " --gateway gw-1 --sensor s-1 --interval 0.2 --count 6");
  GatewayRun lines(Example("line_protocol_gateway.py") + " --url " + url +
                   " --gateway gw-1 --sensor s-2 --interval 0.2 --count 6");
  // Both read and buffer while nothing listens.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  proc.Start();
  const int json_code = json.Wait();
  const int lines_code = lines.Wait();
  INFO(json.output());
  INFO(lines.output());
  CHECK(json_code == 0);
  CHECK(lines_code == 0);
  CHECK(json.output().find("not acknowledged") != std::string::npos);  // it did buffer
  CHECK(StoredSince(proc, "s-1", t0) == 6);
  CHECK(StoredSince(proc, "s-2", t0) == 6);
  REQUIRE(proc.Terminate().ExitedWith(0));
}

TEST_CASE("Example MQTT gateway buffers while the broker is down, and the gRPC one delivers",
          "[e2e][examples][mqtt]") {
  testing::TempDir dir;
  testing::MosquittoBroker broker(dir / "broker");
  VigildProcess proc({.config_yaml = "storage: { durability: wal }\nmqtt:\n  broker: \"" +
                                     broker.url() +
                                     "\"\n  client_id: vigild-examples\n  reconnect_min: 100ms\n"
                                     "  reconnect_max: 500ms\n",
                      .registry_yaml = kRegistry});
  const std::string server = proc.Start();
  const int64_t t0 = NowMs() - 1000;

  GatewayRun grpc(Example("grpc_gateway.py") + " --server " + server +
                  " --gateway gw-1 --sensor s-3 --interval 0.1 --count 3");
  CHECK(grpc.Wait() == 0);
  INFO(grpc.output());
  CHECK(grpc.output().find("stored=1 duplicate=False rejected=0") != std::string::npos);
  CHECK(StoredSince(proc, "s-3", t0) == 3);

  broker.Stop();
  GatewayRun mqtt(Example("mqtt_gateway.py") +
                  " --broker 127.0.0.1:" + std::to_string(broker.port()) +
                  " --gateway gw-1 --sensor s-1 --interval 0.2 --count 6");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  broker.Restart();
  CHECK(mqtt.Wait() == 0);
  INFO(mqtt.output());
  INFO(proc.Output());
  // It heard vigild's answer to each batch on its ack topic.
  CHECK(mqtt.output().find("ack sequence=6 stored=1 duplicate=False rejected=0") !=
        std::string::npos);
  bool all = false;
  for (int i = 0; i < 200 && !all; ++i) {
    all = StoredSince(proc, "s-1", t0) == 6;
    if (!all) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(all);
  REQUIRE(proc.Terminate().ExitedWith(0));
}

}  // namespace
}  // namespace vigil::e2e
