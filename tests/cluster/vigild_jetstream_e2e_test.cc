// End to end: the real vigild with its ingest log on a real nats-server
// (ingest_log.backend: jetstream). Acked readings survive kill -9 of vigild:
// after the restart they are replayed from the stream into the shards' heads
// (no chunk was sealed: they are nowhere else), and a resend is a duplicate.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "tests/cluster/cluster_e2e_support.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/nats_cluster.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

v1::IngestBatch Batch(uint64_t sequence, int64_t t0) {
  v1::IngestBatch batch;
  batch.set_gateway_id("gw-1");
  batch.set_epoch(1);
  batch.set_sequence(sequence);
  for (const char* sensor : {"s-1", "s-2"}) {
    v1::Series* series = batch.add_series();
    series->set_sensor_id(sensor);
    for (int i = 0; i < 3; ++i) {
      series->add_timestamps_ms(t0 + int64_t{1000} * i);
      series->add_values(static_cast<double>(sequence) + 0.25 * i);
    }
  }
  return batch;
}

TEST_CASE("vigild on JetStream: acked readings survive kill -9, replayed from the stream",
          "[cluster][e2e]") {
  testing::TempDir dir;
  testing::NatsCluster nats(dir / "nats", 1);
  VigildProcess::Options options;
  // Chunks seal only at 4096 readings: everything below stays in the heads,
  // so after kill -9 only the stream's replay can bring it back.
  options.config_yaml =
      JetStreamConfig(nats.urls(), "storage: { durability: wal, chunk_max_readings: 4096 }\n",
                      "  append_timeout: 2s\n");
  options.registry_yaml = kPlantRegistryYaml;
  VigildProcess vigild(options);
  vigild.Start();

  const int64_t t0 = NowMs() - 200'000;  // every reading in the past
  constexpr uint64_t kBatches = 10;
  for (uint64_t seq = 1; seq <= kBatches; ++seq) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::IngestAck ack;
    const grpc::Status status =
        vigild.ingest().Write(&context, Batch(seq, t0 + static_cast<int64_t>(seq) * 10'000), &ack);
    INFO(status.error_message() << "\n" << vigild.Output());
    REQUIRE(status.ok());
    CHECK(ack.stored_readings() == 6);
    CHECK(!ack.duplicate());
  }
  vigild.Kill9();
  vigild.Restart();
  INFO(vigild.Output());
  CHECK(vigild.Output().find("ingest_log_jetstream") != std::string::npos);

  for (const char* sensor : {"s-1", "s-2"}) {
    const std::vector<Reading> readings = ReadAll(vigild.query(), sensor, t0, NowMs() + 1000);
    REQUIRE(readings.size() == 3 * kBatches);
    for (uint64_t seq = 1; seq <= kBatches; ++seq) {
      for (int i = 0; i < 3; ++i) {
        const Reading& r = readings[(seq - 1) * 3 + static_cast<size_t>(i)];
        CHECK(r.ts == t0 + static_cast<int64_t>(seq) * 10'000 + int64_t{1000} * i);
        CHECK(r.value == static_cast<double>(seq) + 0.25 * i);
      }
    }
  }
  // The watermark came back from the stream: a resend is a duplicate.
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::IngestAck ack;
  REQUIRE(vigild.ingest().Write(&context, Batch(kBatches, t0), &ack).ok());
  CHECK(ack.duplicate());
}

TEST_CASE("vigild --check-config refuses a jetstream ingest log without nats_urls",
          "[cluster][e2e]") {
  testing::TempDir dir;
  const auto config = dir / "vigil.yaml";
  {
    std::ofstream out(config);
    out << "ingest_log: { backend: jetstream }\n";
  }
  RunResult r = RunVigild({"--config", config.string(), "--check-config"});
  INFO(r.output);
  CHECK(!r.status.ExitedWith(0));
  CHECK(r.output.find("nats_urls") != std::string::npos);
}

}  // namespace
}  // namespace vigil::e2e
