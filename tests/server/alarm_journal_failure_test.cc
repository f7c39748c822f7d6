// AlarmJournal when its RocksDB write fails: the journal thread, its store and
// the feed together (JournalBook's undo alone is journal_book_test.cc). What
// the pipeline promises: nothing reaches subscribers that is not durable, the
// failed group's numbering is undone so the retry (or the next run) continues
// the journal without a gap or a duplicate, and the journal says it is
// unhealthy while it fails (vigild's health then turns NOT_SERVING).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "alarm/engine.h"
#include "alarm/registry.h"
#include "server/pipeline/alarm_feed.h"
#include "server/pipeline/alarm_journal.h"
#include "server/pipeline/registry_holder.h"
#include "storage/alarm_codec.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

using alarm::AlarmEvent;
using alarm::AlarmState;
using alarm::EventKind;
using alarm::Status;
using alarm::TimestampMs;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr uint32_t kShards = 1;

// The real journal store, whose writes fail with kIOError while `fail` is
// set (what RocksDB returns for a failed WAL write).
class FlakyJournalStore final : public storage::JournalStore {
 public:
  explicit FlakyJournalStore(storage::JournalStore* real) : real_(real) {}

  std::atomic<bool> fail{false};
  std::atomic<int> refused{0};  // writes failed so far

  Status WriteJournal(const storage::JournalBatch& batch) override {
    if (fail.load()) {
      refused.fetch_add(1);
      return Status::IOError("injected: journal write failed");
    }
    return real_->WriteJournal(batch);
  }
  alarm::Result<storage::JournalState> LoadJournalState() override {
    return real_->LoadJournalState();
  }
  Status ReadJournal(uint64_t from,
                     const std::function<bool(uint64_t, std::string_view)>& visit) override {
    return real_->ReadJournal(from, visit);
  }
  Status ReadAlarmHistory(uint64_t alarm_id,
                          const std::function<bool(uint64_t, std::string_view)>& visit) override {
    return real_->ReadAlarmHistory(alarm_id, visit);
  }
  Status ScanJournalByTime(TimestampMs from, TimestampMs to,
                           const std::function<bool(uint64_t, TimestampMs)>& visit) override {
    return real_->ScanJournalByTime(from, to, visit);
  }
  alarm::Result<uint64_t> ExpireJournal(TimestampMs before) override {
    return real_->ExpireJournal(before);
  }
  alarm::Result<storage::ChainCheck> VerifyJournalChain(uint64_t from,
                                                        uint64_t max_entries) override {
    return real_->VerifyJournalChain(from, max_entries);
  }
  Status ReadChainedJournal(
      uint64_t from, uint64_t to, const std::function<void(const storage::ChainRecord&)>& start,
      const std::function<bool(uint64_t, std::string_view, const storage::ChainHash&)>& visit)
      override {
    return real_->ReadChainedJournal(from, to, start, visit);
  }

 private:
  storage::JournalStore* real_;
};

std::shared_ptr<const alarm::Registry> Registry(int sensors) {
  alarm::RegistryEntries entries;
  entries.enterprises = {alarm::Enterprise{
      .id = "e", .name = "E", .kind = alarm::EnterpriseKind::kCoalMine, .region_code = "370105"}};
  for (int i = 0; i < sensors; ++i) {
    entries.sensors.push_back(alarm::Sensor{.id = "s-" + std::to_string(i),
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

// `sensor` raised (occurrence 1) or cleared, as a shard's engine reports it.
AlarmEvent Event(EventKind kind, const std::string& sensor) {
  const AlarmState state =
      kind == EventKind::kCleared ? AlarmState::kClearedUnacked : AlarmState::kActiveUnacked;
  return AlarmEvent{.kind = kind,
                    .record = alarm::ActiveAlarm{.source_id = sensor,
                                                 .rule_id = "r-" + sensor,
                                                 .alarm = alarm::AlarmKind::kThreshold,
                                                 .state = state,
                                                 .severity = alarm::Severity::kOrange,
                                                 .level = alarm::Level::kH,
                                                 .occurrence = 1,
                                                 .threshold = 5,
                                                 .trigger_value = 7,
                                                 .trigger_reading_at = kT0,
                                                 .raised_at = kT0,
                                                 .changed_at = kT0},
                    .at = kT0};
}

// What shard 0 hands the journal for log entry `log_seq`.
JournalItem* Item(uint64_t log_seq, std::vector<AlarmEvent> events) {
  auto* item = new JournalItem;
  item->shard = 0;
  item->log_seq = log_seq;
  item->events = std::move(events);
  return item;
}

// Polls `done` every 10 ms for at most `bound`; true when it held.
template <typename Condition>
bool Eventually(Condition done, std::chrono::milliseconds bound = 20s) {
  for (const auto deadline = Clock::now() + bound; Clock::now() < deadline;) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

struct Rig {
  Rig() {
    storage::StoreOptions options;
    options.dir = dir.path();
    auto opened = storage::Store::Open(options);
    REQUIRE(opened.has_value());
    store = std::move(*opened);
    flaky = std::make_unique<FlakyJournalStore>(store.get());
  }

  // A journal (and a fresh feed) started from what the store holds.
  void StartJournal() {
    auto state = flaky->LoadJournalState();
    REQUIRE(state.has_value());
    feed = std::make_unique<AlarmFeed>();
    auto started = AlarmJournal::Start(flaky.get(), &registry, feed.get(), kShards, *state);
    REQUIRE(started.has_value());
    journal = std::move(*started);
  }

  // Every (seq, alarm_id) in the store, in order.
  std::vector<std::pair<uint64_t, uint64_t>> Stored() {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    Status s = store->ReadJournal(1, [&](uint64_t seq, std::string_view bytes) {
      auto entry = storage::DecodeJournalEntry(bytes);
      REQUIRE(entry.has_value());
      REQUIRE(entry->seq == seq);
      out.emplace_back(seq, entry->alarm_id);
      return true;
    });
    REQUIRE(s.ok());
    return out;
  }

  // Every entry the feed would hand a subscriber from the start.
  std::vector<alarm::JournalEntry> Published() {
    std::vector<alarm::JournalEntry> out;
    uint64_t through = 0;
    REQUIRE(feed->Read(0, {}, 1000, &out, &through) == AlarmFeed::ReadOutcome::kOk);
    return out;
  }

  testing::TempDir dir;
  RegistryHolder registry{Registry(4)};
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<FlakyJournalStore> flaky;
  std::unique_ptr<AlarmFeed> feed;
  std::unique_ptr<AlarmJournal> journal;
};

TEST_CASE(
    "A failing journal write publishes nothing, reports unhealthy, and once it succeeds the "
    "journal goes on without a gap",
    "[server][journal][faults]") {
  Rig rig;
  rig.StartJournal();
  rig.journal->Submit(Item(1, {Event(EventKind::kRaised, "s-0")}));
  REQUIRE(Eventually([&] { return rig.feed->last_seq() == 1; }));
  CHECK(rig.journal->healthy());

  rig.flaky->fail = true;
  rig.journal->Submit(
      Item(2, {Event(EventKind::kRaised, "s-1"), Event(EventKind::kRaised, "s-2")}));
  rig.journal->Submit(Item(3, {Event(EventKind::kCleared, "s-0")}));
  // At least two attempts: the second numbers the group after the first's undo.
  REQUIRE(Eventually([&] { return rig.flaky->refused.load() >= 2; }));
  CHECK_FALSE(rig.journal->healthy());
  CHECK(rig.journal->counters().write_failures.load() >= 2);
  // Nothing of the failed group reached a subscriber: the feed is still at 1.
  CHECK(rig.feed->last_seq() == 1);
  CHECK(rig.Published().size() == 1);
  CHECK(rig.Stored().size() == 1);

  rig.flaky->fail = false;
  REQUIRE(Eventually([&] { return rig.feed->last_seq() == 4; }));
  CHECK(rig.journal->healthy());
  // Published and stored alike: 1..4, no gap, no duplicate; s-0's clear
  // belongs to the alarm its raise (seq 1) opened.
  const std::vector<alarm::JournalEntry> published = rig.Published();
  REQUIRE(published.size() == 4);
  for (size_t i = 0; i < published.size(); ++i) CHECK(published[i].seq == i + 1);
  CHECK(published[1].alarm_id == 2);
  CHECK(published[2].alarm_id == 3);
  CHECK(published[3].alarm_id == 1);
  CHECK(rig.Stored() == std::vector<std::pair<uint64_t, uint64_t>>{{1, 1}, {2, 2}, {3, 3}, {4, 1}});
  // The hash chain too: the failed attempts' hashes were undone with them.
  auto chain = rig.store->VerifyJournalChain(1, 100);
  REQUIRE(chain.has_value());
  CHECK_FALSE(chain->broken);
  CHECK(chain->verified == 4);
  rig.journal->Stop();
}

TEST_CASE(
    "A journal stopped while its write fails leaves nothing half-numbered: the next run "
    "continues from the last durable entry",
    "[server][journal][faults]") {
  Rig rig;
  rig.StartJournal();
  rig.journal->Submit(Item(1, {Event(EventKind::kRaised, "s-0")}));
  REQUIRE(Eventually([&] { return rig.feed->last_seq() == 1; }));

  rig.flaky->fail = true;
  rig.journal->Submit(Item(2, {Event(EventKind::kRaised, "s-1")}));
  REQUIRE(Eventually([&] { return rig.flaky->refused.load() >= 1; }));
  rig.journal->Stop();  // gives up after a few more attempts
  CHECK(rig.feed->last_seq() == 1);
  CHECK(rig.Stored().size() == 1);

  // A restart: the shard replays log entry 2 (its mark did not move) and
  // hands the same event again; it is seq 2, not a later number.
  rig.flaky->fail = false;
  auto state = rig.flaky->LoadJournalState();
  REQUIRE(state.has_value());
  CHECK(state->last_seq == 1);
  REQUIRE(state->marks.size() == kShards);
  CHECK(state->marks[0] == 1);
  rig.StartJournal();
  rig.journal->Submit(Item(2, {Event(EventKind::kRaised, "s-1")}));
  rig.journal->Submit(Item(3, {Event(EventKind::kCleared, "s-0")}));
  REQUIRE(Eventually([&] { return rig.feed->last_seq() == 3; }));
  CHECK(rig.Stored() == std::vector<std::pair<uint64_t, uint64_t>>{{1, 1}, {2, 2}, {3, 1}});
  // The restarted journal continued the chain from the stored head.
  auto chain = rig.store->VerifyJournalChain(1, 100);
  REQUIRE(chain.has_value());
  CHECK_FALSE(chain->broken);
  CHECK(chain->verified == 3);
  rig.journal->Stop();
}

}  // namespace
}  // namespace vigil::server
