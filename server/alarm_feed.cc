#include "server/alarm_feed.h"

#include <algorithm>

namespace vigil::server {

using alarm::AlarmState;
using alarm::JournalEntry;

AlarmFeed::AlarmFeed(size_t ring_capacity) : ring_capacity_(std::max<size_t>(ring_capacity, 1)) {}

void AlarmFeed::Reset(std::vector<JournalEntry> open, uint64_t first_seq, uint64_t last_seq) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.clear();
  for (JournalEntry& e : open) {
    const uint64_t id = e.alarm_id;
    open_[id] = std::move(e);
  }
  ring_.clear();
  first_seq_ = first_seq;
  last_seq_ = last_seq;
}

void AlarmFeed::Publish(std::vector<JournalEntry> entries) {
  if (entries.empty()) return;
  std::unique_lock<std::mutex> lock(mu_);
  const size_t first = ring_.size();
  for (JournalEntry& e : entries) {
    if (e.event.record.state == AlarmState::kClosed) {
      open_.erase(e.alarm_id);
    } else {
      open_[e.alarm_id] = e;
    }
    last_seq_ = e.seq;
    ring_.push_back(std::move(e));
  }
  // What was just published, for the watchers' filters; then trim the ring.
  const std::vector<JournalEntry> published(ring_.begin() + static_cast<ptrdiff_t>(first),
                                            ring_.end());
  while (ring_.size() > ring_capacity_) ring_.pop_front();
  WakeLocked(lock, &published);
}

void AlarmFeed::SetFirstSeq(uint64_t first_seq) {
  std::lock_guard<std::mutex> lock(mu_);
  first_seq_ = std::max(first_seq_, first_seq);
}

AlarmFeed::OpenView AlarmFeed::Open(const alarm::AlarmFilter& filter) const {
  OpenView view;
  std::lock_guard<std::mutex> lock(mu_);
  view.seq = last_seq_;
  for (const auto& [id, e] : open_) {
    if (filter.Matches(e)) view.alarms.push_back(e);
  }
  return view;
}

std::optional<JournalEntry> AlarmFeed::FindOpen(uint64_t alarm_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = open_.find(alarm_id);
  if (it == open_.end()) return std::nullopt;
  return it->second;
}

AlarmFeed::ReadOutcome AlarmFeed::Read(uint64_t after, const alarm::AlarmFilter& filter,
                                       size_t max_scan, std::vector<JournalEntry>* out,
                                       uint64_t* through) const {
  std::lock_guard<std::mutex> lock(mu_);
  *through = after;
  if (after >= last_seq_) return ReadOutcome::kOk;
  if (after + 1 < first_seq_) return ReadOutcome::kExpired;
  const uint64_t ring_first = ring_.empty() ? last_seq_ + 1 : ring_.front().seq;
  if (after + 1 < ring_first) return ReadOutcome::kFromJournal;
  size_t i = static_cast<size_t>(after + 1 - ring_first);
  for (size_t scanned = 0; i < ring_.size() && scanned < max_scan; ++i, ++scanned) {
    const JournalEntry& e = ring_[i];
    if (filter.Matches(e)) out->push_back(e);
    *through = e.seq;
  }
  return ReadOutcome::kOk;
}

uint64_t AlarmFeed::last_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_seq_;
}

uint64_t AlarmFeed::first_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_seq_;
}

AlarmFeed::OpenCounts AlarmFeed::Counts() const {
  OpenCounts counts;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, e] : open_) {
    const auto severity = static_cast<size_t>(e.event.record.severity);
    if (severity < counts.by_severity.size()) ++counts.by_severity[severity];
    const AlarmState state = e.event.record.state;
    if (state == AlarmState::kActiveUnacked || state == AlarmState::kClearedUnacked) {
      ++counts.unacked;
    }
    if (e.event.record.shelved_until != 0) ++counts.shelved;
  }
  return counts;
}

void AlarmFeed::Watch(const std::shared_ptr<Watcher>& watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.push_back(watcher);
}

void AlarmFeed::WakeAll() {
  std::unique_lock<std::mutex> lock(mu_);
  WakeLocked(lock);
}

size_t AlarmFeed::watcher_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watchers_.size();
}

void AlarmFeed::WakeLocked(std::unique_lock<std::mutex>& lock,
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
  lock.unlock();
  for (const auto& weak : woken) {
    if (auto watcher = weak.lock()) watcher->Wake();
  }
}

}  // namespace vigil::server
