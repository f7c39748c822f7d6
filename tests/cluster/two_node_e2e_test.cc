// End to end: two real vigild nodes sharing one JetStream ingest stream (the
// cluster's replicated ingest path, issue 23). Each node applies every
// node's batches from the stream into its own RocksDB, so either answers
// for any sensor; an alarm raised by a batch sent to one node is raised at
// both; an operator action taken at one reaches the other; resends through
// the other node store nothing twice; and a node killed with kill -9 catches
// up from the stream with what the other stored meanwhile.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster/nats_client.h"
#include "tests/cluster/cluster_e2e_support.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/nats_cluster.h"
#include "tests/testing/temp_dir.h"
#include "vigil/v1/admin.grpc.pb.h"
#include "vigil/v1/rules.grpc.pb.h"

namespace vigil::e2e {
namespace {

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
  VigildProcess::Options options;
  options.config_yaml =
      JetStreamConfig(nats.urls(), "storage: { durability: wal, chunk_max_readings: 4096 }\n",
                      "  append_timeout: 2s\n", dir.path(), kPlantRulesYaml);
  options.registry_yaml = kPlantRegistryYaml;
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

  // Metrics: A's appends were acknowledged (timed), and both nodes applied
  // the stream through the same sequence.
  {
    REQUIRE_FALSE(a.metrics_address().empty());
    const std::string at_a_text = HttpGetMetrics(a.metrics_address());
    CHECK(Sample(at_a_text, "vigil_writer_append_latency_seconds_count") >= kFirst);
    CHECK(Sample(at_a_text, "vigil_writer_groups_in_flight") >= 0);
    double seq_a = 0;
    double seq_b = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      seq_a = Sample(HttpGetMetrics(a.metrics_address()), "vigil_cluster_applied_stream_seq");
      seq_b = Sample(HttpGetMetrics(b.metrics_address()), "vigil_cluster_applied_stream_seq");
      if (seq_a == seq_b && seq_a >= kFirst) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(seq_a >= kFirst);
    CHECK(seq_b == seq_a);
  }

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

constexpr char kManySensorsRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: t-0, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200] }
  - { id: t-1, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200] }
  - { id: t-2, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200] }
  - { id: t-3, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200] }
  - { id: t-4, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200] }
  - { id: t-5, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200] }
  - { id: t-6, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200] }
  - { id: t-7, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200] }
gateways:
  - { id: gw-1, enterprise: e-1 }
)";

constexpr char kTemperatureRule[] = R"(rules:
  - id: temperature-high
    select: { quantity: temperature, enterprise: e-1 }
    levels:
      h: { value: 100, severity: 2 }
    sensor_fault: off
)";

struct JournalLine {
  uint64_t seq;
  uint64_t alarm_id;
  int kind;
  std::string sensor;
  int64_t reading_at;
  bool operator==(const JournalLine&) const = default;
};

std::vector<JournalLine> Journal(VigildProcess& node) {
  std::vector<JournalLine> out;
  for (const v1::AlarmEvent& e : JournalEvents(node)) {
    out.push_back({e.seq(), e.alarm().alarm_id(), static_cast<int>(e.kind()), e.alarm().sensor_id(),
                   e.reading_at_ms()});
  }
  std::sort(out.begin(), out.end(),
            [](const JournalLine& x, const JournalLine& y) { return x.seq < y.seq; });
  return out;
}

TEST_CASE("Two vigild nodes on one stream number their alarm journals alike: resume at either",
          "[cluster][e2e]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  VigildProcess::Options options;
  // Four shards each: the sensors' events of one batch come from several
  // shards, which hand them to the journal in an order timing decides.
  options.config_yaml =
      JetStreamConfig(nats.urls(), "server: { shards: 4 }\n", "", dir.path(), kTemperatureRule);
  options.registry_yaml = kManySensorsRegistry;
  VigildProcess a(options);
  VigildProcess b(options);
  a.Start();
  b.Start();

  // Every batch moves every sensor: high and normal in turns, staggered, so
  // most batches raise some alarms and clear others, across the shards.
  constexpr uint64_t kBatches = 24;
  const int64_t t0 = NowMs() - 600'000;
  for (uint64_t seq = 1; seq <= kBatches; ++seq) {
    v1::IngestBatch batch;
    batch.set_gateway_id("gw-1");
    batch.set_epoch(1);
    batch.set_sequence(seq);
    for (int sensor = 0; sensor < 8; ++sensor) {
      v1::Series* series = batch.add_series();
      series->set_sensor_id("t-" + std::to_string(sensor));
      series->add_timestamps_ms(t0 + static_cast<int64_t>(seq) * 10'000);
      series->add_values((seq + static_cast<uint64_t>(sensor)) % 3 == 0 ? 150 : 20);
    }
    (void)Write(seq % 2 == 0 ? a : b, batch);
  }

  std::vector<JournalLine> at_a;
  std::vector<JournalLine> at_b;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    at_a = Journal(a);
    at_b = Journal(b);
    if (!at_a.empty() && at_a.size() == at_b.size() && at_a.back().seq >= 100) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  REQUIRE(at_a.size() > 100);
  CHECK(at_a == at_b);

  // A center that saw A's journal up to its middle resumes at B: the rest,
  // no gap, no duplicate.
  const uint64_t resume_after = at_a[at_a.size() / 2].seq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::SubscribeRequest request;
  request.set_after_seq(resume_after);
  auto reader = b.alarms().Subscribe(&context, request);
  std::vector<uint64_t> resumed;
  v1::AlarmStreamMessage message;
  while (resumed.size() < at_a.size() - at_a.size() / 2 - 1 && reader->Read(&message)) {
    if (message.has_event()) resumed.push_back(message.event().seq());
  }
  context.TryCancel();
  std::vector<uint64_t> expected;
  for (size_t i = at_a.size() / 2 + 1; i < at_a.size(); ++i) expected.push_back(at_a[i].seq);
  CHECK(resumed == expected);
}

TEST_CASE("A rules change made at one node is put in force at every node, at one place",
          "[cluster][e2e]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  VigildProcess::Options options;
  options.config_yaml =
      JetStreamConfig(nats.urls(), "", "", dir.path(), kPlantRulesYaml);  // s-1 only
  options.registry_yaml = kPlantRegistryYaml;
  VigildProcess a(options);
  VigildProcess b(options);
  a.Start();
  b.Start();

  // At A: a rule for s-2 (pressure). It travels the stream as a document.
  {
    auto rules = v1::RulesAdmin::NewStub(a.channel());
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::ApplyRulesRequest request;
    request.set_rules_yaml(
        "rules:\n"
        "  - id: pressure-high\n"
        "    select: { sensor: s-2 }\n"
        "    levels:\n"
        "      h: { value: 3, severity: 3 }\n"
        "    sensor_fault: off\n");
    v1::ApplyRulesResponse response;
    const grpc::Status status = rules->ApplyRules(&context, request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  // A batch sent to B after it: s-2 at 3.5 raises the new rule's alarm at B too.
  const int64_t t0 = NowMs() - 60'000;
  v1::IngestBatch batch = Batch(1, t0);
  for (v1::Series& series : *batch.mutable_series()) {
    if (series.sensor_id() != "s-2") continue;
    for (double& value : *series.mutable_values()) value = 3.5;
  }
  (void)Write(b, batch);
  for (VigildProcess* node : {&b, &a}) {
    const std::vector<v1::Alarm> alarms = AwaitAlarmState(*node, v1::ALARM_STATE_ACTIVE_UNACKED);
    INFO(node->Output());
    REQUIRE(alarms.size() == 1);
    CHECK(alarms[0].rule_id() == "pressure-high");
  }
  // B adopted the rules as its own: they are in force after its restart.
  b.Terminate();
  b.Restart();
  auto rules = v1::RulesAdmin::NewStub(b.channel());
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetRulesResponse response;
  REQUIRE(rules->GetRules(&context, v1::GetRulesRequest(), &response).ok());
  CHECK(response.rules_yaml().find("pressure-high") != std::string::npos);
}

// The stream's retention dropped what a new node would need: it starts, but
// never serves a gap -- NOT_SERVING, the metric, and a log line saying how to
// restore it -- while the node that applied everything serves on.
TEST_CASE("A node started past the stream's retention does not serve: NOT_SERVING, metric, log",
          "[cluster][e2e]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  VigildProcess::Options options;
  options.config_yaml =
      JetStreamConfig(nats.urls(), "", "  append_timeout: 2s\n", dir.path(), kPlantRulesYaml);
  options.registry_yaml = kPlantRegistryYaml;
  VigildProcess a(options);
  a.Start();
  const int64_t t0 = NowMs() - 600'000;
  for (uint64_t seq = 1; seq <= 3; ++seq) (void)Write(a, Batch(seq, t0));
  {
    cluster::NatsOptions no;
    no.urls = nats.urls();
    auto client = cluster::NatsClient::Connect(no);
    REQUIRE(client.has_value());
    auto js = (*client)->JetStream(nullptr);
    REQUIRE(js.has_value());
    REQUIRE(js_PurgeStream(js->get(), "VIGIL_INGEST", nullptr, nullptr) == NATS_OK);
  }
  VigildProcess b(options);
  b.Start();
  INFO(b.Output());
  bool serving = true;
  REQUIRE(HealthCheck(b.channel(), &serving).ok());
  CHECK_FALSE(serving);
  CHECK(Sample(HttpGetMetrics(b.metrics_address()), "vigil_cluster_retention_gap") == 1);
  CHECK(b.Output().find("ingest_log_gap") != std::string::npos);
  CHECK(b.Output().find("restore its data folder from a peer") != std::string::npos);
  // Still so a few health rounds later (the follower retries and stays out).
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  REQUIRE(HealthCheck(b.channel(), &serving).ok());
  CHECK_FALSE(serving);

  REQUIRE(HealthCheck(a.channel(), &serving).ok());
  CHECK(serving);
  CHECK(Write(a, Batch(4, t0)).stored_readings() == 4);
}

TEST_CASE("A node restored from a peer's backup applies the stream from the backup's checkpoint",
          "[cluster][e2e]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  VigildProcess::Options options;
  options.config_yaml = JetStreamConfig(nats.urls(), "storage: { checkpoint_interval: 1s }\n");
  options.registry_yaml = kPlantRegistryYaml;
  VigildProcess a(options);
  a.Start();
  const int64_t t0 = NowMs() - 600'000;
  for (uint64_t seq = 1; seq <= 5; ++seq) (void)Write(a, Batch(seq, t0));
  // A's applied state is saved beside its chunks (a few checkpoint rounds).
  const std::filesystem::path state = a.data_dir() / "jetstream" / "ingest_log.checkpoint";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!std::filesystem::exists(state) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(std::filesystem::exists(state));
  const std::filesystem::path backup = dir / "backup";
  {
    auto admin = v1::Admin::NewStub(a.channel());
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::CreateBackupRequest request;
    request.set_dir(backup.string());
    v1::CreateBackupResponse response;
    const grpc::Status status = admin->CreateBackup(&context, request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  CHECK(std::filesystem::exists(backup / "jetstream" / "ingest_log.checkpoint"));
  for (uint64_t seq = 6; seq <= 8; ++seq) (void)Write(a, Batch(seq, t0));

  // A new node started on the backup: A's readings before it from its
  // chunks, those after it from the stream; not the stream from its start.
  VigildProcess::Options restored = options;
  restored.data_dir = backup;
  VigildProcess c(restored);
  c.Start();
  INFO(c.Output());
  const std::vector<Reading> at_c = AwaitReadings(c, "s-2", t0, 16);
  CHECK(at_c == ReadAll(a.query(), "s-2", t0, NowMs() + 1000));
  CHECK(c.Output().find("event=ingest_log_replayed from_log_seq=0 ") == std::string::npos);
}

TEST_CASE("A registry change made at one node reaches every node: a new sensor is accepted at both",
          "[cluster][e2e]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  VigildProcess::Options options;
  options.config_yaml = JetStreamConfig(nats.urls());
  options.registry_yaml = kPlantRegistryYaml;
  VigildProcess a(options);
  VigildProcess b(options);
  a.Start();
  b.Start();
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::ApplyRegistryRequest request;
    v1::Sensor* sensor = request.mutable_upsert()->add_sensors();
    sensor->set_id("s-3");
    sensor->set_enterprise_id("e-1");
    sensor->set_quantity("level");
    sensor->set_unit("m");
    sensor->set_range_low(0);
    sensor->set_range_high(30);
    v1::ApplyRegistryResponse response;
    const grpc::Status status = a.admin().ApplyRegistry(&context, request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
  }
  // B learns s-3 from the stream (within moments): a batch naming it is stored there.
  const int64_t t0 = NowMs() - 60'000;
  v1::IngestBatch batch;
  batch.set_gateway_id("gw-1");
  batch.set_epoch(1);
  v1::Series* series = batch.add_series();
  series->set_sensor_id("s-3");
  series->add_timestamps_ms(t0);
  series->add_values(12.5);
  uint32_t stored = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (uint64_t seq = 1; stored == 0 && std::chrono::steady_clock::now() < deadline; ++seq) {
    batch.set_sequence(seq);
    stored = Write(b, batch).stored_readings();
    if (stored == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(b.Output());
  CHECK(stored == 1);
  for (VigildProcess* node : {&a, &b}) {
    const std::vector<Reading> readings = AwaitReadings(*node, "s-3", t0, 1);
    CHECK(readings.size() == 1);
  }
}

}  // namespace
}  // namespace vigil::e2e
