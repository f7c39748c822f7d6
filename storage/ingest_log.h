// IngestLog: the totally ordered, durable input of the shards (gateway
// batches and control records, log_entry.h), with each gateway's dedupe
// watermark stored beside its batches. The storage writer appends to it;
// start-up replays it; the control thread checkpoints (truncates) it once the
// shards' chunks hold what it covers. Implementations: the RocksDB Store
// (store.h, its "ingest_log" family); a JetStream stream is meant to be the next.
//
// Positions are the log's own: an opaque u64 the log assigns when it stores a
// group, increasing in append order across groups (not consecutive: a log
// shared with other publishers leaves gaps between groups) and consecutive
// within one group (first, first + 1, ...). Callers never predict them; they
// take them from Append's completion and from Replay. 0 is never a position.
// A JetStream log keeps "consecutive within a group" by storing a group as one
// message (entries framed inside) and numbering its entries
// (stream sequence << 16) + index, or with an atomic batch publish (nats-server
// 2.12+), which stores a batch's messages under consecutive stream sequences.
//
// Thread-safety: Append has a single caller thread (the appender); Checkpoint
// has a single caller (the control thread); the rest may be called from any
// thread concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "alarm/status.h"
#include "alarm/types.h"
#include "storage/keys.h"
#include "storage/log_entry.h"

namespace vigil::storage {

// One log entry to append: a gateway batch with its gateway's new watermark,
// or a control record (empty gateway_id, no watermark).
struct LogAppend {
  std::string_view gateway_id;
  Watermark watermark;
  std::string_view record;  // IngestRecord bytes, or control record bytes
  LogEntryKind kind = LogEntryKind::kBatch;
  alarm::TimestampMs stored_at = 0;  // commit time, replayed as the shards' clock
};

class IngestLog {
 public:
  virtual ~IngestLog() = default;

  // The outcome of one Append: the position of the group's first entry once
  // the whole group is durable, or why it is not stored. Errors: kIOError,
  // kResourceExhausted (disk full), kUnavailable (the log cannot be reached).
  using AppendDone = std::function<void(alarm::Result<uint64_t> first)>;

  // Appends `group` (not empty) as one atomic unit: every entry with its
  // gateway's watermark, or none. `done` is called exactly once: either
  // before Append returns, on the caller's thread (RocksDB: a synchronous
  // write), or later on a thread of the log's (JetStream: when the stream
  // acknowledges). Groups complete in append order, one `done` at a time, so
  // a caller may append again before the previous group completed. `group`
  // and the bytes it views must stay valid until `done` returns; `done` may
  // run on the log's I/O thread, so it should not block (the writer's waits
  // only while a shard's queue is full) and must not call Append.
  // On error nothing of the group is read back, except where the log cannot
  // know (an acknowledgement lost on the way): such a log must drop a later
  // append of the same gateway watermark (JetStream: the Nats-Msg-Id dedupe
  // window), so that a resend does not store it twice. A log that can wait
  // (for a quorum, a reconnect) ends the wait itself and completes with
  // kUnavailable: the writer waits for every group it appended, stopping too.
  // Single caller thread.
  virtual void Append(std::span<const LogAppend> group, AppendDone done) = 0;

  // A position above every entry stored so far and at or below the first
  // position of the next group (RocksDB: exactly that first position). Read
  // at start-up, before any Append, it bounds what Replay can return.
  virtual uint64_t end_position() const = 0;

  // The first position not yet covered by chunks: replay starts there.
  virtual uint64_t replay_from() const = 0;
  // Calls `visit` for every stored entry at a position >= from, in order. The
  // entry's payload is 8-byte aligned and valid during the call only. Stops at
  // the first error `visit` returns and returns it; kCorruption on an entry
  // that does not parse.
  virtual alarm::Status Replay(
      uint64_t from, const std::function<alarm::Status(uint64_t, const LogEntry&)>& visit) = 0;
  // Records that every entry below `replay_from` lives in chunks, then drops
  // those entries (truncates). Durable as the log's appends are. A value at or
  // below replay_from() does nothing. Single caller (the control thread).
  virtual alarm::Status Checkpoint(uint64_t replay_from) = 0;

  // Every gateway's stored watermark: the log is what knows what was stored.
  virtual alarm::Result<std::unordered_map<std::string, Watermark>> LoadWatermarks() = 0;
  // One gateway's stored watermark; nullopt when it never had a batch stored.
  // A point read of what is durable (a group in flight is not in it yet).
  virtual alarm::Result<std::optional<Watermark>> LoadWatermark(std::string_view gateway_id) = 0;

  // After an Append failed (disk full, I/O error, log unreachable): asks the
  // log to leave its error state (RocksDB: DB::Resume). Ok once appends may be
  // tried again; the error while the cause is still there. Any thread.
  virtual alarm::Status Resume() = 0;
};

// Append, waiting for its completion: the first position or the error. For
// callers that have nothing else to do meanwhile (tests, tools). Not from a
// log's completion thread.
alarm::Result<uint64_t> AppendAndWait(IngestLog& log, std::span<const LogAppend> group);

// ---- A log shared by several nodes (issue 23: the JetStream stream) ----
//
// Every node appends to it, and every node applies all of it: its shards are
// fed by following the log in its order (SharedIngestLog::Follow), not by the
// completions of its own appends. Replicas that apply the same entries in the
// same order reach the same state, so what a node applies must depend on the
// log alone: duplicates (a gateway's batch stored twice, through two nodes or
// after a lost acknowledgement) are dropped at apply time by the gateway's
// applied watermark, the clock never goes back, and one alarm tick per second
// is applied whichever node published it (server/pipeline/stream_applier.h).

// One entry as a follower sees it.
struct SharedLogEntry {
  uint64_t position = 0;
  LogEntry entry;
  std::string_view gateway_id;  // batches; empty for control entries
  Watermark watermark;          // batches
  // Published by this process (this log object): a node's own operator
  // actions and rules changes carry local state (a completion, the rule set)
  // that meets the entry when it is applied.
  bool published_here = false;
  // Messages stored after this entry's, as the log last said: how far the
  // follower is behind.
  uint64_t pending = 0;
};

// The follower's state through a position, kept with the checkpoint so that a
// restart applies exactly what it applied before: everything in
// [marks_through, replay_from) only updates this state (the shards' chunks
// and engine snapshots already hold it); entries from replay_from on are
// applied again.
struct AppliedState {
  uint64_t replay_from = 0;
  uint64_t marks_through = 0;  // every entry below it is in `marks`, clock and tick
  std::unordered_map<std::string, Watermark> marks;  // applied, per gateway
  alarm::TimestampMs clock_ms = 0;                   // the applied clock (max stored_at)
  int64_t last_tick_second = 0;                      // the last tick applied, in seconds
};

class SharedIngestLog : public IngestLog {
 public:
  // The state saved by the last CheckpointApplied before this log opened;
  // nullopt for a node that never checkpointed (it follows from the start).
  virtual std::optional<AppliedState> applied_state_at_open() const = 0;
  // Saves `state` durably (replaces the previous one). Single caller (the
  // control thread). REQUIRES: state.marks_through <= state.replay_from.
  virtual alarm::Status CheckpointApplied(const AppliedState& state) = 0;
  // A position of the last message stored right now (0 when none): once
  // Follow has reported a last position at or past it, every entry stored at
  // the time of this call was visited. What a start-up catch-up follows up
  // to. kUnavailable when the log cannot be reached.
  virtual alarm::Result<uint64_t> LastStored() = 0;
  // Whether the connection to the log is up now. Thread-safe.
  virtual bool connected() const = 0;
  // Times the connection to the log was lost and made again (to the same
  // server or another one: a failover). Thread-safe.
  virtual uint64_t reconnects() const = 0;
  // Calls `visit` for every entry of every publisher at a position >= from, in
  // log order, as they are stored, until `keep_going` returns false (asked
  // after every message and at least every `poll`, with the last position
  // seen so far, 0 before any, and whether the log was idle) or `visit`
  // returns an error (returned). Entry payloads are valid during the call
  // only. kUnavailable when the log cannot be followed (it retries a lost
  // connection by itself meanwhile); kOutOfRange when entries at or after
  // `from` were already dropped by the log's retention (a gap).
  // One follower thread.
  virtual alarm::Status Follow(
      uint64_t from, std::chrono::milliseconds poll,
      const std::function<alarm::Status(const SharedLogEntry&)>& visit,
      const std::function<bool(uint64_t last_position, bool idle)>& keep_going) = 0;
};

}  // namespace vigil::storage
