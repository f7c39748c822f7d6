// AlarmDesk: what a command center may do with alarms, whatever the
// transport -- the region scoping of a filter, an alarm's history, and the
// operator actions (acknowledge, shelve, unshelve) with their checks. The
// gRPC Alarms service and the HTTP console both call it, so the rules are
// written once. No gRPC here: callers authenticate (AccessControl) and
// convert to their wire form themselves.
// Thread-safety: every method may be called from any thread; callbacks run on
// the blocking pool (ReadAlarm) or the journal thread (Act) and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "alarm/journal.h"
#include "alarm/status.h"
#include "server/api/access.h"
#include "server/pipeline/alarm_feed.h"
#include "server/pipeline/registry_holder.h"
#include "server/pipeline/storage_writer.h"
#include "storage/control_record.h"
#include "storage/journal_store.h"

namespace vigil::server {

// Runs a task that may block (RocksDB reads) off the network threads.
using BlockingRunner = std::function<void(std::function<void()>)>;

// A typed operator name longer than this is refused.
inline constexpr size_t kMaxOperatorIdBytes = 128;

class AlarmDesk {
 public:
  // Every pointer must outlive the desk and every call it started.
  AlarmDesk(std::chrono::milliseconds max_shelve, const AccessControl* access,
            const RegistryHolder* registry, AlarmFeed* feed, storage::JournalStore* store,
            StorageWriter* writer, BlockingRunner blocking)
      : max_shelve_(max_shelve),
        access_(access),
        registry_(registry),
        feed_(feed),
        store_(store),
        writer_(writer),
        blocking_(std::move(blocking)) {}

  // `filter` narrowed to what `caller` may see: an empty region becomes the
  // caller's; a region outside it is kPermissionDenied (counted).
  alarm::Result<alarm::AlarmFilter> ScopedFilter(const CallerScope& caller,
                                                 alarm::AlarmFilter filter) const;

  // Every journal entry of alarm `alarm_id`, oldest first, to `done` (on the
  // blocking pool). kNotFound when the journal has none, and also when the
  // alarm lies outside the caller's region (counted as a denial), so that ids
  // cannot be probed across regions; kCorruption/kIOError from the store.
  void ReadAlarm(const CallerScope& caller, uint64_t alarm_id,
                 std::function<void(alarm::Result<std::vector<alarm::JournalEntry>>)> done) const;

  // kInvalidArgument unless `reason` is given and 1 ms <= duration <=
  // alarms.max_shelve.
  alarm::Status CheckShelve(const std::string& reason, int64_t duration_ms) const;

  // An operator action on open alarm `alarm_id`: `record` (kind, text,
  // shelve_for_ms) goes into the ingest log with the alarm's reference and
  // the caller's authenticated name as the actor; `operator_id`, a name the
  // request typed, is kept in the comment only. `done` gets the journaled
  // event (nullopt when it already left the feed's memory), or the error:
  // kPermissionDenied for a viewer (counted), kInvalidArgument for an
  // operator_id past kMaxOperatorIdBytes, kNotFound when the alarm is not
  // open or is another region's, kUnavailable when the writer is full or
  // stopping. Runs `done` exactly once, inline on an error found here.
  using ActionDone = std::function<void(alarm::Status, std::optional<alarm::JournalEntry>)>;
  void Act(const CallerScope& caller, uint64_t alarm_id, const std::string& operator_id,
           storage::ControlRecord record, ActionDone done) const;
  // Puts `record`, checked and complete (actor set), into the ingest log;
  // `done` as for Act (kUnavailable when the writer is full or stopping, or
  // the engine's error). Planned-work windows go this way.
  void Submit(storage::ControlRecord record, ActionDone done) const;

  // A subscriber's catch-up read when it fell out of the feed's memory
  // (the gRPC Subscribe stream and the console's SSE stream): the entries
  // after `cursor` that match `filter`, scanning at most `max_scan`;
  // `through` is the last seq scanned, == cursor when the journal holds
  // nothing after it (expired: the subscriber must resynchronize). Blocks on
  // RocksDB: call it on the blocking pool. Errors: kCorruption naming the
  // entry; the store's.
  struct JournalChunk {
    std::vector<alarm::JournalEntry> entries;
    uint64_t through = 0;
  };
  alarm::Result<JournalChunk> ReadJournalAfter(uint64_t cursor, const alarm::AlarmFilter& filter,
                                               size_t max_scan) const;

  std::chrono::milliseconds max_shelve() const { return max_shelve_; }
  const AccessControl& access() const { return *access_; }
  const RegistryHolder& registry() const { return *registry_; }
  AlarmFeed& feed() const { return *feed_; }
  storage::JournalStore& store() const { return *store_; }
  const BlockingRunner& blocking() const { return blocking_; }

 private:
  std::chrono::milliseconds max_shelve_;
  const AccessControl* access_;
  const RegistryHolder* registry_;
  AlarmFeed* feed_;
  storage::JournalStore* store_;
  StorageWriter* writer_;
  BlockingRunner blocking_;
};

}  // namespace vigil::server
