#include "storage/history.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "storage/chunk.h"
#include "storage/head_set.h"
#include "storage/step_stats.h"
#include "storage/store.h"
#include "tests/storage/history_testing.h"
#include "tests/testing/temp_dir.h"

namespace vigil::storage {
namespace {

using alarm::Status;

constexpr TimestampMs kMin = kMinTime;
constexpr TimestampMs kMax = kMaxTime;
constexpr TimestampMs kSecond = 1000;
constexpr TimestampMs kMinute = 60 * kSecond;
constexpr TimestampMs kHour = 60 * kMinute;
constexpr TimestampMs kDay = 24 * kHour;
constexpr TimestampMs kBucket = kRollupStep.count();
// 2023-11-14T22:10:00Z: a multiple of 5 minutes.
constexpr TimestampMs kT0 = 1'699'999'800'000;
static_assert(kT0 % kBucket == 0);

std::vector<Step> Downsample(Store& store, const std::string& sensor,
                             const std::vector<Reading>& head, TimestampMs from, TimestampMs to,
                             StepGrid grid) {
  std::vector<Step> out;
  auto snapshot = store.NewSnapshot();
  const Status s = ReadDownsampled(
      store, snapshot.get(),
      DownsampleRequest{.sensor_id = sensor, .from = from, .to = to, .grid = grid}, head, &out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

// Random history: mostly in order, with bursts of late readings and rewrites
// of stored timestamps, over about six hours.
void RandomHistory(Writer& writer, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> value(-50, 150);
  std::uniform_int_distribution<int> kind(0, 9);
  TimestampMs t = kT0 + 7 * kSecond;
  for (int batch = 0; batch < 400; ++batch) {
    std::vector<TimestampMs> times;
    std::vector<double> values;
    const int k = kind(rng);
    const int n = 1 + static_cast<int>(rng() % 20);
    if (k == 0 && t > kT0 + kHour) {
      // Late: older readings, at new times.
      TimestampMs late = t - kHour + static_cast<TimestampMs>(rng() % kHour);
      for (int i = 0; i < n; ++i) times.push_back(late + 1 + TimestampMs{i} * 997);
    } else if (k == 1 && !writer.truth().empty()) {
      // Rewrites of stored times with new values.
      auto it = writer.truth().begin();
      std::advance(it, static_cast<ptrdiff_t>(rng() % writer.truth().size()));
      for (int i = 0; i < n && it != writer.truth().end(); ++i, ++it) times.push_back(it->first);
    } else {
      for (int i = 0; i < n; ++i) {
        t += 1 + static_cast<TimestampMs>(rng() % (20 * kSecond));
        times.push_back(t);
      }
    }
    for (size_t i = 0; i < times.size(); ++i) values.push_back(std::round(value(rng) * 100) / 100);
    writer.Append(times, values);
  }
}

TEST_CASE("StepStats add, merge and encode", "[storage][history]") {
  StepStats a;
  a.Add(10, 5.0);
  a.Add(20, -1.5);
  a.Add(15, 7.0);  // late: not the last
  CHECK(a.count == 3);
  CHECK(a.min == -1.5);
  CHECK(a.max == 7.0);
  CHECK(a.sum == 10.5);
  CHECK(a.last_at == 20);
  CHECK(a.last == -1.5);
  CHECK(a.avg() == 3.5);

  StepStats b;
  b.Add(20, 9.0);  // same time as a's last, written later: wins
  StepStats merged = a;
  merged.Merge(b);
  CHECK(merged.count == 4);
  CHECK(merged.max == 9.0);
  CHECK(merged.last == 9.0);
  StepStats empty;
  merged.Merge(empty);
  CHECK(merged.count == 4);
  empty.Merge(a);
  CHECK(empty == a);

  const auto decoded = DecodeStepStats(EncodeStepStats(merged));
  REQUIRE(decoded.has_value());
  CHECK(*decoded == merged);
  CHECK_FALSE(DecodeStepStats("").has_value());
  CHECK_FALSE(DecodeStepStats(EncodeStepStats(merged).substr(1)).has_value());
}

TEST_CASE("StepGrid starts and counts steps, negative times included", "[storage][history]") {
  const StepGrid grid{.origin = 3, .step = 10};
  CHECK(StepStart(grid, 3) == 3);
  CHECK(StepStart(grid, 12) == 3);
  CHECK(StepStart(grid, 13) == 13);
  CHECK(StepStart(grid, 2) == -7);
  CHECK(StepStart(grid, -7) == -7);
  CHECK(StepStart(grid, -8) == -17);
  CHECK(StepStart(StepGrid{.origin = 0, .step = 10}, kMin) == kMin);  // clamped
  CHECK(StepCount(grid, 3, 13) == 1);
  CHECK(StepCount(grid, 3, 14) == 2);
  CHECK(StepCount(grid, 2, 13) == 2);
  CHECK(StepCount(grid, 5, 5) == 0);
  CHECK(StepCount(grid, -100, 100) == 21);
  CHECK(AlignsWithRollups(StepGrid{.origin = 0, .step = 10 * kMinute}));
  CHECK(AlignsWithRollups(StepGrid{.origin = 8 * kHour, .step = kDay}));
  CHECK_FALSE(AlignsWithRollups(StepGrid{.origin = 0, .step = 2 * kMinute}));
  CHECK_FALSE(AlignsWithRollups(StepGrid{.origin = kMinute, .step = 5 * kMinute}));
}

TEST_CASE("ChooseStep picks the smallest round step within max_points", "[storage][history]") {
  CHECK(ChooseStep(kT0, kT0 + kDay, 1000, 0) == 2 * kMinute);  // 720 steps
  CHECK(ChooseStep(kT0, kT0 + kDay, 288, 0) == 5 * kMinute);
  CHECK(ChooseStep(kT0, kT0 + kDay, 287, 0) == 10 * kMinute);
  CHECK(ChooseStep(kT0, kT0 + 10, 100, 0) == 1);
  CHECK(ChooseStep(kT0, kT0 + 90 * kDay, 10, 0) == 10 * kDay);
  for (uint32_t points : {1u, 2u, 7u, 1000u}) {
    for (TimestampMs range : {kSecond + 1, kHour + 17, 400 * kDay + 3}) {
      const TimestampMs step = ChooseStep(kT0 + 123, kT0 + 123 + range, points, 0);
      CAPTURE(points, range, step);
      CHECK(StepCount(StepGrid{.origin = 0, .step = step}, kT0 + 123, kT0 + 123 + range) <= points);
    }
  }
}

TEST_CASE("MergeReadings keeps one reading per time, the head winning", "[storage][history]") {
  const std::vector<Reading> chunked = {{1, 1.0}, {3, 3.0}, {5, 5.0}};
  const std::vector<Reading> head = {{2, 20.0}, {3, 30.0}, {6, 60.0}};
  std::vector<Reading> out;
  MergeReadings(chunked, head, &out);
  std::vector<std::pair<TimestampMs, double>> got;
  got.reserve(out.size());
  for (const Reading& r : out) got.emplace_back(r.at, r.value);
  CHECK(got == std::vector<std::pair<TimestampMs, double>>{
                   {1, 1.0}, {2, 20.0}, {3, 30.0}, {5, 5.0}, {6, 60.0}});
}

TEST_CASE("Downsampled reads equal a brute-force computation on random data",
          "[storage][history]") {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::mt19937_64 rng(GENERATE(1u, 2u, 3u));
  Writer writer(store.get(), "s1");
  writer.set_appends_per_write(GENERATE(1u, 4u));
  RandomHistory(writer, rng);
  const std::vector<Reading> head = writer.Head();
  REQUIRE_FALSE(head.empty());
  const TimestampMs last = writer.truth().rbegin()->first;

  const std::vector<StepGrid> grids = {
      {.origin = 0, .step = kMinute},
      {.origin = 0, .step = 5 * kMinute},
      {.origin = 0, .step = 15 * kMinute},
      {.origin = 7, .step = 777},
      {.origin = 0, .step = kHour},
      {.origin = 8 * kHour, .step = kDay},
      {.origin = 5 * kMinute, .step = 10 * kMinute},
      {.origin = 0, .step = 2 * kMinute},
  };
  std::uniform_int_distribution<TimestampMs> when(kT0 - kHour, last + kHour);
  for (int q = 0; q < 60; ++q) {
    TimestampMs from = when(rng);
    TimestampMs to = when(rng);
    if (from > to) std::swap(from, to);
    if (q % 7 == 0) from = RollupBucket(from);  // aligned edges too
    if (q % 5 == 0) to = RollupBucket(to);
    for (const StepGrid& grid : grids) {
      if (StepCount(grid, from, to) > 200'000) continue;
      CAPTURE(q, from, to, grid.origin, grid.step);
      CheckSameSteps(Downsample(*store, "s1", head, from, to, grid),
                     BruteForce(writer.truth(), from, to, grid));
    }
  }
  SECTION("and after every head is sealed") {
    writer.SealAll();
    const StepGrid grid{.origin = 0, .step = 10 * kMinute};
    CheckSameSteps(Downsample(*store, "s1", {}, kMin, kMax - 1, grid),
                   BruteForce(writer.truth(), kMin, kMax - 1, grid));
  }
}

TEST_CASE("Rollups equal a recomputation from the raw data", "[storage][history]") {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::mt19937_64 rng(GENERATE(4u, 5u));
  Writer writer(store.get(), "s1");
  writer.set_appends_per_write(GENERATE(1u, 5u));
  RandomHistory(writer, rng);
  writer.SealAll();
  // A restart replays readings already in chunks into a fresh HeadSet: the
  // same values, sealed again.
  Writer replay(store.get(), "s1", 1'000'000);
  std::vector<TimestampMs> times;
  std::vector<double> values;
  for (const auto& [at, value] : writer.truth()) {
    if (at > kT0 + 2 * kHour && at < kT0 + 3 * kHour) {
      times.push_back(at);
      values.push_back(value);
    }
  }
  replay.Append(times, values);
  replay.SealAll();

  std::vector<Step> rollups;
  REQUIRE(store->ReadRollups(nullptr, "s1", kMin, kMax, &rollups).ok());
  CheckSameSteps(rollups,
                 BruteForce(writer.truth(), kMin, kMax, StepGrid{.origin = 0, .step = kBucket}));
  std::vector<Reading> raw;
  REQUIRE(store->ReadChunks("s1", kMin, kMax, &raw).ok());
  CHECK(raw.size() == writer.truth().size());
}

TEST_CASE("Downsampled range edges: from inclusive, to exclusive, empty ranges",
          "[storage][history]") {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  Writer writer(store.get(), "s1");
  // One reading a minute for an hour, value = minute.
  std::vector<TimestampMs> times;
  std::vector<double> values;
  for (int m = 0; m < 60; ++m) {
    times.push_back(kT0 + m * kMinute);
    values.push_back(m);
  }
  writer.Append(times, values);
  writer.SealAll();
  const StepGrid five{.origin = 0, .step = 5 * kMinute};

  SECTION("a reading at from counts, one at to does not") {
    const auto steps = Downsample(*store, "s1", {}, kT0 + 10 * kMinute, kT0 + 20 * kMinute, five);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].start == kT0 + 10 * kMinute);
    CHECK(steps[0].stats.count == 5);
    CHECK(steps[0].stats.min == 10);
    CHECK(steps[1].stats.count == 5);
    CHECK(steps[1].stats.max == 19);
    CHECK(steps[1].stats.last == 19);
  }
  SECTION("edges inside a step count only the readings inside the range") {
    const auto steps =
        Downsample(*store, "s1", {}, kT0 + 12 * kMinute, kT0 + 17 * kMinute + 1, five);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].start == kT0 + 10 * kMinute);  // the step's start on the grid
    CHECK(steps[0].stats.count == 3);             // minutes 12, 13, 14
    CHECK(steps[0].stats.min == 12);
    CHECK(steps[1].stats.count == 3);  // 15, 16, 17
    CHECK(steps[1].stats.last == 17);
  }
  SECTION("empty ranges and ranges without readings give no steps") {
    CHECK(Downsample(*store, "s1", {}, kT0, kT0, five).empty());
    CHECK(Downsample(*store, "s1", {}, kT0 + 5, kT0 + 6, five).empty());
    CHECK(Downsample(*store, "s1", {}, kT0 - kDay, kT0, five).empty());
    CHECK(Downsample(*store, "s1", {}, kT0 + kHour, kT0 + kDay, five).empty());
    CHECK(Downsample(*store, "other", {}, kT0, kT0 + kHour, five).empty());
  }
  SECTION("one millisecond ranges") {
    const auto steps = Downsample(*store, "s1", {}, kT0 + kMinute, kT0 + kMinute + 1,
                                  StepGrid{.origin = 0, .step = kMinute});
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].stats.count == 1);
    CHECK(steps[0].stats.last == 1);
  }
}

TEST_CASE("Late data lands in the step of its time", "[storage][history]") {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  Writer writer(store.get(), "s1");
  const StepGrid five{.origin = 0, .step = 5 * kMinute};
  writer.Append({kT0 + 30 * kMinute, kT0 + 31 * kMinute}, {1, 2});
  writer.SealAll();
  // Arrives later, for the first step: sealed into its own chunk.
  writer.Append({kT0 + 1 * kMinute, kT0 + 2 * kMinute}, {-5, 50});
  SECTION("while still in the head") {
    const auto steps = Downsample(*store, "s1", writer.Head(), kT0, kT0 + kHour, five);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].start == kT0);
    CHECK(steps[0].stats.count == 2);
    CHECK(steps[0].stats.min == -5);
    CHECK(steps[0].stats.max == 50);
    CHECK(steps[1].start == kT0 + 30 * kMinute);
    CHECK(steps[1].stats.count == 2);
  }
  SECTION("once sealed (read from the rollups)") {
    writer.SealAll();
    const auto steps = Downsample(*store, "s1", {}, kT0, kT0 + kHour, five);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].start == kT0);
    CHECK(steps[0].stats.count == 2);
    CHECK(steps[0].stats.last == 50);
    CHECK(steps[1].stats.sum == 3);
  }
}

TEST_CASE("A rewritten timestamp counts once, with its latest value", "[storage][history]") {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  Writer writer(store.get(), "s1");
  writer.Append({kT0, kT0 + kSecond, kT0 + 2 * kSecond}, {1, 2, 3});
  writer.SealAll();
  writer.Append({kT0 + kSecond}, {20});  // a correction
  const StepGrid five{.origin = 0, .step = 5 * kMinute};
  for (bool sealed : {false, true}) {
    CAPTURE(sealed);
    if (sealed) writer.SealAll();
    const auto steps = Downsample(*store, "s1", writer.Head(), kT0, kT0 + kHour, five);
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].stats.count == 3);
    CHECK(steps[0].stats.sum == 24);
    CHECK(steps[0].stats.max == 20);
    CHECK(steps[0].stats.last == 3);
  }
}

SealedChunk Chunk(const std::string& sensor, const std::vector<std::pair<TimestampMs, double>>& rs,
                  uint64_t chunk_id) {
  ChunkEncoder encoder;
  for (const auto& [at, v] : rs) encoder.Append(at, v, alarm::kQualityGood);
  return SealedChunk{.sensor_id = sensor,
                     .first_at = encoder.first_at(),
                     .last_at = encoder.last_at(),
                     .chunk_id = chunk_id,
                     .bytes = encoder.Finish()};
}

TEST_CASE("A rewrite recomputed in one write with an earlier chunk of its bucket keeps both",
          "[storage][history]") {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  const std::vector<SealedChunk> first = {Chunk("s1", {{kT0 + 210 * kSecond, 1}}, 1)};
  REQUIRE(store->WriteChunks(first).ok());
  // One call: a chunk without repeats, then one in the same bucket that
  // rewrites the stored reading (its bucket is recomputed).
  const std::vector<SealedChunk> both = {
      Chunk("s1", {{kT0, 10}, {kT0 + 60 * kSecond, 20}}, 2),
      Chunk("s1", {{kT0 + 180 * kSecond, 30}, {kT0 + 210 * kSecond, 40}}, 3)};
  REQUIRE(store->WriteChunks(both).ok());
  std::vector<Step> rollups;
  REQUIRE(store->ReadRollups(nullptr, "s1", kMin, kMax, &rollups).ok());
  REQUIRE(rollups.size() == 1);
  CHECK(rollups[0].stats.count == 4);
  CHECK(rollups[0].stats.sum == 100);
  CHECK(rollups[0].stats.last == 40);
}

TEST_CASE("ReadChunksAt with max_readings gives the first readings exactly and stops early",
          "[storage][history]") {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  std::mt19937_64 rng(GENERATE(6u, 7u));
  Writer writer(store.get(), "s1");
  RandomHistory(writer, rng);  // overlapping chunks: late data and rewrites
  writer.SealAll();
  Writer in_order(store.get(), "s2");
  for (int i = 0; i < 40; ++i) {
    std::vector<TimestampMs> times(20);
    for (int k = 0; k < 20; ++k) times[static_cast<size_t>(k)] = kT0 + (i * 20 + k) * kSecond;
    in_order.Append(times, std::vector<double>(times.size(), 1.5));
  }
  in_order.SealAll();
  for (const char* sensor : {"s1", "s2"}) {
    std::vector<Reading> all;
    REQUIRE(store->ReadChunks(sensor, kMin, kMax, &all).ok());
    for (size_t limit :
         {size_t{1}, size_t{2}, size_t{33}, size_t{500}, all.size(), all.size() + 5}) {
      CAPTURE(sensor, limit);
      std::vector<Reading> first;
      REQUIRE(store->ReadChunksAt(nullptr, sensor, kMin, kMax, limit, &first).ok());
      REQUIRE(first.size() == std::min(limit, all.size()));
      for (size_t i = 0; i < first.size(); ++i) {
        CHECK(first[i].at == all[i].at);
        CHECK(first[i].value == all[i].value);
      }
    }
  }
}

TEST_CASE("ReadChunksAt with max_readings stops before chunks past the page",
          "[storage][history]") {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  SealedChunk damaged = Chunk("s1", {{kT0 + kHour, 1}, {kT0 + kHour + 1, 2}}, 9);
  damaged.bytes[damaged.bytes.size() / 2] ^= 1;
  const std::vector<SealedChunk> chunks = {Chunk("s1", {{kT0, 1}, {kT0 + 1, 2}, {kT0 + 2, 3}}, 1),
                                           Chunk("s1", {{kT0 + 10, 4}, {kT0 + 11, 5}}, 2), damaged};
  REQUIRE(store->WriteChunks(chunks).ok());
  std::vector<Reading> page;
  REQUIRE(store->ReadChunksAt(nullptr, "s1", kMin, kMax, 4, &page).ok());
  REQUIRE(page.size() == 4);
  CHECK(page.back().at == kT0 + 10);
  std::vector<Reading> all;
  CHECK(store->ReadChunks("s1", kMin, kMax, &all).code() == Status::Code::kCorruption);
}

}  // namespace
}  // namespace vigil::storage
