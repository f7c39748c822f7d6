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
#include "storage/journal_chain.h"

namespace vigil::storage {

// One alarm journal write (the journal thread's group): entries, the
// open-alarm table changes they imply, how far each shard's events are now
// journaled, and engine snapshots, all in one atomic write.
struct JournalAppend {
  uint64_t seq;
  uint64_t alarm_id;
  alarm::TimestampMs at;
  std::string_view entry;  // encoded JournalEntry (alarm_codec.h)
  // h(seq) = SHA-256(h(seq-1) || entry) (journal_chain.h), stored with it.
  ChainHash hash{};
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
  // The hash chain (journal_chain.h): its first seq, 0 while no entry was
  // chained (a new store, or one written by a vigild without the chain: the
  // next entry written starts it, after h = zeros); and h(last_seq), the hash
  // the next entry follows (zeros before the first chained entry, and when
  // the stored hash of last_seq is missing: verify then names that entry).
  uint64_t chain_genesis_seq = 0;
  ChainHash chain_head{};
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
  // open are kept in the open-alarm table. The chain's anchor moves to the
  // new first chained entry (the hash before it is kept), so the kept part
  // still verifies. One caller at a time.
  virtual alarm::Result<uint64_t> ExpireJournal(alarm::TimestampMs before) = 0;

  // Hash chain (journal_chain.h). Both read at one consistent snapshot, in
  // bounded memory, and may run beside the journal thread's writes.
  //
  // Checks up to `max_entries` chained entries from max(from, the oldest kept
  // chained entry) on: each entry is present (no gap), carries its own seq,
  // and its stored hash is SHA-256(previous hash || its bytes). Stops at the
  // first break. next_seq tells where to go on (0: the journal's end was
  // reached). Errors: kIOError/kCorruption from reading the store (a broken
  // chain is not an error: it is in the result).
  virtual alarm::Result<ChainCheck> VerifyJournalChain(uint64_t from, uint64_t max_entries) = 0;
  // For exports: the chained entries with from <= seq <= to (from raised to
  // the oldest kept chained entry) in order, each with its stored hash (zeros
  // when none is stored), until `visit` returns false. Before the first
  // visit, `start` is told the chain record with anchor_seq/anchor_hash set
  // to the first seq to be visited and the stored hash before it (zeros at
  // genesis or when missing); neither is called when nothing is chained.
  virtual alarm::Status ReadChainedJournal(
      uint64_t from, uint64_t to, const std::function<void(const ChainRecord& start)>& start,
      const std::function<bool(uint64_t seq, std::string_view entry, const ChainHash& hash)>&
          visit) = 0;
};

}  // namespace vigil::storage
