#include "storage/alarm_codec.h"

#include <catch2/catch.hpp>
#include <string>

#include "storage/control_record.h"
#include "storage/log_entry.h"

namespace vigil::storage {
namespace {

using alarm::AlarmKind;
using alarm::AlarmState;
using alarm::EventKind;
using alarm::Level;
using alarm::Severity;

alarm::JournalEntry SampleEntry() {
  alarm::JournalEntry e;
  e.seq = 42;
  e.alarm_id = 40;
  e.event.kind = EventKind::kAcknowledged;
  e.event.record = alarm::ActiveAlarm{.source_id = "ch4-face",
                                      .rule_id = "ch4-coal-face",
                                      .alarm = AlarmKind::kThreshold,
                                      .state = AlarmState::kActiveAcked,
                                      .severity = Severity::kRed,
                                      .level = Level::kHH,
                                      .occurrence = 7,
                                      .threshold = 1.5,
                                      .trigger_value = 1.1,
                                      .trigger_reading_at = 1'700'000'000'000,
                                      .peak_value = 1.7,
                                      .raised_at = 1'700'000'000'100,
                                      .changed_at = 1'700'000'060'000,
                                      .shelved_until = 0};
  e.event.value = 1.6;
  e.event.reading_at = 1'700'000'059'000;
  e.event.at = 1'700'000'060'000;
  e.event.actor = "li.wei";
  e.event.comment = "ventilation increased";
  e.enterprise_id = "mine-1";
  e.region_code = "370105";
  e.enterprise_kind = alarm::EnterpriseKind::kCoalMine;
  e.peak_severity = Severity::kRed;
  return e;
}

ShardSnapshot SampleSnapshot() {
  ShardSnapshot s{.shard = 1, .shard_count = 2, .through_log_seq = 99, .engine = {}};
  s.engine.next_occurrence = 12;
  s.engine.gateways = {{.gateway_id = "gw-1", .last_seen = 5, .seen = true, .offline = false},
                       {.gateway_id = "gw-2", .last_seen = 0, .seen = false, .offline = true}};
  alarm::SensorSnapshot sensor{.sensor_id = "t-1", .rule_id = "tank-temp"};
  sensor.level = Level::kH;
  sensor.pending = true;
  sensor.pending_level = Level::kHH;
  sensor.pending_since = 1000;
  sensor.pending_next_ms = 250;
  sensor.unchanged_ms = 3'600'000;
  sensor.stuck = true;
  sensor.last_seen = 2000;
  sensor.seen = true;
  sensor.last_reading_at = 1990;
  sensor.has_reading = true;
  sensor.last_value = 81.5;
  sensor.peak = 83;
  sensor.gateway = 1;
  sensor.rate_count = 2;
  sensor.rate_at = {1, 2, 0, 0, 0};
  sensor.rate_value = {3.5, 4.5, 0, 0, 0};
  s.engine.sensors = {sensor, alarm::SensorSnapshot{.sensor_id = "t-2", .rule_id = "x"}};
  s.engine.alarms = {SampleEntry().event.record, SampleEntry().event.record};
  s.engine.alarms[1].state = AlarmState::kPlanned;
  s.engine.alarms[1].planned_work = "pw-1";
  s.engine.planned_work = {{.id = "pw-1",
                            .enterprise_id = "mine-1",
                            .sensor_ids = {"t-1", "t-2"},
                            .start = 10,
                            .end = 20,
                            .reason = "calibration",
                            .owner = "Wang",
                            .opened_by = "center"}};
  s.engine.calibrating = {{.sensor_id = "t-2", .since = 15}};
  s.engine.shelves = {
      {.source_id = "t-1", .alarm = AlarmKind::kRateOfChange, .until = 77},
      {.source_id = "t-1", .alarm = AlarmKind::kThreshold, .until = 78, .level = Level::kH}};
  return s;
}

TEST_CASE("Journal entries round-trip and reject every truncation", "[storage][codec]") {
  const alarm::JournalEntry entry = SampleEntry();
  const std::string bytes = EncodeJournalEntry(entry);
  auto decoded = DecodeJournalEntry(bytes);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == entry);
  for (size_t n = 0; n < bytes.size(); ++n) {
    CHECK_FALSE(DecodeJournalEntry(std::string_view(bytes).substr(0, n)).has_value());
  }
  CHECK_FALSE(DecodeJournalEntry(bytes + "x").has_value());
  std::string bad_kind = bytes;
  bad_kind[17] = 11;  // event kind after version, seq, alarm_id
  CHECK_FALSE(DecodeJournalEntry(bad_kind).has_value());
}

TEST_CASE("Journal entries of planned work round-trip as version 2, others keep version 1",
          "[storage][codec]") {
  alarm::JournalEntry entry = SampleEntry();
  CHECK(EncodeJournalEntry(entry)[0] == 1);  // unchanged bytes (and chain hashes)
  entry.event.record.state = AlarmState::kPlanned;
  entry.event.record.planned_work = "calibration";
  const std::string bytes = EncodeJournalEntry(entry);
  CHECK(bytes[0] == 2);
  auto decoded = DecodeJournalEntry(bytes);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == entry);
  for (size_t n = 0; n < bytes.size(); ++n) {
    CHECK_FALSE(DecodeJournalEntry(std::string_view(bytes).substr(0, n)).has_value());
  }
}

TEST_CASE("Shard snapshots round-trip and reject every truncation", "[storage][codec]") {
  const ShardSnapshot snapshot = SampleSnapshot();
  const std::string bytes = EncodeShardSnapshot(snapshot);
  auto decoded = DecodeShardSnapshot(bytes);
  REQUIRE(decoded.has_value());
  CHECK(decoded->shard == 1);
  CHECK(decoded->shard_count == 2);
  CHECK(decoded->through_log_seq == 99);
  CHECK(decoded->engine == snapshot.engine);
  for (size_t n = 0; n < bytes.size(); ++n) {
    CHECK_FALSE(DecodeShardSnapshot(std::string_view(bytes).substr(0, n)).has_value());
  }
}

TEST_CASE("Shard snapshots of version 1 (before per-level delays, stuck value) still decode",
          "[storage][codec]") {
  // One sensor without rate points, no alarms, one shelf: version 2 is
  // version 1 plus 9 bytes after the sensor's rate points and 1 byte (the
  // level) at the end of the shelf.
  ShardSnapshot snapshot{.shard = 0, .shard_count = 1, .through_log_seq = 5, .engine = {}};
  alarm::SensorSnapshot sensor{.sensor_id = "ch4", .rule_id = "methane"};
  sensor.level = Level::kH;
  sensor.pending = true;              // version 1: the off-delay back to normal...
  sensor.pending_level = Level::kHH;  // ... with a stale level from an earlier raise
  sensor.pending_since = 1000;
  sensor.seen = true;
  sensor.has_reading = true;
  snapshot.engine.sensors = {sensor};
  snapshot.engine.shelves = {
      {.source_id = "ch4", .alarm = AlarmKind::kThreshold, .until = 9000, .level = Level::kH}};
  // Version 3 is version 2 plus the (here empty) lists of planned work and
  // calibrating sensors at the end.
  std::string v2 = EncodeShardSnapshot(snapshot);
  v2 = v2.substr(0, v2.size() - 8);
  v2[0] = 2;
  REQUIRE(DecodeShardSnapshot(v2).has_value());
  const size_t shelf_bytes = 4 + 3 + 1 + 8 + 1;  // "ch4", kind, until, level
  const size_t counts = 4 + 4;                   // alarms, shelves
  const size_t extras = 4 + 4 + 1;               // pending_next_ms, unchanged_ms, stuck
  const size_t n = v2.size();
  std::string v1 = v2.substr(0, n - shelf_bytes - counts - extras) +
                   v2.substr(n - shelf_bytes - counts, shelf_bytes + counts - 1);
  v1[0] = 1;
  auto decoded = DecodeShardSnapshot(v1);
  REQUIRE(decoded.has_value());
  REQUIRE(decoded->engine.sensors.size() == 1);
  const alarm::SensorSnapshot& s = decoded->engine.sensors[0];
  CHECK(s.level == Level::kH);
  CHECK(s.pending);
  CHECK(s.pending_level == Level::kNone);  // read as the engine now reads an off-delay to normal
  CHECK(s.pending_since == 1000);
  CHECK(s.pending_next_ms == 0);
  CHECK_FALSE(s.stuck);
  REQUIRE(decoded->engine.shelves.size() == 1);
  CHECK(decoded->engine.shelves[0].until == 9000);
  CHECK(decoded->engine.shelves[0].level == Level::kNone);  // unknown: Restore takes the alarm's
  CHECK_FALSE(DecodeShardSnapshot(v1.substr(0, v1.size() - 1)).has_value());
  std::string v4 = EncodeShardSnapshot(snapshot);
  v4[0] = 4;
  CHECK_FALSE(DecodeShardSnapshot(v4).has_value());
}

TEST_CASE("Control records round-trip, malformed ones are corruption", "[storage][codec]") {
  ControlRecord record{.kind = ControlKind::kShelve,
                       .alarm = {"gw-3", AlarmKind::kGatewayOffline, 5},
                       .shelve_for_ms = 123456,
                       .actor = "ops",
                       .text = "planned outage"};
  const std::string bytes = EncodeControlRecord(record);
  auto decoded = DecodeControlRecord(bytes);
  REQUIRE(decoded.has_value());
  CHECK(decoded->kind == ControlKind::kShelve);
  CHECK(decoded->alarm.source_id == "gw-3");
  CHECK(decoded->alarm.alarm == AlarmKind::kGatewayOffline);
  CHECK(decoded->alarm.occurrence == 5);
  CHECK(decoded->shelve_for_ms == 123456);
  CHECK(decoded->actor == "ops");
  CHECK(decoded->text == "planned outage");
  for (size_t n = 0; n < bytes.size(); ++n) {
    CHECK_FALSE(DecodeControlRecord(std::string_view(bytes).substr(0, n)).has_value());
  }
  std::string bad = bytes;
  bad[0] = 9;
  CHECK_FALSE(DecodeControlRecord(bad).has_value());
}

TEST_CASE("Control records of planned work carry the window", "[storage][codec]") {
  ControlRecord record{.kind = ControlKind::kPlannedWorkOpen,
                       .alarm = {},
                       .shelve_for_ms = 3'600'000,
                       .actor = "center",
                       .text = "",
                       .planned = {.id = "pw-1",
                                   .enterprise_id = "mine-1",
                                   .sensor_ids = {"ch4"},
                                   .start = 0,
                                   .end = 0,
                                   .reason = "calibration",
                                   .owner = "Wang",
                                   .opened_by = "center"}};
  const std::string bytes = EncodeControlRecord(record);
  auto decoded = DecodeControlRecord(bytes);
  REQUIRE(decoded.has_value());
  CHECK(decoded->kind == ControlKind::kPlannedWorkOpen);
  CHECK(decoded->planned == record.planned);
  CHECK(decoded->shelve_for_ms == 3'600'000);
  for (size_t n = 0; n < bytes.size(); ++n) {
    CHECK_FALSE(DecodeControlRecord(std::string_view(bytes).substr(0, n)).has_value());
  }
}

TEST_CASE("Log entries carry kind and commit time, bare records read as batches",
          "[storage][codec]") {
  alignas(8) char header[kLogEntryHeaderBytes];
  EncodeLogEntryHeader(LogEntryKind::kControl, 1'700'000'000'123, header);
  std::string value(header, sizeof header);
  value += "payload!";
  auto entry = ParseLogEntry(value);
  REQUIRE(entry.has_value());
  CHECK(entry->kind == LogEntryKind::kControl);
  CHECK(entry->stored_at == 1'700'000'000'123);
  CHECK(entry->payload == "payload!");

  const std::string legacy("VGR1rest of a record", 20);
  auto old = ParseLogEntry(legacy);
  REQUIRE(old.has_value());
  CHECK(old->kind == LogEntryKind::kBatch);
  CHECK(old->stored_at == 0);
  CHECK(old->payload == legacy);

  CHECK_FALSE(ParseLogEntry("VGL1").has_value());
  CHECK_FALSE(ParseLogEntry("junk junk junk junk").has_value());
  std::string bad_kind = value;
  bad_kind[4] = 7;
  CHECK_FALSE(ParseLogEntry(bad_kind).has_value());
}

}  // namespace
}  // namespace vigil::storage
