#include "storage/ingest_record.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "alarm/engine.h"
#include "storage/ingest_record_v1.h"
#include "storage/sensor_numbers.h"

namespace vigil::storage {
namespace {

using alarm::Quality;
using alarm::SeriesView;
using alarm::TimestampMs;

struct TestSeries {
  std::string sensor_id;
  uint32_t number = 0;  // 0: named by id
  std::vector<TimestampMs> timestamps;
  std::vector<double> values;
  std::vector<Quality> quality;  // empty: none
  bool operator==(const TestSeries& o) const {
    // The number too: the shard finds a numbered series' head by it.
    return sensor_id == o.sensor_id && number == o.number && timestamps == o.timestamps &&
           std::memcmp(values.data(), o.values.data(), values.size() * 8) == 0 &&
           values.size() == o.values.size() && quality == o.quality;
  }
};

std::ostream& operator<<(std::ostream& os, const TestSeries& s) {
  return os << s.sensor_id << " #" << s.number << " n=" << s.timestamps.size()
            << " q=" << s.quality.size();
}

// A record as batch prep writes it: each series in its owner's section.
std::string Build(const std::vector<TestSeries>& series, uint32_t shard_count,
                  IngestRecordBuilder* builder) {
  builder->Reset("gw-1", 7, 42, shard_count);
  for (const TestSeries& s : series) {
    const auto n = static_cast<uint32_t>(s.timestamps.size());
    builder->BeginSeries(alarm::ShardOf(s.sensor_id, shard_count), s.number, s.sensor_id, n,
                         !s.quality.empty());
    for (uint32_t k = 0; k < n; ++k) {
      builder->AddReading(s.timestamps[k], s.values[k], s.quality.empty() ? 0 : s.quality[k]);
    }
  }
  return builder->Release();
}

std::vector<TestSeries> Read(ShardSeriesReader& reader) {
  std::vector<TestSeries> out;
  for (const SeriesView& s : reader.series()) {
    out.push_back(TestSeries{std::string(s.sensor_id),
                             s.log_number,
                             {s.timestamps.begin(), s.timestamps.end()},
                             {s.values.begin(), s.values.end()},
                             {s.quality.begin(), s.quality.end()}});
  }
  return out;
}

std::vector<TestSeries> OwnedBy(const std::vector<TestSeries>& all, uint32_t shard,
                                uint32_t shard_count) {
  std::vector<TestSeries> out;
  for (const TestSeries& s : all) {
    if (alarm::ShardOf(s.sensor_id, shard_count) == shard) out.push_back(s);
  }
  return out;
}

std::vector<TestSeries> Sample(SensorNumbers* numbers) {
  std::vector<TestSeries> series;
  for (uint32_t i = 0; i < 40; ++i) {
    TestSeries s;
    s.sensor_id = "plant-7/area-" + std::to_string(i) + "/PT-" + std::to_string(i * 13);
    if (i % 2 == 0) {  // half by number, half inline
      s.number = 1000 + i;
      REQUIRE(numbers->Add(s.number, s.sensor_id).ok());
    }
    const uint32_t n = 1 + i % 5;
    for (uint32_t k = 0; k < n; ++k) {
      // Out of order and far apart too: deltas are signed and 64-bit.
      s.timestamps.push_back(k == 3 ? int64_t{-5} : 1'700'000'000'000 + 1000 * k - 7 * i);
      s.values.push_back(k == 4 ? -0.0 : i * 0.5 - k);
      if (i % 3 == 0) s.quality.push_back(k == 1 ? 0xffffffffu : k);
    }
    series.push_back(std::move(s));
  }
  series[5].values[0] = std::numeric_limits<double>::max();
  return series;
}

TEST_CASE("every shard reads back exactly the series it owns", "[ingest_record]") {
  SensorNumbers numbers;
  const std::vector<TestSeries> series = Sample(&numbers);
  IngestRecordBuilder builder;
  ShardSeriesReader reader;
  for (uint32_t shard_count : {1u, 2u, 5u}) {
    const std::string record = Build(series, shard_count, &builder);
    for (uint32_t shard = 0; shard < shard_count; ++shard) {
      REQUIRE(reader.Read(record, shard, shard_count, &numbers).ok());
      CHECK(reader.header().format == 2);
      CHECK(reader.header().gateway_id == "gw-1");
      CHECK(reader.header().epoch == 7);
      CHECK(reader.header().sequence == 42);
      CHECK(reader.header().shard_count == shard_count);
      CHECK(reader.header().reading_count == 120);
      CHECK(Read(reader) == OwnedBy(series, shard, shard_count));
    }
  }
}

TEST_CASE("a record split for another shard count is read whole and filtered", "[ingest_record]") {
  // The shard count changed between restarts: replay still hands each
  // shard its own series, and no series twice or never.
  SensorNumbers numbers;
  const std::vector<TestSeries> series = Sample(&numbers);
  IngestRecordBuilder builder;
  const std::string record = Build(series, 3, &builder);
  ShardSeriesReader reader;
  for (uint32_t running : {1u, 2u, 4u}) {
    size_t seen = 0;
    for (uint32_t shard = 0; shard < running; ++shard) {
      REQUIRE(reader.Read(record, shard, running, &numbers).ok());
      // Section by section: the order of different sensors may change, a
      // sensor's own series keep theirs (they share a section).
      auto by_id = [](const TestSeries& a, const TestSeries& b) {
        return a.sensor_id < b.sensor_id;
      };
      std::vector<TestSeries> got = Read(reader);
      std::vector<TestSeries> want = OwnedBy(series, shard, running);
      std::stable_sort(got.begin(), got.end(), by_id);
      std::stable_sort(want.begin(), want.end(), by_id);
      CHECK(got == want);
      seen += reader.series().size();
    }
    CHECK(seen == series.size());
  }
}

TEST_CASE("a shard does not decode another shard's section", "[ingest_record]") {
  // Shard 1's section (the record's last) is damaged: shard 0 reads its own,
  // shard 1 finds the damage. A reader that walked every section would fail
  // both.
  std::string id0, id1;
  for (char c = 'a'; c <= 'z'; ++c) {
    std::string& id = alarm::ShardOf(std::string(1, c), 2) == 0 ? id0 : id1;
    if (id.empty()) id = std::string(1, c);
  }
  REQUIRE((!id0.empty() && !id1.empty()));
  const std::vector<TestSeries> series = {
      {.sensor_id = id0, .number = 0, .timestamps = {1, 2}, .values = {1, 2}, .quality = {}},
      {.sensor_id = id1, .number = 0, .timestamps = {5}, .values = {3}, .quality = {}},
  };
  IngestRecordBuilder builder;
  std::string record = Build(series, 2, &builder);
  // The last series' reading count sits before its one reading (a one-byte
  // timestamp delta, zigzag 5 = 10, and 8 value bytes): make it claim 2.
  const size_t n_at = record.size() - 10;
  REQUIRE(record[n_at] == 1);
  record[n_at] = 2;
  ShardSeriesReader reader;
  REQUIRE(reader.Read(record, 0, 2, nullptr).ok());
  CHECK(Read(reader) == OwnedBy(series, 0, 2));
  CHECK(!reader.Read(record, 1, 2, nullptr).ok());
  CHECK(reader.series().empty());
  // Read as another shard count (every section), shard 0 finds it too.
  CHECK(!reader.Read(record, 0, 3, nullptr).ok());
}

TEST_CASE("one reading per series takes under 20 bytes", "[ingest_record]") {
  SensorNumbers numbers;
  IngestRecordBuilder builder;
  builder.Reset("gateway-0001", 1, 1, 4);
  const uint32_t kSeries = 500;
  for (uint32_t i = 0; i < kSeries; ++i) {
    const std::string id = "370105-plant-0001-PT-" + std::to_string(10000 + i);
    REQUIRE(numbers.Add(100000 + i, id).ok());
    builder.BeginSeries(alarm::ShardOf(id, 4), 100000 + i, id, 1, false);
    builder.AddReading(1'700'000'000'000, 12.5 + i, 0);
  }
  const std::string record = builder.Release();
  CHECK(static_cast<double>(record.size()) / kSeries <= 14.0);
  ShardSeriesReader reader;
  size_t seen = 0;
  for (uint32_t shard = 0; shard < 4; ++shard) {
    REQUIRE(reader.Read(record, shard, 4, &numbers).ok());
    for (const SeriesView& s : reader.series()) {
      CHECK(numbers.Find(s.sensor_id) != 0);
      CHECK(s.timestamps[0] == 1'700'000'000'000);
    }
    seen += reader.series().size();
  }
  CHECK(seen == kSeries);
}

TEST_CASE("VGR1 records are still read, filtered by owner", "[ingest_record]") {
  IngestRecordV1Builder v1;
  v1.Reset("gw-old", 3, 9);
  const std::vector<std::string> ids = {"s1", "s2", "s3", "s4", "s5"};
  for (const std::string& id : ids) {
    auto slots = v1.AddSeries(id, 2, true);
    slots.timestamps[0] = 100;
    slots.timestamps[1] = 200;
    slots.values[0] = 1.5;
    slots.values[1] = 2.5;
    slots.quality[0] = 0;
    slots.quality[1] = 7;
  }
  const std::string record = v1.Release();
  auto header = ParseIngestRecordHeader(record);
  REQUIRE(header.has_value());
  CHECK(header->format == 1);
  CHECK(header->gateway_id == "gw-old");
  CHECK(header->reading_count == 10);
  ShardSeriesReader reader;
  size_t seen = 0;
  for (uint32_t shard = 0; shard < 3; ++shard) {
    REQUIRE(reader.Read(record, shard, 3, nullptr).ok());
    CHECK(reader.header().format == 1);
    CHECK(reader.header().sequence == 9);
    for (const SeriesView& s : reader.series()) {
      CHECK(alarm::ShardOf(s.sensor_id, 3) == shard);
      CHECK(s.values[1] == 2.5);
      CHECK(s.quality[1] == 7);
    }
    seen += reader.series().size();
  }
  CHECK(seen == ids.size());
}

TEST_CASE("an unknown sensor number is corruption", "[ingest_record]") {
  SensorNumbers numbers;
  REQUIRE(numbers.Add(1, "known").ok());
  IngestRecordBuilder builder;
  builder.Reset("gw", 1, 1, 1);
  builder.BeginSeries(0, 2, "unknown-to-the-table", 1, false);
  builder.AddReading(1, 1.0, 0);
  const std::string record = builder.Release();
  ShardSeriesReader reader;
  alarm::Status s = reader.Read(record, 0, 1, &numbers);
  CHECK(s.code() == alarm::Status::Code::kCorruption);
  CHECK(!reader.Read(record, 0, 1, nullptr).ok());
  REQUIRE(numbers.Add(2, "now-known").ok());
  REQUIRE(reader.Read(record, 0, 1, &numbers).ok());
  CHECK(reader.series()[0].sensor_id == "now-known");
}

TEST_CASE("truncated and garbage records are refused", "[ingest_record]") {
  SensorNumbers numbers;
  const std::vector<TestSeries> series = Sample(&numbers);
  IngestRecordBuilder builder;
  const std::string record = Build(series, 1, &builder);
  ShardSeriesReader reader;
  for (size_t cut = 0; cut < record.size(); cut += 7) {
    CHECK(!reader.Read(record.substr(0, cut), 0, 1, &numbers).ok());
  }
  CHECK(!reader.Read(record + "x", 0, 1, &numbers).ok());
  CHECK(!ParseIngestRecordHeader("VGR3....").has_value());
}

TEST_CASE("sensor numbers: stable, never reused, stored as text", "[ingest_record]") {
  SensorNumbers numbers;
  CHECK(numbers.next() == 1);
  REQUIRE(numbers.Add(3, "c").ok());
  REQUIRE(numbers.Add(1, "a").ok());
  CHECK(numbers.next() == 4);
  CHECK(numbers.Find("c") == 3);
  CHECK(numbers.IdOf(1) == "a");
  CHECK(numbers.IdOf(2).empty());
  CHECK(numbers.IdOf(0).empty());
  CHECK(numbers.IdOf(SensorNumbers::kMaxNumber + 1).empty());
  CHECK(numbers.Add(3, "c").ok());   // again: fine
  CHECK(!numbers.Add(3, "d").ok());  // number taken
  CHECK(!numbers.Add(5, "a").ok());  // id numbered
  CHECK(!numbers.Add(0, "z").ok());
  CHECK(numbers.Add(SensorNumbers::kMaxNumber, "last").ok());
  CHECK(SensorNumbers::DecodeNumber(SensorNumbers::EncodeNumber(123456)) == 123456u);
  CHECK(!SensorNumbers::DecodeNumber("").has_value());
  CHECK(!SensorNumbers::DecodeNumber("0").has_value());
  CHECK(!SensorNumbers::DecodeNumber("12x").has_value());
}

}  // namespace
}  // namespace vigil::storage
