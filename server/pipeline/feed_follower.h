// FeedFollower: reads the AlarmFeed's journal entries in order, for one
// consumer thread (the Alertmanager forwarder, the alarm KPIs). It keeps a
// cursor, is woken by the feed on every publish, and when it fell so far
// behind that the feed's ring no longer holds what it missed, starts over
// from the open alarms. Reading copies entries out of the feed under its
// mutex, a few thousand at a time, so the journal thread is never held up
// for long and nothing is ever waited for on the journal thread.
//
// Thread-safety: Drain and WaitUntil from the one consumer thread; Stop and
// Notify from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "alarm/journal.h"
#include "server/pipeline/alarm_feed.h"

namespace vigil::server {

class FeedFollower {
 public:
  // `*feed` must outlive the follower. The first Drain starts from the open
  // alarms (a Reset).
  explicit FeedFollower(AlarmFeed* feed);
  ~FeedFollower();
  FeedFollower(const FeedFollower&) = delete;
  FeedFollower& operator=(const FeedFollower&) = delete;

  // Hands every entry published since the last call to `apply`, in seq
  // order; or, the first time and whenever entries were missed, the open
  // alarms to `reset` (then the entries after them to `apply`).
  void Drain(const std::function<void(std::vector<alarm::JournalEntry> open)>& reset,
             const std::function<void(const alarm::JournalEntry&)>& apply);

  // Waits until the feed publishes, Notify() or Stop() is called, or
  // `deadline`. Returns false once stopped.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline);
  void Notify();
  void Stop();

 private:
  struct Signal;
  AlarmFeed* const feed_;
  std::shared_ptr<Signal> signal_;
  uint64_t cursor_ = 0;
  bool started_ = false;
};

}  // namespace vigil::server
