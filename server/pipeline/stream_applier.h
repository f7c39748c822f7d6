// StreamApplier: the one thread ("vigil-applier") that feeds the shards from
// a shared ingest log (storage::SharedIngestLog: the JetStream stream every
// node of a cluster appends to). Each node applies every entry of the log in
// its order -- its own appends and every other node's -- so replicas reach
// the same chunks, the same engine state and the same alarm transitions.
// What it applies therefore depends on the log alone:
//  - a gateway batch at or below its gateway's applied watermark is dropped
//    (a resend stored twice: through a second node, or after a lost
//    acknowledgement beyond JetStream's duplicate window), so dedupe is exact
//    whatever the window;
//  - the clock (an entry's stored_at) never goes back: nodes' clocks differ;
//  - one alarm tick per second is applied, the first stored, whichever node
//    published it (every node publishes one a second).
// Its state (watermarks, clock, last tick) goes into the log's checkpoint
// through a position (storage::AppliedState), so a restart applies exactly
// the same way.
//
// Thread-safety: CatchUp before Start, on the caller's thread; RequestSnapshot
// / TakeSnapshot / counters from any thread; Stop from any thread but the
// follower's.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "alarm/rule_set.h"
#include "alarm/status.h"
#include "server/pipeline/action_handoff.h"
#include "server/pipeline/shard.h"
#include "server/pipeline/storage_writer.h"
#include "storage/ingest_log.h"

namespace vigil::server {

// For /metrics and health; updated by the follower.
struct ApplierCounters {
  std::atomic<uint64_t> entries{0};           // log entries applied (posted to the shards)
  std::atomic<uint64_t> duplicates{0};        // batches dropped at or below their watermark
  std::atomic<uint64_t> ticks_dropped{0};     // ticks of a second already ticked
  std::atomic<uint64_t> applied_position{0};  // the last log position processed
  std::atomic<uint64_t> follow_failures{0};   // Follow errors (each retried after a second)
  std::atomic<bool> following{false};         // false while Follow fails
  std::atomic<bool> gap{false};               // the log dropped entries not applied here
  // Messages stored after the last one applied (the lag).
  std::atomic<uint64_t> pending{0};
  // Rules and registry changes from the stream this node could not apply.
  std::atomic<uint64_t> rules_not_applied{0};
  std::atomic<uint64_t> registry_not_applied{0};
  // The shard count of another node, when it differs from this node's (0: none seen).
  std::atomic<uint32_t> other_shard_count{0};
};

struct ApplierOptions {
  // How often the follower looks up from an idle log (stop, snapshot requests).
  std::chrono::milliseconds poll{100};
  // Longest wait at a local action's entry for its append's acknowledgement
  // (ActionHandoff::Take); the log's append timeout is the natural bound.
  std::chrono::milliseconds action_wait{6000};
  // A rules change published by another node (or by this one before a
  // restart): the rule set from the entry's text, the rules document. Called
  // on the follower thread. Null, or an error (logged, counted): the entry
  // changes nothing here.
  std::function<alarm::Result<std::shared_ptr<const alarm::RuleSet>>(std::string_view text)>
      rules_of;
  // A registry change published by another node: applied to this node's
  // registry before the applier goes on (the rules entry that follows it
  // is built against it). Called on the follower thread (or CatchUp's). Null,
  // or an error (logged, counted): the entry changes nothing here.
  std::function<alarm::Status(std::string_view text)> registry_change;
  // This node's shard count; ticks of nodes with another (their text
  // "shards=N") are reported: their journals' seqs differ from this one's.
  // 0: not checked.
  uint32_t shard_count = 0;
};

class StreamApplier {
 public:
  // `log`, `shards` and `handoff` must outlive the applier. Starts from
  // log->applied_state_at_open() (nothing: the log's beginning).
  StreamApplier(storage::SharedIngestLog* log, ShardSet* shards, ActionHandoff* handoff,
                ApplierOptions options = {});
  ~StreamApplier();  // Stop()s
  StreamApplier(const StreamApplier&) = delete;
  StreamApplier& operator=(const StreamApplier&) = delete;

  // Start-up, before Start: applies every entry stored now (up to the log's
  // LastStored when called) on the caller's thread. *entries and *readings
  // count what was posted. Errors: those of SharedIngestLog::Follow
  // (kOutOfRange: a retention gap, also set in counters().gap; kUnavailable),
  // kCorruption on an entry that does not decode.
  alarm::Status CatchUp(uint64_t* entries, uint64_t* readings);

  // Starts the follower thread: follows the log until Stop, retrying a failed
  // Follow every second from where it stopped. `writer` (may be null; must
  // outlive the applier) hears of applied batches while it has a fence
  // (StorageWriter::NoteApplied).
  void Start(StorageWriter* writer = nullptr);
  // Stops and joins the follower. Idempotent.
  void Stop();

  // Asks the follower for its state through the last position it processed;
  // TakeSnapshot returns it once taken (at the follower's next message or
  // idle poll), nullopt before. replay_from is left 0 (the checkpoint's).
  void RequestSnapshot();
  std::optional<storage::AppliedState> TakeSnapshot();
  // The state now. REQUIRES: the follower is not running (before Start, after Stop).
  storage::AppliedState StateNow() const;

  const ApplierCounters& counters() const { return counters_; }

 private:
  class Follower;
  ApplierCounters counters_;  // before follower_: it holds a pointer to them
  std::unique_ptr<Follower> follower_;
};

}  // namespace vigil::server
