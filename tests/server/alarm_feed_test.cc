#include "server/pipeline/alarm_feed.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace vigil::server {
namespace {

using alarm::AlarmState;
using alarm::JournalEntry;

JournalEntry Entry(uint64_t seq, uint64_t alarm_id, AlarmState state, std::string region) {
  JournalEntry e;
  e.seq = seq;
  e.alarm_id = alarm_id;
  e.event.record.source_id = "s-" + std::to_string(alarm_id);
  e.event.record.state = state;
  e.event.record.severity = alarm::Severity::kOrange;
  e.region_code = std::move(region);
  e.peak_severity = alarm::Severity::kOrange;
  return e;
}

struct CountingWatcher final : AlarmFeed::Watcher {
  void Wake() override { ++woken; }
  bool Interested(const JournalEntry& e) const override {
    return e.region_code.starts_with(region);
  }
  int woken = 0;
  std::string region;
};

TEST_CASE(
    "AlarmFeed serves recent entries from memory, older ones from the journal, and says "
    "when they expired",
    "[server][feed]") {
  AlarmFeed feed(4);  // a ring of 4 entries
  feed.Reset({}, 1, 0);
  std::vector<JournalEntry> entries;
  for (uint64_t seq = 1; seq <= 6; ++seq) {
    entries.push_back(Entry(seq, seq, AlarmState::kActiveUnacked, seq % 2 ? "370105" : "130102"));
  }
  feed.Publish(entries);
  CHECK(feed.last_seq() == 6);

  std::vector<JournalEntry> out;
  uint64_t through = 0;
  alarm::AlarmFilter shandong{.region_prefix = "37"};
  // Seqs 3..6 are in memory.
  CHECK(feed.Read(2, shandong, 100, &out, &through) == AlarmFeed::ReadOutcome::kOk);
  CHECK(through == 6);
  REQUIRE(out.size() == 2);  // 3 and 5
  CHECK(out[0].seq == 3);
  CHECK(out[1].seq == 5);
  out.clear();
  CHECK(feed.Read(1, shandong, 100, &out, &through) == AlarmFeed::ReadOutcome::kFromJournal);
  CHECK(feed.Read(6, shandong, 100, &out, &through) == AlarmFeed::ReadOutcome::kOk);
  CHECK(out.empty());
  CHECK(through == 6);
  // A bounded scan stops early and says how far it looked.
  CHECK(feed.Read(2, {}, 2, &out, &through) == AlarmFeed::ReadOutcome::kOk);
  CHECK(through == 4);
  feed.SetFirstSeq(4);  // retention removed 1..3
  CHECK(feed.Read(1, {}, 100, &out, &through) == AlarmFeed::ReadOutcome::kExpired);
  CHECK(feed.Read(3, {}, 100, &out, &through) == AlarmFeed::ReadOutcome::kOk);
}

TEST_CASE("AlarmFeed tells when each entry read was published, for the delivery latency",
          "[server][feed]") {
  AlarmFeed feed(16);
  feed.Reset({}, 1, 0);
  const auto before_first = std::chrono::steady_clock::now();
  feed.Publish({Entry(1, 1, AlarmState::kActiveUnacked, "370105")});
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto before_second = std::chrono::steady_clock::now();
  feed.Publish({Entry(2, 2, AlarmState::kActiveUnacked, "130102"),
                Entry(3, 3, AlarmState::kActiveUnacked, "370105")});
  const auto after_second = std::chrono::steady_clock::now();

  std::vector<JournalEntry> out;
  std::vector<std::chrono::steady_clock::time_point> published_at;
  uint64_t through = 0;
  const alarm::AlarmFilter shandong{.region_prefix = "37"};
  REQUIRE(feed.Read(0, shandong, 100, &out, &through, &published_at) ==
          AlarmFeed::ReadOutcome::kOk);
  REQUIRE(out.size() == 2);
  REQUIRE(published_at.size() == 2);  // one per entry returned, not per entry scanned
  CHECK(published_at[0] >= before_first);
  CHECK(published_at[0] < before_second);
  CHECK(published_at[1] >= before_second);
  CHECK(published_at[1] <= after_second);
}

TEST_CASE(
    "AlarmFeed with its waker wakes watchers on the waker thread, never on the publishing "
    "(journal) thread",
    "[server][feed]") {
  struct ThreadWatcher final : AlarmFeed::Watcher {
    void Wake() override {
      std::lock_guard<std::mutex> lock(mu);
      woken_on = std::this_thread::get_id();
      cv.notify_all();
    }
    std::mutex mu;
    std::condition_variable cv;
    std::optional<std::thread::id> woken_on;
  };
  AlarmFeed feed(16);
  feed.StartWaker();
  feed.Reset({}, 1, 0);
  auto watcher = std::make_shared<ThreadWatcher>();
  feed.Watch(watcher);
  feed.Publish({Entry(1, 1, AlarmState::kActiveUnacked, "370105")});
  std::unique_lock<std::mutex> lock(watcher->mu);
  REQUIRE(watcher->cv.wait_for(lock, std::chrono::seconds(10),
                               [&] { return watcher->woken_on.has_value(); }));
  CHECK(*watcher->woken_on != std::this_thread::get_id());
}

TEST_CASE("AlarmFeed with two waker threads shares a flood's wake-ups between them",
          "[server][feed]") {
  // Each watcher's Wake holds its thread until a second waker thread has
  // woken someone too (or 5 s passed): with one thread doing all the
  // wake-ups, the flood would wait behind the first.
  struct Flood {
    std::mutex mu;
    std::condition_variable cv;
    std::set<std::thread::id> threads;
    size_t woken = 0;
    std::chrono::steady_clock::time_point deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(5);
  };
  struct FloodWatcher final : AlarmFeed::Watcher {
    explicit FloodWatcher(Flood* f) : flood(f) {}
    void Wake() override {
      ++woken;
      std::unique_lock<std::mutex> lock(flood->mu);
      flood->threads.insert(std::this_thread::get_id());
      ++flood->woken;
      flood->cv.notify_all();
      flood->cv.wait_until(lock, flood->deadline, [&] { return flood->threads.size() >= 2; });
    }
    Flood* flood;
    std::atomic<int> woken{0};
  };
  Flood flood;
  AlarmFeed feed(16);
  feed.StartWaker(2);
  feed.Reset({}, 1, 0);
  std::vector<std::shared_ptr<FloodWatcher>> watchers;
  for (int i = 0; i < 100; ++i) {
    watchers.push_back(std::make_shared<FloodWatcher>(&flood));
    feed.Watch(watchers.back());
  }
  feed.Publish({Entry(1, 1, AlarmState::kActiveUnacked, "370105")});
  std::unique_lock<std::mutex> lock(flood.mu);
  REQUIRE(flood.cv.wait_for(lock, std::chrono::seconds(20), [&] { return flood.woken == 100; }));
  CHECK(flood.threads.size() == 2);
  CHECK(flood.threads.count(std::this_thread::get_id()) == 0);
  lock.unlock();
  for (const auto& w : watchers) CHECK(w->woken == 1);
}

TEST_CASE("AlarmFeed keeps the open alarms consistent with the seq they are current at",
          "[server][feed]") {
  AlarmFeed feed;
  feed.Reset({Entry(7, 7, AlarmState::kActiveUnacked, "370105")}, 1, 7);
  feed.Publish({Entry(8, 8, AlarmState::kActiveUnacked, "370202"),
                Entry(9, 7, AlarmState::kClosed, "370105")});
  AlarmFeed::OpenView view = feed.Open({.region_prefix = "37"});
  CHECK(view.seq == 9);
  REQUIRE(view.alarms.size() == 1);
  CHECK(view.alarms[0].alarm_id == 8);
  CHECK_FALSE(feed.FindOpen(7).has_value());
  CHECK(feed.FindOpen(8).has_value());
  CHECK(feed.Open({.region_prefix = "13"}).alarms.empty());
  CHECK(feed.Counts().by_severity[2] == 1);
  CHECK(feed.Counts().unacked == 1);
  CHECK(feed.Counts().gateways_offline == 0);
}

TEST_CASE("AlarmFeed counts the gateways with an active gateway-offline alarm", "[server][feed]") {
  AlarmFeed feed;
  feed.Reset({}, 1, 0);
  auto gateway = [](uint64_t seq, uint64_t id, AlarmState state) {
    JournalEntry e = Entry(seq, id, state, "370105");
    e.event.record.alarm = alarm::AlarmKind::kGatewayOffline;
    return e;
  };
  feed.Publish({gateway(1, 1, AlarmState::kActiveUnacked),
                gateway(2, 2, AlarmState::kActiveUnacked),
                Entry(3, 3, AlarmState::kActiveUnacked, "370105")});
  CHECK(feed.Counts().gateways_offline == 2);
  // Back online but not yet acknowledged: open, no longer offline.
  feed.Publish(
      {gateway(4, 2, AlarmState::kClearedUnacked), gateway(5, 1, AlarmState::kActiveAcked)});
  CHECK(feed.Counts().gateways_offline == 1);
}

TEST_CASE("AlarmFeed wakes each watcher once per publish and skips destroyed ones",
          "[server][feed]") {
  AlarmFeed feed;
  auto kept = std::make_shared<CountingWatcher>();
  auto gone = std::make_shared<CountingWatcher>();
  feed.Watch(kept);
  feed.Watch(gone);
  gone.reset();
  feed.Publish({Entry(1, 1, AlarmState::kActiveUnacked, "370105")});
  CHECK(kept->woken == 1);
  feed.Publish({Entry(2, 1, AlarmState::kActiveAcked, "370105")});
  CHECK(kept->woken == 1);  // not watching any more until it asks again
  feed.Watch(kept);
  feed.WakeAll();
  CHECK(kept->woken == 2);
  CHECK(feed.watcher_count() == 0);
}

TEST_CASE("AlarmFeed wakes only the watchers a publish concerns, the others keep waiting",
          "[server][feed]") {
  AlarmFeed feed;
  auto shandong = std::make_shared<CountingWatcher>();
  shandong->region = "37";
  auto hebei = std::make_shared<CountingWatcher>();
  hebei->region = "13";
  feed.Watch(shandong);
  feed.Watch(hebei);
  feed.Publish({Entry(1, 1, AlarmState::kActiveUnacked, "370105")});
  CHECK(shandong->woken == 1);
  CHECK(hebei->woken == 0);
  CHECK(feed.watcher_count() == 1);  // Hebei still waits
  feed.Publish({Entry(2, 2, AlarmState::kActiveUnacked, "130102")});
  CHECK(hebei->woken == 1);
  CHECK(feed.watcher_count() == 0);
}

}  // namespace
}  // namespace vigil::server
