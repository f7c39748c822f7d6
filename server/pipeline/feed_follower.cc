#include "server/pipeline/feed_follower.h"

#include "alarm/thread_annotations.h"
#include "storage/mutex.h"

namespace vigil::server {

// What the feed holds (weakly) and wakes. `armed` keeps one registration at
// a time: the feed forgets a watcher once it woke it.
struct FeedFollower::Signal final : AlarmFeed::Watcher {
  storage::Mutex mu;
  storage::CondVar cv;
  bool woken VIGIL_GUARDED_BY(mu) = false;
  bool armed VIGIL_GUARDED_BY(mu) = false;
  bool stopped VIGIL_GUARDED_BY(mu) = false;

  void Wake() override {
    storage::MutexLock lock(&mu);
    woken = true;
    armed = false;
    cv.NotifyAll();
  }
};

FeedFollower::FeedFollower(AlarmFeed* feed) : feed_(feed), signal_(std::make_shared<Signal>()) {}

FeedFollower::~FeedFollower() = default;

void FeedFollower::Drain(const std::function<void(std::vector<alarm::JournalEntry> open)>& reset,
                         const std::function<void(const alarm::JournalEntry&)>& apply) {
  {
    // Registered before reading: a publish after the read below wakes us.
    bool arm = false;
    {
      storage::MutexLock lock(&signal_->mu);
      signal_->woken = false;
      arm = !signal_->armed;
      signal_->armed = true;
    }
    if (arm) feed_->Watch(signal_);
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
  storage::MutexLock lock(&signal_->mu);
  while (!signal_->woken && !signal_->stopped && signal_->cv.WaitUntil(&signal_->mu, deadline)) {
  }
  signal_->woken = false;
  return !signal_->stopped;
}

void FeedFollower::Notify() {
  storage::MutexLock lock(&signal_->mu);
  signal_->woken = true;
  signal_->cv.NotifyAll();
}

void FeedFollower::Stop() {
  storage::MutexLock lock(&signal_->mu);
  signal_->stopped = true;
  signal_->cv.NotifyAll();
}

}  // namespace vigil::server
