#include "storage/head_set.h"

#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace vigil::storage {
namespace {

using alarm::Quality;
using alarm::Reading;
using alarm::TimestampMs;

constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr TimestampMs kSpanMs = kMaxChunkSpan.count();

// Appends readings at the given times (value = time / 1000) from one log record.
void AppendAt(HeadSet& heads, std::string_view sensor, const std::vector<TimestampMs>& at,
              uint64_t log_seq, std::vector<SealedChunk>* sealed,
              const std::vector<Quality>& quality = {}) {
  std::vector<double> values;
  for (TimestampMs t : at) values.push_back(static_cast<double>(t) / 1000.0);
  heads.Append(sensor, at, values, quality, log_seq, sealed);
}

std::vector<TimestampMs> Times(TimestampMs start, TimestampMs step, size_t n) {
  std::vector<TimestampMs> out;
  for (size_t i = 0; i < n; ++i) out.push_back(start + static_cast<TimestampMs>(i) * step);
  return out;
}

std::vector<TimestampMs> TimesOf(const std::vector<Reading>& readings) {
  std::vector<TimestampMs> out;
  for (const Reading& r : readings) out.push_back(r.at);
  return out;
}

std::vector<Reading> Head(const HeadSet& heads, std::string_view sensor, TimestampMs from = kMin,
                          TimestampMs to = kMax) {
  std::vector<Reading> out;
  heads.ReadHead(sensor, from, to, &out);
  return out;
}

std::vector<Reading> Decode(const SealedChunk& chunk) {
  std::vector<Reading> out;
  REQUIRE(DecodeChunk(chunk.bytes, kMin, kMax, &out).ok());
  const auto summary = InspectChunk(chunk.bytes);
  REQUIRE(summary.has_value());
  REQUIRE(summary->first_at == chunk.first_at);
  REQUIRE(summary->last_at == chunk.last_at);
  return out;
}

TEST_CASE("HeadSet appends series and reads them back from the head", "[storage][head]") {
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  AppendAt(heads, "tank-1/level", Times(kT0, 1000, 5), 1, &sealed);
  AppendAt(heads, "tank-1/level", Times(kT0 + 5000, 1000, 5), 2, &sealed, {0, 0, 3, 3, 0});
  AppendAt(heads, "tank-2/temp", Times(kT0, 10'000, 3), 2, &sealed);
  CHECK(sealed.empty());
  CHECK(heads.sensor_count() == 2);
  CHECK(heads.readings_in_heads() == 13);

  const auto level = Head(heads, "tank-1/level");
  REQUIRE(TimesOf(level) == Times(kT0, 1000, 10));
  CHECK(level[3].value == static_cast<double>(kT0 + 3000) / 1000.0);
  CHECK(level[4].quality == 0);
  CHECK(level[7].quality == 3);
  CHECK(level[8].quality == 3);
  CHECK(level[9].quality == 0);
  CHECK(TimesOf(Head(heads, "tank-2/temp")) == Times(kT0, 10'000, 3));
  CHECK(Head(heads, "unknown").empty());
  CHECK(heads.memory_bytes() > sizeof(HeadSet));
}

TEST_CASE("HeadSet finds every one of 20,000 sensors as its index grows, and no other",
          "[storage][head]") {
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  constexpr int kSensors = 20'000;
  for (int i = 0; i < kSensors; ++i) {
    AppendAt(heads, "plant-7/sensor-" + std::to_string(i), {kT0 + i}, 1, &sealed);
  }
  // A second round finds the heads the first made (no new head per append).
  for (int i = 0; i < kSensors; ++i) {
    AppendAt(heads, "plant-7/sensor-" + std::to_string(i), {kT0 + kSensors + i}, 2, &sealed);
  }
  CHECK(heads.sensor_count() == kSensors);
  CHECK(heads.readings_in_heads() == 2 * kSensors);
  for (int i = 0; i < kSensors; i += 997) {
    const auto readings = Head(heads, "plant-7/sensor-" + std::to_string(i));
    REQUIRE(TimesOf(readings) == std::vector<TimestampMs>{kT0 + i, kT0 + kSensors + i});
    const auto latest = heads.Latest("plant-7/sensor-" + std::to_string(i));
    REQUIRE(latest.has_value());
    CHECK(latest->at == kT0 + kSensors + i);
  }
  CHECK(Head(heads, "plant-7/sensor-20000").empty());
  CHECK_FALSE(heads.Latest("plant-7/sensor-").has_value());
  CHECK_FALSE(heads.LatestSeeded("plant-7/sensor-1"));
}

TEST_CASE("HeadSet ReadHead returns readings from from up to before to", "[storage][head]") {
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  AppendAt(heads, "s", Times(1000, 100, 10), 1, &sealed);  // 1000..1900
  CHECK(TimesOf(Head(heads, "s", 1200, 1500)) == std::vector<TimestampMs>{1200, 1300, 1400});
  CHECK(TimesOf(Head(heads, "s", 1250, 1301)) == std::vector<TimestampMs>{1300});
  CHECK(Head(heads, "s", 0, 1000).empty());
  CHECK(Head(heads, "s", 1901, kMax).empty());
  // Appends after what is already in *out.
  std::vector<Reading> out = {Reading{1, 1, 0}};
  heads.ReadHead("s", 1900, 2000, &out);
  CHECK(TimesOf(out) == std::vector<TimestampMs>{1, 1900});
}

TEST_CASE("HeadSet seals a head when it reaches max readings", "[storage][head]") {
  HeadSetOptions options;
  options.max_readings_per_chunk = 4;
  HeadSet heads(options);
  std::vector<SealedChunk> sealed;
  AppendAt(heads, "s", Times(kT0, 1000, 3), 1, &sealed);
  CHECK(sealed.empty());
  AppendAt(heads, "s", Times(kT0 + 3000, 1000, 7), 2, &sealed);
  REQUIRE(sealed.size() == 2);
  CHECK(sealed[0].sensor_id == "s");
  CHECK(TimesOf(Decode(sealed[0])) == Times(kT0, 1000, 4));
  CHECK(TimesOf(Decode(sealed[1])) == Times(kT0 + 4000, 1000, 4));
  CHECK(sealed[0].first_at == kT0);
  CHECK(sealed[0].last_at == kT0 + 3000);
  CHECK(TimesOf(Head(heads, "s")) == Times(kT0 + 8000, 1000, 2));
  CHECK(heads.readings_in_heads() == 2);

  SECTION("a full head is sealed at once, not on the next reading") {
    AppendAt(heads, "s", Times(kT0 + 10'000, 1000, 2), 3, &sealed);
    CHECK(sealed.size() == 3);
    CHECK(heads.readings_in_heads() == 0);
    CHECK(Head(heads, "s").empty());
    CHECK_FALSE(heads.OldestUnsealedLogSeq().has_value());
  }
}

TEST_CASE("HeadSet seals on out-of-order and repeated timestamps", "[storage][head]") {
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  AppendAt(heads, "s", {1000, 2000, 3000}, 1, &sealed);

  SECTION("repeated timestamp") {
    AppendAt(heads, "s", {3000, 4000}, 2, &sealed);
    REQUIRE(sealed.size() == 1);
    CHECK(TimesOf(Decode(sealed[0])) == std::vector<TimestampMs>{1000, 2000, 3000});
    CHECK(TimesOf(Head(heads, "s")) == std::vector<TimestampMs>{3000, 4000});
  }
  SECTION("out of order within one series") {
    AppendAt(heads, "s", {4000, 1500, 2500, 2400}, 2, &sealed);
    REQUIRE(sealed.size() == 2);
    CHECK(TimesOf(Decode(sealed[0])) == std::vector<TimestampMs>{1000, 2000, 3000, 4000});
    CHECK(TimesOf(Decode(sealed[1])) == std::vector<TimestampMs>{1500, 2500});
    CHECK(sealed[1].chunk_id > sealed[0].chunk_id);
    CHECK(TimesOf(Head(heads, "s")) == std::vector<TimestampMs>{2400});
  }
  SECTION("backfill older than the head") {
    AppendAt(heads, "s", {-5000, -4000}, 2, &sealed);
    REQUIRE(sealed.size() == 1);
    CHECK(TimesOf(Head(heads, "s")) == std::vector<TimestampMs>{-5000, -4000});
  }
}

TEST_CASE("HeadSet seals when a reading would make the span exceed kMaxChunkSpan",
          "[storage][head]") {
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  AppendAt(heads, "s", {kT0, kT0 + kSpanMs}, 1, &sealed);  // exactly the maximum span: kept
  CHECK(sealed.empty());
  AppendAt(heads, "s", {kT0 + kSpanMs + 1}, 2, &sealed);
  REQUIRE(sealed.size() == 1);
  CHECK(sealed[0].first_at == kT0);
  CHECK(sealed[0].last_at == kT0 + kSpanMs);
  CHECK(sealed[0].last_at - sealed[0].first_at <= kSpanMs);

  SECTION("gaps of months and of the whole int64 range") {
    AppendAt(heads, "s", {kT0 + 90LL * 24 * 3600 * 1000}, 3, &sealed);
    CHECK(sealed.size() == 2);
    AppendAt(heads, "t", {kMin, kMax}, 4, &sealed);
    REQUIRE(sealed.size() == 3);
    CHECK(sealed[2].first_at == kMin);
    CHECK(Head(heads, "t", kMin, kMax).empty());  // `to` is exclusive: kMax is never returned
    CHECK(heads.readings_in_heads() == 2);
  }
}

TEST_CASE("HeadSet SealThrough seals heads whose oldest reading is from a log record <= seq",
          "[storage][head]") {
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  AppendAt(heads, "a", {1000}, 10, &sealed);
  AppendAt(heads, "b", {1000}, 11, &sealed);
  AppendAt(heads, "a", {2000}, 12, &sealed);  // a's oldest reading stays from record 10
  AppendAt(heads, "c", {1000}, 13, &sealed);
  REQUIRE(heads.OldestUnsealedLogSeq() == 10u);

  heads.SealThrough(9, &sealed);
  CHECK(sealed.empty());
  heads.SealThrough(10, &sealed);
  REQUIRE(sealed.size() == 1);
  CHECK(sealed[0].sensor_id == "a");
  CHECK(TimesOf(Decode(sealed[0])) == std::vector<TimestampMs>{1000, 2000});
  CHECK(heads.OldestUnsealedLogSeq() == 11u);
  CHECK(heads.readings_in_heads() == 2);

  heads.SealThrough(12, &sealed);  // b (11); c (13) stays
  REQUIRE(sealed.size() == 2);
  CHECK(sealed[1].sensor_id == "b");
  CHECK(heads.OldestUnsealedLogSeq() == 13u);
  CHECK(heads.sensor_count() == 3);  // sealed sensors keep their entry

  // A sealed sensor that reports again opens a head at the new record.
  AppendAt(heads, "a", {3000}, 14, &sealed);
  CHECK(heads.OldestUnsealedLogSeq() == 13u);
  heads.SealThrough(13, &sealed);
  CHECK(sealed.size() == 3);
  CHECK(sealed[2].sensor_id == "c");
  CHECK(heads.OldestUnsealedLogSeq() == 14u);
}

TEST_CASE("HeadSet OldestUnsealedLogSeq follows seals made by Append", "[storage][head]") {
  HeadSetOptions options;
  options.max_readings_per_chunk = 3;
  HeadSet heads(options);
  std::vector<SealedChunk> sealed;
  CHECK_FALSE(heads.OldestUnsealedLogSeq().has_value());
  AppendAt(heads, "a", {1, 2}, 5, &sealed);
  AppendAt(heads, "b", {1}, 6, &sealed);
  CHECK(heads.OldestUnsealedLogSeq() == 5u);
  AppendAt(heads, "a", {3, 4}, 7, &sealed);  // seals a's {1,2,3}; {4} now from record 7
  REQUIRE(sealed.size() == 1);
  CHECK(heads.OldestUnsealedLogSeq() == 6u);
  AppendAt(heads, "b", {0}, 8, &sealed);  // out of order: b's {1} sealed, {0} from 8
  CHECK(heads.OldestUnsealedLogSeq() == 7u);
  AppendAt(heads, "a", {5, 6}, 9, &sealed);  // a full again: sealed, empty
  CHECK(heads.OldestUnsealedLogSeq() == 8u);
  heads.SealAll(&sealed);
  CHECK_FALSE(heads.OldestUnsealedLogSeq().has_value());
  CHECK(heads.readings_in_heads() == 0);
  CHECK(heads.sensor_count() == 2);
}

TEST_CASE("HeadSet takes the smallest log seq of a head when records arrive out of order",
          "[storage][head]") {
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  AppendAt(heads, "a", {1000}, 20, &sealed);
  AppendAt(heads, "b", {1000}, 15, &sealed);
  AppendAt(heads, "a", {2000}, 10, &sealed);
  CHECK(heads.OldestUnsealedLogSeq() == 10u);
  heads.SealThrough(12, &sealed);
  REQUIRE(sealed.size() == 1);
  CHECK(sealed[0].sensor_id == "a");
  CHECK(heads.OldestUnsealedLogSeq() == 15u);
}

TEST_CASE("HeadSet keeps its heads and seal order when moved", "[storage][head]") {
  HeadSet original(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  AppendAt(original, "a", {1000, 2000}, 1, &sealed);
  AppendAt(original, "b", {1000}, 2, &sealed);
  HeadSet heads = std::move(original);
  CHECK(heads.OldestUnsealedLogSeq() == 1u);
  AppendAt(heads, "a", {3000}, 3, &sealed);
  heads.SealThrough(1, &sealed);
  REQUIRE(sealed.size() == 1);
  CHECK(TimesOf(Decode(sealed[0])) == std::vector<TimestampMs>{1000, 2000, 3000});
  CHECK(heads.OldestUnsealedLogSeq() == 2u);
  CHECK(TimesOf(Head(heads, "b")) == std::vector<TimestampMs>{1000});
}

TEST_CASE("HeadSet chunk ids start at first_chunk_id and grow by the stride", "[storage][head]") {
  HeadSetOptions options;
  options.max_readings_per_chunk = 2;
  options.first_chunk_id = 3;
  options.chunk_id_stride = 4;
  HeadSet heads(options);
  std::vector<SealedChunk> sealed;
  AppendAt(heads, "a", Times(0, 1, 5), 1, &sealed);
  AppendAt(heads, "b", Times(0, 1, 3), 2, &sealed);
  heads.SealAll(&sealed);
  std::vector<uint64_t> ids;
  for (const SealedChunk& c : sealed) ids.push_back(c.chunk_id);
  CHECK(ids == std::vector<uint64_t>{3, 7, 11, 15, 19});  // a: 2 full + 1, b: 1 full + 1
}

TEST_CASE("HeadSet SealAll releases buffers and keeps sensors", "[storage][head]") {
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  const size_t empty_bytes = heads.memory_bytes();
  for (int s = 0; s < 100; ++s) {
    AppendAt(heads, "sensor-with-a-long-identifier-" + std::to_string(s), Times(kT0, 1000, 100), 1,
             &sealed);
  }
  const size_t full_bytes = heads.memory_bytes();
  CHECK(full_bytes > empty_bytes + 100 * 100);
  heads.SealAll(&sealed);
  CHECK(sealed.size() == 100);
  CHECK(heads.sensor_count() == 100);
  CHECK(heads.readings_in_heads() == 0);
  CHECK(heads.memory_bytes() < full_bytes - 100 * 100);
  for (const SealedChunk& c : sealed) CHECK(Decode(c).size() == 100);
}

// Random appends and seals against a model: every reading ends up exactly once,
// in a sealed chunk or a head, chunks obey the limits, and OldestUnsealedLogSeq
// matches the oldest record with a reading still in a head.
TEST_CASE("HeadSet keeps every reading exactly once under random load", "[storage][head]") {
  HeadSetOptions options;
  options.max_readings_per_chunk = 16;
  HeadSet heads(options);
  std::mt19937_64 rng(21);
  std::vector<SealedChunk> sealed;
  std::map<std::string, std::vector<TimestampMs>> appended;   // per sensor, in append order
  std::map<std::string, std::vector<uint64_t>> appended_seq;  // log record of each reading
  std::map<std::string, TimestampMs> next_at;
  // The head holds a sensor's last k appended readings, so the model's oldest
  // unsealed record is the record of the first of them.
  auto model_oldest = [&]() -> std::optional<uint64_t> {
    std::optional<uint64_t> oldest;
    for (const auto& [sensor, log] : appended) {
      const size_t k = Head(heads, sensor).size();
      if (k == 0) continue;
      const uint64_t seq = appended_seq[sensor][log.size() - k];
      if (!oldest || seq < *oldest) oldest = seq;
    }
    return oldest;
  };
  uint64_t seq = 0;
  for (int step = 0; step < 3000; ++step) {
    const std::string sensor = "s" + std::to_string(rng() % 40);
    std::vector<TimestampMs> at;
    TimestampMs t = next_at.count(sensor) ? next_at[sensor] : kT0;
    const size_t n = 1 + rng() % 8;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t kind = rng() % 20;
      t += kind == 0 ? -5000 : kind == 1 ? 0 : kind == 2 ? kSpanMs : 1000;
      at.push_back(t);
    }
    next_at[sensor] = t + 1000;
    AppendAt(heads, sensor, at, ++seq, &sealed);
    auto& log = appended[sensor];
    log.insert(log.end(), at.begin(), at.end());
    appended_seq[sensor].insert(appended_seq[sensor].end(), n, seq);
    if (rng() % 50 == 0) {
      const uint64_t through = seq - rng() % 20;
      heads.SealThrough(through, &sealed);
      const auto oldest = heads.OldestUnsealedLogSeq();
      REQUIRE((!oldest || *oldest > through));
    }
    if (step % 100 == 0) REQUIRE(heads.OldestUnsealedLogSeq() == model_oldest());
  }
  REQUIRE(heads.OldestUnsealedLogSeq() == model_oldest());
  uint64_t total = 0;
  for (const auto& [sensor, log] : appended) total += log.size();
  uint64_t in_chunks = 0;
  for (const SealedChunk& c : sealed) in_chunks += InspectChunk(c.bytes)->count;
  CHECK(heads.readings_in_heads() + in_chunks == total);

  heads.SealAll(&sealed);
  std::map<std::string, std::vector<TimestampMs>> stored;
  uint64_t last_id = 0;
  for (const SealedChunk& c : sealed) {
    REQUIRE(c.chunk_id > last_id);
    last_id = c.chunk_id;
    const auto readings = Decode(c);
    REQUIRE(readings.size() <= options.max_readings_per_chunk);
    REQUIRE(c.last_at - c.first_at <= kSpanMs);
    auto& s = stored[c.sensor_id];
    for (const Reading& r : readings) s.push_back(r.at);
  }
  // Chunks of one sensor, taken in id order, replay its appends in order.
  CHECK(stored == appended);
}

}  // namespace
}  // namespace vigil::storage

namespace vigil::storage {
namespace {

TEST_CASE("HeadSet Latest ignores late readings older than the current latest",
          "[storage][head][latest]") {
  HeadSet heads(HeadSetOptions{.max_readings_per_chunk = 4});
  std::vector<SealedChunk> sealed;
  CHECK_FALSE(heads.Latest("s").has_value());
  heads.Append("s", std::vector<TimestampMs>{kT0, kT0 + 2000}, std::vector<double>{1, 2},
               std::vector<Quality>{0, 7}, 1, &sealed);
  auto latest = heads.Latest("s");
  REQUIRE(latest.has_value());
  CHECK(latest->at == kT0 + 2000);
  CHECK(latest->value == 2);
  CHECK(latest->quality == 7);

  // Late: older than the latest, in the same series as a newer one.
  heads.Append("s", std::vector<TimestampMs>{kT0 + 1000, kT0 + 3000, kT0 + 500},
               std::vector<double>{10, 30, 5}, {}, 2, &sealed);
  CHECK(heads.Latest("s")->at == kT0 + 3000);
  CHECK(heads.Latest("s")->value == 30);
  CHECK(heads.Latest("s")->quality == alarm::kQualityGood);

  // A rewrite of the latest time replaces it.
  heads.Append("s", std::vector<TimestampMs>{kT0 + 3000}, std::vector<double>{33}, {}, 3, &sealed);
  CHECK(heads.Latest("s")->value == 33);

  // Sealing every head keeps it.
  heads.SealAll(&sealed);
  CHECK(heads.Latest("s")->at == kT0 + 3000);
  CHECK_FALSE(heads.Latest("other").has_value());
}

TEST_CASE("HeadSet SeedLatest folds in the stored latest, never over a newer one",
          "[storage][head][latest]") {
  HeadSet heads(HeadSetOptions{});
  std::vector<SealedChunk> sealed;
  CHECK_FALSE(heads.LatestSeeded("a"));
  heads.SeedLatest("a", Reading{.at = kT0, .value = 1, .quality = 0});
  CHECK(heads.LatestSeeded("a"));
  REQUIRE(heads.Latest("a").has_value());
  CHECK(heads.Latest("a")->value == 1);
  CHECK(Head(heads, "a").empty());  // no head data made up

  // Appended since a restart, but older than what the store holds.
  AppendAt(heads, "b", {kT0 + 5000}, 1, &sealed);
  CHECK_FALSE(heads.LatestSeeded("b"));
  heads.SeedLatest("b", Reading{.at = kT0 + 6000, .value = 6, .quality = 0});
  CHECK(heads.Latest("b")->value == 6);
  heads.SeedLatest("b", Reading{.at = kT0, .value = 99, .quality = 0});
  CHECK(heads.Latest("b")->value == 6);
  AppendAt(heads, "b", {kT0 + 5500}, 2, &sealed);  // late against the seed
  CHECK(heads.Latest("b")->value == 6);

  heads.SeedLatest("c", std::nullopt);  // nothing stored
  CHECK(heads.LatestSeeded("c"));
  CHECK_FALSE(heads.Latest("c").has_value());
}

// The shard's path: series located by their ingest-log number (no id hash
// after a sensor's first series), then appended by slot.
TEST_CASE("HeadSet::Locate finds a numbered sensor's head by its number", "[storage][head]") {
  HeadSet heads(HeadSetOptions{.max_readings_per_chunk = 8});
  const std::vector<TimestampMs> at = {kT0, kT0 + 1000};
  const std::vector<double> values = {1, 2};
  auto locate = [&](std::string_view id, uint32_t number) {
    alarm::SeriesView series[1];
    series[0].sensor_id = id;
    series[0].log_number = number;
    std::vector<uint32_t> slots;
    heads.Locate(series, &slots);
    REQUIRE(slots.size() == 1);
    return slots[0];
  };
  const uint32_t a = locate("a", 5);  // first sight: by id, head created
  CHECK(heads.sensor_count() == 1);
  CHECK(locate("a", 5) == a);
  // Later series: by number only (the id is not looked at).
  CHECK(locate("other-id", 5) == a);
  CHECK(heads.sensor_count() == 1);
  // By id (number 0) finds the same head; another number, another sensor.
  CHECK(locate("a", 0) == a);
  const uint32_t b = locate("b", 70000);  // grows the number table
  CHECK(b != a);
  CHECK(heads.sensor_count() == 2);

  std::vector<SealedChunk> sealed;
  heads.AppendAt(locate("ignored", 5), at, values, {}, 1, &sealed);
  std::vector<Reading> out;
  heads.ReadHead("a", kMin, kMax, &out);
  REQUIRE(out.size() == 2);
  CHECK(out[1].value == 2);
  CHECK(heads.Latest("a")->value == 2);
}

TEST_CASE("HeadSet::AppendAt cuts a head's first chunk as Append does", "[storage][head]") {
  // The first chunk is shortened by the id's hash; Locate computes it once.
  for (const std::string id : {"gas-1", "gas-2", "temp-17", "level-x"}) {
    HeadSet by_id(HeadSetOptions{.max_readings_per_chunk = 16});
    HeadSet by_slot(HeadSetOptions{.max_readings_per_chunk = 16});
    std::vector<SealedChunk> sealed_id;
    std::vector<SealedChunk> sealed_slot;
    alarm::SeriesView series[1];
    series[0].sensor_id = id;
    series[0].log_number = 3;
    std::vector<uint32_t> slots;
    for (uint64_t k = 0; k < 40; ++k) {
      const std::vector<TimestampMs> at = {kT0 + static_cast<TimestampMs>(k) * 1000};
      const std::vector<double> v = {static_cast<double>(k)};
      by_id.Append(id, at, v, {}, k + 1, &sealed_id);
      by_slot.Locate(series, &slots);
      by_slot.AppendAt(slots[0], at, v, {}, k + 1, &sealed_slot);
    }
    REQUIRE(sealed_id.size() == sealed_slot.size());
    REQUIRE(!sealed_id.empty());
    for (size_t i = 0; i < sealed_id.size(); ++i) {
      CHECK(sealed_id[i].first_at == sealed_slot[i].first_at);
      CHECK(sealed_id[i].last_at == sealed_slot[i].last_at);
    }
  }
}

}  // namespace
}  // namespace vigil::storage
