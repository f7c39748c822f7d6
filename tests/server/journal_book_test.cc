// JournalBook: numbering across a restart, reconcile after a crash, undo of a
// failed write; plain values, no store, no clock.
#include "server/pipeline/journal_book.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alarm/engine.h"
#include "alarm/registry.h"
#include "server/pipeline/replay_filter.h"

namespace vigil::server {
namespace {

using alarm::ActiveAlarm;
using alarm::AlarmEvent;
using alarm::AlarmState;
using alarm::EventKind;
using alarm::JournalEntry;
using alarm::TimestampMs;
using namespace std::chrono_literals;

constexpr uint32_t kShards = 2;
constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr TimestampMs kNow = kT0 + 60'000;

// A sensor id owned by `shard` of kShards.
std::string OnShard(uint32_t shard, int skip = 0) {
  for (int i = 0;; ++i) {
    std::string id = "s-" + std::to_string(i);
    if (alarm::ShardOf(id, kShards) == shard && skip-- == 0) return id;
  }
}

std::shared_ptr<const alarm::Registry> Registry(const std::vector<std::string>& sensors) {
  alarm::RegistryEntries entries;
  entries.enterprises = {alarm::Enterprise{
      .id = "e", .name = "E", .kind = alarm::EnterpriseKind::kCoalMine, .region_code = "370105"}};
  for (const std::string& id : sensors) {
    entries.sensors.push_back(alarm::Sensor{.id = id,
                                            .enterprise_id = "e",
                                            .quantity = "q",
                                            .unit = "",
                                            .range_low = 0,
                                            .range_high = 10,
                                            .expected_interval = 0ms});
  }
  auto built = alarm::Registry::Build(std::move(entries));
  REQUIRE(built.has_value());
  return *built;
}

ActiveAlarm Record(const std::string& sensor, uint64_t occurrence, AlarmState state) {
  return ActiveAlarm{.source_id = sensor,
                     .rule_id = "r-" + sensor,
                     .alarm = alarm::AlarmKind::kThreshold,
                     .state = state,
                     .severity = alarm::Severity::kOrange,
                     .level = alarm::Level::kH,
                     .occurrence = occurrence,
                     .threshold = 5,
                     .trigger_value = 7,
                     .trigger_reading_at = kT0,
                     .raised_at = kT0,
                     .changed_at = kT0};
}

AlarmEvent Event(EventKind kind, const std::string& sensor, uint64_t occurrence, AlarmState state) {
  return AlarmEvent{.kind = kind, .record = Record(sensor, occurrence, state), .at = kT0};
}

// An open alarm's latest entry as a restart loads it.
JournalEntry OpenEntry(uint64_t seq, uint64_t alarm_id, const std::string& sensor,
                       uint64_t occurrence) {
  return JournalEntry{
      .seq = seq,
      .alarm_id = alarm_id,
      .event = Event(EventKind::kRaised, sensor, occurrence, AlarmState::kActiveUnacked),
      .enterprise_id = "e",
      .region_code = "370105",
      .enterprise_kind = alarm::EnterpriseKind::kCoalMine,
      .peak_severity = alarm::Severity::kOrange};
}

std::vector<uint64_t> Seqs(const std::vector<JournalEntry>& entries) {
  std::vector<uint64_t> seqs;
  for (const JournalEntry& e : entries) seqs.push_back(e.seq);
  return seqs;
}

TEST_CASE("JournalBook numbers from 1 on an empty journal, each new alarm its own id",
          "[journal_book]") {
  const std::string a = OnShard(0);
  const auto registry = Registry({a});
  JournalBook book(kShards);
  book.Add(Event(EventKind::kRaised, a, 1, AlarmState::kActiveUnacked), *registry);
  book.Add(Event(EventKind::kCleared, a, 1, AlarmState::kClearedUnacked), *registry);
  book.Add(Event(EventKind::kAcknowledged, a, 1, AlarmState::kClosed), *registry);
  book.Add(Event(EventKind::kRaised, a, 2, AlarmState::kActiveUnacked), *registry);
  const std::vector<JournalEntry> entries = book.Commit();
  CHECK(Seqs(entries) == std::vector<uint64_t>{1, 2, 3, 4});
  CHECK(entries[0].alarm_id == 1);
  CHECK(entries[1].alarm_id == 1);
  CHECK(entries[2].alarm_id == 1);
  CHECK(entries[3].alarm_id == 4);  // another occurrence: a new alarm
  CHECK(entries[0].region_code == "370105");
  REQUIRE(book.open().size() == 1);
  CHECK(book.open().begin()->second.seq == 4);
  CHECK(book.next_seq() == 5);
}

TEST_CASE("JournalBook continues numbering and open alarms from the loaded state",
          "[journal_book]") {
  const std::string a = OnShard(0);
  const std::string b = OnShard(1);
  // Loaded after a restart: 41 entries, a's alarm (raised at seq 30) open.
  JournalBook book(kShards);
  const std::vector<JournalEntry> open = {OpenEntry(40, 30, a, 7)};
  book.Load(41, open);
  CHECK(book.next_seq() == 42);

  // The source left the registry: the alarm keeps its place.
  const auto registry = Registry({b});
  book.Add(Event(EventKind::kCleared, a, 7, AlarmState::kClosed), *registry);
  book.Add(Event(EventKind::kRaised, b, 1, AlarmState::kActiveUnacked), *registry);
  const std::vector<JournalEntry> entries = book.Commit();
  REQUIRE(Seqs(entries) == std::vector<uint64_t>{42, 43});
  CHECK(entries[0].alarm_id == 30);  // the loaded alarm, not a new one
  CHECK(entries[0].region_code == "370105");
  CHECK(entries[1].alarm_id == 43);
  REQUIRE(book.open().size() == 1);
  CHECK(book.open().begin()->first.second == b);
}

TEST_CASE("JournalBook reconcile after a crash closes the table's strays and opens the engine's",
          "[journal_book]") {
  const std::string stray = OnShard(0);       // open in the table, not in the engine
  const std::string missing = OnShard(0, 1);  // open in the engine, not in the table
  const std::string same = OnShard(0, 2);     // open in both, the same
  const std::string other = OnShard(1);       // another shard's: not this reconcile's
  const auto registry = Registry({stray, missing, same, other});
  JournalBook book(kShards);
  const std::vector<JournalEntry> open = {OpenEntry(3, 1, stray, 1), OpenEntry(4, 4, same, 2),
                                          OpenEntry(5, 5, other, 3)};
  book.Load(5, open);

  const std::vector<ActiveAlarm> engine = {Record(missing, 9, AlarmState::kActiveAcked),
                                           Record(same, 2, AlarmState::kActiveUnacked)};
  CHECK(book.Reconcile(0, engine, kNow, *registry) == 2);
  const std::vector<JournalEntry> entries = book.Commit();
  REQUIRE(entries.size() == 2);

  const JournalEntry& closed = entries[0];
  CHECK(closed.seq == 6);
  CHECK(closed.alarm_id == 1);
  CHECK(closed.event.kind == EventKind::kReconciled);
  CHECK(closed.event.record.source_id == stray);
  CHECK(closed.event.record.state == AlarmState::kClosed);
  CHECK(closed.event.at == kNow);
  CHECK(closed.event.record.changed_at == kNow);

  const JournalEntry& opened = entries[1];
  CHECK(opened.seq == 7);
  CHECK(opened.alarm_id == 7);
  CHECK(opened.event.kind == EventKind::kReconciled);
  CHECK(opened.event.record == engine[0]);
  CHECK(opened.event.at == kNow);

  std::vector<std::string> open_now;
  for (const auto& [key, entry] : book.open()) open_now.push_back(key.second);
  std::sort(open_now.begin(), open_now.end());
  std::vector<std::string> expected = {missing, same, other};
  std::sort(expected.begin(), expected.end());
  CHECK(open_now == expected);

  // Once matched, a second reconcile finds nothing to say.
  CHECK(book.Reconcile(0, engine, kNow + 1, *registry) == 0);
}

TEST_CASE("JournalBook reconcile corrects a table record that differs from the engine's",
          "[journal_book]") {
  const std::string a = OnShard(1);
  const auto registry = Registry({a});
  JournalBook book(kShards);
  const std::vector<JournalEntry> open = {OpenEntry(8, 8, a, 4)};
  book.Load(8, open);
  const std::vector<ActiveAlarm> engine = {Record(a, 4, AlarmState::kActiveAcked)};
  REQUIRE(book.Reconcile(1, engine, kNow, *registry) == 1);
  const std::vector<JournalEntry> entries = book.Commit();
  CHECK(entries[0].alarm_id == 8);  // the same alarm, corrected
  CHECK(entries[0].event.record.state == AlarmState::kActiveAcked);
  CHECK(book.open().begin()->second.event.record.state == AlarmState::kActiveAcked);
}

TEST_CASE("JournalBook undo of a failed write: the retry gets the same numbers, no gap",
          "[journal_book]") {
  const std::string a = OnShard(0);
  const std::string b = OnShard(1);
  const auto registry = Registry({a, b});
  JournalBook book(kShards);
  const std::vector<JournalEntry> open = {OpenEntry(10, 9, a, 5)};
  book.Load(10, open);
  const auto open_before = book.open();

  auto add_group = [&] {
    book.Add(Event(EventKind::kAcknowledged, a, 5, AlarmState::kClosed), *registry);
    book.Add(Event(EventKind::kRaised, b, 1, AlarmState::kActiveUnacked), *registry);
    book.Add(Event(EventKind::kEscalated, b, 1, AlarmState::kActiveUnacked), *registry);
    book.Mark(0, 5);
    book.Mark(0, 3);
    book.Mark(1, 7);
  };

  add_group();
  const std::vector<JournalEntry> first_try = book.pending();
  {
    const std::vector<JournalBook::OpenWrite> writes = book.OpenWrites();
    REQUIRE(writes.size() == 2);
    for (const JournalBook::OpenWrite& w : writes) {
      if (w.key.second == a) CHECK_FALSE(w.entry.has_value());  // closed: deleted
      if (w.key.second == b) CHECK(w.entry->seq == 13);         // its latest entry
    }
    const std::vector<JournalBook::MarkWrite> marks = book.MarkWrites();
    REQUIRE(marks.size() == 2);
    CHECK((marks[0].shard == 0 && marks[0].log_seq == 5));
    CHECK((marks[1].shard == 1 && marks[1].log_seq == 7));
  }

  book.Undo();  // the write failed
  CHECK(book.next_seq() == 11);
  CHECK(book.open() == open_before);
  CHECK(book.pending().empty());
  CHECK(book.OpenWrites().empty());
  CHECK(book.MarkWrites().empty());

  add_group();  // the retry
  CHECK(book.pending() == first_try);
  const std::vector<JournalEntry> written = book.Commit();
  CHECK(Seqs(written) == std::vector<uint64_t>{11, 12, 13});
  CHECK(written[0].alarm_id == 9);
  CHECK(written[1].alarm_id == 12);
  CHECK(written[2].alarm_id == 12);
  CHECK(book.MarkWrites().empty());  // a new group

  // The next group follows without a gap, and its undo leaves the last group.
  book.Add(Event(EventKind::kCleared, b, 1, AlarmState::kClearedUnacked), *registry);
  book.Undo();
  CHECK(book.next_seq() == 14);
  REQUIRE(book.open().size() == 1);
  CHECK(book.open().begin()->second.seq == 13);
}

TEST_CASE("A crash after a failed write: the restart journals every event once, without a gap",
          "[journal_book][replay]") {
  const std::string a = OnShard(0);
  const std::string b = OnShard(1);
  const auto registry = Registry({a, b});
  // What each shard's evaluation of each log entry makes; replay makes the same.
  struct Made {
    uint64_t log_seq;
    uint32_t shard;
    std::vector<AlarmEvent> events;
  };
  const std::vector<Made> made = {
      {1, 0, {Event(EventKind::kRaised, a, 1, AlarmState::kActiveUnacked)}},
      {2, 1, {Event(EventKind::kRaised, b, 2, AlarmState::kActiveUnacked)}},
      {3, 0, {Event(EventKind::kCleared, a, 1, AlarmState::kClearedUnacked)}},
      {3, 1, {Event(EventKind::kEscalated, b, 2, AlarmState::kActiveUnacked)}},
      {4, 0, {Event(EventKind::kAcknowledged, a, 1, AlarmState::kClosed)}},
  };

  // The store: journal, open table and marks, as written by whole groups.
  std::vector<JournalEntry> journal;
  std::map<JournalBook::OpenKey, JournalEntry> stored_open;
  std::vector<uint64_t> marks(kShards, 0);
  auto write = [&](JournalBook& book, bool ok) {
    if (!ok) return book.Undo();
    for (const JournalBook::OpenWrite& w : book.OpenWrites()) {
      if (w.entry) {
        stored_open[w.key] = *w.entry;
      } else {
        stored_open.erase(w.key);
      }
    }
    for (const JournalBook::MarkWrite& m : book.MarkWrites()) marks[m.shard] = m.log_seq;
    for (JournalEntry& e : book.Commit()) journal.push_back(std::move(e));
  };
  auto add = [&](JournalBook& book, const Made& m, const ReplayFilter& filter) {
    std::vector<AlarmEvent> events = m.events;
    filter.DropJournaled(m.log_seq, &events);
    for (const AlarmEvent& e : events) book.Add(e, *registry);
    if (!events.empty()) book.Mark(m.shard, m.log_seq);
  };

  {  // The first run: shard 1's events of entry 3 land in the group whose write fails.
    JournalBook book(kShards);
    const ReplayFilter none;
    add(book, made[0], none);
    add(book, made[1], none);
    write(book, true);
    add(book, made[2], none);
    write(book, true);
    add(book, made[3], none);
    add(book, made[4], none);
    write(book, false);  // then the process dies
  }
  REQUIRE(journal.size() == 3);
  REQUIRE(marks == std::vector<uint64_t>{3, 2});

  // The restart: load what is stored, replay every entry, drop what is journaled.
  JournalBook book(kShards);
  std::vector<JournalEntry> open;
  for (const auto& [key, entry] : stored_open) open.push_back(entry);
  book.Load(journal.back().seq, open);
  const ReplayFilter filter(marks, kShards);
  for (const Made& m : made) add(book, m, filter);
  write(book, true);

  std::vector<uint64_t> expected_seqs = {1, 2, 3, 4, 5};
  CHECK(Seqs(journal) == expected_seqs);
  std::vector<std::pair<std::string, EventKind>> events;
  for (const JournalEntry& e : journal) events.emplace_back(e.event.record.source_id, e.event.kind);
  CHECK(events == std::vector<std::pair<std::string, EventKind>>{{a, EventKind::kRaised},
                                                                 {b, EventKind::kRaised},
                                                                 {a, EventKind::kCleared},
                                                                 {b, EventKind::kEscalated},
                                                                 {a, EventKind::kAcknowledged}});
  CHECK(journal[3].alarm_id == 2);  // b's alarm continues
  CHECK(journal[4].alarm_id == 1);  // a's alarm continues and closes
  CHECK(marks == std::vector<uint64_t>{4, 3});
  REQUIRE(stored_open.size() == 1);
  CHECK(stored_open.begin()->second.seq == 4);
}

TEST_CASE("JournalBook chains each entry's bytes to the last hash, undo restores the head",
          "[server][journal]") {
  JournalBook book(kShards);
  const storage::ChainHash loaded = storage::NextChainHash(storage::kGenesisHash, "entry 7");
  book.Load(7, {}, loaded);
  CHECK(book.chain_head() == loaded);
  const storage::ChainHash h8 = book.Chain("entry 8");
  CHECK(h8 == storage::NextChainHash(loaded, "entry 8"));
  book.Undo();  // the group's write failed
  CHECK(book.chain_head() == loaded);
  CHECK(book.Chain("entry 8") == h8);  // the retry hashes the same
  const storage::ChainHash h9 = book.Chain("entry 9");
  CHECK(h9 == storage::NextChainHash(h8, "entry 9"));
  book.Commit();
  book.Undo();  // nothing pending: a committed head stays
  CHECK(book.chain_head() == h9);
}

}  // namespace
}  // namespace vigil::server
