#include "server/api/batch_prep.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "alarm/engine.h"
#include "storage/ingest_record.h"
#include "storage/sensor_numbers.h"

namespace vigil::server {
namespace {

using alarm::Quality;
using alarm::TimestampMs;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// Accepted timestamps: [kEarliest, kLatest].
constexpr TimestampMs kEarliest = 1'000'000;
constexpr TimestampMs kLatest = 2'000'000;
constexpr alarm::TimeWindow kWindow{.earliest = kEarliest, .latest = kLatest};

alarm::Sensor MakeSensor(std::string id, std::string enterprise) {
  alarm::Sensor s;
  s.id = std::move(id);
  s.enterprise_id = std::move(enterprise);
  return s;
}

// e1: gateway g1, sensors s1..s3. e2: gateway g2, sensor x1.
std::shared_ptr<const alarm::Registry> TestRegistry() {
  alarm::RegistryEntries entries;
  entries.enterprises = {
      alarm::Enterprise{.id = "e1",
                        .name = "One",
                        .kind = alarm::EnterpriseKind::kCoalMine,
                        .region_code = "370105"},
      alarm::Enterprise{.id = "e2",
                        .name = "Two",
                        .kind = alarm::EnterpriseKind::kTailings,
                        .region_code = "370105"},
  };
  entries.sensors = {MakeSensor("s1", "e1"), MakeSensor("s2", "e1"), MakeSensor("s3", "e1"),
                     MakeSensor("x1", "e2")};
  entries.gateways = {alarm::Gateway{.id = "g1", .enterprise_id = "e1"},
                      alarm::Gateway{.id = "g2", .enterprise_id = "e2"}};
  auto built = alarm::Registry::Build(entries);
  REQUIRE(built.has_value());
  return *built;
}

void AddSeries(v1::IngestBatch* batch, const std::string& sensor,
               const std::vector<TimestampMs>& timestamps, const std::vector<double>& values,
               const std::vector<Quality>& quality = {}) {
  v1::Series* s = batch->add_series();
  s->set_sensor_id(sensor);
  for (TimestampMs t : timestamps) s->add_timestamps_ms(t);
  for (double v : values) s->add_values(v);
  for (Quality q : quality) s->add_quality(q);
}

v1::IngestBatch NewBatch(uint64_t epoch = 7, uint64_t sequence = 3) {
  v1::IngestBatch batch;
  batch.set_gateway_id("g1");
  batch.set_epoch(epoch);
  batch.set_sequence(sequence);
  return batch;
}

struct Fixture {
  std::shared_ptr<const alarm::Registry> registry = TestRegistry();
  alarm::IngestLimits limits;
  storage::IngestRecordBuilder builder;
  PreparedBatch out;

  alarm::Status Prepare(const v1::IngestBatch& batch) {
    const alarm::Gateway* gateway = registry->FindGateway(batch.gateway_id());
    REQUIRE(gateway != nullptr);
    return PrepareBatch(batch, *registry, *gateway, kWindow, limits, 1, &builder, &out);
  }
  void PrepareOk(const v1::IngestBatch& batch) {
    alarm::Status s = Prepare(batch);
    REQUIRE(s.ToString() == "ok");
  }
};

struct StoredSeries {
  std::string sensor_id;
  std::vector<TimestampMs> timestamps;
  std::vector<double> values;
  std::vector<Quality> quality;
  bool operator==(const StoredSeries&) const = default;
};

std::ostream& operator<<(std::ostream& os, const StoredSeries& s) {
  os << s.sensor_id << " n=" << s.timestamps.size() << " [";
  for (size_t i = 0; i < s.timestamps.size(); ++i) os << " " << s.timestamps[i];
  return os << " ] q=" << s.quality.size();
}

// The record's content; checks header fields against the batch.
std::vector<StoredSeries> RecordSeries(const std::string& record, const v1::IngestBatch& batch,
                                       uint32_t expected_readings) {
  storage::ShardSeriesReader reader;
  REQUIRE(reader.Read(record, 0, 1, nullptr).ToString() == "ok");
  const storage::IngestRecordHeader& header = reader.header();
  CHECK(header.gateway_id == batch.gateway_id());
  CHECK(header.epoch == batch.epoch());
  CHECK(header.sequence == batch.sequence());
  CHECK(header.reading_count == expected_readings);
  std::vector<StoredSeries> out;
  for (const alarm::SeriesView& s : reader.series()) {
    out.push_back(StoredSeries{std::string(s.sensor_id),
                               {s.timestamps.begin(), s.timestamps.end()},
                               {s.values.begin(), s.values.end()},
                               {s.quality.begin(), s.quality.end()}});
  }
  return out;
}

struct Expected {
  int series_index;
  std::string sensor_id;
  int reading_index;
  v1::RejectReason reason;
};

void CheckRejections(const v1::IngestAck& ack, const std::vector<Expected>& expected) {
  REQUIRE(ack.rejections_size() == static_cast<int>(expected.size()));
  for (int i = 0; i < ack.rejections_size(); ++i) {
    const v1::Rejection& r = ack.rejections(i);
    const Expected& e = expected[static_cast<size_t>(i)];
    CAPTURE(i, r.DebugString());
    CHECK(r.series_index() == e.series_index);
    CHECK(r.sensor_id() == e.sensor_id);
    CHECK(r.reading_index() == e.reading_index);
    CHECK(r.reason() == e.reason);
    CHECK_FALSE(r.detail().empty());
  }
}

TEST_CASE("PrepareBatch stores a clean batch whole and in order", "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch batch = NewBatch();
  // Any order within a series is kept as sent.
  AddSeries(&batch, "s1", {kEarliest, kLatest, 1'500'000}, {1.5, -2.5, 0.0});
  AddSeries(&batch, "s2", {1'200'000}, {42});
  f.PrepareOk(batch);
  CHECK(f.out.accepted_readings == 4);
  CHECK(f.out.ack.epoch() == 7);
  CHECK(f.out.ack.sequence() == 3);
  CHECK(f.out.ack.rejected_readings() == 0);
  CHECK(f.out.ack.rejections_size() == 0);
  CHECK(f.out.ack.stored_readings() == 0);  // set by the writer's outcome, not here
  CHECK_FALSE(f.out.ack.duplicate());
  CHECK(RecordSeries(f.out.record, batch, 4) ==
        std::vector<StoredSeries>{
            {"s1", {kEarliest, kLatest, 1'500'000}, {1.5, -2.5, 0.0}, {}},
            {"s2", {1'200'000}, {42}, {}},
        });
}

TEST_CASE("PrepareBatch names every rejection reason with its position", "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch batch = NewBatch();
  AddSeries(&batch, "s1", {1'100'000, 1'200'000}, {1, 2});                  // 0: ok
  AddSeries(&batch, "nope", {1'100'000, 1'200'000, 1'300'000}, {1, 2, 3});  // 1
  AddSeries(&batch, "x1", {1'100'000}, {1});                                // 2
  AddSeries(&batch, "s2", {1'100'000, 1'200'000, 1'300'000}, {1, 2});       // 3
  AddSeries(&batch, "s2", {1'100'000, 1'200'000}, {1, 2}, {0});             // 4
  AddSeries(&batch, "s3",                                                   // 5
            {1'100'000, kEarliest - 1, kLatest + 1, 1'300'000, 1'400'000, 1'500'000, 1'600'000},
            {10, 11, 12, kNaN, kInf, -kInf, 16});
  f.PrepareOk(batch);

  CheckRejections(f.out.ack, {
                                 {1, "nope", -1, v1::REJECT_REASON_UNKNOWN_SENSOR},
                                 {2, "x1", -1, v1::REJECT_REASON_SENSOR_OF_ANOTHER_ENTERPRISE},
                                 {3, "s2", -1, v1::REJECT_REASON_ARRAY_LENGTH_MISMATCH},
                                 {4, "s2", -1, v1::REJECT_REASON_ARRAY_LENGTH_MISMATCH},
                                 {5, "s3", 1, v1::REJECT_REASON_TIMESTAMP_BEFORE_RETENTION},
                                 {5, "s3", 2, v1::REJECT_REASON_TIMESTAMP_IN_FUTURE},
                                 {5, "s3", 3, v1::REJECT_REASON_NON_FINITE_VALUE},
                                 {5, "s3", 4, v1::REJECT_REASON_NON_FINITE_VALUE},
                                 {5, "s3", 5, v1::REJECT_REASON_NON_FINITE_VALUE},
                             });
  // Whole series count all their readings: 3 + 1 + 3 + 2, plus 5 single readings.
  CHECK(f.out.ack.rejected_readings() == 14);
  CHECK(f.out.accepted_readings == 4);
  CHECK(RecordSeries(f.out.record, batch, 4) == std::vector<StoredSeries>{
                                                    {"s1", {1'100'000, 1'200'000}, {1, 2}, {}},
                                                    {"s3", {1'100'000, 1'600'000}, {10, 16}, {}},
                                                });
  CHECK_THAT(f.out.ack.rejections(0).detail(), Catch::Matchers::Contains("nope"));
  CHECK_THAT(f.out.ack.rejections(1).detail(), Catch::Matchers::Contains("e2"));
}

TEST_CASE("PrepareBatch keeps quality codes of accepted readings", "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch batch = NewBatch();
  AddSeries(&batch, "s1", {1'100'000, 1'200'000, 1'300'000}, {1, 2, 3}, {0, 7, 0xffffffff});
  AddSeries(&batch, "s2", {1'100'000, 1'200'000, 1'300'000, 1'400'000}, {1, kNaN, 3, 4},
            {5, 6, 0, 8});
  AddSeries(&batch, "s3", {1'100'000}, {1});
  f.PrepareOk(batch);
  CheckRejections(f.out.ack, {{1, "s2", 1, v1::REJECT_REASON_NON_FINITE_VALUE}});
  CHECK(f.out.accepted_readings == 7);
  CHECK(RecordSeries(f.out.record, batch, 7) ==
        std::vector<StoredSeries>{
            {"s1", {1'100'000, 1'200'000, 1'300'000}, {1, 2, 3}, {0, 7, 0xffffffff}},
            {"s2", {1'100'000, 1'300'000, 1'400'000}, {1, 3, 4}, {5, 0, 8}},
            {"s3", {1'100'000}, {1}, {}},
        });
}

TEST_CASE("PrepareBatch drops a series whose readings are all rejected", "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch batch = NewBatch();
  AddSeries(&batch, "s1", {1'100'000, 1'200'000}, {kNaN, kInf});
  AddSeries(&batch, "s2", {}, {});  // no readings: nothing stored, nothing rejected
  AddSeries(&batch, "s3", {1'300'000}, {3});
  f.PrepareOk(batch);
  CheckRejections(f.out.ack, {{0, "s1", 0, v1::REJECT_REASON_NON_FINITE_VALUE},
                              {0, "s1", 1, v1::REJECT_REASON_NON_FINITE_VALUE}});
  CHECK(f.out.ack.rejected_readings() == 2);
  CHECK(f.out.accepted_readings == 1);
  CHECK(RecordSeries(f.out.record, batch, 1) ==
        std::vector<StoredSeries>{{"s3", {1'300'000}, {3}, {}}});
}

TEST_CASE("PrepareBatch stores an empty batch as a record without readings",
          "[server][batch_prep]") {
  Fixture f;
  const v1::IngestBatch batch = NewBatch(1, 1);
  f.PrepareOk(batch);
  CHECK(f.out.accepted_readings == 0);
  CHECK(f.out.ack.rejections_size() == 0);
  CHECK(RecordSeries(f.out.record, batch, 0).empty());
}

TEST_CASE("PrepareBatch rejects a batch over the series limit whole", "[server][batch_prep]") {
  Fixture f;
  f.limits.max_series_per_batch = 2;
  v1::IngestBatch batch = NewBatch();
  AddSeries(&batch, "s1", {1'100'000}, {1});
  AddSeries(&batch, "s2", {1'100'000, 1'200'000}, {1, 2});
  SECTION("at the limit it is stored") {
    f.PrepareOk(batch);
    CHECK(f.out.ack.rejections_size() == 0);
    CHECK(f.out.accepted_readings == 3);
  }
  SECTION("one series more is rejected whole") {
    AddSeries(&batch, "s3", {1'100'000, 1'200'000, 1'300'000}, {1, 2, 3});
    f.PrepareOk(batch);
    CheckRejections(f.out.ack, {{-1, "", -1, v1::REJECT_REASON_BATCH_TOO_LARGE}});
    CHECK(f.out.ack.rejected_readings() == 6);
    CHECK(f.out.accepted_readings == 0);
    CHECK(f.out.ack.epoch() == 7);
    CHECK(f.out.ack.sequence() == 3);
    CHECK(RecordSeries(f.out.record, batch, 0).empty());
  }
}

TEST_CASE("PrepareBatch rejects a batch over the reading limit whole", "[server][batch_prep]") {
  Fixture f;
  f.limits.max_readings_per_batch = 4;
  v1::IngestBatch batch = NewBatch();
  AddSeries(&batch, "s1", {1'100'000, 1'200'000}, {1, 2});
  AddSeries(&batch, "s2", {1'100'000, 1'200'000}, {1, 2});
  SECTION("at the limit it is stored") {
    f.PrepareOk(batch);
    CHECK(f.out.ack.rejections_size() == 0);
    CHECK(f.out.accepted_readings == 4);
  }
  SECTION("one reading more is rejected whole, even bad or unknown ones") {
    AddSeries(&batch, "nope", {1'100'000}, {kNaN});
    f.PrepareOk(batch);
    CheckRejections(f.out.ack, {{-1, "", -1, v1::REJECT_REASON_BATCH_TOO_LARGE}});
    CHECK(f.out.ack.rejected_readings() == 5);
    CHECK(f.out.accepted_readings == 0);
    CHECK(RecordSeries(f.out.record, batch, 0).empty());
  }
}

TEST_CASE("PrepareBatch fails on sequence 0", "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch batch = NewBatch(5, 0);
  AddSeries(&batch, "s1", {1'100'000}, {1});
  alarm::Status s = f.Prepare(batch);
  CHECK(s.code() == alarm::Status::Code::kInvalidArgument);
  CHECK_FALSE(s.message().empty());
}

TEST_CASE("PrepareBatch lists at most kMaxListedRejections but counts all",
          "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch batch = NewBatch();
  std::vector<TimestampMs> at;
  std::vector<double> values;
  for (int i = 0; i < 150; ++i) {
    at.push_back(1'100'000 + i);
    values.push_back(i % 3 == 0 ? 1.0 : kNaN);  // 100 NaN, 50 good
  }
  AddSeries(&batch, "s1", at, values);
  AddSeries(&batch, "nope", {1'100'000, 1'200'000}, {1, 2});
  AddSeries(&batch, "s2", {kLatest + 1}, {1});
  f.PrepareOk(batch);
  REQUIRE(f.out.ack.rejections_size() == kMaxListedRejections);
  // The first ones are listed, in order.
  int listed = 0;
  for (int i = 0; i < 150 && listed < kMaxListedRejections; ++i) {
    if (i % 3 == 0) continue;
    const v1::Rejection& r = f.out.ack.rejections(listed++);
    CHECK(r.series_index() == 0);
    CHECK(r.reading_index() == i);
  }
  CHECK(f.out.ack.rejected_readings() == 100 + 2 + 1);
  CHECK(f.out.accepted_readings == 50);
  const auto stored = RecordSeries(f.out.record, batch, 50);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].timestamps.front() == 1'100'000);
  CHECK(stored[0].timestamps.back() == 1'100'000 + 147);
}

TEST_CASE("PrepareBatch reused for a second batch forgets the first", "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch first = NewBatch(1, 1);
  AddSeries(&first, "nope", {1'100'000}, {1});
  AddSeries(&first, "s1", {1'100'000, 1'200'000}, {1, 2});
  f.PrepareOk(first);
  CHECK(f.out.ack.rejections_size() == 1);

  v1::IngestBatch second = NewBatch(1, 2);
  AddSeries(&second, "s2", {1'300'000}, {3});
  f.PrepareOk(second);
  CHECK(f.out.ack.rejections_size() == 0);
  CHECK(f.out.ack.rejected_readings() == 0);
  CHECK(f.out.ack.sequence() == 2);
  CHECK(f.out.accepted_readings == 1);
  CHECK(RecordSeries(f.out.record, second, 1) ==
        std::vector<StoredSeries>{{"s2", {1'300'000}, {3}, {}}});
}

TEST_CASE("PrepareBatch checks the enterprise of the batch's gateway", "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch batch = NewBatch();
  batch.set_gateway_id("g2");
  AddSeries(&batch, "x1", {1'100'000}, {1});
  AddSeries(&batch, "s1", {1'100'000}, {1});
  f.PrepareOk(batch);
  CheckRejections(f.out.ack, {{1, "s1", -1, v1::REJECT_REASON_SENSOR_OF_ANOTHER_ENTERPRISE}});
  CHECK(RecordSeries(f.out.record, batch, 1) ==
        std::vector<StoredSeries>{{"x1", {1'100'000}, {1}, {}}});
}

TEST_CASE("PrepareBatch rejects sensor ids over 128 bytes and echoes them cut short",
          "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch batch = NewBatch();
  const std::string huge(1 << 20, 'h');
  const std::string just_over(alarm::kMaxIdBytes + 1, 'j');
  AddSeries(&batch, huge, {1'100'000, 1'200'000}, {1, 2});                // 0
  AddSeries(&batch, "s1", {1'100'000}, {1});                              // 1: stored
  AddSeries(&batch, just_over, {1'100'000}, {1});                         // 2
  for (int i = 0; i < 3; ++i) AddSeries(&batch, huge, {1'100'000}, {1});  // 3..5
  f.PrepareOk(batch);
  CheckRejections(f.out.ack, {
                                 {0, alarm::Echo(huge), -1, v1::REJECT_REASON_ID_TOO_LONG},
                                 {2, alarm::Echo(just_over), -1, v1::REJECT_REASON_ID_TOO_LONG},
                                 {3, alarm::Echo(huge), -1, v1::REJECT_REASON_ID_TOO_LONG},
                                 {4, alarm::Echo(huge), -1, v1::REJECT_REASON_ID_TOO_LONG},
                                 {5, alarm::Echo(huge), -1, v1::REJECT_REASON_ID_TOO_LONG},
                             });
  CHECK(f.out.ack.rejections(0).sensor_id() ==
        std::string(alarm::kMaxIdBytes, 'h') + "...(1048576 bytes)");
  CHECK(f.out.ack.rejections(0).detail() == "sensor id is 1048576 bytes; ids are at most 128");
  CHECK(f.out.ack.rejected_readings() == 6);
  CHECK(f.out.rejected_by_reason[static_cast<size_t>(alarm::RejectReason::kIdTooLong)] == 6);
  // Four 1 MB ids in, an ack of a few hundred bytes out.
  CHECK(f.out.ack.ByteSizeLong() < 2048);
  CHECK(RecordSeries(f.out.record, batch, 1) ==
        std::vector<StoredSeries>{{"s1", {1'100'000}, {1}, {}}});
}

TEST_CASE("PrepareBatch echoes an unknown sensor id whole", "[server][batch_prep]") {
  Fixture f;
  v1::IngestBatch batch = NewBatch();
  const std::string longest(alarm::kMaxIdBytes, 'u');
  AddSeries(&batch, longest, {1'100'000}, {1});
  f.PrepareOk(batch);
  CheckRejections(f.out.ack, {{0, longest, -1, v1::REJECT_REASON_UNKNOWN_SENSOR}});
  CHECK(f.out.ack.rejections(0).detail() == "sensor '" + longest + "' is not in the registry");
}

TEST_CASE("CheckGatewayId refuses ids over 128 bytes without quoting them",
          "[server][batch_prep]") {
  CHECK(CheckGatewayId("g1").ok());
  CHECK(CheckGatewayId(std::string(alarm::kMaxIdBytes, 'g')).ok());
  const alarm::Status too_long = CheckGatewayId(std::string(1 << 20, 'g'));
  CHECK(too_long.code() == alarm::Status::Code::kInvalidArgument);
  CHECK(too_long.message() == "gateway_id is 1048576 bytes; ids are at most 128");
}

}  // namespace
}  // namespace vigil::server

namespace vigil::server {
namespace {

TEST_CASE("PrepareBatch routes each series to its shard's section, sensors by number",
          "[server][batch_prep]") {
  // s1..s3 numbered 1..3 (the server gives numbers as sensors enter the
  // registry); each shard's reader finds exactly its own series in its own
  // section, and a numbered sensor costs no id bytes.
  alarm::RegistryEntries entries = TestRegistry()->entries();
  storage::SensorNumbers numbers;
  for (uint32_t i = 0; i < 3; ++i) {
    entries.sensors[i].log_number = i + 1;
    REQUIRE(numbers.Add(i + 1, entries.sensors[i].id).ok());
  }
  auto registry = alarm::Registry::Build(entries);
  REQUIRE(registry.has_value());
  const alarm::Gateway* gateway = (*registry)->FindGateway("g1");
  v1::IngestBatch batch = NewBatch();
  for (const char* id : {"s1", "s2", "s3"}) {
    AddSeries(&batch, id, {kEarliest, kEarliest + 1}, {1, 2});
  }
  constexpr uint32_t kShards = 3;
  storage::IngestRecordBuilder builder;
  PreparedBatch out;
  REQUIRE(PrepareBatch(batch, **registry, *gateway, kWindow, {}, kShards, &builder, &out).ok());
  CHECK(out.accepted_readings == 6);
  storage::ShardSeriesReader reader;
  size_t seen = 0;
  for (uint32_t shard = 0; shard < kShards; ++shard) {
    REQUIRE(reader.Read(out.record, shard, kShards, &numbers).ok());
    CHECK(reader.header().shard_count == kShards);
    for (const alarm::SeriesView& s : reader.series()) {
      CHECK(alarm::ShardOf(s.sensor_id, kShards) == shard);
      CHECK(s.values.size() == 2);
    }
    seen += reader.series().size();
  }
  CHECK(seen == 3);
  // No id is in the record: only numbers name the sensors.
  CHECK(out.record.find("s2") == std::string::npos);
  // Without the table the numbers do not resolve.
  CHECK(!reader.Read(out.record, 0, 1, nullptr).ok());
}

}  // namespace
}  // namespace vigil::server
