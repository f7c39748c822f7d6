// JournalStore: the alarm journal (numbered entries, per-alarm and time
// indexes, the open-alarm table) with each shard's journal mark and engine
// snapshot. The journal thread writes it; recovery loads it; the alarm
// service reads it. Implemented by the RocksDB Store (store.h).
//
// Thread-safety: WriteJournal has a single caller (the journal thread) and
// ExpireJournal one caller at a time; reads may come from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::storage {

// One alarm journal write (the journal thread's group): entries, the
// open-alarm table changes they imply, how far each shard's events are now
// journaled, and engine snapshots, all in one atomic write.
struct JournalAppend {
  uint64_t seq;
  uint64_t alarm_id;
  alarm::TimestampMs at;
  std::string_view entry;  // encoded JournalEntry (alarm_codec.h)
};
struct OpenAlarmWrite {
  uint8_t alarm_kind;
  std::string_view source_id;
  std::optional<std::string_view> entry;  // the alarm's latest entry; nullopt: closed, delete
};
struct JournalMark {
  uint32_t shard;
  uint64_t log_seq;  // every event of log entries <= log_seq of this shard is journaled
};
struct SnapshotWrite {
  uint32_t shard;
  std::string_view bytes;  // encoded ShardSnapshot (alarm_codec.h)
};
struct JournalBatch {
  std::span<const JournalAppend> entries{};
  std::span<const OpenAlarmWrite> open{};
  std::span<const JournalMark> marks{};
  std::span<const SnapshotWrite> snapshots{};
  // Shards the marks and snapshots are for; a change drops those of old shards.
  uint32_t shard_count = 1;
};

// What the journal thread and recovery start from.
struct JournalState {
  uint64_t first_seq = 1;                 // oldest entry kept (retention); last_seq + 1 when empty
  uint64_t last_seq = 0;                  // 0 when nothing was ever journaled
  std::vector<std::string> open_entries;  // latest entry of each open alarm
  uint32_t shard_count = 0;               // of marks and snapshots; 0 when none stored
  std::vector<uint64_t> marks;            // by shard; 0 = none
  std::vector<std::string> snapshots;     // by shard; empty = none
};

class JournalStore {
 public:
  virtual ~JournalStore() = default;

  // Alarm journal (column family alarm_journal). WriteJournal has a single
  // caller (the journal thread); it is one atomic write, WAL-synced when
  // options.sync. Errors: kIOError, kResourceExhausted (disk full); nothing
  // of a failed batch is written.
  virtual alarm::Status WriteJournal(const JournalBatch& batch) = 0;
  virtual alarm::Result<JournalState> LoadJournalState() = 0;
  // Calls `visit` for entries with seq >= from in order until it returns
  // false or the journal ends.
  virtual alarm::Status ReadJournal(
      uint64_t from, const std::function<bool(uint64_t seq, std::string_view entry)>& visit) = 0;
  // Entries of one alarm (by alarm_id), in order.
  virtual alarm::Status ReadAlarmHistory(
      uint64_t alarm_id,
      const std::function<bool(uint64_t seq, std::string_view entry)>& visit) = 0;
  // Seqs of the entries with from <= at < to (the event time), in time order
  // (ties in seq order), until `visit` returns false.
  virtual alarm::Status ScanJournalByTime(
      alarm::TimestampMs from, alarm::TimestampMs to,
      const std::function<bool(uint64_t seq, alarm::TimestampMs at)>& visit) = 0;
  // Deletes every entry with event time before `before` (retention) with
  // range tombstones, and returns the new first_seq. Entries of alarms still
  // open are kept in the open-alarm table. One caller at a time.
  virtual alarm::Result<uint64_t> ExpireJournal(alarm::TimestampMs before) = 0;
};

}  // namespace vigil::storage
