#include "server/storage_writer.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/shard.h"
#include "storage/head_set.h"
#include "storage/ingest_record.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

using alarm::Reading;
using alarm::TimestampMs;
using Outcome = PendingBatch::Outcome;

constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
constexpr TimestampMs kT0 = 1'700'000'000'000;
// Bound on any single wait; a healthy run takes milliseconds.
constexpr auto kTimeout = std::chrono::seconds(20);

// Records the outcome of Done and signals it; the test keeps ownership.
class TestBatch final : public PendingBatch {
 public:
  TestBatch(std::string gateway, uint64_t epoch, uint64_t sequence, std::string rec) {
    gateway_id = std::move(gateway);
    watermark = {epoch, sequence};
    record = std::move(rec);
    future_ = promise_.get_future();
  }

  void Done(Outcome outcome, const alarm::Status& error) override {
    calls_.fetch_add(1, std::memory_order_relaxed);
    promise_.set_value({outcome, error});
  }

  // Waits (bounded) for Done.
  std::pair<Outcome, alarm::Status> Wait() {
    REQUIRE(future_.wait_for(kTimeout) == std::future_status::ready);
    return future_.get();
  }
  Outcome WaitOutcome() { return Wait().first; }
  int calls() const { return calls_.load(std::memory_order_relaxed); }

 private:
  std::promise<std::pair<Outcome, alarm::Status>> promise_;
  std::future<std::pair<Outcome, alarm::Status>> future_;
  std::atomic<int> calls_{0};
};

struct Series {
  std::string sensor_id;
  std::vector<TimestampMs> timestamps;
  std::vector<double> values;
};

std::string Record(std::string_view gateway, uint64_t epoch, uint64_t sequence,
                   const std::vector<Series>& series) {
  storage::IngestRecordBuilder builder;
  builder.Reset(gateway, epoch, sequence);
  for (const Series& s : series) {
    auto slots = builder.AddSeries(s.sensor_id, static_cast<uint32_t>(s.timestamps.size()), false);
    std::copy(s.timestamps.begin(), s.timestamps.end(), slots.timestamps);
    std::copy(s.values.begin(), s.values.end(), slots.values);
  }
  return builder.Release();
}

// A batch of one reading of sensor "s1" whose time and value name the sequence.
std::unique_ptr<TestBatch> MakeBatch(std::string gateway, uint64_t epoch, uint64_t sequence) {
  const auto at = kT0 + static_cast<TimestampMs>(epoch * 1000 + sequence);
  std::string rec = Record(gateway, epoch, sequence, {{"s1", {at}, {static_cast<double>(sequence)}}});
  return std::make_unique<TestBatch>(std::move(gateway), epoch, sequence, std::move(rec));
}

std::unique_ptr<storage::Store> OpenStore(const std::filesystem::path& dir) {
  storage::StoreOptions options;
  options.dir = dir;
  options.write_buffer_bytes = size_t{1} << 20;
  auto store = storage::Store::Open(options);
  REQUIRE(store.has_value());
  return std::move(*store);
}

// Store, then shards, then writer: destroyed in reverse, writer first.
struct Rig {
  explicit Rig(const std::filesystem::path& dir)
      : store(OpenStore(dir)),
        shards(std::make_unique<ShardSet>(2, store.get(), storage::HeadSetOptions{})) {
    auto started = StorageWriter::Start(store.get(), shards.get());
    REQUIRE(started.has_value());
    writer = std::move(*started);
  }
  ~Rig() {
    if (writer) writer->Stop();
    writer.reset();
    shards.reset();
  }

  Outcome Submit(TestBatch& batch) {
    REQUIRE(writer->Submit(&batch));
    const auto [outcome, error] = batch.Wait();
    if (outcome == Outcome::kFailed) {
      CHECK_FALSE(error.ok());
    } else {
      CHECK(error.ok());
    }
    return outcome;
  }
  Outcome Submit(std::string gateway, uint64_t epoch, uint64_t sequence) {
    auto batch = MakeBatch(std::move(gateway), epoch, sequence);
    return Submit(*batch);
  }

  std::unique_ptr<storage::Store> store;
  std::unique_ptr<ShardSet> shards;
  std::unique_ptr<StorageWriter> writer;
};

std::vector<Reading> ReadChunks(storage::Store& store, std::string_view sensor) {
  std::vector<Reading> out;
  alarm::Status s = store.ReadChunks(sensor, kMin, kMax, &out);
  REQUIRE(s.ok());
  return out;
}

TEST_CASE("StorageWriter stores new batches and drops duplicates by watermark",
          "[server][storage_writer]") {
  testing::TempDir dir;
  Rig rig(dir / "db");
  CHECK(rig.Submit("g1", 1, 1) == Outcome::kStored);
  CHECK(rig.posted_through_is(1));
}

}  // namespace
}  // namespace vigil::server
