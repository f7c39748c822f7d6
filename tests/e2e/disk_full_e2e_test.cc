// End-to-end, disk full: vigild's data folder on a small tmpfs that a filler
// file brings below storage.min_free_space. Needs root (mount); elsewhere it
// WARNs and returns, and tests/server/storage_writer_test.cc covers the same
// behaviour with fault injection.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
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
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
gateways:
  - { id: gw-1, enterprise: e-1 }
)";

// A batch of `readings` readings of s-1, 1 ms apart.
grpc::Status Send(VigildProcess& vigild, uint64_t sequence, v1::IngestAck* ack, int readings = 1) {
  v1::IngestBatch batch;
  batch.set_gateway_id("gw-1");
  batch.set_epoch(1);
  batch.set_sequence(sequence);
  v1::Series* series = batch.add_series();
  series->set_sensor_id("s-1");
  // 1 ms apart from 30 days ago on, up to 10,000 readings a batch.
  static const int64_t kStart = NowMs() - int64_t{30} * 86'400'000;
  const int64_t base = kStart + static_cast<int64_t>(sequence) * 10'000;
  for (int i = 0; i < readings; ++i) {
    series->add_timestamps_ms(base + i);
    // A temperature to 0.01 degC: about a byte per reading in a chunk.
    series->add_values(
        20.0 + static_cast<double>((sequence * 37 + static_cast<uint64_t>(i)) % 1000) / 100.0);
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  return vigild.ingest().Write(&context, batch, ack);
}

// Polls overall health until it is `want` (bounded: 10 s); true when it was.
bool HealthBecomes(VigildProcess& vigild, bool want) {
  const auto deadline = Clock::now() + 10s;
  bool serving = !want;
  while (Clock::now() < deadline) {
    if (HealthCheck(vigild.channel(), &serving).ok() && serving == want) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

TEST_CASE(
    "Disk full: refused with RESOURCE_EXHAUSTED, NOT_SERVING, said in a metric and the log, "
    "and back by itself once space is freed with no batch sent meanwhile",
    "[e2e][faults][disk]") {
  if (geteuid() != 0) {
    WARN("not root: cannot mount a small tmpfs (storage_writer_test covers this with injection)");
    return;
  }
  testing::TempDir dir;
  SmallDisk disk(dir / "small");
  if (!disk.mounted()) {
    WARN("mount of a tmpfs refused (no CAP_SYS_ADMIN): disk-full e2e not run");
    return;
  }
  VigildProcess vigild({.config_yaml = "storage:\n  min_free_space: 64MiB\n",
                        .registry_yaml = kRegistry,
                        .data_dir = dir / "small" / "data"});
  vigild.Start();
  v1::IngestAck ack;
  REQUIRE(Send(vigild, 1, &ack).ok());
  REQUIRE(ack.stored_readings() == 1);

  // Fill the disk to 32 MiB free, below the 64 MiB floor.
  const std::filesystem::path filler = dir / "small" / "filler";
  REQUIRE(disk.free_bytes() > (uint64_t{96} << 20));
  REQUIRE(disk.FillLeaving(filler, uint64_t{32} << 20));
  CHECK(HealthBecomes(vigild, false));  // with no batch sent: the control loop looks
  const grpc::Status refused = Send(vigild, 2, &ack);
  INFO(refused.error_message());
  CHECK(refused.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(Sample(HttpGetMetrics(vigild.metrics_address()), "vigil_storage_disk_full") == 1);
  CHECK(vigild.Output().find("disk_nearly_full") != std::string::npos);

  // Space freed: serving again by itself, before any gateway sends.
  std::filesystem::remove(filler);
  CHECK(HealthBecomes(vigild, true));
  CHECK(Sample(HttpGetMetrics(vigild.metrics_address()), "vigil_storage_disk_full") == 0);
  CHECK(vigild.Output().find("disk_space_ok") != std::string::npos);
  REQUIRE(Send(vigild, 2, &ack).ok());  // the gateway's resend
  CHECK(ack.stored_readings() == 1);
  REQUIRE(vigild.Terminate().ExitedWith(0));
}

// Writes `path` until the filesystem has no byte left (ENOSPC); true on success.
bool FillUp(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const std::vector<char> block(size_t{1} << 16, 'x');
  size_t size = block.size();
  while (size > 0) {
    const ssize_t n = ::write(fd, block.data(), size);
    if (n < 0 && errno == ENOSPC) {
      size /= 2;  // down to the last byte
    } else if (n < 0 && errno != EINTR) {
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  return true;
}

// Gives `bytes` back by shortening the filler.
void FreeUp(const std::filesystem::path& filler, uint64_t bytes) {
  const uint64_t size = std::filesystem::file_size(filler);
  std::filesystem::resize_file(filler, size > bytes ? size - bytes : 0);
}

TEST_CASE(
    "Disk truly full (min_free_space 0): UNAVAILABLE, storage_needs_restart and exit 3, no "
    "abort, failed starts eat no space, a start after freeing a little succeeds, nothing lost",
    "[e2e][faults][disk]") {
  if (geteuid() != 0) {
    WARN("not root: cannot mount a small tmpfs");
    return;
  }
  testing::TempDir dir;
  SmallDisk disk(dir / "small", "96m");
  if (!disk.mounted()) {
    WARN("mount of a tmpfs refused (no CAP_SYS_ADMIN): disk-full e2e not run");
    return;
  }
  VigildProcess vigild({.config_yaml = "storage:\n  min_free_space: 0\n",
                        .registry_yaml = kRegistry,
                        .data_dir = dir / "small" / "data"});
  vigild.Start();
  v1::IngestAck ack;
  constexpr int kBatch = 5000;
  REQUIRE(Send(vigild, 1, &ack, kBatch).ok());
  REQUIRE(ack.stored_readings() == kBatch);

  // Full to the last byte but 8 MiB, which the batches then fill.
  const std::filesystem::path filler = dir / "small" / "filler";
  REQUIRE(FillUp(filler));
  FreeUp(filler, uint64_t{8} << 20);
  // Batches until one is refused (bounded: 60 s).
  uint64_t sequence = 2;
  grpc::Status refused;
  for (const auto deadline = Clock::now() + 60s; Clock::now() < deadline; ++sequence) {
    refused = Send(vigild, sequence, &ack, kBatch);
    if (!refused.ok()) break;
  }
  INFO(refused.error_message());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error_code() == grpc::StatusCode::UNAVAILABLE);
  const uint64_t acked_through = sequence - 1;  // `sequence` is to be resent
  CHECK(HealthBecomes(vigild, false));

  // RocksDB 7.8 cannot resume from a WAL write error: after 15 s of trying,
  // storage_needs_restart and exit 3 for the supervisor; not an abort.
  const ExitStatus exit = vigild.WaitExit(90s);
  {
    const std::string output = vigild.Output();
    INFO(exit.ToString() << "\n" << output.substr(output.size() > 4000 ? output.size() - 4000 : 0));
    REQUIRE(exit.ExitedWith(3));
    CHECK(output.find("storage_needs_restart") != std::string::npos);
  }

  // Starts on a disk full to the last byte (they may fail, or open and fail
  // later) take nothing each.
  REQUIRE(FillUp(filler));
  const uint64_t free_before = disk.free_bytes();
  for (int i = 0; i < 3; ++i) {
    try {
      vigild.Restart();
      vigild.Kill9();
    } catch (const std::runtime_error&) {
      // refused to start
    }
  }
  CHECK(free_before - disk.free_bytes() <= (uint64_t{64} << 10));

  // A little space freed (the readings still to be put into chunks need
  // about half of it): it starts, becomes healthy, everything acked is there,
  // and the refused batch can be resent.
  FreeUp(filler, uint64_t{16} << 20);
  vigild.Restart();
  grpc::Status resent;
  for (const auto deadline = Clock::now() + 30s; Clock::now() < deadline;) {
    REQUIRE(HealthBecomes(vigild, true));
    resent = Send(vigild, sequence, &ack, kBatch);
    if (resent.ok()) break;
  }
  INFO(resent.error_message());
  REQUIRE(resent.ok());
  CHECK(ack.stored_readings() == kBatch);
  const std::vector<Reading> stored =
      ReadAll(vigild.query(), "s-1", 0, NowMs() + 3'600'000, 0, 100'000);
  CHECK(stored.size() == (acked_through + 1) * kBatch);
  REQUIRE(vigild.Terminate().ExitedWith(0));
}

}  // namespace
}  // namespace vigil::e2e
