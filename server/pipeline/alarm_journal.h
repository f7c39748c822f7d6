// AlarmJournal: the one thread that writes the alarm journal. Shards hand it
// the events of each log entry they evaluated (through a bounded lock-free
// queue); it numbers them (global, gap-free journal sequence), chains each
// entry's hash to the previous one (storage/journal_chain.h, the head kept
// in memory), writes entries and hashes in one RocksDB write per group
// together with the open-alarm table and each
// shard's "journaled through log entry N" mark, and only then publishes them
// to the AlarmFeed, logs them and completes the operator actions that caused
// them. An event is therefore never published before it is durable, and never
// journaled before the readings that caused it (shards evaluate stored
// entries only).
//
// Shards also send their engine snapshots through it, so a snapshot is
// written after every event that precedes it: restart = restore the snapshot,
// replay the log after it, and drop the replayed events at or below the mark.
//
// The bookkeeping itself (numbering, open-alarm table, undo, reconcile) is
// JournalBook (journal_book.h); the replay suppression is ReplayFilter
// (replay_filter.h). This class is their thread and store.
//
// Thread-safety: Submit from any thread (shards); the accessors are
// thread-safe. A write error is retried every second until it succeeds
// (queue full -> shards wait -> ingest backs off): nothing is dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "alarm/event.h"
#include "alarm/journal.h"
#include "alarm/rule_set.h"
#include "alarm/status.h"
#include "server/pipeline/alarm_feed.h"
#include "server/pipeline/ingest_counters.h"
#include "server/pipeline/registry_holder.h"
#include "storage/journal_store.h"

namespace vigil::server {

// Told how an operator action (acknowledge, shelve, unshelve) ended: ok with
// the journal seq of its event (0 when it changed nothing), or the engine's
// error. Called once, on a shard or the journal thread; must not block.
class CommandCompletion {
 public:
  virtual ~CommandCompletion() = default;
  virtual void Done(const alarm::Status& status, uint64_t journal_seq) = 0;
};

// Everything a shard sends the journal. Owned by the journal once submitted.
struct JournalItem {
  uint32_t shard = 0;
  // Log entry the events came from; 0 when none (the mark is not moved).
  uint64_t log_seq = 0;
  std::vector<alarm::AlarmEvent> events;
  // When the readings behind the events were received (for the latency histogram).
  std::optional<std::chrono::steady_clock::time_point> received;
  CommandCompletion* completion = nullptr;
  // An engine snapshot (encoded storage::ShardSnapshot) for checkpoint `round`,
  // evaluated through log entry `snapshot_through`.
  std::string snapshot;
  uint64_t snapshot_round = 0;
  uint64_t snapshot_through = 0;
  // After a restart's replay: the shard's open alarms, to correct the
  // journal's open-alarm table where they differ (kReconciled events).
  bool reconcile = false;
  std::vector<alarm::ActiveAlarm> engine_alarms;
  // The shard's rule set, sent with the first item after it changed (log
  // entry `log_seq`, in force from `rules_at`): its roll-up rules apply from
  // there on (JournalBook::UseRules). Null otherwise.
  std::shared_ptr<const alarm::RuleSet> rules{};
  alarm::TimestampMs rules_at = 0;
};

// Transitions by event and alarm kind, journaled, for /metrics.
struct JournalCounters {
  std::array<std::array<std::atomic<uint64_t>, alarm::kMaxAlarmKind + 1>, alarm::kMaxEventKind + 1>
      events{};
  std::atomic<uint64_t> write_failures{0};
  std::atomic<bool> failing{false};
  // Batch read from the network -> the alarm events it caused journaled.
  LatencyHistogram latency;
};

// Tells the journal how far its producers have handed it their items, for
// numbering in log order (AlarmJournal::NumberInLogOrder). Thread-safe.
class JournalOrder {
 public:
  virtual ~JournalOrder() = default;
  // Every item of a log entry at or below the returned sequence has been
  // submitted (UINT64_MAX: every one posted so far).
  virtual uint64_t HandedThrough() const = 0;
};

class AlarmJournal {
 public:
  // `open` are the open alarms as loaded from the store (state.open_entries,
  // decoded). Every pointer must outlive the journal. Starts the thread.
  static alarm::Result<std::unique_ptr<AlarmJournal>> Start(storage::JournalStore* store,
                                                            RegistryHolder* registry,
                                                            AlarmFeed* feed, uint32_t shard_count,
                                                            const storage::JournalState& state);
  ~AlarmJournal();  // Stop()s
  AlarmJournal(const AlarmJournal&) = delete;
  AlarmJournal& operator=(const AlarmJournal&) = delete;

  // Queues `item` (ownership passes); waits while the queue is full.
  // REQUIRES: not stopped.
  void Submit(JournalItem* item);

  // Writes everything queued, then joins. Idempotent.
  void Stop();

  // From now on events are numbered in log order -- by (log entry, shard),
  // an item held until `order` says every shard has handed over that entry
  // -- instead of in the order shards submit them. Nodes that apply the same
  // log with the same shard count then give every event the same seq (a
  // cluster: a command center resumes by seq at any node). Costs latency (an
  // event waits for the slowest shard to pass its entry). `order` must
  // outlive the journal. REQUIRES: before the first Submit.
  void NumberInLogOrder(const JournalOrder* order);

  // The snapshot of `shard` for checkpoint `round` is durable: the log
  // entry it was taken through; nullopt before.
  std::optional<uint64_t> SnapshotDone(uint32_t shard, uint64_t round) const;

  const JournalCounters& counters() const { return counters_; }
  // False from a failed journal write until a write succeeds again (the
  // group is retried every second, its numbering undone in between). Events
  // wait meanwhile: none is published, the shards' queues fill, ingest backs
  // off. vigild's health is NOT_SERVING while false. Thread-safe.
  bool healthy() const { return !counters_.failing.load(std::memory_order_acquire); }
  // Items queued, not yet written (approximate).
  uint64_t queued() const;

 private:
  class Impl;
  explicit AlarmJournal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  JournalCounters counters_;
};

}  // namespace vigil::server
