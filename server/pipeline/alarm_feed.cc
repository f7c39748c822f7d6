#include "server/pipeline/alarm_feed.h"

#include <algorithm>

#include "server/log/thread_name.h"

namespace vigil::server {

using alarm::AlarmState;
using alarm::JournalEntry;

AlarmFeed::AlarmFeed(size_t ring_capacity) : ring_capacity_(std::max<size_t>(ring_capacity, 1)) {}

AlarmFeed::~AlarmFeed() {
  {
    storage::MutexLock lock(&waker_mu_);
    waker_stop_ = true;
  }
  waker_cv_.NotifyAll();
  for (std::thread& waker : wakers_) waker.join();
}

void AlarmFeed::StartWaker(size_t threads) {
  waker_count_ = std::max<size_t>(threads, 1);
  for (size_t i = 0; i < waker_count_; ++i) {
    wakers_.emplace_back([this] {
      NameThisThread("vigil-fanout");
      WakerLoop();
    });
  }
}

void AlarmFeed::WakerLoop() {
  std::vector<std::weak_ptr<Watcher>> batch;
  for (;;) {
    {
      storage::MutexLock lock(&waker_mu_);
      while (!waker_stop_ && to_wake_.empty()) waker_cv_.Wait(&waker_mu_);
      if (to_wake_.empty()) return;  // stopping, nothing left
      // This thread's share; another waker takes the rest.
      const size_t take = (to_wake_.size() + waker_count_ - 1) / waker_count_;
      batch.assign(std::make_move_iterator(to_wake_.end() - static_cast<std::ptrdiff_t>(take)),
                   std::make_move_iterator(to_wake_.end()));
      to_wake_.resize(to_wake_.size() - take);
      if (!to_wake_.empty()) waker_cv_.NotifyOne();
    }
    for (const auto& weak : batch) {
      if (auto watcher = weak.lock()) watcher->Wake();
    }
    batch.clear();
  }
}

void AlarmFeed::Reset(std::vector<JournalEntry> open, uint64_t first_seq, uint64_t last_seq) {
  storage::MutexLock lock(&mu_);
  open_.clear();
  for (JournalEntry& e : open) {
    const uint64_t id = e.alarm_id;
    open_[id] = std::move(e);
  }
  ring_.clear();
  first_seq_ = first_seq;
  last_seq_ = last_seq;
}

void AlarmFeed::Publish(const std::vector<JournalEntry>& entries) {
  if (entries.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::weak_ptr<Watcher>> woken;
  {
    storage::MutexLock lock(&mu_);
    for (const JournalEntry& e : entries) {
      if (e.event.record.state == AlarmState::kClosed) {
        open_.erase(e.alarm_id);
      } else {
        open_[e.alarm_id] = e;
      }
      last_seq_ = e.seq;
      ring_.push_back({.entry = e, .published_at = now});
    }
    while (ring_.size() > ring_capacity_) ring_.pop_front();
    // `entries` (copied into the ring) tells the watchers' filters what is new.
    woken = TakeWoken(&entries);
  }
  Wake(std::move(woken));
}

void AlarmFeed::SetFirstSeq(uint64_t first_seq) {
  storage::MutexLock lock(&mu_);
  first_seq_ = std::max(first_seq_, first_seq);
}

AlarmFeed::OpenView AlarmFeed::Open(const alarm::AlarmFilter& filter) const {
  OpenView view;
  storage::MutexLock lock(&mu_);
  view.seq = last_seq_;
  for (const auto& [id, e] : open_) {
    if (filter.Matches(e)) view.alarms.push_back(e);
  }
  return view;
}

std::optional<JournalEntry> AlarmFeed::FindOpen(uint64_t alarm_id) const {
  storage::MutexLock lock(&mu_);
  auto it = open_.find(alarm_id);
  if (it == open_.end()) return std::nullopt;
  return it->second;
}

AlarmFeed::ReadOutcome AlarmFeed::Read(
    uint64_t after, const alarm::AlarmFilter& filter, size_t max_scan,
    std::vector<JournalEntry>* out, uint64_t* through,
    std::vector<std::chrono::steady_clock::time_point>* published_at) const {
  storage::MutexLock lock(&mu_);
  *through = after;
  if (after >= last_seq_) return ReadOutcome::kOk;
  if (after + 1 < first_seq_) return ReadOutcome::kExpired;
  const uint64_t ring_first = ring_.empty() ? last_seq_ + 1 : ring_.front().entry.seq;
  if (after + 1 < ring_first) return ReadOutcome::kFromJournal;
  size_t i = static_cast<size_t>(after + 1 - ring_first);
  for (size_t scanned = 0; i < ring_.size() && scanned < max_scan; ++i, ++scanned) {
    const JournalEntry& e = ring_[i].entry;
    if (filter.Matches(e)) {
      out->push_back(e);
      if (published_at != nullptr) published_at->push_back(ring_[i].published_at);
    }
    *through = e.seq;
  }
  return ReadOutcome::kOk;
}

uint64_t AlarmFeed::last_seq() const {
  storage::MutexLock lock(&mu_);
  return last_seq_;
}

uint64_t AlarmFeed::first_seq() const {
  storage::MutexLock lock(&mu_);
  return first_seq_;
}

AlarmFeed::OpenCounts AlarmFeed::Counts() const {
  OpenCounts counts;
  storage::MutexLock lock(&mu_);
  for (const auto& [id, e] : open_) {
    if (e.event.record.state == AlarmState::kPlanned) {
      ++counts.planned;
      continue;
    }
    const auto severity = static_cast<size_t>(e.event.record.severity);
    if (severity < counts.by_severity.size()) ++counts.by_severity[severity];
    const AlarmState state = e.event.record.state;
    if (state == AlarmState::kActiveUnacked || state == AlarmState::kClearedUnacked) {
      ++counts.unacked;
    }
    if (e.event.record.shelved_until != 0) ++counts.shelved;
    if (e.event.record.alarm == alarm::AlarmKind::kGatewayOffline &&
        (state == AlarmState::kActiveUnacked || state == AlarmState::kActiveAcked)) {
      ++counts.gateways_offline;
    }
  }
  return counts;
}

void AlarmFeed::Watch(const std::shared_ptr<Watcher>& watcher) {
  storage::MutexLock lock(&mu_);
  watchers_.push_back(watcher);
}

void AlarmFeed::WakeAll() {
  std::vector<std::weak_ptr<Watcher>> woken;
  {
    storage::MutexLock lock(&mu_);
    woken = TakeWoken(nullptr);
  }
  Wake(std::move(woken));
}

size_t AlarmFeed::watcher_count() const {
  storage::MutexLock lock(&mu_);
  return watchers_.size();
}

std::vector<std::weak_ptr<AlarmFeed::Watcher>> AlarmFeed::TakeWoken(
    const std::vector<JournalEntry>* published) {
  std::vector<std::weak_ptr<Watcher>> woken;
  if (published == nullptr) {
    woken.swap(watchers_);
  } else {
    std::vector<std::weak_ptr<Watcher>> waiting;
    for (auto& weak : watchers_) {
      auto watcher = weak.lock();
      if (!watcher) continue;
      const bool wake = std::any_of(published->begin(), published->end(),
                                    [&](const JournalEntry& e) { return watcher->Interested(e); });
      (wake ? woken : waiting).push_back(std::move(weak));
    }
    watchers_.swap(waiting);
  }
  return woken;
}

void AlarmFeed::Wake(std::vector<std::weak_ptr<Watcher>> woken) {
  if (woken.empty()) return;
  if (!wakers_.empty()) {
    {
      storage::MutexLock waker_lock(&waker_mu_);
      to_wake_.insert(to_wake_.end(), std::make_move_iterator(woken.begin()),
                      std::make_move_iterator(woken.end()));
    }
    waker_cv_.NotifyOne();
    return;
  }
  for (const auto& weak : woken) {
    if (auto watcher = weak.lock()) watcher->Wake();
  }
}

}  // namespace vigil::server
