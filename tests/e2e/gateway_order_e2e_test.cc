// End-to-end: what a gateway sees when batches fail and when its numbering
// goes wrong. A stream refused for low disk ends (and frees its slot, so
// vigild still stops on SIGTERM); a gateway streaming through a disk that
// fills and frees again ends with every acked reading stored once; an epoch
// below the stored one is refused, and the gateway can read its watermark.
// The disk tests mount a tmpfs and need root; elsewhere they WARN and return.
#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/small_disk.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-2, name: Plant Two, kind: coal_mine, region_code: "320102" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
gateways:
  - { id: gw-1, enterprise: e-1 }
  - { id: gw-2, enterprise: e-2 }
)";

// Tokens: gw-1's is "gw-1-secret"; "jinan-secret" is a viewer of 3701.
constexpr char kTokens[] = R"(auth:
  tokens:
    - { name: gw-1, role: gateway, gateway: gw-1,
        sha256: 20dd623888ec143a675e3ca131b36f82232c1728f0caa389a39b091240bd54d6 }
    - { name: jinan, region: "3701", role: viewer,
        sha256: 94beec19424be60cbfc16ea69f423ad548b050b894a35cb694f8cea5d2b27d0f }
)";

v1::IngestBatch Batch(uint64_t epoch, uint64_t sequence, int64_t base_ms) {
  v1::IngestBatch batch;
  batch.set_gateway_id("gw-1");
  batch.set_epoch(epoch);
  batch.set_sequence(sequence);
  v1::Series* series = batch.add_series();
  series->set_sensor_id("s-1");
  series->add_timestamps_ms(base_ms + static_cast<int64_t>(sequence));
  series->add_values(static_cast<double>(sequence));
  return batch;
}

double StreamsOpen(VigildProcess& vigild) {
  return Sample(HttpGetMetrics(vigild.metrics_address()), "vigil_ingest_streams_open");
}

// Polls until no ingest stream is open (bounded: 10 s); true when none is.
bool StreamsClose(VigildProcess& vigild) {
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    if (StreamsOpen(vigild) == 0) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

TEST_CASE("A stream refused for low disk ends, frees its slot, and vigild still stops on SIGTERM",
          "[e2e][gateway_order][faults]") {
  testing::TempDir dir;
  SmallDisk disk(dir / "disk", "64m");
  if (!disk.mounted()) {
    WARN("not root: cannot mount a tmpfs; storage_writer_test covers the writer's part");
    return;
  }
  // The floor is above the whole disk: every batch is refused for space.
  VigildProcess vigild({.config_yaml = std::string("storage:\n  min_free_space: 1GiB\n") +
                                       "limits:\n  streams_per_identity: 2\n" + kTokens,
                        .registry_yaml = kRegistry,
                        .data_dir = disk.path() / "data"});
  vigild.Start();
  const int64_t base = NowMs();
  // More streams than the identity may hold at once: a leaked one would
  // refuse the third with "streams open already".
  for (int round = 0; round < 4; ++round) {
    grpc::ClientContext context;
    SetDeadline(&context, 10s);
    context.AddMetadata("authorization", "Bearer gw-1-secret");
    auto stream = vigild.ingest().Stream(&context);
    for (uint64_t seq = 1; seq <= 8; ++seq) {
      if (!stream->Write(Batch(1, seq, base))) break;
    }
    v1::IngestAck ack;
    while (stream->Read(&ack)) {
      FAIL("no batch may be acked while the disk is below the floor");
    }
    const grpc::Status status = stream->Finish();
    INFO("round " << round << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  CHECK(StreamsClose(vigild));
  const ExitStatus exit = vigild.Terminate(15s);
  INFO(vigild.Output());
  CHECK(exit.ExitedWith(0));
}

// A gateway as the contract asks: keeps every unacked batch, streams with a
// window, and after any error reconnects and resends them all in order.
struct Gateway {
  VigildProcess* vigild;
  std::deque<v1::IngestBatch> unacked{};
  uint64_t acked = 0;
  uint64_t stream_errors = 0;

  // One stream: sends unacked batches (at most `window` ahead of the acks)
  // until all are acked or the stream breaks.
  void RunStream(size_t window) {
    grpc::ClientContext context;
    SetDeadline(&context, 20s);
    auto stream = vigild->ingest().Stream(&context);
    size_t sent = 0;
    bool broken = false;
    auto fill = [&] {
      while (!broken && sent < unacked.size() && sent < window) {
        if (!stream->Write(unacked[sent])) broken = true;
        ++sent;
      }
    };
    fill();
    v1::IngestAck ack;
    while (!broken && sent > 0 && stream->Read(&ack)) {
      REQUIRE(ack.epoch() == unacked.front().epoch());
      REQUIRE(ack.sequence() == unacked.front().sequence());
      unacked.pop_front();
      --sent;
      ++acked;
      fill();
    }
    stream->WritesDone();
    if (!stream->Finish().ok()) ++stream_errors;
  }
};

TEST_CASE("A gateway streaming through a disk that fills and frees again loses no acked reading",
          "[e2e][gateway_order][faults]") {
  testing::TempDir dir;
  SmallDisk disk(dir / "disk", "256m");
  if (!disk.mounted()) {
    WARN("not root: cannot mount a tmpfs; storage_writer_test covers the writer's part");
    return;
  }
  VigildProcess vigild({.config_yaml = "storage:\n  min_free_space: 96MiB\n",
                        .registry_yaml = kRegistry,
                        .data_dir = disk.path() / "data"});
  vigild.Start();
  const int64_t base = NowMs() - 60'000;
  constexpr uint64_t kBatches = 600;
  Gateway gateway{.vigild = &vigild};
  for (uint64_t seq = 1; seq <= kBatches; ++seq) gateway.unacked.push_back(Batch(1, seq, base));

  const std::filesystem::path filler = disk.path() / "filler";
  auto fill_disk = [&] {
    std::ofstream out(filler, std::ios::binary | std::ios::app);
    const std::string block(1 << 20, 'x');
    while (disk.free_bytes() > 80ull << 20) out.write(block.data(), block.size());
  };
  // Phases: some batches stored, the disk fills while batches are in flight
  // (refused groups hold several of the gateway's batches), space is freed,
  // and the gateway resends until everything is acked.
  const auto deadline = Clock::now() + 60s;
  int phase = 0;
  while (!gateway.unacked.empty() && Clock::now() < deadline) {
    if (phase == 0 && gateway.acked >= 100) {
      fill_disk();
      // The writer samples free space at most every 100 ms and the control
      // loop every second: wait until vigild has seen the disk full, or the
      // rest of the batches may all be stored before it looks.
      bool serving = true;
      const auto seen_by = Clock::now() + 10s;
      while (Clock::now() < seen_by && (!HealthCheck(vigild.channel(), &serving).ok() || serving)) {
        std::this_thread::sleep_for(50ms);
      }
      REQUIRE_FALSE(serving);
      phase = 1;
    } else if (phase == 1 && gateway.stream_errors >= 3) {
      std::filesystem::remove(filler);
      phase = 2;
    }
    const uint64_t errors_before = gateway.stream_errors;
    // Stop after 150 batches while the disk is free, so the fill lands mid-run.
    if (phase == 0) {
      std::deque<v1::IngestBatch> later;
      while (gateway.unacked.size() > kBatches - 150) {
        later.push_front(gateway.unacked.back());
        gateway.unacked.pop_back();
      }
      gateway.RunStream(64);
      gateway.unacked.insert(gateway.unacked.end(), later.begin(), later.end());
    } else {
      gateway.RunStream(64);
    }
    if (gateway.stream_errors > errors_before) std::this_thread::sleep_for(100ms);
  }
  INFO(vigild.Output());
  REQUIRE(phase == 2);
  REQUIRE(gateway.unacked.empty());
  CHECK(gateway.acked == kBatches);
  // Every batch was acked once (stored or duplicate): each reading is stored
  // exactly once.
  const std::vector<Reading> stored = ReadAll(vigild.query(), "s-1", base, base + 1'000'000);
  std::vector<Reading> expected;
  for (uint64_t seq = 1; seq <= kBatches; ++seq) {
    expected.push_back({.ts = base + static_cast<int64_t>(seq), .value = static_cast<double>(seq)});
  }
  CHECK(stored.size() == expected.size());
  CHECK(stored == expected);
}

TEST_CASE(
    "An epoch going backwards is refused with FAILED_PRECONDITION, and GetWatermark tells "
    "where to resume",
    "[e2e][gateway_order]") {
  VigildProcess vigild({.config_yaml = kTokens, .registry_yaml = kRegistry});
  vigild.Start();
  const int64_t base = NowMs() - 60'000;
  auto write = [&](uint64_t epoch, uint64_t sequence, v1::IngestAck* ack) {
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", "Bearer gw-1-secret");
    return vigild.ingest().Write(&context, Batch(epoch, sequence, base), ack);
  };
  auto watermark = [&](const std::string& gateway, const std::string& token,
                       v1::GatewayWatermark* out) {
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", "Bearer " + token);
    v1::GetWatermarkRequest request;
    request.set_gateway_id(gateway);
    return vigild.ingest().GetWatermark(&context, request, out);
  };

  v1::GatewayWatermark mark;
  REQUIRE(watermark("gw-1", "gw-1-secret", &mark).ok());
  CHECK_FALSE(mark.stored());

  v1::IngestAck ack;
  REQUIRE(write(1'700'000'000'000, 7, &ack).ok());
  CHECK(ack.stored_readings() == 1);
  // The gateway's epoch store was reset: its new epoch is lower.
  const grpc::Status behind = write(5, 1, &ack);
  CHECK(behind.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(behind.error_message().find("(1700000000000, 7)") != std::string::npos);
  const std::string metrics = HttpGetMetrics(vigild.metrics_address());
  CHECK(Sample(metrics, "vigil_ingest_epoch_behind_total") == 1);
  CHECK(vigild.Output().find("event=ingest_epoch_behind") != std::string::npos);

  // It reads its watermark and resumes above it: stored, nothing lost.
  REQUIRE(watermark("gw-1", "gw-1-secret", &mark).ok());
  CHECK(mark.stored());
  CHECK(mark.epoch() == 1'700'000'000'000);
  CHECK(mark.sequence() == 7);
  REQUIRE(write(mark.epoch() + 1, 1, &ack).ok());
  CHECK(ack.stored_readings() == 1);
  CHECK_FALSE(ack.duplicate());

  // The same through vigilctl, as the gateway engineer would look.
  testing::TempDir tokens;
  const std::filesystem::path token_file = tokens / "gw-1.token";
  std::ofstream(token_file) << "gw-1-secret\n";
  const CtlResult ctl = RunVigilctl({"--server", vigild.address(), "--token-file",
                                     token_file.string(), "gateway", "watermark", "gw-1"});
  INFO(ctl.output);
  CHECK(ctl.code == 0);
  CHECK(ctl.output == "gw-1 epoch=1700000000001 sequence=1\n");

  // A gateway reads only its own; a center only its region's gateways.
  CHECK(watermark("gw-2", "gw-1-secret", &mark).error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(watermark("gw-1", "jinan-secret", &mark).ok());
  CHECK(watermark("gw-2", "jinan-secret", &mark).error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(watermark("gw-404", "jinan-secret", &mark).error_code() == grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace vigil::e2e
