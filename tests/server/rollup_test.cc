// Roll-ups in the journal's book (journal_book.h, alarm/rollup.h): a tailings
// reservoir with the GB 39496-2020 §5.5.4 figures -- 4 blue points of an item
// raise the item yellow, 3 yellow the item orange, 2 orange the item red; the
// items raise the reservoir likewise. Plain values: no store, no clock.
#include "alarm/rollup.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "alarm/engine.h"
#include "alarm/registry.h"
#include "alarm/rule_set.h"
#include "server/pipeline/journal_book.h"

namespace vigil::server {
namespace {

using alarm::ActiveAlarm;
using alarm::AlarmEvent;
using alarm::AlarmKind;
using alarm::AlarmState;
using alarm::EventKind;
using alarm::JournalEntry;
using alarm::Severity;
using alarm::TimestampMs;

constexpr TimestampMs kT0 = 1'700'000'000'000;

// Reservoir "res" of enterprise "tail" with items "disp" (5 points d0..d4),
// "phr" (p0..p4) and "seep" (q0..q4); sensor "x" of the enterprise in no
// facility.
std::shared_ptr<const alarm::Registry> Reservoir() {
  alarm::RegistryEntries entries;
  entries.enterprises = {alarm::Enterprise{.id = "tail",
                                           .name = "Tailings Co",
                                           .kind = alarm::EnterpriseKind::kTailings,
                                           .region_code = "370105"}};
  entries.facilities = {alarm::Facility{.id = "res",
                                        .enterprise_id = "tail",
                                        .kind = alarm::FacilityKind::kTailingsReservoir,
                                        .name = "Reservoir 1",
                                        .items = {{.id = "disp", .name = "surface displacement"},
                                                  {.id = "phr", .name = "phreatic line"},
                                                  {.id = "seep", .name = "seepage"}}}};
  const std::pair<const char*, const char*> items[] = {{"d", "disp"}, {"p", "phr"}, {"q", "seep"}};
  for (const auto& [prefix, item] : items) {
    for (int i = 0; i < 5; ++i) {
      entries.sensors.push_back(alarm::Sensor{.id = prefix + std::to_string(i),
                                              .enterprise_id = "tail",
                                              .facility_id = "res",
                                              .item_id = item,
                                              .quantity = "displacement",
                                              .unit = "mm"});
    }
  }
  entries.sensors.push_back(
      alarm::Sensor{.id = "x", .enterprise_id = "tail", .quantity = "rain", .unit = "mm"});
  auto built = alarm::Registry::Build(std::move(entries));
  REQUIRE(built.has_value());
  return *built;
}

// GB 39496-2020 §5.5.4, for items from their points and for the reservoir
// from its items.
std::vector<alarm::RollupCondition> Gb39496() {
  return {{.count = 4, .level = Severity::kBlue, .raise = Severity::kYellow},
          {.count = 3, .level = Severity::kYellow, .raise = Severity::kOrange},
          {.count = 2, .level = Severity::kOrange, .raise = Severity::kRed}};
}

std::shared_ptr<const alarm::RuleSet> Rules(const std::shared_ptr<const alarm::Registry>& reg,
                                            bool with_rollups = true) {
  std::vector<alarm::RollupRule> rollups;
  if (with_rollups) {
    rollups.push_back({.id = "gb39496-item",
                       .parent = alarm::RollupParent::kItem,
                       .children = alarm::RollupChildren::kSensors,
                       .facility_kinds = {alarm::FacilityKind::kTailingsReservoir},
                       .when = Gb39496()});
    rollups.push_back({.id = "gb39496-reservoir",
                       .parent = alarm::RollupParent::kFacility,
                       .children = alarm::RollupChildren::kItems,
                       .facility_kinds = {alarm::FacilityKind::kTailingsReservoir},
                       .when = Gb39496()});
  }
  auto built = alarm::RuleSet::Build({}, reg, {}, std::move(rollups));
  REQUIRE(built.has_value());
  return *built;
}

// Sends a sensor's point alarm events into the book, one occurrence per
// sensor, the way a shard's engine would.
class Points {
 public:
  explicit Points(JournalBook* book, std::shared_ptr<const alarm::Registry> reg)
      : book_(book), reg_(std::move(reg)) {}

  // Raises (or changes to `severity`) the sensor's threshold alarm.
  void Set(const std::string& sensor, Severity severity,
           AlarmState state = AlarmState::kActiveUnacked, std::string planned = "") {
    ActiveAlarm& a = open_[sensor];
    const bool fresh = a.source_id.empty();
    if (fresh) {
      a = ActiveAlarm{.source_id = sensor,
                      .rule_id = "r",
                      .alarm = AlarmKind::kThreshold,
                      .state = state,
                      .severity = severity,
                      .level = alarm::Level::kH,
                      .occurrence = ++occurrence_,
                      .raised_at = Now()};
    }
    const EventKind kind = fresh                   ? EventKind::kRaised
                           : severity < a.severity ? EventKind::kEscalated
                                                   : EventKind::kDeEscalated;
    a.severity = severity;
    a.state = state;
    a.planned_work = std::move(planned);
    a.changed_at = Now();
    book_->Add(AlarmEvent{.kind = kind, .record = a, .value = 1, .reading_at = Now(), .at = Now()},
               *reg_);
  }
  // Its alarm returns to normal (cleared-unacked: no longer counts).
  void Clear(const std::string& sensor) {
    ActiveAlarm a = open_[sensor];
    open_.erase(sensor);
    a.state = AlarmState::kClearedUnacked;
    a.changed_at = Now();
    book_->Add(
        AlarmEvent{.kind = EventKind::kCleared, .record = a, .reading_at = Now(), .at = Now()},
        *reg_);
  }
  TimestampMs Now() { return kT0 + 1000 * ++tick_; }

 private:
  JournalBook* book_;
  std::shared_ptr<const alarm::Registry> reg_;
  std::map<std::string, ActiveAlarm> open_;
  uint64_t occurrence_ = 0;
  int tick_ = 0;
};

const JournalEntry* OpenRollup(const JournalBook& book, const std::string& place) {
  auto it = book.open().find({static_cast<uint8_t>(AlarmKind::kRollup), place});
  return it == book.open().end() ? nullptr : &it->second;
}

std::vector<const JournalEntry*> Rollups(const std::vector<JournalEntry>& entries) {
  std::vector<const JournalEntry*> out;
  for (const JournalEntry& e : entries) {
    if (e.event.record.alarm == AlarmKind::kRollup) out.push_back(&e);
  }
  return out;
}

uint64_t AlarmIdOf(const std::vector<JournalEntry>& entries, const std::string& source) {
  for (const JournalEntry& e : entries) {
    if (e.event.record.source_id == source) return e.alarm_id;
  }
  return 0;
}

TEST_CASE(
    "GB 39496 roll-up: 4 blue points of an item raise the item yellow, journaled right "
    "after the fourth point",
    "[rollup]") {
  const auto reg = Reservoir();
  JournalBook book(2);
  REQUIRE(book.UseRules(Rules(reg), 0, kT0, *reg) == true);
  Points points(&book, reg);
  points.Set("d0", Severity::kBlue);
  points.Set("d1", Severity::kBlue);
  points.Set("d2", Severity::kBlue);
  CHECK(OpenRollup(book, "disp") == nullptr);  // 3 blue: below the figure
  points.Set("d3", Severity::kBlue);
  const std::vector<JournalEntry> entries = book.Commit();
  REQUIRE(entries.size() == 5);
  // The child's entry, then the parent's: never before.
  CHECK(entries[3].event.record.source_id == "d3");
  const JournalEntry& item = entries[4];
  CHECK(item.seq == entries[3].seq + 1);
  CHECK(item.event.kind == EventKind::kRaised);
  CHECK(item.event.record.alarm == AlarmKind::kRollup);
  CHECK(item.event.record.source_id == "disp");
  CHECK(item.event.record.rule_id == "gb39496-item");
  CHECK(item.event.record.severity == Severity::kYellow);
  CHECK(item.event.record.state == AlarmState::kActiveUnacked);
  CHECK(item.event.at == entries[3].event.at);
  CHECK(item.alarm_id == item.seq);
  CHECK(item.enterprise_id == "tail");
  CHECK(item.region_code == "370105");
  CHECK(item.event.record.contributing ==
        std::vector<uint64_t>{entries[0].alarm_id, entries[1].alarm_id, entries[2].alarm_id,
                              entries[3].alarm_id});
  // One yellow item is not enough for the reservoir (3 are).
  CHECK(OpenRollup(book, "res") == nullptr);
}

TEST_CASE(
    "GB 39496 roll-up: items raise the reservoir orange then red, and clearing children "
    "de-escalates and clears it",
    "[rollup]") {
  const auto reg = Reservoir();
  JournalBook book(2);
  book.UseRules(Rules(reg), 0, kT0, *reg);
  Points points(&book, reg);
  for (const char* item : {"d", "p", "q"}) {
    for (int i = 0; i < 4; ++i) points.Set(item + std::to_string(i), Severity::kBlue);
  }
  // 3 yellow items -> the reservoir orange, right after the third item.
  std::vector<JournalEntry> entries = book.Commit();
  std::vector<const JournalEntry*> rollups = Rollups(entries);
  REQUIRE(rollups.size() == 4);
  CHECK(rollups[2]->event.record.source_id == "seep");
  const JournalEntry& reservoir = *rollups[3];
  CHECK(reservoir.event.record.source_id == "res");
  CHECK(reservoir.event.record.rule_id == "gb39496-reservoir");
  CHECK(reservoir.event.record.severity == Severity::kOrange);
  CHECK(reservoir.seq == rollups[2]->seq + 1);
  CHECK(reservoir.event.record.contributing ==
        std::vector<uint64_t>{rollups[0]->alarm_id, rollups[1]->alarm_id, rollups[2]->alarm_id});
  const uint64_t reservoir_alarm = reservoir.alarm_id;

  points.Set("p4", Severity::kBlue);  // a fifth point of "phr": no change
  // 3 yellow points make "disp" orange; then "phr" orange: 2 orange items
  // make the reservoir red.
  for (int i = 0; i < 3; ++i) points.Set("d" + std::to_string(i), Severity::kYellow);
  CHECK(OpenRollup(book, "disp")->event.record.severity == Severity::kOrange);
  CHECK(OpenRollup(book, "res")->event.record.severity == Severity::kOrange);
  for (int i = 0; i < 3; ++i) points.Set("p" + std::to_string(i), Severity::kYellow);
  entries = book.Commit();
  rollups = Rollups(entries);
  REQUIRE(!rollups.empty());
  CHECK(rollups.back()->event.record.source_id == "res");
  CHECK(rollups.back()->event.kind == EventKind::kEscalated);
  CHECK(rollups.back()->event.record.severity == Severity::kRed);
  CHECK(rollups.back()->alarm_id == reservoir_alarm);  // the same alarm, escalated
  CHECK(rollups.back()->event.record.contributing.size() == 2);

  // "phr" back to 2 yellow points (and 2 blue): the item yellow, the
  // reservoir orange.
  points.Clear("p0");
  entries = book.Commit();
  rollups = Rollups(entries);
  REQUIRE(rollups.size() == 2);
  CHECK(entries[0].event.record.source_id == "p0");  // child first
  CHECK(rollups[0]->event.record.source_id == "phr");
  CHECK(rollups[0]->event.kind == EventKind::kDeEscalated);
  CHECK(rollups[0]->event.record.severity == Severity::kYellow);
  CHECK(rollups[1]->event.record.source_id == "res");
  CHECK(rollups[1]->event.kind == EventKind::kDeEscalated);
  CHECK(rollups[1]->event.record.severity == Severity::kOrange);

  // "seep" down to 3 points: no longer yellow, 2 yellow-or-worse items are
  // below every figure -> the reservoir clears (closes: no ack needed).
  points.Clear("q0");
  entries = book.Commit();
  rollups = Rollups(entries);
  REQUIRE(rollups.size() == 2);
  CHECK(rollups[0]->event.record.source_id == "seep");
  CHECK(rollups[0]->event.kind == EventKind::kCleared);
  CHECK(rollups[0]->event.record.state == AlarmState::kClosed);
  CHECK(rollups[1]->event.record.source_id == "res");
  CHECK(rollups[1]->event.kind == EventKind::kCleared);
  CHECK(rollups[1]->event.record.state == AlarmState::kClosed);
  CHECK(rollups[1]->alarm_id == reservoir_alarm);
  CHECK(OpenRollup(book, "res") == nullptr);
  CHECK(OpenRollup(book, "seep") == nullptr);
  CHECK(OpenRollup(book, "disp") != nullptr);
}

TEST_CASE(
    "Roll-up: children under planned work, cleared-unacked or outside any item do not "
    "count",
    "[rollup]") {
  const auto reg = Reservoir();
  JournalBook book(2);
  book.UseRules(Rules(reg), 0, kT0, *reg);
  Points points(&book, reg);
  points.Set("d0", Severity::kBlue);
  points.Set("d1", Severity::kBlue);
  points.Set("d2", Severity::kBlue);
  points.Set("d3", Severity::kBlue, AlarmState::kPlanned, "w-1");
  points.Set("x", Severity::kRed);
  CHECK(OpenRollup(book, "disp") == nullptr);
  points.Set("d4", Severity::kBlue);
  REQUIRE(OpenRollup(book, "disp") != nullptr);
  points.Clear("d4");
  CHECK(OpenRollup(book, "disp") == nullptr);
}

TEST_CASE("Roll-up: a restart continues from the loaded open table, the same alarm ids",
          "[rollup]") {
  const auto reg = Reservoir();
  JournalBook before(2);
  before.UseRules(Rules(reg), 0, kT0, *reg);
  Points points(&before, reg);
  for (int i = 0; i < 4; ++i) points.Set("d" + std::to_string(i), Severity::kBlue);
  const std::vector<JournalEntry> written = before.Commit();
  const uint64_t item_alarm = AlarmIdOf(written, "disp");
  REQUIRE(item_alarm != 0);

  // The restart loads what the store holds: last seq and the open table.
  std::vector<JournalEntry> open;
  for (const auto& [key, entry] : before.open()) open.push_back(entry);
  JournalBook after(2);
  after.Load(written.back().seq, open);
  // The shards tell the journal their rules at start: nothing changes.
  CHECK(after.UseRules(Rules(reg), 0, kT0 + 999'000, *reg) == true);
  CHECK(after.pending().empty());
  Points resumed(&after, reg);
  // The child's clear is a continuation: the next seq, the same alarm ids.
  ActiveAlarm d0 =
      before.open().at({static_cast<uint8_t>(AlarmKind::kThreshold), "d0"}).event.record;
  d0.state = AlarmState::kClearedUnacked;
  after.Add(AlarmEvent{.kind = EventKind::kCleared, .record = d0, .at = kT0 + 1'000'000}, *reg);
  const std::vector<JournalEntry> entries = after.Commit();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].seq == written.back().seq + 1);
  CHECK(entries[1].event.record.source_id == "disp");
  CHECK(entries[1].event.kind == EventKind::kCleared);
  CHECK(entries[1].alarm_id == item_alarm);
}

TEST_CASE("Roll-up: reconcile after a restart leaves roll-up alarms to their children",
          "[rollup]") {
  const auto reg = Reservoir();
  JournalBook book(1);
  book.UseRules(Rules(reg), 0, kT0, *reg);
  Points points(&book, reg);
  for (int i = 0; i < 4; ++i) points.Set("d" + std::to_string(i), Severity::kBlue);
  book.Commit();
  std::vector<ActiveAlarm> engine;
  for (const auto& [key, entry] : book.open()) {
    if (key.first == static_cast<uint8_t>(AlarmKind::kThreshold))
      engine.push_back(entry.event.record);
  }
  CHECK(book.Reconcile(0, engine, kT0 + 5000, *reg) == 0);
  CHECK(OpenRollup(book, "disp") != nullptr);
  // The engine lost d3's alarm (rules changed while down): the item clears
  // with the correction.
  engine.pop_back();
  CHECK(book.Reconcile(0, engine, kT0 + 6000, *reg) == 1);
  const std::vector<JournalEntry> entries = book.Commit();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].event.kind == EventKind::kReconciled);
  CHECK(entries[1].event.record.source_id == "disp");
  CHECK(entries[1].event.kind == EventKind::kCleared);
}

TEST_CASE(
    "Roll-up: new rules without the roll-up close its alarm, a failed write undoes the "
    "change of rules",
    "[rollup]") {
  const auto reg = Reservoir();
  JournalBook book(1);
  book.UseRules(Rules(reg), 5, kT0, *reg);
  Points points(&book, reg);
  for (int i = 0; i < 4; ++i) points.Set("d" + std::to_string(i), Severity::kBlue);
  book.Commit();
  const auto without = Rules(reg, false);
  // A shard behind (an earlier log entry) does not take the rules back.
  CHECK(book.UseRules(without, 4, kT0 + 10'000, *reg) == false);
  REQUIRE(book.UseRules(without, 9, kT0 + 10'000, *reg) == true);
  REQUIRE(book.pending().size() == 1);
  CHECK(book.pending()[0].event.kind == EventKind::kCleared);
  CHECK(book.pending()[0].event.at == kT0 + 10'000);
  book.Undo();
  CHECK(OpenRollup(book, "disp") != nullptr);
  // The retry takes them again, as the first time.
  REQUIRE(book.UseRules(without, 9, kT0 + 10'000, *reg) == true);
  CHECK(book.Commit().size() == 1);
  CHECK(OpenRollup(book, "disp") == nullptr);
}

}  // namespace
}  // namespace vigil::server
