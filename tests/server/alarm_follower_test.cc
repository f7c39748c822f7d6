#include "server/api/alarm_follower.h"

#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage/alarm_codec.h"
#include "storage/journal_store.h"

namespace vigil::server {
namespace {

using alarm::AlarmState;
using alarm::JournalEntry;
using alarm::Status;
using Step = AlarmFollower::Step;

JournalEntry Entry(uint64_t seq, const std::string& region) {
  JournalEntry e;
  e.seq = seq;
  e.alarm_id = seq;
  e.event.record.source_id = "s-" + std::to_string(seq);
  e.event.record.state = AlarmState::kActiveUnacked;
  e.event.record.severity = alarm::Severity::kOrange;
  e.peak_severity = alarm::Severity::kOrange;
  e.region_code = region;
  return e;
}

// The journal on "disk": entries by seq; reads fail while `fail` is set.
class FakeJournal final : public storage::JournalStore {
 public:
  Status WriteJournal(const storage::JournalBatch&) override { return Status::Ok(); }
  alarm::Result<storage::JournalState> LoadJournalState() override {
    return storage::JournalState{};
  }
  Status ReadJournal(uint64_t from,
                     const std::function<bool(uint64_t, std::string_view)>& visit) override {
    if (fail) return Status::IOError("disk gone");
    for (auto it = entries.lower_bound(from); it != entries.end(); ++it) {
      if (!visit(it->first, it->second)) break;
    }
    return Status::Ok();
  }
  Status ReadAlarmHistory(uint64_t,
                          const std::function<bool(uint64_t, std::string_view)>&) override {
    return Status::Ok();
  }
  Status ScanJournalByTime(alarm::TimestampMs, alarm::TimestampMs,
                           const std::function<bool(uint64_t, alarm::TimestampMs)>&) override {
    return Status::Ok();
  }
  alarm::Result<uint64_t> ExpireJournal(alarm::TimestampMs) override { return uint64_t{1}; }
  alarm::Result<storage::ChainCheck> VerifyJournalChain(uint64_t, uint64_t) override {
    return storage::ChainCheck{};
  }
  Status ReadChainedJournal(
      uint64_t, uint64_t, const std::function<void(const storage::ChainRecord&)>&,
      const std::function<bool(uint64_t, std::string_view, const storage::ChainHash&)>&) override {
    return Status::Ok();
  }

  std::map<uint64_t, std::string> entries;
  bool fail = false;
};

// A journal of `count` entries, odd seqs in Shandong (37), even ones in
// Hebei (13); the feed's memory holds only the last 4.
struct Rig {
  explicit Rig(uint64_t count) {
    feed.Reset({}, 1, 0);
    std::vector<JournalEntry> all;
    for (uint64_t seq = 1; seq <= count; ++seq) {
      all.push_back(Entry(seq, seq % 2 ? "370105" : "130102"));
      journal.entries[seq] = storage::EncodeJournalEntry(all.back());
    }
    feed.Publish(all);
  }
  // The owner's side: journal reads wait in `pool` until the test runs them;
  // their continuation runs at once while `owner_alive`.
  AlarmFollower Follower(alarm::AlarmFilter filter) {
    return AlarmFollower(&desk, std::move(filter), [this](std::function<void()> then) {
      if (owner_alive) then();
    });
  }
  void RunPool() {
    std::vector<std::function<void()>> tasks = std::move(pool);
    pool.clear();
    for (auto& task : tasks) task();
  }
  // Every seq the follower hands out until it is caught up (or stops),
  // running journal reads as they come.
  std::vector<uint64_t> Drain(AlarmFollower& follower, Step* last) {
    std::vector<uint64_t> seqs;
    for (int i = 0; i < 100; ++i) {
      AlarmFollower::Batch batch;
      *last = follower.Next(&batch);
      for (const JournalEntry& e : batch.entries) seqs.push_back(e.seq);
      if (*last == Step::kLoading) {
        RunPool();
        continue;
      }
      if (*last != Step::kEntries) break;
    }
    return seqs;
  }

  AlarmFeed feed{4};
  FakeJournal journal;
  std::vector<std::function<void()>> pool;
  bool owner_alive = true;
  AlarmDesk desk{std::chrono::hours(1),
                 nullptr,
                 nullptr,
                 &feed,
                 &journal,
                 nullptr,
                 [this](std::function<void()> task) { pool.push_back(std::move(task)); }};
};

TEST_CASE("AlarmFollower starts at a snapshot, or after a seq, never past the newest",
          "[server][follower]") {
  Rig rig(6);
  AlarmFollower snapshot = rig.Follower({.region_prefix = "37"});
  auto start = snapshot.Start(std::nullopt);
  REQUIRE(start);
  REQUIRE(start->has_value());
  CHECK((*start)->seq == 6);
  CHECK(snapshot.cursor() == 6);
  AlarmFollower::Batch batch;
  CHECK(snapshot.Next(&batch) == Step::kCaughtUp);

  AlarmFollower resume = rig.Follower({});
  start = resume.Start(4);
  REQUIRE(start);
  CHECK_FALSE(start->has_value());
  Step last{};
  CHECK(rig.Drain(resume, &last) == std::vector<uint64_t>{5, 6});
  CHECK(last == Step::kCaughtUp);

  AlarmFollower ahead = rig.Follower({});
  start = ahead.Start(7);
  REQUIRE_FALSE(start);
  CHECK(start.error().code() == Status::Code::kOutOfRange);
  CHECK(start.error().message() == "7 is past the journal's newest entry 6");
}

TEST_CASE("AlarmFollower catches up from the journal, then the feed, with no gap or duplicate",
          "[server][follower]") {
  Rig rig(3000);  // the feed holds 2997..3000; the journal is read in chunks of 1024
  std::atomic<uint64_t> journal_reads{0};
  AlarmFollower follower(
      &rig.desk, {.region_prefix = "37"},
      [&rig](std::function<void()> then) {
        if (rig.owner_alive) then();
      },
      &journal_reads);
  REQUIRE(follower.Start(0));
  AlarmFollower::Batch batch;
  CHECK(follower.Next(&batch) == Step::kLoading);
  CHECK(follower.loading());
  CHECK(follower.Next(&batch) == Step::kLoading);  // until the read is back
  Step last{};
  const std::vector<uint64_t> seqs = rig.Drain(follower, &last);
  CHECK(last == Step::kCaughtUp);
  std::vector<uint64_t> odd;
  for (uint64_t seq = 1; seq <= 3000; seq += 2) odd.push_back(seq);
  CHECK(seqs == odd);  // every Shandong entry once, in order
  CHECK(follower.cursor() == 3000);
  CHECK(journal_reads.load() == 3);  // 1..1024, ..2048, ..3000

  // Live entries after that come from the feed, with their publish times.
  rig.feed.Publish({Entry(3001, "370105")});
  CHECK(follower.Next(&batch) == Step::kEntries);
  REQUIRE(batch.entries.size() == 1);
  CHECK(batch.entries[0].seq == 3001);
  CHECK(batch.published_at.size() == 1);
  CHECK(follower.Next(&batch) == Step::kCaughtUp);
}

TEST_CASE("AlarmFollower says when the resume point is gone or the journal cannot be read",
          "[server][follower]") {
  SECTION("past retention, by the feed") {
    Rig rig(10);
    rig.feed.SetFirstSeq(5);
    AlarmFollower follower = rig.Follower({});
    REQUIRE(follower.Start(2));
    AlarmFollower::Batch batch;
    CHECK(follower.Next(&batch) == Step::kLost);
    CHECK(follower.lost_reason() == "events after seq 2 are past the journal's retention");
    CHECK(follower.Next(&batch) == Step::kLost);  // stays lost
  }
  SECTION("no longer in the journal, found by the read") {
    Rig rig(10);
    rig.journal.entries.clear();  // expired between the feed's answer and the read
    AlarmFollower follower = rig.Follower({});
    REQUIRE(follower.Start(2));
    AlarmFollower::Batch batch;
    CHECK(follower.Next(&batch) == Step::kLoading);
    rig.RunPool();
    CHECK(follower.Next(&batch) == Step::kLost);
    CHECK(follower.lost_reason() == "events after seq 2 are no longer in the journal");
  }
  SECTION("a failed read") {
    Rig rig(10);
    rig.journal.fail = true;
    AlarmFollower follower = rig.Follower({});
    REQUIRE(follower.Start(2));
    AlarmFollower::Batch batch;
    CHECK(follower.Next(&batch) == Step::kLoading);
    rig.RunPool();
    CHECK(follower.Next(&batch) == Step::kFailed);
    CHECK(follower.error().code() == Status::Code::kIOError);
  }
  SECTION("the owner went away during the read: its answer is dropped") {
    Rig rig(10);
    auto follower = std::make_unique<AlarmFollower>(&rig.desk, alarm::AlarmFilter{},
                                                    [&rig](std::function<void()> then) {
                                                      if (rig.owner_alive) then();
                                                    });
    REQUIRE(follower->Start(2));
    AlarmFollower::Batch batch;
    CHECK(follower->Next(&batch) == Step::kLoading);
    rig.owner_alive = false;
    follower.reset();
    rig.RunPool();  // reads the journal, then the owner's reenter drops it
    CHECK(rig.pool.empty());
  }
}

}  // namespace
}  // namespace vigil::server
