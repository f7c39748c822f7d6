// What the cluster e2e tests share: one plant's registry, a write that must
// succeed, bounded polls of a node's readings, and a node's whole journal.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/e2e/vigild_process.h"

namespace vigil::e2e {

// Plant One (e-1) with a temperature sensor s-1, a pressure sensor s-2 and gateway gw-1.
inline constexpr char kPlantRegistryYaml[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200], expected_interval: 10s }
  - { id: s-2, enterprise: e-1, quantity: pressure, unit: MPa, range: [0, 4], expected_interval: 10s }
gateways:
  - { id: gw-1, enterprise: e-1 }
)";

// One rule for the plant: s-1 above 100 (severity 2).
inline constexpr char kPlantRulesYaml[] = R"(rules:
  - id: temperature-high
    select: { sensor: s-1 }
    levels:
      h: { value: 100, severity: 2 }
    sensor_fault: off
)";

// A vigild config on the JetStream stream of the NATS nodes `urls`:
// `extra` (whole YAML lines) first, then the ingest_log section (`log_extra`:
// more of its keys, each "  key: value\n"). With `rules_yaml`, it is written
// to dir/rules.yaml and named by rules_file.
inline std::string JetStreamConfig(const std::vector<std::string>& urls,
                                   const std::string& extra = "", const std::string& log_extra = "",
                                   const std::filesystem::path& dir = {},
                                   std::string_view rules_yaml = {}) {
  std::string config;
  if (!rules_yaml.empty()) {
    std::ofstream(dir / "rules.yaml") << rules_yaml;
    config += "rules_file: " + (dir / "rules.yaml").string() + "\n";
  }
  config += extra;
  config += "ingest_log:\n  backend: jetstream\n  nats_urls: [";
  for (size_t i = 0; i < urls.size(); ++i) config += (i == 0 ? "\"" : ", \"") + urls[i] + "\"";
  config += "]\n" + log_extra;
  return config;
}

// Ingest.Write to `node`; the test fails unless it is ok.
inline v1::IngestAck Write(VigildProcess& node, const v1::IngestBatch& batch) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::IngestAck ack;
  const grpc::Status status = node.ingest().Write(&context, batch, &ack);
  INFO(status.error_message() << "\n" << node.Output());
  REQUIRE(status.ok());
  return ack;
}

// Polls `node` (30 s at most) until `sensor` holds `count` readings from t0
// on; returns what it holds then.
inline std::vector<Reading> AwaitReadings(VigildProcess& node, const char* sensor, int64_t t0,
                                          size_t count) {
  std::vector<Reading> readings;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    readings = ReadAll(node.query(), sensor, t0, NowMs() + 1000);
    if (readings.size() >= count) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  return readings;
}

// Every event of `node`'s alarm journal (Alarms.History, one page), by time.
inline std::vector<v1::AlarmEvent> JournalEvents(VigildProcess& node) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::HistoryRequest request;
  request.set_from_ms(0);
  request.set_to_ms(NowMs() + 3'600'000);
  v1::HistoryResponse response;
  const grpc::Status status = node.alarms().History(&context, request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return {response.events().begin(), response.events().end()};
}

}  // namespace vigil::e2e
