// End-to-end: /metrics serves what the ingest path counted, in a form
// Prometheus accepts (promtool check metrics, when promtool is installed).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "tests/e2e/external_process.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
gateways:
  - { id: gw-1, enterprise: e-1 }
)";

TEST_CASE("Metrics endpoint counts stored, duplicate and rejected readings", "[e2e][metrics]") {
  VigildProcess vigild(
      {.config_yaml = "storage: { durability: wal }\n", .registry_yaml = kRegistry});
  vigild.Start();
  REQUIRE_FALSE(vigild.metrics_address().empty());

  const int64_t now = NowMs();
  v1::IngestBatch batch;
  batch.set_gateway_id("gw-1");
  batch.set_epoch(1);
  batch.set_sequence(1);
  v1::Series* good = batch.add_series();
  good->set_sensor_id("s-1");
  for (int i = 0; i < 10; ++i) {
    good->add_timestamps_ms(now - 1000 + i);
    good->add_values(20.0 + i);
  }
  good->add_timestamps_ms(now);
  good->add_values(std::nan(""));
  v1::Series* unknown = batch.add_series();
  unknown->set_sensor_id("nope");
  unknown->add_timestamps_ms(now);
  unknown->add_values(1.0);
  for (int attempt = 0; attempt < 2; ++attempt) {  // the second is a duplicate
    grpc::ClientContext context;
    v1::IngestAck ack;
    REQUIRE(vigild.ingest().Write(&context, batch, &ack).ok());
    CHECK(ack.duplicate() == (attempt == 1));
  }

  // Buffered bytes drain to zero once the shards have the batch (bounded poll).
  std::string text = HttpGetMetrics(vigild.metrics_address());
  for (int i = 0; i < 200 && Sample(text, "vigil_ingest_buffered_bytes") != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    text = HttpGetMetrics(vigild.metrics_address());
  }
  CHECK(Sample(text, "vigil_ingest_buffered_bytes") == 0);
  CHECK(Sample(text, "vigil_ingest_refused_overload_total") == 0);
  CHECK(Sample(text, "vigil_readings_ingested_total") == 10);
  CHECK(Sample(text, "vigil_batches_ingested_total") == 1);
  CHECK(Sample(text, "vigil_batches_duplicate_total") == 1);
  CHECK(Sample(text, R"(vigil_readings_rejected_total{reason="non_finite_value"})") == 1);
  CHECK(Sample(text, R"(vigil_readings_rejected_total{reason="unknown_sensor"})") == 1);
  CHECK(Sample(text, R"(vigil_readings_rejected_total{reason="batch_too_large"})") == 0);
  CHECK(Sample(text, "vigil_ingest_durable_latency_seconds_count") == 2);
  CHECK(Sample(text, "vigil_storage_failed") == 0);
  CHECK(Sample(text, "vigil_readings_in_heads") == 10);
  CHECK(Sample(text, "vigil_data_dir_free_bytes") > 0);
  CHECK(Sample(text, "vigil_rocksdb_write_stopped") == 0);
  CHECK(Sample(text, "process_resident_memory_bytes") > 1e6);
  CHECK(Sample(text, "process_open_fds") > 3);
  CHECK(Sample(text, "process_cpu_seconds_total") > 0);
  CHECK(text.find("vigil_build_info{version=") != std::string::npos);
  CHECK(text.find("vigil_shard_queue_tasks{shard=\"0\"}") != std::string::npos);

  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    WARN("promtool not installed: exposition format not linted");
    return;
  }
  testing::TempDir dir;
  const auto scrape = dir / "scrape.txt";
  std::ofstream(scrape) << text;
  const std::string lint = "promtool check metrics < " + scrape.string() + " 2>&1";
  FILE* pipe = popen(lint.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string lint_output;
  char buf[512];
  while (fgets(buf, sizeof buf, pipe) != nullptr) lint_output += buf;
  const int status = pclose(pipe);
  INFO(lint_output);
  CHECK(status == 0);
}

}  // namespace
}  // namespace vigil::e2e

namespace vigil::e2e {
namespace {

TEST_CASE("Metrics show how long each shard's last checkpoint held it", "[e2e][metrics]") {
  VigildProcess vigild(
      {.config_yaml = "server: { shards: 2 }\nstorage: { checkpoint_interval: 1s }\n",
       .registry_yaml = kRegistry});
  vigild.Start();
  std::string text = HttpGetMetrics(vigild.metrics_address());
  // 0 until a checkpoint ran; one runs every second (bounded poll: 10 s).
  for (int i = 0; i < 100 && (Sample(text, R"(vigil_shard_checkpoint_seconds{shard="0"})") <= 0 ||
                              Sample(text, R"(vigil_shard_checkpoint_seconds{shard="1"})") <= 0);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    text = HttpGetMetrics(vigild.metrics_address());
  }
  for (const char* shard : {"0", "1"}) {
    CAPTURE(shard);
    const double took =
        Sample(text, std::string(R"(vigil_shard_checkpoint_seconds{shard=")") + shard + "\"}");
    CHECK(took > 0);
    CHECK(took < 5);
  }
}

TEST_CASE(
    "Alarm rules from the rules file raise and clear alarms, counted in /metrics with the "
    "delivery latency of each event to a subscriber",
    "[e2e][metrics][alarm]") {
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << R"(rules:
  - id: tank-temperature
    select: { sensor: s-1 }
    levels:
      h: { value: 50, severity: 2 }
    sensor_fault: off
    no_data: off
)";
  VigildProcess vigild({.config_yaml = "rules_file: " + (dir / "rules.yaml").string() + "\n",
                        .registry_yaml = kRegistry});
  vigild.Start();
  // A command center watching: it gets the snapshot (nothing open), then the
  // raise and the clear, each counted once in the delivery latency.
  grpc::ClientContext watch_context;
  auto watch = vigild.alarms().Subscribe(&watch_context, v1::SubscribeRequest());
  v1::AlarmStreamMessage message;
  REQUIRE(watch->Read(&message));
  REQUIRE(message.has_snapshot());

  const int64_t now = NowMs();
  const double values[] = {20, 60, 20};
  for (int i = 0; i < 3; ++i) {
    v1::IngestBatch batch;
    batch.set_gateway_id("gw-1");
    batch.set_epoch(1);
    batch.set_sequence(static_cast<uint64_t>(i + 1));
    v1::Series* series = batch.add_series();
    series->set_sensor_id("s-1");
    series->add_timestamps_ms(now - 10'000 + i * 1000);
    series->add_values(values[i]);
    grpc::ClientContext context;
    v1::IngestAck ack;
    REQUIRE(vigild.ingest().Write(&context, batch, &ack).ok());
    REQUIRE(ack.stored_readings() == 1);
  }
  // Shards evaluate after the ack: poll (bounded) until the clear is counted.
  const std::string cleared = R"(vigil_alarm_events_total{event="cleared",alarm="threshold"})";
  std::string text = HttpGetMetrics(vigild.metrics_address());
  for (int i = 0; i < 200 && Sample(text, cleared) != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    text = HttpGetMetrics(vigild.metrics_address());
  }
  CHECK(Sample(text, R"(vigil_alarm_events_total{event="raised",alarm="threshold"})") == 1);
  CHECK(Sample(text, cleared) == 1);
  // Cleared but not acknowledged: still open (ISA-18.2), at the alarm's severity.
  CHECK(Sample(text, R"(vigil_alarms_open{severity="2"})") == 1);
  CHECK(Sample(text, R"(vigil_alarms_open{severity="1"})") == 0);
  CHECK(vigild.Output().find("transition=raised alarm=threshold") != std::string::npos);

  for (v1::AlarmEventKind kind : {v1::ALARM_EVENT_KIND_RAISED, v1::ALARM_EVENT_KIND_CLEARED}) {
    do {
      REQUIRE(watch->Read(&message));
    } while (message.has_heartbeat());
    REQUIRE(message.has_event());
    CHECK(message.event().kind() == kind);
  }
  // The write completion is counted just after the client has the message.
  const std::string delivered = "vigil_alarm_delivery_latency_seconds_count";
  for (int i = 0; i < 200 && Sample(text, delivered) != 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    text = HttpGetMetrics(vigild.metrics_address());
  }
  CHECK(Sample(text, delivered) == 2);
  CHECK(Sample(text, R"(vigil_alarm_delivery_latency_seconds_bucket{le="+Inf"})") == 2);
  CHECK(Sample(text, "vigil_alarm_delivery_latency_seconds_sum") > 0);
  watch_context.TryCancel();
}

}  // namespace
}  // namespace vigil::e2e
