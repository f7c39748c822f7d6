// End to end: two real vigild nodes sharing one JetStream ingest stream (the
// cluster's replicated ingest path, issue 23). Each node applies every
// node's batches from the stream into its own RocksDB, so either answers
// for any sensor; an alarm raised by a batch sent to one node is raised at
// both; an operator action taken at one reaches the other; resends through
// the other node store nothing twice; and a node killed with kill -9 catches
// up from the stream with what the other stored meanwhile.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/vigild_process.h"
#include "tests/testing/nats_cluster.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

constexpr char kRegistryYaml[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200], expected_interval: 10s }
  - { id: s-2, enterprise: e-1, quantity: pressure, unit: MPa, range: [0, 4], expected_interval: 10s }
gateways:
  - { id: gw-1, enterprise: e-1 }
)";

constexpr char kRulesYaml[] = R"(rules:
  - id: temperature-high
    select: { sensor: s-1 }
    levels:
      h: { value: 100, severity: 2 }
    sensor_fault: off
)";

// Batch `sequence`: 2 readings of s-1 and s-2, s-1 at `s1_value`.
v1::IngestBatch Batch(uint64_t sequence, int64_t t0, double s1_value = 20) {
  v1::IngestBatch batch;
  batch.set_gateway_id("gw-1");
  batch.set_epoch(1);
  batch.set_sequence(sequence);
  const int64_t at = t0 + static_cast<int64_t>(sequence) * 10'000;
  v1::Series* s1 = batch.add_series();
  s1->set_sensor_id("s-1");
  v1::Series* s2 = batch.add_series();
  s2->set_sensor_id("s-2");
  for (int i = 0; i < 2; ++i) {
    s1->add_timestamps_ms(at + 1000 * i);
    s1->add_values(s1_value);
    s2->add_timestamps_ms(at + 1000 * i);
    s2->add_values(static_cast<double>(sequence) / 10);
  }
  return batch;
}

v1::IngestAck Write(VigildProcess& node, const v1::IngestBatch& batch) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::IngestAck ack;
  const grpc::Status status = node.ingest().Write(&context, batch, &ack);
  INFO(status.error_message() << "\n" << node.Output());
  REQUIRE(status.ok());
  return ack;
}

// Polls `node` until `sensor` holds `count` readings (bounded); returns them.
std::vector<Reading> AwaitReadings(VigildProcess& node, const char* sensor, int64_t t0,
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

std::vector<v1::Alarm> Active(VigildProcess& node) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListActiveRequest request;
  v1::ListActiveResponse response;
  const grpc::Status status = node.alarms().ListActive(&context, request, &response);
  INFO(status.error_message());
  REQUIRE(status.ok());
  return {response.alarms().begin(), response.alarms().end()};
}

// Polls until `node` lists one open alarm in `state` (bounded).
std::vector<v1::Alarm> AwaitAlarmState(VigildProcess& node, v1::AlarmState state) {
  std::vector<v1::Alarm> alarms;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    alarms = Active(node);
    if (alarms.size() == 1 && alarms[0].state() == state) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  return alarms;
}

TEST_CASE("Two vigild nodes on one stream apply each other's batches, alarms and actions",
          "[cluster][e2e]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  {
    std::ofstream rules(dir / "rules.yaml");
    rules << kRulesYaml;
  }
  VigildProcess::Options options;
  options.config_yaml = "rules_file: " + (dir / "rules.yaml").string() +
                        "\n"
                        "storage: { durability: wal, chunk_max_readings: 4096 }\n"
                        "ingest_log:\n"
                        "  backend: jetstream\n"
                        "  nats_urls: [\"" +
                        nats.url(0) +
                        "\"]\n"
                        "  append_timeout: 2s\n";
  options.registry_yaml = kRegistryYaml;
  VigildProcess a(options);
  VigildProcess b(options);
  a.Start();
  b.Start();

  const int64_t t0 = NowMs() - 600'000;
  constexpr uint64_t kFirst = 10;
  for (uint64_t seq = 1; seq <= kFirst; ++seq)
    CHECK(Write(a, Batch(seq, t0)).stored_readings() == 4);

  // B applies what A stored: the same readings, read at B.
  const std::vector<Reading> at_a = ReadAll(a.query(), "s-2", t0, NowMs() + 1000);
  REQUIRE(at_a.size() == 2 * kFirst);
  const std::vector<Reading> at_b = AwaitReadings(b, "s-2", t0, 2 * kFirst);
  INFO(b.Output());
  CHECK(at_b == at_a);

  // A batch sent to B raises the alarm at both nodes.
  CHECK(Write(b, Batch(kFirst + 1, t0, 150)).stored_readings() == 4);
  const std::vector<v1::Alarm> raised_b = AwaitAlarmState(b, v1::ALARM_STATE_ACTIVE_UNACKED);
  const std::vector<v1::Alarm> raised_a = AwaitAlarmState(a, v1::ALARM_STATE_ACTIVE_UNACKED);
  REQUIRE(raised_b.size() == 1);
  REQUIRE(raised_a.size() == 1);
  CHECK(raised_a[0].sensor_id() == "s-1");
  CHECK(raised_a[0].rule_id() == raised_b[0].rule_id());
  CHECK(raised_a[0].raised_at_ms() == raised_b[0].raised_at_ms());
  CHECK(raised_a[0].trigger_value() == raised_b[0].trigger_value());

  // Acknowledged at A: A's caller hears the journaled event (its completion
  // met the entry applied from the stream), and B applies the same action.
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::AcknowledgeRequest request;
    request.set_alarm_id(raised_a[0].alarm_id());
    request.set_comment("seen on the wall screen");
    v1::AlarmActionResponse response;
    const grpc::Status status = a.alarms().Acknowledge(&context, request, &response);
    INFO(status.error_message() << "\n" << a.Output());
    REQUIRE(status.ok());
    CHECK(response.has_event());
  }
  CHECK(AwaitAlarmState(b, v1::ALARM_STATE_ACTIVE_ACKED).size() == 1);

  // The gateway resends everything through B: nothing is stored twice.
  for (uint64_t seq = 1; seq <= kFirst + 1; ++seq) {
    (void)Write(b, Batch(seq, t0, seq == kFirst + 1 ? 150 : 20));
  }
  CHECK(Write(a, Batch(kFirst + 2, t0, 150)).stored_readings() == 4);  // a marker after them
  for (VigildProcess* node : {&a, &b}) {
    const std::vector<Reading> readings = AwaitReadings(*node, "s-2", t0, 2 * (kFirst + 2));
    CHECK(readings.size() == 2 * (kFirst + 2));
  }

  // B killed; A stores more; B restarted catches up from the stream.
  b.Kill9();
  constexpr uint64_t kLast = kFirst + 6;
  for (uint64_t seq = kFirst + 3; seq <= kLast; ++seq) (void)Write(a, Batch(seq, t0, 150));
  b.Restart();
  const std::vector<Reading> after = AwaitReadings(b, "s-2", t0, 2 * kLast);
  const std::vector<Reading> at_a_after = ReadAll(a.query(), "s-2", t0, NowMs() + 1000);
  INFO(b.Output());
  CHECK(after.size() == 2 * kLast);
  CHECK(after == at_a_after);
  // Still raised and acknowledged (s-1 stayed high), at both.
  CHECK(AwaitAlarmState(b, v1::ALARM_STATE_ACTIVE_ACKED).size() == 1);
  CHECK(Active(a).size() == 1);
}

}  // namespace
}  // namespace vigil::e2e
