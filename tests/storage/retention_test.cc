// Retention: what expires, exactly, with an injected clock; that whole time
// partitions are dropped and nothing inside the window is touched; and the
// move of a pre-partition database's chunks into partitions.
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/chunk.h"
#include "storage/keys.h"
#include "storage/rocksdb_store_testing.h"
#include "storage/store.h"
#include "tests/storage/history_testing.h"
#include "tests/testing/temp_dir.h"

namespace vigil::storage {
namespace {

using alarm::Reading;
using alarm::TimestampMs;

constexpr TimestampMs kMinute = 60'000;
constexpr TimestampMs kHour = 60 * kMinute;
constexpr TimestampMs kDay = 24 * kHour;
constexpr TimestampMs kBucket = kRollupStep.count();
constexpr TimestampMs kT0 = 1'699'999'800'000;  // a multiple of 5 minutes
constexpr auto kRawKeep = std::chrono::hours(24 * 10);
constexpr auto kStatsKeep = std::chrono::hours(24 * 30);

// A store whose clock the test sets.
struct Clocked {
  explicit Clocked(const std::filesystem::path& path) : dir(path) { Open(); }
  void Open() {
    store.reset();
    store = OpenStore(dir, RetentionOptions{.raw = kRawKeep, .stats = kStatsKeep, .clock = [this] {
                                              return now.load();
                                            }});
  }
  std::filesystem::path dir;
  std::atomic<TimestampMs> now{kT0};
  std::unique_ptr<Store> store;
};

std::vector<std::pair<TimestampMs, double>> Pairs(const std::vector<Reading>& readings) {
  std::vector<std::pair<TimestampMs, double>> out;
  out.reserve(readings.size());
  for (const Reading& r : readings) out.emplace_back(r.at, r.value);
  return out;
}

std::vector<std::pair<TimestampMs, double>> TruthFrom(const Truth& truth, TimestampMs from) {
  return {truth.lower_bound(from), truth.end()};
}

std::vector<std::string> Partitions(const std::filesystem::path& dir, std::string_view base) {
  std::vector<std::string> out;
  for (const std::string& name : ColumnFamilyNames(dir)) {
    auto parsed = ParsePartitionFamilyName(name);
    if (parsed && parsed->base == base) out.push_back(name);
  }
  return out;
}

// End of a partition family, ms.
TimestampMs PartitionEnd(const std::string& name) {
  auto parsed = ParsePartitionFamilyName(name);
  REQUIRE(parsed.has_value());
  return (parsed->start_day + parsed->span_days) * kDay;
}

// Readings every 20 minutes over 60 days, plus readings right at the horizons
// the test will use; all written while the clock is at the start.
Truth WriteSixtyDays(Store& store, TimestampMs raw_horizon, TimestampMs stats_horizon) {
  Writer writer(&store, "s1");
  std::vector<TimestampMs> times;
  for (TimestampMs t = kT0; t < kT0 + 60 * kDay; t += 20 * kMinute) times.push_back(t);
  for (TimestampMs t : {raw_horizon - 1, raw_horizon, raw_horizon + 1, stats_horizon - 1,
                        stats_horizon, stats_horizon + 1}) {
    times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  std::vector<double> values;
  values.reserve(times.size());
  for (TimestampMs t : times) values.push_back(static_cast<double>((t - kT0) % 9973) / 10);
  writer.Append(times, values);
  writer.SealAll();
  return writer.truth();
}

TEST_CASE("Retention expires exactly the readings and statistics outside the window",
          "[storage][retention]") {
  testing::TempDir dir;
  Clocked db(dir / "db");
  // Write everything while it is all in the window, then let time pass.
  const TimestampMs later = kT0 + 60 * kDay + 7 * kHour + 3 * kMinute + 17;
  const TimestampMs raw_horizon = later - std::chrono::milliseconds(kRawKeep).count();
  const TimestampMs stats_horizon = later - std::chrono::milliseconds(kStatsKeep).count();
  db.now = kT0;
  const Truth truth = WriteSixtyDays(*db.store, raw_horizon, stats_horizon);
  std::vector<Reading> all;
  REQUIRE(db.store->ReadChunks("s1", kMinTime, kMaxTime, &all).ok());
  REQUIRE(all.size() == truth.size());

  db.now = later;
  CHECK(db.store->Horizon(DataClass::kRaw) == raw_horizon);
  CHECK(db.store->Horizon(DataClass::kStats) == stats_horizon);
  const StepGrid buckets{.origin = 0, .step = kBucket};
  // A bucket counts while it ends after the horizon.
  const TimestampMs first_bucket = RollupBucket(stats_horizon);
  auto check_window = [&] {
    std::vector<Reading> raw;
    REQUIRE(db.store->ReadChunks("s1", kMinTime, kMaxTime, &raw).ok());
    CHECK(Pairs(raw) == TruthFrom(truth, raw_horizon));  // from raw_horizon inclusive
    CHECK(raw.front().at == raw_horizon);
    std::vector<Step> rollups;
    REQUIRE(db.store->ReadRollups(nullptr, "s1", kMinTime, kMaxTime, &rollups).ok());
    CheckSameSteps(rollups, BruteForce(truth, first_bucket, kMaxTime, buckets));
    REQUIRE_FALSE(rollups.empty());
    CHECK(rollups.front().start == first_bucket);
    CHECK(rollups.front().stats.count > 0);
  };

  SECTION("reads stop at the horizons at once") { check_window(); }

  SECTION("EnforceRetention drops whole partitions, never one with data in the window") {
    const std::vector<std::string> chunks_before = Partitions(db.dir, kChunksFamily);
    const std::vector<std::string> rollups_before = Partitions(db.dir, kRollupsFamily);
    auto dropped = db.store->EnforceRetention();
    REQUIRE(dropped.has_value());
    REQUIRE_FALSE(dropped->empty());
    const std::vector<std::string> chunks_after = Partitions(db.dir, kChunksFamily);
    const std::vector<std::string> rollups_after = Partitions(db.dir, kRollupsFamily);
    CHECK(chunks_after.size() + rollups_after.size() + dropped->size() ==
          chunks_before.size() + rollups_before.size());
    for (const std::string& name : *dropped) {
      CAPTURE(name);
      const bool chunks = ParsePartitionFamilyName(name)->base == kChunksFamily;
      // Every reading a dropped chunk partition held was outside the window.
      if (chunks) CHECK(PartitionEnd(name) + kMaxChunkSpan.count() <= raw_horizon);
      if (!chunks) CHECK(PartitionEnd(name) <= first_bucket);
    }
    // What stays could hold readings in the window.
    for (const std::string& name : chunks_after) {
      CHECK(PartitionEnd(name) + kMaxChunkSpan.count() > raw_horizon);
    }
    for (const std::string& name : rollups_after) CHECK(PartitionEnd(name) > first_bucket);
    check_window();

    auto again = db.store->EnforceRetention();
    REQUIRE(again.has_value());
    CHECK(again->empty());
    db.Open();  // and across a restart
    CHECK(Partitions(db.dir, kChunksFamily) == chunks_after);
    check_window();
  }
}

TEST_CASE("Retention: a chunk already expired when sealed keeps only its statistics",
          "[storage][retention]") {
  testing::TempDir dir;
  Clocked db(dir / "db");
  db.now = kT0 + 20 * kDay;  // raw horizon kT0 + 10 d, stats horizon before kT0
  Writer writer(db.store.get(), "s1");
  writer.Append({kT0 + kHour, kT0 + kHour + kMinute}, {1, 2});
  writer.SealAll();
  std::vector<Reading> raw;
  REQUIRE(db.store->ReadChunks("s1", kMinTime, kMaxTime, &raw).ok());
  CHECK(raw.empty());
  CHECK(Partitions(db.dir, kChunksFamily).empty());  // not written at all
  std::vector<Step> rollups;
  REQUIRE(db.store->ReadRollups(nullptr, "s1", kMinTime, kMaxTime, &rollups).ok());
  REQUIRE(rollups.size() == 1);
  CHECK(rollups[0].stats.count == 2);
}

TEST_CASE("Retention 0 keeps everything", "[storage][retention]") {
  testing::TempDir dir;
  auto store = OpenStore(dir / "db");
  CHECK(store->Horizon(DataClass::kRaw) == kMinTime);
  CHECK(store->Horizon(DataClass::kStats) == kMinTime);
  Writer writer(store.get(), "s1");
  writer.Append({-5 * kDay, 0, kT0}, {1, 2, 3});
  writer.SealAll();
  auto dropped = store->EnforceRetention();
  REQUIRE(dropped.has_value());
  CHECK(dropped->empty());
  std::vector<Reading> raw;
  REQUIRE(store->ReadChunks("s1", kMinTime, kMaxTime, &raw).ok());
  CHECK(raw.size() == 3);
}

TEST_CASE("Store ReadLatest finds the newest stored reading", "[storage][retention]") {
  testing::TempDir dir;
  Clocked db(dir / "db");
  db.now = kT0 + 60 * kDay;
  {
    auto latest = db.store->ReadLatest("s1");
    REQUIRE(latest.has_value());
    CHECK_FALSE(latest->has_value());
  }
  Writer writer(db.store.get(), "s1");
  // The newest by time sits in a chunk that starts before the last chunk.
  writer.Append({kT0 + 55 * kDay, kT0 + 55 * kDay + kHour}, {1, 2});
  writer.Append({kT0 + 55 * kDay + 10 * kMinute}, {3});  // late: a new chunk
  writer.SealAll();
  Writer other(db.store.get(), "s2", 1000);
  other.Append({kT0 + 59 * kDay}, {9});
  other.SealAll();
  auto latest = db.store->ReadLatest("s1");
  REQUIRE(latest.has_value());
  REQUIRE(latest->has_value());
  CHECK((*latest)->at == kT0 + 55 * kDay + kHour);
  CHECK((*latest)->value == 2);
  SECTION("not past the raw horizon") {
    db.now = kT0 + 70 * kDay;
    auto expired = db.store->ReadLatest("s1");
    REQUIRE(expired.has_value());
    CHECK_FALSE(expired->has_value());
  }
}

void WriteLegacyChunks(const std::filesystem::path& dir, const std::vector<SealedChunk>& chunks) {
  const alarm::Status s = PutLegacyChunks(dir, chunks);
  INFO(s.ToString());
  REQUIRE(s.ok());
}

TEST_CASE("Open moves a pre-partition database's chunks into partitions, with statistics",
          "[storage][retention]") {
  testing::TempDir dir;
  // Sealed chunks, including a replay's duplicate of the first one.
  std::vector<SealedChunk> chunks;
  Truth truth;
  {
    HeadSet heads(HeadSetOptions{.max_readings_per_chunk = 10});
    std::vector<TimestampMs> times;
    std::vector<double> values;
    for (int i = 0; i < 95; ++i) {
      times.push_back(kT0 + i * kMinute);
      values.push_back(i * 0.5);
      truth[times.back()] = values.back();
    }
    heads.Append("s1", times, values, {}, 1, &chunks);
    heads.Append("s2", times, values, {}, 1, &chunks);
    heads.SealAll(&chunks);
    SealedChunk again = chunks.front();
    again.chunk_id = 1000;
    chunks.push_back(again);
  }
  WriteLegacyChunks(dir / "db", chunks);
  auto check = [&] {
    auto store = OpenStore(dir / "db");
    for (const char* sensor : {"s1", "s2"}) {
      CAPTURE(sensor);
      std::vector<Reading> raw;
      REQUIRE(store->ReadChunks(sensor, kMinTime, kMaxTime, &raw).ok());
      CHECK(Pairs(raw) == TruthFrom(truth, kMinTime));
      std::vector<Step> rollups;
      REQUIRE(store->ReadRollups(nullptr, sensor, kMinTime, kMaxTime, &rollups).ok());
      CheckSameSteps(rollups,
                     BruteForce(truth, kMinTime, kMaxTime, StepGrid{.origin = 0, .step = kBucket}));
    }
  };
  check();
  CHECK_FALSE(Partitions(dir / "db", kChunksFamily).empty());
  CHECK_FALSE(Partitions(dir / "db", kRollupsFamily).empty());
  SECTION("a move interrupted before the legacy chunks were deleted counts nothing twice") {
    WriteLegacyChunks(dir / "db", chunks);
    check();
  }
  SECTION("the legacy family is left empty") {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : ColumnFamilyNames(dir / "db")) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    REQUIRE(rocksdb::DB::OpenForReadOnly({}, (dir / "db").string(), families, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (size_t i = 0; i < families.size(); ++i) {
      if (families[i].name != kChunksFamily) continue;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, handles[i]));
      it->SeekToFirst();
      CHECK_FALSE(it->Valid());
    }
    for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  }
}

}  // namespace
}  // namespace vigil::storage
