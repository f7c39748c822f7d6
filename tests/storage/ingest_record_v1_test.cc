#include "storage/ingest_record_v1.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace vigil::storage {
namespace {

using alarm::Quality;
using alarm::SeriesView;
using alarm::Status;
using alarm::TimestampMs;

struct TestSeries {
  std::string sensor_id;
  std::vector<TimestampMs> timestamps;
  std::vector<double> values;
  std::vector<Quality> quality;  // empty: all good
};

std::string Build(std::string_view gateway_id, uint64_t epoch, uint64_t sequence,
                  const std::vector<TestSeries>& series, IngestRecordV1Builder* builder) {
  builder->Reset(gateway_id, epoch, sequence);
  for (const TestSeries& s : series) {
    const auto n = static_cast<uint32_t>(s.timestamps.size());
    auto slots = builder->AddSeries(s.sensor_id, n, !s.quality.empty());
    std::copy(s.timestamps.begin(), s.timestamps.end(), slots.timestamps);
    std::copy(s.values.begin(), s.values.end(), slots.values);
    if (!s.quality.empty()) {
      REQUIRE(slots.quality != nullptr);
      std::copy(s.quality.begin(), s.quality.end(), slots.quality);
    } else {
      CHECK(slots.quality == nullptr);
    }
  }
  return builder->Release();
}

std::string Build(std::string_view gateway_id, uint64_t epoch, uint64_t sequence,
                  const std::vector<TestSeries>& series) {
  IngestRecordV1Builder builder;
  return Build(gateway_id, epoch, sequence, series, &builder);
}

bool Aligned(const void* p, size_t to) { return reinterpret_cast<uintptr_t>(p) % to == 0; }

std::vector<TestSeries> ReadAll(const IngestRecordV1View& view) {
  std::vector<TestSeries> out;
  SeriesView s;
  for (auto it = view.series(); it.Next(&s);) {
    CHECK(Aligned(s.timestamps.data(), 8));
    CHECK(Aligned(s.values.data(), 8));
    CHECK(Aligned(s.quality.data(), 4));
    out.push_back(TestSeries{std::string(s.sensor_id),
                             {s.timestamps.begin(), s.timestamps.end()},
                             {s.values.begin(), s.values.end()},
                             {s.quality.begin(), s.quality.end()}});
  }
  return out;
}

void CheckSame(const std::vector<TestSeries>& actual, const std::vector<TestSeries>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    CAPTURE(i);
    CHECK(actual[i].sensor_id == expected[i].sensor_id);
    CHECK(actual[i].timestamps == expected[i].timestamps);
    REQUIRE(actual[i].values.size() == expected[i].values.size());
    for (size_t k = 0; k < actual[i].values.size(); ++k) {
      // Bit patterns, so -0.0 and NaN payloads count.
      uint64_t a = 0, e = 0;
      std::memcpy(&a, &actual[i].values[k], 8);
      std::memcpy(&e, &expected[i].values[k], 8);
      CHECK(a == e);
    }
    CHECK(actual[i].quality == expected[i].quality);
  }
}

// Ids of 1..9 bytes so that every padding remainder occurs; odd reading counts
// so that quality arrays need padding.
std::vector<TestSeries> SampleSeries() {
  return {
      {"a", {1000, 2000, 3000}, {1.5, -2.25, 0.0}, {}},
      {"ab", {-5, 0, 5, 10, 15}, {-0.0, 1e300, -1e-300, 7, 8}, {0, 1, 2, 3, 4}},
      {"abc", {std::numeric_limits<TimestampMs>::min()}, {42}, {}},
      {"tank-1/", {std::numeric_limits<TimestampMs>::max(), 1}, {3, 4}, {7, 0}},
      {"tank-1/l", {9, 8, 7}, {1, 2, 3}, {0xffffffff, 0, 5}},
      {"tank-1/le", {100}, {std::numeric_limits<double>::denorm_min()}, {9}},
  };
}

TEST_CASE("IngestRecord round trips several series with and without quality",
          "[storage][ingest_record]") {
  const std::vector<TestSeries> series = SampleSeries();
  for (std::string gateway :
       std::vector<std::string>{"g", "gw-7", "gateway-0001", std::string(13, 'x')}) {
    CAPTURE(gateway);
    const std::string record = Build(gateway, 0x1122334455667788, 0x99aabbccddeeff00, series);
    CHECK(record.size() % 8 == 0);
    auto view = IngestRecordV1View::Parse(record);
    REQUIRE(view.has_value());
    CHECK(view->gateway_id() == gateway);
    CHECK(view->epoch() == 0x1122334455667788);
    CHECK(view->sequence() == 0x99aabbccddeeff00);
    CHECK(view->series_count() == 6);
    CHECK(view->reading_count() == 15);
    CheckSame(ReadAll(*view), series);
  }
}

TEST_CASE("IngestRecord round trips a record of zero series", "[storage][ingest_record]") {
  const std::string record = Build("gw", 3, 4, {});
  auto view = IngestRecordV1View::Parse(record);
  REQUIRE(view.has_value());
  CHECK(view->gateway_id() == "gw");
  CHECK(view->epoch() == 3);
  CHECK(view->sequence() == 4);
  CHECK(view->series_count() == 0);
  CHECK(view->reading_count() == 0);
  SeriesView s;
  auto it = view->series();
  CHECK_FALSE(it.Next(&s));
}

TEST_CASE("IngestRecord round trips an empty gateway id", "[storage][ingest_record]") {
  const std::vector<TestSeries> series = {{"s", {1}, {2}, {}}};
  const std::string record = Build("", 1, 1, series);
  auto view = IngestRecordV1View::Parse(record);
  REQUIRE(view.has_value());
  CHECK(view->gateway_id().empty());
  CheckSame(ReadAll(*view), series);
}

TEST_CASE("IngestRecord iterator stops after the last series", "[storage][ingest_record]") {
  const std::string record = Build("gw", 1, 1, SampleSeries());
  auto view = IngestRecordV1View::Parse(record);
  REQUIRE(view.has_value());
  auto it = view->series();
  SeriesView s;
  int n = 0;
  while (it.Next(&s)) ++n;
  CHECK(n == 6);
  CHECK_FALSE(it.Next(&s));
  // A fresh iterator starts over.
  auto again = view->series();
  REQUIRE(again.Next(&s));
  CHECK(s.sensor_id == "a");
}

TEST_CASE("IngestRecordV1Builder counts and restarts cleanly", "[storage][ingest_record]") {
  IngestRecordV1Builder builder;
  builder.Reset("old", 1, 1);
  builder.AddSeries("junk", 4, true);
  CHECK(builder.series_count() == 1);
  CHECK(builder.reading_count() == 4);
  // Reset drops the previous content.
  const std::vector<TestSeries> series = {{"s1", {1, 2}, {3, 4}, {}}};
  const std::string first = Build("gw", 2, 3, series, &builder);
  CHECK(builder.series_count() == 0);
  CHECK(builder.reading_count() == 0);
  auto view = IngestRecordV1View::Parse(first);
  REQUIRE(view.has_value());
  CHECK(view->gateway_id() == "gw");
  CheckSame(ReadAll(*view), series);
  // Released: the builder can be used again for a new record.
  const std::string second = Build("gw2", 5, 6, SampleSeries(), &builder);
  auto view2 = IngestRecordV1View::Parse(second);
  REQUIRE(view2.has_value());
  CHECK(view2->gateway_id() == "gw2");
  CheckSame(ReadAll(*view2), SampleSeries());
}

TEST_CASE("IngestRecordV1Builder SeriesBytes matches what AddSeries adds",
          "[storage][ingest_record]") {
  for (size_t id_len : {1, 7, 8, 9, 16}) {
    for (uint32_t n : {1u, 2u, 3u, 17u}) {
      for (bool q : {false, true}) {
        CAPTURE(id_len, n, q);
        IngestRecordV1Builder builder;
        builder.Reset("gw", 1, 1);
        const size_t empty = builder.Release().size();
        builder.Reset("gw", 1, 1);
        builder.AddSeries(std::string(id_len, 's'), n, q);
        const std::string record = builder.Release();
        CHECK(record.size() - empty == IngestRecordV1Builder::SeriesBytes(id_len, n, q));
        CHECK(IngestRecordV1Builder::SeriesBytes(id_len, n, q) % 8 == 0);
      }
    }
  }
}

TEST_CASE("IngestRecordV1View rejects every truncation of a record", "[storage][ingest_record]") {
  const std::string record = Build("gw-7", 1, 2, SampleSeries());
  for (size_t n = 0; n < record.size(); ++n) {
    CAPTURE(n);
    const std::string cut = record.substr(0, n);  // own, aligned buffer
    REQUIRE(Aligned(cut.data(), 8));
    auto view = IngestRecordV1View::Parse(cut);
    REQUIRE_FALSE(view.has_value());
    CHECK(view.error().code() == Status::Code::kCorruption);
  }
  // Zero series: truncated inside the header or the gateway id.
  const std::string empty = Build("gateway-9", 1, 2, {});
  for (size_t n = 0; n < empty.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(IngestRecordV1View::Parse(empty.substr(0, n)).has_value());
  }
}

TEST_CASE("IngestRecordV1View rejects trailing bytes", "[storage][ingest_record]") {
  const std::string record = Build("gw", 1, 2, SampleSeries());
  CHECK_FALSE(IngestRecordV1View::Parse(record + std::string(8, '\0')).has_value());
  CHECK_FALSE(IngestRecordV1View::Parse(record + "x").has_value());
}

TEST_CASE("IngestRecordV1View rejects a bad magic", "[storage][ingest_record]") {
  std::string record = Build("gw", 1, 2, SampleSeries());
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    std::string bad = record;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    auto view = IngestRecordV1View::Parse(bad);
    REQUIRE_FALSE(view.has_value());
    CHECK(view.error().code() == Status::Code::kCorruption);
  }
  CHECK_FALSE(IngestRecordV1View::Parse(std::string(64, '\0')).has_value());
}

TEST_CASE("IngestRecordV1View rejects a misaligned buffer", "[storage][ingest_record]") {
  const std::string record = Build("gw", 1, 2, SampleSeries());
  REQUIRE(IngestRecordV1View::Parse(record).has_value());
  std::string shifted = "x" + record;  // a copy one byte off
  const std::string_view misaligned(shifted.data() + 1, record.size());
  REQUIRE_FALSE(Aligned(misaligned.data(), 8));
  REQUIRE(misaligned == record);
  auto view = IngestRecordV1View::Parse(misaligned);
  REQUIRE_FALSE(view.has_value());
  CHECK(view.error().code() == Status::Code::kCorruption);
  // 4-byte aligned is not enough either.
  std::string shifted4 = "xxxx" + record;
  CHECK_FALSE(
      IngestRecordV1View::Parse(std::string_view(shifted4.data() + 4, record.size())).has_value());
}

// Header fields: u32 magic @0, u32 gateway_len @4, u64 epoch @8, u64 seq @16,
// u32 series_count @24, u32 reading_count @28.
void PutU32(std::string* s, size_t at, uint32_t v) { std::memcpy(s->data() + at, &v, 4); }
uint32_t GetU32(const std::string& s, size_t at) {
  uint32_t v = 0;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}

TEST_CASE("IngestRecordV1View rejects counts that disagree with the series",
          "[storage][ingest_record]") {
  const std::string record = Build("gw", 1, 2, SampleSeries());
  REQUIRE(GetU32(record, 24) == 6);
  REQUIRE(GetU32(record, 28) == 15);
  std::string bad = record;
  SECTION("reading_count one more") { PutU32(&bad, 28, 16); }
  SECTION("reading_count one less") { PutU32(&bad, 28, 14); }
  SECTION("reading_count zero") { PutU32(&bad, 28, 0); }
  SECTION("series_count one more") { PutU32(&bad, 24, 7); }
  SECTION("series_count one less") { PutU32(&bad, 24, 5); }
  SECTION("series_count zero") { PutU32(&bad, 24, 0); }
  SECTION("series_count huge") { PutU32(&bad, 24, 0xffffffff); }
  SECTION("gateway_len past the end") { PutU32(&bad, 4, 0xfffffff0); }
  SECTION("first series' reading count one more") {
    // First series header right after the 32-byte header and "gw" padded to 8.
    PutU32(&bad, 40 + 4, GetU32(bad, 40 + 4) + 1);
  }
  SECTION("first series' reading count huge") { PutU32(&bad, 40 + 4, 0xffffffff); }
  SECTION("first series' id length huge") { PutU32(&bad, 40, 0x10000); }
  SECTION("first series gains a quality array") { PutU32(&bad, 40 + 8, 1); }
  auto view = IngestRecordV1View::Parse(bad);
  REQUIRE_FALSE(view.has_value());
  CHECK(view.error().code() == Status::Code::kCorruption);
}

}  // namespace
}  // namespace vigil::storage
