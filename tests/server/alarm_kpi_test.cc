#include "server/ops/alarm_kpi.h"

#include <catch2/catch.hpp>

namespace vigil::server {
namespace {

using alarm::AlarmKind;
using alarm::AlarmState;
using alarm::EventKind;
using alarm::JournalEntry;
using alarm::TimestampMs;

constexpr TimestampMs kMinute = 60'000;
constexpr TimestampMs kT0 = 1'717'243'200'000;  // 2024-06-01T12:00:00Z

// One journal entry of alarm `id` on `sensor` in `region`.
JournalEntry Entry(uint64_t id, EventKind kind, AlarmState state, TimestampMs at,
                   const std::string& sensor = "s-1", const std::string& region = "370105") {
  JournalEntry e;
  e.seq = id;
  e.alarm_id = id;
  e.region_code = region;
  e.enterprise_id = "e-1";
  e.event.kind = kind;
  e.event.at = at;
  e.event.record.source_id = sensor;
  e.event.record.alarm = AlarmKind::kThreshold;
  e.event.record.state = state;
  e.event.record.raised_at = at;
  return e;
}

AlarmKpi::Province Of(const std::vector<AlarmKpi::Province>& all, const std::string& province) {
  for (const AlarmKpi::Province& p : all) {
    if (p.province == province) return p;
  }
  FAIL("no province " << province);
  return {};
}

TEST_CASE("Alarm KPIs count raises per province in a sliding 10-minute window", "[server][kpi]") {
  AlarmKpi kpi;
  kpi.Apply(Entry(1, EventKind::kRaised, AlarmState::kActiveUnacked, kT0, "s-1", "370105"));
  kpi.Apply(
      Entry(2, EventKind::kRaised, AlarmState::kActiveUnacked, kT0 + kMinute, "s-2", "370202"));
  kpi.Apply(
      Entry(3, EventKind::kRaised, AlarmState::kActiveUnacked, kT0 + 5 * kMinute, "s-3", "130102"));
  // Not raises: an acknowledgement and a clear.
  kpi.Apply(Entry(1, EventKind::kAcknowledged, AlarmState::kActiveAcked, kT0 + 6 * kMinute));
  kpi.Apply(Entry(1, EventKind::kCleared, AlarmState::kClosed, kT0 + 7 * kMinute));

  auto at8 = kpi.Snapshot(kT0 + 8 * kMinute);
  REQUIRE(at8.size() == 2);
  CHECK(Of(at8, "37").raised == 2);
  CHECK(Of(at8, "13").raised == 1);
  // 10 minutes after the first raise it has left the window; the others have not.
  auto at10 = kpi.Snapshot(kT0 + 10 * kMinute + 1);
  CHECK(Of(at10, "37").raised == 1);
  CHECK(Of(at10, "13").raised == 1);
  // A province once seen stays, at zero.
  auto later = kpi.Snapshot(kT0 + 60 * kMinute);
  CHECK(Of(later, "37") == AlarmKpi::Province{.province = "37"});
  CHECK(Of(later, "13").raised == 0);
}

TEST_CASE("Alarm KPIs of a city or a county are its own region's, not its province's",
          "[server][kpi]") {
  AlarmKpi kpi;
  // Jinan (3701): county 370105 twice, 370102 once; Qingdao (3702) once.
  kpi.Apply(Entry(1, EventKind::kRaised, AlarmState::kActiveUnacked, kT0, "s-1", "370105"));
  kpi.Apply(Entry(2, EventKind::kRaised, AlarmState::kActiveUnacked, kT0 + 1, "s-2", "370105"));
  kpi.Apply(Entry(3, EventKind::kRaised, AlarmState::kActiveUnacked, kT0 + 2, "s-3", "370102"));
  kpi.Apply(Entry(4, EventKind::kRaised, AlarmState::kActiveUnacked, kT0 + 3, "s-4", "370202"));
  JournalEntry shelved =
      Entry(4, EventKind::kShelved, AlarmState::kActiveUnacked, kT0 + 5, "s-4", "370202");
  shelved.event.record.shelved_until = kT0 + kMinute;
  kpi.Apply(shelved);
  const TimestampMs now = kT0 + kMinute / 2;

  // The province, as /metrics reads it.
  CHECK(Of(kpi.Snapshot(now), "37").raised == 4);
  CHECK(Of(kpi.Snapshot(now), "37").shelved == 1);
  // A city's viewer: Jinan alone, summed over its counties.
  auto jinan = kpi.Snapshot(now, 4, "3701");
  REQUIRE(jinan.size() == 1);
  CHECK(jinan[0] == AlarmKpi::Province{.province = "3701", .raised = 3});
  auto qingdao = kpi.Snapshot(now, 4, "3702");
  REQUIRE(qingdao.size() == 1);
  CHECK(qingdao[0] == AlarmKpi::Province{.province = "3702", .raised = 1, .shelved = 1});
  // A county's viewer: that county alone.
  auto county = kpi.Snapshot(now, 6, "370105");
  REQUIRE(county.size() == 1);
  CHECK(county[0] == AlarmKpi::Province{.province = "370105", .raised = 2});
  // A region with no alarm gets nothing, not its neighbours' load.
  CHECK(kpi.Snapshot(now, 6, "370103").empty());
  CHECK(kpi.Snapshot(now, 2, "13").empty());
  // The province grouped by city.
  auto cities = kpi.Snapshot(now, 4, "37");
  REQUIRE(cities.size() == 2);
  CHECK(Of(cities, "3701").raised == 3);
  CHECK(Of(cities, "3702").raised == 1);
}

TEST_CASE("Alarm KPIs call a point chattering at 3 raises within a minute", "[server][kpi]") {
  AlarmKpi kpi;
  // s-1 raised, cleared (cleared-unacked), raised again, three times in 40 s.
  for (int i = 0; i < 3; ++i) {
    const TimestampMs at = kT0 + i * 20'000;
    kpi.Apply(Entry(1, EventKind::kRaised, AlarmState::kActiveUnacked, at));
    kpi.Apply(Entry(1, EventKind::kCleared, AlarmState::kClearedUnacked, at + 5'000));
  }
  // s-2: twice only.
  kpi.Apply(Entry(2, EventKind::kRaised, AlarmState::kActiveUnacked, kT0, "s-2"));
  kpi.Apply(Entry(2, EventKind::kCleared, AlarmState::kClosed, kT0 + 1000, "s-2"));
  kpi.Apply(Entry(3, EventKind::kRaised, AlarmState::kActiveUnacked, kT0 + 2000, "s-2"));
  CHECK(Of(kpi.Snapshot(kT0 + 45'000), "37").chattering == 1);
  CHECK(Of(kpi.Snapshot(kT0 + 45'000), "37").raised == 5);
  // A minute after its second raise only 1 raise of s-1 is within a minute.
  CHECK(Of(kpi.Snapshot(kT0 + 20'000 + kMinute + 1), "37").chattering == 0);
}

TEST_CASE("Alarm KPIs count stale and shelved open alarms", "[server][kpi]") {
  AlarmKpi kpi;
  std::vector<JournalEntry> open = {
      Entry(1, EventKind::kRaised, AlarmState::kActiveUnacked, kT0 - 25 * 60 * kMinute),
      Entry(2, EventKind::kRaised, AlarmState::kActiveAcked, kT0 - 23 * 60 * kMinute, "s-2"),
      // Cleared, waiting for an ack: not active, so never stale.
      Entry(3, EventKind::kCleared, AlarmState::kClearedUnacked, kT0 - 48 * 60 * kMinute, "s-3"),
      Entry(4, EventKind::kShelved, AlarmState::kActiveAcked, kT0 - kMinute, "s-4", "130102"),
  };
  open[3].event.record.shelved_until = kT0 + 60 * kMinute;
  kpi.Reset(open);
  auto now = kpi.Snapshot(kT0);
  CHECK(Of(now, "37").stale == 1);
  CHECK(Of(now, "37").shelved == 0);
  CHECK(Of(now, "13").shelved == 1);
  CHECK(Of(now, "13").raised == 0);  // a reset brings no raises
  // An hour later s-2 is stale too; unshelving and closing take effect.
  auto unshelved = open[3];
  unshelved.event.kind = EventKind::kUnshelved;
  unshelved.event.record.shelved_until = 0;
  kpi.Apply(unshelved);
  kpi.Apply(Entry(1, EventKind::kAcknowledged, AlarmState::kClosed, kT0 + kMinute));
  auto hour = kpi.Snapshot(kT0 + 61 * kMinute);
  CHECK(Of(hour, "37").stale == 1);
  CHECK(Of(hour, "13").shelved == 0);
}

TEST_CASE("ProvinceOf takes the first two digits", "[server][kpi]") {
  CHECK(ProvinceOf("370105") == "37");
  CHECK(ProvinceOf("11") == "11");
  CHECK(ProvinceOf("") == "unknown");
  CHECK(ProvinceOf("x70105") == "unknown");
}

TEST_CASE("Alarm KPIs count planned-work raises apart from the alarm load", "[server][kpi]") {
  AlarmKpi kpi;
  // Three raises of one point under planned work within a minute: no load,
  // no chattering, not open; counted as planned.
  for (uint64_t i = 1; i <= 3; ++i) {
    JournalEntry e = Entry(i, EventKind::kRaised, AlarmState::kPlanned,
                           kT0 + static_cast<TimestampMs>(i) * 1000);
    e.event.record.planned_work = "pw-1";
    kpi.Apply(e);
  }
  auto planned = Of(kpi.Snapshot(kT0 + kMinute / 2), "37");
  CHECK(planned.planned_raised == 3);
  CHECK(planned.raised == 0);
  CHECK(planned.chattering == 0);
  // The window ends with the condition present: a normal alarm, counted as load.
  kpi.Apply(Entry(3, EventKind::kRaised, AlarmState::kActiveUnacked, kT0 + 40'000));
  auto after = Of(kpi.Snapshot(kT0 + kMinute / 2 + 20'000), "37");
  CHECK(after.raised == 1);
  CHECK(after.planned_raised == 3);
  CHECK(Of(kpi.Snapshot(kT0 + 11 * kMinute), "37").planned_raised == 0);
}

}  // namespace
}  // namespace vigil::server
