// StorageWriter: the one thread that makes gateway batches durable. It drains
// a bounded lock-free queue, drops batches at or below their gateway's
// watermark (duplicates), appends the rest with their new watermarks to the
// ingest log as one group (group commit), and when the log completes the
// group, hands each stored batch to the shards and only then reports every
// batch's outcome. Being the only writer of watermarks makes dedupe exact even when a batch is
// resent on a second stream while the first copy is still queued.
//
// Pipelining (WriterOptions::max_groups_in_flight > 1, for a log that completes
// later: JetStream): several groups are in flight, but a gateway's batches are
// never in two of them. Its next batch waits until the group holding its
// previous one completed, so a failed group is undone and fences its gateway
// before a later batch of that gateway is appended: no batch is ever stored
// behind a lost one of its gateway (whose resend would then look like a
// duplicate, here or at apply time on any node).
//
// Dedupe by a high watermark is exact only if a gateway's batches are stored
// in the order sent. So once a new batch fails (disk nearly full, storage
// error), later batches of its gateway are refused (ABORTED) until that one
// is resent and stored, or the gateway starts a higher epoch; and a batch of
// an epoch below the stored one is refused (FAILED_PRECONDITION), not taken
// for a duplicate.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "alarm/rule_set.h"
#include "alarm/status.h"
#include "server/pipeline/action_handoff.h"
#include "server/pipeline/ingest_counters.h"
#include "server/pipeline/shard.h"
#include "storage/control_record.h"
#include "storage/ingest_log.h"
#include "storage/keys.h"

namespace vigil::server {

// One gateway batch on its way to storage. The ingest service derives from it
// to carry what it needs to answer; Done() is its last use by the writer.
class PendingBatch {
 public:
  virtual ~PendingBatch() = default;

  enum class Outcome { kStored, kDuplicate, kFailed };
  // Called once, after the outcome is durable and the stored batch is queued
  // to the shards: on the writer thread, or on the ingest log's completion
  // thread (a log that completes appends asynchronously); never two at once,
  // in log order. Must not block; owns `this` from here (typically: answer
  // the client, then delete this).
  // `error` is set for kFailed only.
  virtual void Done(Outcome outcome, const alarm::Status& error) = 0;

  std::string gateway_id;
  storage::Watermark watermark;
  std::string record;  // IngestRecord; moved to the shards once stored
  // Memory accounting: `buffered_bytes` are counted in *buffered until the
  // record is freed (by the shards once stored; else with this batch).
  std::atomic<int64_t>* buffered = nullptr;
  int64_t buffered_bytes = 0;
  // When the batch was read from the network (alarm latency); unset for replays.
  std::optional<SteadyTime> received_at;

  // A control entry instead of a gateway batch: no gateway, no dedupe; `record`
  // holds the encoded `control`. `completion` (operator actions) and `rules`
  // (rules changes) go to the shards with it.
  storage::LogEntryKind kind = storage::LogEntryKind::kBatch;
  storage::ControlRecord control;
  CommandCompletion* completion = nullptr;
  std::shared_ptr<const alarm::RuleSet> rules;
};

struct WriterOptions {
  // Below this many free bytes on the data folder's filesystem, batches are
  // refused (RESOURCE_EXHAUSTED, nothing stored) before RocksDB runs out of
  // space -- RocksDB 7.8 cannot resume after a WAL write failed for lack of
  // space. Checked at most every 100 ms. 0 disables. Default: 0.
  uint64_t min_free_bytes = 0;
  // Free bytes on the data folder's filesystem; required when min_free_bytes > 0.
  std::function<uint64_t()> free_bytes;
  // A shared log (storage::SharedIngestLog): the shards are fed by following
  // the log (StreamApplier), not by this writer. A stored group only answers
  // its batches; the operator actions and rules changes in it go to
  // `handoff` by position, for the follower. Null: the writer posts to the
  // shards itself. Must outlive the writer.
  ActionHandoff* handoff = nullptr;
  // Groups appended and not yet completed at once. 1 (the default) suits a
  // log that completes inside Append (RocksDB). More lets a log whose
  // completions come later (JetStream: a quorum's acknowledgement) carry
  // several groups per round trip. The log must complete groups one at a
  // time, in append order.
  size_t max_groups_in_flight = 1;
};

class StorageWriter {
 public:
  // `log` and `shards` must outlive the writer. Loads the watermarks.
  static alarm::Result<std::unique_ptr<StorageWriter>> Start(storage::IngestLog* log,
                                                             ShardSet* shards,
                                                             WriterOptions options = {});
  ~StorageWriter();  // Stop()s

  // Queues `batch` (ownership passes to the writer) unless the queue is full
  // or the writer is stopping: then returns false and the caller keeps it.
  // Thread-safe, lock-free.
  bool Submit(PendingBatch* batch);

  // Queues a control entry (see PendingBatch). When it cannot be committed,
  // `completion` (if any) hears the error. False (nothing queued, completion
  // not called) when the queue is full or the writer is stopping.
  bool SubmitControl(storage::ControlRecord record, CommandCompletion* completion = nullptr,
                     std::shared_ptr<const alarm::RuleSet> rules = nullptr);

  // The watermark stored for `gateway_id` (nullopt: none yet). Thread-safe;
  // reads what is committed, so a batch being written is not in it yet.
  alarm::Result<std::optional<storage::Watermark>> StoredWatermark(
      std::string_view gateway_id) const;

  // Commits everything already queued, then joins. Later Submits fail.
  void Stop();

  // A shared log (WriterOptions::handoff set): a batch of `gateway_id` at
  // `watermark` was applied -- stored through this node or another. Raises
  // this writer's watermark of the gateway to it at the next group, so a
  // resend here is a duplicate, and lifts a fence it satisfies (the batch a
  // fence waits for was stored elsewhere: the gateway moved on to another
  // node). MergeApplied does the same for many at once. Thread-safe; takes a
  // lock: the follower calls NoteApplied only while fenced().
  void NoteApplied(std::string_view gateway_id, storage::Watermark watermark);
  void MergeApplied(const std::unordered_map<std::string, storage::Watermark>& marks);
  // True while some gateway's later batches are refused for a gap (a fence).
  bool fenced() const { return fenced_.load(std::memory_order_relaxed); }

  // First storage error; while set every batch fails with kUnavailable and
  // nothing is written. ok() while healthy. Thread-safe.
  alarm::Status sticky_error() const;
  bool healthy() const { return !failed_.load(std::memory_order_acquire); }
  // When unhealthy: asks the ingest log to resume (space freed, device back) and,
  // if it can, clears the error so batches are written again (those that
  // failed were not acked: gateways resend them). Ok when healthy afterwards.
  // Thread-safe; called by the control thread every second while unhealthy.
  alarm::Status TryRecover();
  // True while free space is below WriterOptions::min_free_bytes (batches are
  // refused; not an error: it ends by itself when space is freed).
  bool low_space() const { return low_space_.load(std::memory_order_relaxed); }
  // Measures free space now and updates low_space() (logging a change).
  // Thread-safe; the control thread calls it every second, so health follows
  // free space whether or not anything is being written.
  bool CheckSpace();
  // Batches refused on their own (metrics): an epoch below the gateway's
  // stored one (FAILED_PRECONDITION), or a batch after one of the same
  // gateway that failed and was not resent yet (ABORTED); gaps opened so far.
  uint64_t epoch_refusals() const { return epoch_refusals_.load(std::memory_order_relaxed); }
  uint64_t gap_refusals() const { return gap_refusals_.load(std::memory_order_relaxed); }
  uint64_t gaps_opened() const { return gaps_opened_.load(std::memory_order_relaxed); }
  // Storage failures and recoveries so far (metrics).
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  uint64_t recoveries() const { return recoveries_.load(std::memory_order_relaxed); }

  static constexpr size_t kQueueCapacity = 16384;
  // Batches queued and not yet committed (approximate).
  uint64_t queued() const;
  // From each group's append to its completion: RocksDB's write (and fsync),
  // or JetStream's acknowledgement by the stream's quorum. Read by metrics.
  const LatencyHistogram& append_latency() const { return append_latency_; }
  // Groups appended and not yet answered. Thread-safe (takes a lock).
  uint64_t groups_in_flight() const;

  // Highest log sequence already handed to the shards.
  uint64_t posted_through() const { return posted_through_.load(std::memory_order_acquire); }

 private:
  class Impl;
  explicit StorageWriter(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  storage::IngestLog* log_ = nullptr;
  std::atomic<bool> failed_{false};
  std::atomic<bool> low_space_{false};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> recoveries_{0};
  std::atomic<uint64_t> epoch_refusals_{0};
  std::atomic<uint64_t> gap_refusals_{0};
  std::atomic<uint64_t> gaps_opened_{0};
  std::atomic<uint64_t> posted_through_{0};
  std::atomic<bool> fenced_{false};
  LatencyHistogram append_latency_;
};

}  // namespace vigil::server
