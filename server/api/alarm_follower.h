// AlarmFollower: one alarm subscriber's way through the journal -- where it
// starts (a snapshot of the open alarms, or just after a seq it already has),
// then every later entry its filter matches, in order, each once: from the
// feed's memory while the feed still holds them, else (a slow subscriber, or
// one resuming after a restart) from the journal on disk, read on the
// blocking pool, then back to the feed. The gRPC Alarms.Subscribe stream and
// the console's Server-Sent Events stream both follow the journal with it;
// they differ only in how they send what it hands them.
//
// Thread-safety: not thread-safe; every call is made under the owner's lock.
// A journal read runs on the blocking pool and comes back through the
// owner's `reenter`, which must run the continuation it is given with that
// lock held -- or never, once the owner is gone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "alarm/journal.h"
#include "alarm/status.h"
#include "server/api/alarm_desk.h"
#include "server/pipeline/alarm_feed.h"

namespace vigil::server {

class AlarmFollower {
 public:
  // Runs `then` later with the owner's lock held, if the owner still wants
  // entries (then it should also resume sending); else drops it.
  using Reenter = std::function<void(std::function<void()> then)>;

  // Entries scanned per feed read (the feed's lock is held for one) and per
  // journal read.
  static constexpr size_t kFeedScan = 256;
  static constexpr size_t kJournalScan = 1024;

  // `*desk` (its feed, journal and blocking pool) must outlive every journal
  // read this follower starts. `journal_reads`, when given, counts them.
  AlarmFollower(const AlarmDesk* desk, alarm::AlarmFilter filter, Reenter reenter,
                std::atomic<uint64_t>* journal_reads = nullptr)
      : desk_(desk),
        filter_(std::move(filter)),
        reenter_(std::move(reenter)),
        journal_reads_(journal_reads) {}

  // Where to start. Without `after_seq`: at the open alarms matching the
  // filter (returned), as of the seq they are current at. With it: just
  // after it; kOutOfRange when it is past the journal's newest entry (the
  // subscriber must start over without it).
  alarm::Result<std::optional<AlarmFeed::OpenView>> Start(std::optional<uint64_t> after_seq);

  enum class Step {
    kEntries,   // `out` has matching entries; the cursor is past them
    kCaughtUp,  // nothing after the cursor yet: watch the feed
    kLoading,   // a journal read is in flight; `reenter` brings the owner back
    kLost,      // the resume point is gone (past retention): lost_reason()
    kFailed,    // the journal read failed: error()
  };
  // The next matching entries after the cursor: from the feed's memory,
  // scanning on until one matches or the cursor reaches the feed's newest
  // entry, else from the journal. `published_at` (parallel to `entries`)
  // says when the feed published each live entry; empty for entries read
  // from the journal.
  struct Batch {
    std::vector<alarm::JournalEntry> entries;
    std::vector<std::chrono::steady_clock::time_point> published_at;
  };
  Step Next(Batch* out);

  // Every matching entry with seq <= cursor() was handed out. Read from any
  // thread through cursor_ref() (the gRPC service's slowest-subscriber lag).
  uint64_t cursor() const { return cursor_.load(std::memory_order_relaxed); }
  const std::atomic<uint64_t>* cursor_ref() const { return &cursor_; }
  // A journal read is in flight (Next() says kLoading until it is back).
  bool loading() const { return loading_; }
  const std::string& lost_reason() const { return lost_reason_; }
  const alarm::Status& error() const { return error_; }
  const alarm::AlarmFilter& filter() const { return filter_; }

 private:
  void ReadJournal(uint64_t from);

  const AlarmDesk* const desk_;
  const alarm::AlarmFilter filter_;
  const Reenter reenter_;
  std::atomic<uint64_t>* const journal_reads_;
  std::atomic<uint64_t> cursor_{0};
  bool loading_ = false;
  // A journal read's answer, handed out by the next Next().
  std::optional<alarm::Result<AlarmDesk::JournalChunk>> loaded_;
  uint64_t loaded_from_ = 0;
  std::string lost_reason_;
  alarm::Status error_;
};

}  // namespace vigil::server
