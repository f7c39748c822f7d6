// End-to-end: `vigilctl backup` on a live vigild under ingest load, restore
// by starting vigild on the copy; `vigilctl health` and `vigilctl registry`.
#include <sys/wait.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

using v1::IngestAck;
using v1::IngestBatch;
using Clock = std::chrono::steady_clock;

constexpr char kRegistryYaml[] = R"(enterprises:
  - { id: e-1, name: "Plant: One", kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 200.5], expected_interval: 10s }
  - { id: s-2, enterprise: e-1, quantity: combustible_gas, unit: "%LEL", range: [0, 100], expected_interval: 1500ms }
gateways:
  - { id: gw-1, enterprise: e-1 }
)";

// Small chunks and a 1 s checkpoint: the backup holds sealed chunks, a
// truncated ingest log and its unsealed tail.
constexpr char kConfig[] =
    "storage: { durability: wal, chunk_max_readings: 64, checkpoint_interval: 1s }\n";

constexpr uint64_t kEpoch = 1'700'000'000'000;
constexpr int kPerSeries = 4;
constexpr uint64_t kMaxBatches = 200'000;
const char* const kSensors[] = {"s-1", "s-2"};

VigildProcess::Options MakeOptions(std::filesystem::path data_dir = {}) {
  VigildProcess::Options options;
  options.config_yaml = kConfig;
  options.registry_yaml = kRegistryYaml;
  options.data_dir = std::move(data_dir);
  return options;
}

// Batch `seq`: kPerSeries readings per sensor at timestamps only it uses.
IngestBatch MakeLoadBatch(int64_t base, uint64_t seq) {
  IngestBatch batch;
  batch.set_gateway_id("gw-1");
  batch.set_epoch(kEpoch);
  batch.set_sequence(seq);
  for (int k = 0; k < 2; ++k) {
    v1::Series* series = batch.add_series();
    series->set_sensor_id(kSensors[k]);
    for (int i = 0; i < kPerSeries; ++i) {
      series->add_timestamps_ms(base + static_cast<int64_t>(seq) * kPerSeries + i);
      series->add_values(static_cast<double>(seq % 1000) + k * 0.5 + i * 0.125);
    }
  }
  return batch;
}

// One Ingest.Stream writing batches 1, 2, ... until stopped, recording each
// ack and when it arrived.
class Load {
 public:
  Load(v1::Ingest::Stub& stub, int64_t base) : stub_(stub), base_(base) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Acks received so far.
  size_t acked() const {
    std::lock_guard lock(mu_);
    return acks_.size();
  }
  struct Ack {
    IngestAck ack;
    Clock::time_point at;
  };
  std::vector<Ack> acks() const {
    std::lock_guard lock(mu_);
    return acks_;
  }
  uint64_t written() const { return written_; }
  const grpc::Status& status() const { return status_; }

 private:
  void Run() {
    grpc::ClientContext context;
    SetDeadline(&context, std::chrono::seconds(120));
    auto stream = stub_.Stream(&context);
    std::thread writer([&] {
      for (uint64_t seq = 1; seq <= kMaxBatches && !stop_; ++seq) {
        if (!stream->Write(MakeLoadBatch(base_, seq))) break;
        written_ = seq;
      }
      stream->WritesDone();
    });
    IngestAck ack;
    while (stream->Read(&ack)) {
      const Clock::time_point at = Clock::now();
      std::lock_guard lock(mu_);
      acks_.push_back({ack, at});
    }
    writer.join();
    status_ = stream->Finish();
  }

  v1::Ingest::Stub& stub_;
  const int64_t base_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> written_{0};
  mutable std::mutex mu_;
  std::vector<Ack> acks_;
  grpc::Status status_;
  std::thread thread_;
};

IngestAck Write(v1::Ingest::Stub& stub, const IngestBatch& batch) {
  grpc::ClientContext context;
  SetDeadline(&context);
  IngestAck ack;
  const grpc::Status status = stub.Write(&context, batch, &ack);
  INFO("Write seq " << batch.sequence() << ": " << status.error_code() << " "
                    << status.error_message());
  REQUIRE(status.ok());
  return ack;
}

}  // namespace

TEST_CASE("Backup taken under load restores every reading acked before it", "[e2e][backup]") {
  testing::TempDir backups;
  const std::filesystem::path backup_dir = backups / "vigil-backup";
  const int64_t base = NowMs() - 60 * 60'000;  // an hour ago; 1M batches would span 67 min
  std::vector<Load::Ack> acks;
  Clock::time_point backup_started;
  Clock::time_point backup_returned;
  uint64_t written = 0;
  {
    VigildProcess vigild(MakeOptions());
    const std::string address = vigild.Start();
    Load load(vigild.ingest(), base);
    // Under way long enough for checkpoint rounds to seal chunks and truncate the log.
    const auto load_start = Clock::now();
    while ((load.acked() < 300 || Clock::now() - load_start < std::chrono::milliseconds(2500)) &&
           Clock::now() - load_start < std::chrono::seconds(30)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(load.acked() >= 300);

    backup_started = Clock::now();
    const CtlResult backup = RunVigilctl({"--server", address, "backup", backup_dir.string()});
    backup_returned = Clock::now();
    INFO("vigilctl backup: exit " << backup.code << "\n" << backup.output);
    REQUIRE(backup.code == 0);
    CHECK(backup.output.find("backup created dir=" + backup_dir.string()) != std::string::npos);

    // The load goes on after the backup, then stops.
    const size_t at_return = load.acked();
    while (load.acked() < at_return + 100 &&
           Clock::now() - backup_returned < std::chrono::seconds(10)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    load.Stop();
    INFO("load stream: " << load.status().error_code() << " " << load.status().error_message());
    REQUIRE(load.status().ok());
    acks = load.acks();
    written = load.written();
    REQUIRE(acks.size() == written);
    CHECK(acks.size() >= at_return + 100);
    const ExitStatus stopped = vigild.Terminate();
    INFO(stopped.ToString());
    CHECK(stopped.ExitedWith(0));
    CHECK(vigild.Output().find("backup_created dir=" + backup_dir.string()) != std::string::npos);
  }
  size_t acked_before = 0;
  for (size_t i = 0; i < acks.size(); ++i) {
    INFO("ack " << i);
    REQUIRE(acks[i].ack.sequence() == i + 1);
    REQUIRE_FALSE(acks[i].ack.duplicate());
    REQUIRE(acks[i].ack.stored_readings() == 2 * kPerSeries);
    if (acks[i].at < backup_started) acked_before = i + 1;
  }
  INFO("batches written " << written << ", acked before the backup " << acked_before);
  REQUIRE(acked_before >= 300);

  // Restore: a new vigild on the copy.
  VigildProcess restored(MakeOptions(backup_dir));
  restored.Start();
  const int64_t to = base + static_cast<int64_t>(written + 2) * kPerSeries;
  // Readings in the backup, per sensor: timestamp -> value.
  std::map<std::string, std::map<int64_t, double>> stored;
  for (const char* sensor : kSensors) {
    size_t repeated = 0;  // ReadRaw returns one reading per timestamp
    for (const Reading& r : ReadAll(restored.query(), sensor, base, to)) {
      if (!stored[sensor].emplace(r.ts, r.value).second) ++repeated;
    }
    INFO("sensor " << sensor);
    CHECK(repeated == 0);
  }
  // The backup holds batches 1..k whole, k >= every batch acked before it
  // started, and nothing of any later batch (a prefix of the log).
  uint64_t k = 0;
  while (k < written && stored["s-1"].contains(base + static_cast<int64_t>(k + 1) * kPerSeries)) {
    ++k;
  }
  INFO("batches in the backup " << k);
  CHECK(k >= acked_before);
  for (int s = 0; s < 2; ++s) {
    INFO("sensor " << kSensors[s]);
    const auto& readings = stored[kSensors[s]];
    CHECK(readings.size() == k * kPerSeries);
    for (uint64_t seq = 1; seq <= k; ++seq) {
      const IngestBatch batch = MakeLoadBatch(base, seq);
      const v1::Series& series = batch.series(s);
      for (int i = 0; i < series.timestamps_ms_size(); ++i) {
        const auto it = readings.find(series.timestamps_ms(i));
        if (it == readings.end() || it->second != series.values(i)) {
          FAIL("batch " << seq << " reading " << i << " missing or wrong");
        }
      }
    }
  }

  // The dedupe watermarks came along: resent batches are duplicates, the next
  // one is stored.
  for (uint64_t seq : {uint64_t{1}, acked_before, k}) {
    const IngestAck ack = Write(restored.ingest(), MakeLoadBatch(base, seq));
    INFO("resent batch " << seq << ": " << ack.ShortDebugString());
    CHECK(ack.duplicate());
    CHECK(ack.stored_readings() == 0);
  }
  {
    const IngestAck ack = Write(restored.ingest(), MakeLoadBatch(base, k + 1));
    INFO("batch k + 1: " << ack.ShortDebugString());
    CHECK_FALSE(ack.duplicate());
    CHECK(ack.stored_readings() == 2 * kPerSeries);
    CHECK(ReadAll(restored.query(), "s-1", base, to).size() == (k + 1) * kPerSeries);
  }

  // Backup into an existing folder: exit 1, INVALID_ARGUMENT.
  const std::filesystem::path existing = backups / "existing";
  std::filesystem::create_directories(existing);
  const CtlResult again =
      RunVigilctl({"--server", restored.address(), "backup", existing.string()});
  INFO("vigilctl backup into an existing folder: exit " << again.code << "\n" << again.output);
  CHECK(again.code == 1);
  CHECK(again.output.find("INVALID_ARGUMENT") != std::string::npos);
  CHECK(std::filesystem::is_empty(existing));
}

TEST_CASE("vigilctl health, registry and usage", "[e2e][backup][vigilctl]") {
  VigildProcess vigild(MakeOptions());
  const std::string address = vigild.Start();

  const CtlResult health = RunVigilctl({"--server", address, "health"});
  INFO("vigilctl health: exit " << health.code << "\n" << health.output);
  CHECK(health.code == 0);
  CHECK(health.output == "SERVING\n");

  // The printed registry is a registry file vigild accepts, with the same entries.
  const CtlResult registry = RunVigilctl({"--server", address, "registry"});
  INFO("vigilctl registry: exit " << registry.code << "\n" << registry.output);
  REQUIRE(registry.code == 0);
  CHECK(registry.output.find("name: \"Plant: One\"") != std::string::npos);
  CHECK(registry.output.find("unit: \"%LEL\"") != std::string::npos);
  CHECK(registry.output.find("range: [-40, 200.5]") != std::string::npos);
  CHECK(registry.output.find("expected_interval: 1500ms") != std::string::npos);
  testing::TempDir dir;
  {
    std::ofstream(dir / "registry.yaml") << registry.output;
    std::ofstream(dir / "config.yaml") << "registry_file: registry.yaml\n";
  }
  const RunResult check = RunVigild({"--config", (dir / "config.yaml").string(), "--check-config"});
  INFO("vigild --check-config on the printed registry: " << check.status.ToString() << "\n"
                                                         << check.output);
  CHECK(check.status.ExitedWith(0));

  // A bad command line exits 2; --help 0.
  CHECK(RunVigilctl({"--server", address, "backup"}).code == 2);
  CHECK(RunVigilctl({"--server", address, "frobnicate"}).code == 2);
  CHECK(RunVigilctl({"--bogus"}).code == 2);
  CHECK(RunVigilctl({"--help"}).code == 0);

  // No server there: exit 1 with the gRPC code.
  vigild.Terminate();
  const CtlResult down = RunVigilctl({"--server", address, "health"});
  INFO("vigilctl health, server down: exit " << down.code << "\n" << down.output);
  CHECK(down.code == 1);
  CHECK(down.output.find("UNAVAILABLE") != std::string::npos);
}

}  // namespace vigil::e2e
