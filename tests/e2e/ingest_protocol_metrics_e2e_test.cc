// End-to-end: the ingest metrics split by protocol
// (vigil_ingest_protocol_{batches,readings}_total{protocol,outcome}) and the
// HTTP listener's refusals by status (vigil_http_refusals_total{status}).
// MQTT's share is checked in mqtt_ingest_e2e_test.cc.
#include <catch2/catch.hpp>
#include <string>

#include "tests/e2e/external_process.h"
#include "tests/e2e/vigild_process.h"

namespace vigil::e2e {
namespace {

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
gateways:
  - { id: gw-1, enterprise: e-1 }
)";

std::string HttpAddress(const VigildProcess& proc) {
  const std::string out = proc.Output();
  const size_t at = out.rfind(" http=");
  REQUIRE(at != std::string::npos);
  const size_t end = out.find_first_of(" \n", at + 6);
  return out.substr(at + 6, end - at - 6);
}

TEST_CASE("Ingest metrics are split by protocol, and HTTP refusals are counted by status",
          "[e2e][metrics][http]") {
  VigildProcess proc({.config_yaml = "storage: { durability: wal }\nhttp: { listen: "
                                     "\"127.0.0.1:0\" }\n",
                      .registry_yaml = kRegistry});
  const std::string server = proc.Start();
  const std::string http = HttpAddress(proc);
  const int64_t t0 = NowMs() - 60'000;
  const std::string ts = std::to_string(t0);

  // gRPC: two readings, one rejected.
  CHECK(
      RunVigilctl({"--server", server, "send", "s-1=1", "nope=2", "--gateway", "gw-1", "--at", ts})
          .code == 1);
  // HTTP JSON: stored, then the same batch again (duplicate).
  const std::string json = R"({"gateway_id":"gw-1","epoch":1,"sequence":1,"series":[)"
                           R"({"sensor_id":"s-1","timestamps_ms":[)" +
                           std::to_string(t0 + 1) + R"(],"values":[2]}]})";
  // The epoch of vigilctl's batch is now-ish, far above 1: use a larger one.
  std::string json_batch = json;
  json_batch.replace(json_batch.find("\"epoch\":1"), 9, "\"epoch\":" + std::to_string(NowMs() * 2));
  CHECK(HttpRequest("POST", http, "/api/v1/ingest", json_batch).status == 200);
  CHECK(HttpRequest("POST", http, "/api/v1/ingest", json_batch).status == 200);
  // Line protocol: three readings.
  CHECK(HttpRequest("POST", http, "/write?gateway=gw-1&precision=ms",
                    "s-1 value=3 " + std::to_string(t0 + 2) + "\ns-1 value=4 " +
                        std::to_string(t0 + 3) + "\ns-1 value=5 " + std::to_string(t0 + 4) + "\n")
            .status == 204);
  // Refusals: malformed JSON, an unknown route, a wrong method.
  CHECK(HttpRequest("POST", http, "/api/v1/ingest", "{\"gateway_id\":").status == 400);
  CHECK(HttpRequest("POST", http, "/nowhere", "").status == 404);
  CHECK(HttpRequest("GET", http, "/write").status == 405);

  const std::string m = HttpGetMetrics(proc.metrics_address());
  const auto batches = [&](const char* protocol, const char* outcome) {
    return Sample(m, std::string("vigil_ingest_protocol_batches_total{protocol=\"") + protocol +
                         "\",outcome=\"" + outcome + "\"}");
  };
  const auto readings = [&](const char* protocol, const char* outcome) {
    return Sample(m, std::string("vigil_ingest_protocol_readings_total{protocol=\"") + protocol +
                         "\",outcome=\"" + outcome + "\"}");
  };
  CHECK(batches("grpc", "stored") == 1);
  CHECK(readings("grpc", "stored") == 1);
  CHECK(readings("grpc", "rejected") == 1);
  CHECK(batches("http_json", "stored") == 1);
  CHECK(batches("http_json", "duplicate") == 1);
  CHECK(readings("http_json", "stored") == 1);
  CHECK(batches("line_protocol", "stored") == 1);
  CHECK(readings("line_protocol", "stored") == 3);
  CHECK(batches("mqtt", "stored") == 0);
  // The unlabelled totals still count every protocol.
  CHECK(Sample(m, "vigil_readings_ingested_total") == 5);
  CHECK(Sample(m, "vigil_http_refusals_total{status=\"400\"}") == 1);
  CHECK(Sample(m, "vigil_http_refusals_total{status=\"404\"}") == 1);
  CHECK(Sample(m, "vigil_http_refusals_total{status=\"405\"}") == 1);
  CHECK(Sample(m, "vigil_http_refusals_total{status=\"429\"}") == 0);
  REQUIRE(proc.Terminate().ExitedWith(0));
}

}  // namespace
}  // namespace vigil::e2e
