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

}  // namespace vigil::storage
