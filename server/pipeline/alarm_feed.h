// AlarmFeed: what command centers read. It holds the open alarms as of the
// newest journaled entry and the most recent journal entries in a bounded
// ring, so a subscriber is served from memory while it keeps up and from the
// journal in RocksDB when it falls behind: a slow reader costs nobody else
// anything and is never dropped.
//
// Thread-safety: every method may be called from any thread. Publish is
// called by the journal thread alone, in journal order. One mutex guards the
// state; transitions are rare next to readings, so it is never on the ingest
// path. Watchers are woken after the mutex is released: on the feed's own
// waker thread once StartWaker() ran, inline on the publishing thread before.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "alarm/journal.h"
#include "alarm/thread_annotations.h"
#include "storage/mutex.h"

namespace vigil::server {

class AlarmFeed {
 public:
  // `ring_capacity`: entries kept in memory for live subscribers.
  explicit AlarmFeed(size_t ring_capacity = 65536);
  ~AlarmFeed();  // stops the waker thread, if started
  AlarmFeed(const AlarmFeed&) = delete;
  AlarmFeed& operator=(const AlarmFeed&) = delete;

  // Starts `threads` threads ("vigil-fanout") that wake watchers after a
  // Publish, so the journal thread never waits on subscribers: a gRPC write
  // started from Wake can cost its caller a context switch, and a thousand
  // command centers would hold up the next journal write. The wake-ups of a
  // flood are shared among the threads. Call once, before Publish.
  void StartWaker(size_t threads = 1);

  // Start-up, before anyone reads: the open alarms (latest entry of each) and
  // the journal's bounds.
  void Reset(std::vector<alarm::JournalEntry> open, uint64_t first_seq, uint64_t last_seq);

  // Journal thread: entries just made durable, in seq order, gap-free.
  void Publish(const std::vector<alarm::JournalEntry>& entries);
  // Retention moved the journal's first entry.
  void SetFirstSeq(uint64_t first_seq);

  // Open alarms matching `filter`, in alarm_id order, and the journal seq
  // they are current at: every later event has a greater seq.
  struct OpenView {
    std::vector<alarm::JournalEntry> alarms;
    uint64_t seq = 0;
  };
  OpenView Open(const alarm::AlarmFilter& filter) const;
  // The latest entry of open alarm `alarm_id`; nullopt when it is not open.
  std::optional<alarm::JournalEntry> FindOpen(uint64_t alarm_id) const;

  enum class ReadOutcome {
    kOk,           // *out holds what matched in (after, *through]; may be empty
    kFromJournal,  // entries after `after` left the ring: read them from the journal
    kExpired,      // entries after `after` are past retention: resync from the open alarms
  };
  // Matching entries with seq > after, scanning at most `max_scan` entries;
  // *through is the last seq looked at (== after when nothing is new). When
  // `published_at` is given, it gets the steady-clock time each entry of *out
  // was published (made durable), for the delivery latency histogram.
  ReadOutcome Read(
      uint64_t after, const alarm::AlarmFilter& filter, size_t max_scan,
      std::vector<alarm::JournalEntry>* out, uint64_t* through,
      std::vector<std::chrono::steady_clock::time_point>* published_at = nullptr) const;

  uint64_t last_seq() const;
  uint64_t first_seq() const;
  // Open alarms by severity (index 1..4) and how many of them are shelved;
  // planned ones (AlarmState::kPlanned) are counted apart, in `planned` only.
  struct OpenCounts {
    std::array<uint64_t, 5> by_severity{};
    uint64_t planned = 0;
    uint64_t unacked = 0;
    uint64_t shelved = 0;
    // Active gateway-offline alarms: gateways silent past gateway_offline.after.
    uint64_t gateways_offline = 0;
  };
  OpenCounts Counts() const;

  // A watcher is woken once, on the next Publish (or WakeAll), then forgotten:
  // re-register to hear of the next one. Held weakly: a destroyed watcher is
  // skipped. `wake` runs on the publishing thread and must not block.
  class Watcher {
   public:
    virtual ~Watcher() = default;
    virtual void Wake() = 0;
    // Whether a newly published `entry` concerns this watcher; a Publish wakes
    // only watchers interested in one of its entries (the others stay
    // registered), so a thousand command centers of other regions cost a
    // filter check each, not a wake-up. Called under the feed's lock: must be
    // cheap, must not call back into the feed. Default: every entry.
    virtual bool Interested(const alarm::JournalEntry& /*entry*/) const { return true; }
  };
  void Watch(const std::shared_ptr<Watcher>& watcher);
  // Wakes every watcher (heartbeats, shutdown).
  void WakeAll();
  size_t watcher_count() const;

 private:
  // Takes the watchers interested in one of `published` (all when null) off
  // the list.
  std::vector<std::weak_ptr<Watcher>> TakeWoken(const std::vector<alarm::JournalEntry>* published)
      VIGIL_REQUIRES(mu_);
  // Wakes `woken`: hands them to the waker threads, or inline before those start.
  void Wake(std::vector<std::weak_ptr<Watcher>> woken) VIGIL_EXCLUDES(mu_, waker_mu_);
  void WakerLoop();

  struct RingEntry {
    alarm::JournalEntry entry;
    std::chrono::steady_clock::time_point published_at;
  };

  const size_t ring_capacity_;
  mutable storage::Mutex mu_ VIGIL_ACQUIRED_BEFORE(waker_mu_);
  std::deque<RingEntry> ring_ VIGIL_GUARDED_BY(mu_);
  std::map<uint64_t, alarm::JournalEntry> open_ VIGIL_GUARDED_BY(mu_);  // by alarm_id
  uint64_t first_seq_ VIGIL_GUARDED_BY(mu_) = 1;
  uint64_t last_seq_ VIGIL_GUARDED_BY(mu_) = 0;
  std::vector<std::weak_ptr<Watcher>> watchers_ VIGIL_GUARDED_BY(mu_);

  // The waker: watchers to wake, handed over by Publish.
  storage::Mutex waker_mu_;
  storage::CondVar waker_cv_;
  std::vector<std::weak_ptr<Watcher>> to_wake_ VIGIL_GUARDED_BY(waker_mu_);
  bool waker_stop_ VIGIL_GUARDED_BY(waker_mu_) = false;
  size_t waker_count_ = 0;  // set before the wakers start, read by them
  std::vector<std::thread> wakers_;
};

}  // namespace vigil::server
