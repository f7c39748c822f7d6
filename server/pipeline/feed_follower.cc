#include "server/pipeline/feed_follower.h"

namespace vigil::server {

// What the feed holds (weakly) and wakes. `armed` keeps one registration at
// a time: the feed forgets a watcher once it woke it.
struct FeedFollower::Signal final : AlarmFeed::Watcher {
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;    // GUARDED_BY(mu)
  bool armed = false;    // GUARDED_BY(mu)
  bool stopped = false;  // GUARDED_BY(mu)

  void Wake() override {
    std::lock_guard<std::mutex> lock(mu);
    woken = true;
    armed = false;
    cv.notify_all();
  }
};

FeedFollower::FeedFollower(AlarmFeed* feed) : feed_(feed), signal_(std::make_shared<Signal>()) {}

FeedFollower::~FeedFollower() = default;

void FeedFollower::Drain(const std::function<void(std::vector<alarm::JournalEntry> open)>& reset,
                         const std::function<void(const alarm::JournalEntry&)>& apply) {
  {
    // Registered before reading: a publish after the read below wakes us.
    std::unique_lock<std::mutex> lock(signal_->mu);
    signal_->woken = false;
    if (!signal_->armed) {
      signal_->armed = true;
      lock.unlock();
      feed_->Watch(signal_);
    }
  }
  constexpr size_t kMaxScan = 4096;
  std::vector<alarm::JournalEntry> entries;
  while (true) {
    if (!started_) {
      AlarmFeed::OpenView view = feed_->Open({});
      cursor_ = view.seq;
      started_ = true;
      reset(std::move(view.alarms));
    }
    entries.clear();
    uint64_t through = cursor_;
    const AlarmFeed::ReadOutcome outcome = feed_->Read(cursor_, {}, kMaxScan, &entries, &through);
    if (outcome != AlarmFeed::ReadOutcome::kOk) {
      started_ = false;  // missed entries: start over from the open alarms
      continue;
    }
    for (const alarm::JournalEntry& e : entries) apply(e);
    if (through == cursor_) return;
    cursor_ = through;
  }
}

bool FeedFollower::WaitUntil(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(signal_->mu);
  signal_->cv.wait_until(lock, deadline, [&] { return signal_->woken || signal_->stopped; });
  signal_->woken = false;
  return !signal_->stopped;
}

void FeedFollower::Notify() {
  std::lock_guard<std::mutex> lock(signal_->mu);
  signal_->woken = true;
  signal_->cv.notify_all();
}

void FeedFollower::Stop() {
  std::lock_guard<std::mutex> lock(signal_->mu);
  signal_->stopped = true;
  signal_->cv.notify_all();
}

}  // namespace vigil::server
