// Shards: N threads, each the single owner of the per-sensor state of the
// sensors that hash to it: their open chunk heads and their alarm state. Other
// threads never touch that state: they post ShardTasks through the shard's
// bounded lock-free queue, and the shard runs them in order. A full queue makes
// the poster wait, which pushes back on ingest.
//
// Every stored log entry (gateway batch, alarm-clock tick, operator action,
// rules change) reaches the shards in log order, and evaluation uses the
// entry's commit time as its clock, so replaying the log after a crash makes
// the same alarm transitions; the ones already journaled are dropped.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alarm/engine.h"
#include "alarm/event.h"
#include "alarm/rule_set.h"
#include "alarm/types.h"
#include "server/pipeline/alarm_journal.h"
#include "server/pipeline/replay_filter.h"
#include "storage/alarm_codec.h"
#include "storage/chunk_store.h"
#include "storage/control_record.h"
#include "storage/head_set.h"
#include "storage/ingest_record.h"
#include "storage/sensor_numbers.h"

namespace vigil::server {

using SteadyTime = std::chrono::steady_clock::time_point;

// State a task may touch; lives on, and is used by, its shard's thread only.
struct ShardState {
  uint32_t index = 0;
  uint32_t count = 1;
  storage::ChunkStore* store = nullptr;
  AlarmJournal* journal = nullptr;
  storage::HeadSet heads;
  // Sealed chunks not yet written: written in groups (see Drain), and always
  // before a history read or a checkpoint. `sealed_since`: when a drain first
  // found them pending (the start of the group's age limit); unset when none.
  std::vector<storage::SealedChunk> sealed;
  std::optional<SteadyTime> sealed_since;
  // Highest ingest-log sequence this shard has processed.
  uint64_t last_log_seq = 0;
  bool store_failed = false;
  // Alarm rules and state of this shard's sensors; `events` is scratch.
  alarm::Engine engine;
  std::vector<alarm::AlarmEvent> events;
  // Scratch for one batch: this shard's series and their head and engine
  // slots (located and prefetched for the whole batch before any is touched).
  storage::ShardSeriesReader batch_reader;
  std::vector<uint32_t> head_slots;
  std::vector<uint32_t> engine_slots;
  // Resolves the sensor numbers of ingest records; read-only here (null:
  // records naming sensors by number are refused).
  const storage::SensorNumbers* sensor_numbers = nullptr;
  // After a restart: log entries up to this one are already in the restored
  // engine state (not evaluated again).
  uint64_t engine_through = 0;
  // After a restart: which replayed events are already journaled (dropped);
  // drops nothing once replay is over.
  ReplayFilter replay;
  std::atomic<uint64_t>* late_readings = nullptr;

  // True when log entry `log_seq` is to be evaluated.
  bool Evaluates(uint64_t log_seq) const { return log_seq > engine_through; }

  // Hands `events` of log entry `log_seq` (0: none) to the journal and clears
  // them, dropping those journaled before a restart. Sends nothing when there
  // is nothing to say (no event, no completion).
  void Journal(uint64_t log_seq, std::optional<SteadyTime> received, CommandCompletion* completion);

  // Writes `sealed`; on failure keeps them for the next attempt and logs.
  void WriteSealed();
};

// One unit of work for a shard. Created by any thread; Run and then Release
// are called on the shard's thread.
class ShardTask {
 public:
  virtual ~ShardTask() = default;
  virtual void Run(ShardState& shard) = 0;
  // Called once after Run. Default: delete this.
  virtual void Release() { delete this; }
};

// The shard that owns a sensor: a stable hash of its id.
uint32_t ShardFor(std::string_view sensor_id, uint32_t shard_count);

// What a restart hands the shards before replaying the log: the engine
// snapshots and journal marks as stored, possibly of another shard count.
struct AlarmRecovery {
  uint32_t shard_count = 0;  // of `marks` and `snapshots`; 0 = nothing stored
  std::vector<uint64_t> marks;
  std::vector<storage::ShardSnapshot> snapshots;  // those that exist
};

class ShardSet final : public JournalOrder {
 public:
  // Starts `count` threads. `store`, `journal` and `sensor_numbers` (may be
  // null: no sensor numbers) must outlive the ShardSet. `engine_options`
  // apply to every shard's engine (its shard and shard_count are set here).
  ShardSet(uint32_t count, storage::ChunkStore* store, AlarmJournal* journal,
           const storage::HeadSetOptions& heads,
           const storage::SensorNumbers* sensor_numbers = nullptr,
           const alarm::EngineOptions& engine_options = {});
  ~ShardSet() override;  // Stop()s
  ShardSet(const ShardSet&) = delete;
  ShardSet& operator=(const ShardSet&) = delete;

  uint32_t count() const;
  // Queues `task` on shard `shard`; waits (spinning, then yielding) while the
  // queue is full. Thread-safe. REQUIRES: not stopped.
  void Post(uint32_t shard, ShardTask* task);
  // A stored gateway batch, to every shard (each decodes only its own
  // section; storage/ingest_record.h).
  // `buffered` (may be null) is decremented by `buffered_bytes` once the
  // record is freed; `received` feeds the alarm latency histogram.
  void PostBatch(uint64_t log_seq, alarm::TimestampMs stored_at, std::string record,
                 std::atomic<int64_t>* buffered = nullptr, int64_t buffered_bytes = 0,
                 std::optional<SteadyTime> received = std::nullopt);
  // A stored control record: ticks, rules changes and planned work to every
  // shard, an operator action to the shard owning its alarm (planned work:
  // the shard owning the window gets `completion`). `completion` (actions
  // only, may be null) hears the outcome; `rules` (rules changes only) is
  // the new rule set, null on replay (the current rules were set at start).
  void PostControl(uint64_t log_seq, alarm::TimestampMs stored_at,
                   const storage::ControlRecord& record, CommandCompletion* completion = nullptr,
                   const std::shared_ptr<const alarm::RuleSet>& rules = nullptr);

  // Start-up, in this order: SetRules, Recover, replay (PostBatch/PostControl),
  // Reconcile.
  // Installs `rules` on every shard (alarm state of unchanged rules is kept).
  void SetRules(const std::shared_ptr<const alarm::RuleSet>& rules, alarm::TimestampMs now);
  // Restores the engines from `recovery` and arms replay suppression.
  void Recover(const std::shared_ptr<const AlarmRecovery>& recovery);
  // Lets the journal correct its open alarms to the engines' after replay.
  void Reconcile();

  // Checkpoint round: every shard seals heads holding readings from log
  // records <= seal_through, writes them, snapshots its alarm engine through
  // the journal, and reports the first log sequence it may still need on
  // restart. `applied_through` (0: none): every log entry up to it was
  // posted already or needs no shard (a shared log's follower drops
  // duplicates), so no replay point is below it. Returns immediately; poll
  // CheckpointResult.
  void StartCheckpoint(uint64_t round, uint64_t seal_through, uint64_t applied_through = 0);
  // Min over shards of their replay point (heads and engine snapshot), once
  // every shard has finished `round` and its snapshot is durable; nullopt before.
  std::optional<uint64_t> CheckpointResult(uint64_t round) const;
  // Whether a shard gave up `round` because its chunks could not be written
  // (the round then never completes; a later one may).
  bool CheckpointFailed(uint64_t round) const;

  // Reads the open head of `sensor_id` on its shard (after writing pending
  // chunks there) and calls `done` with the readings on the shard's thread;
  // `done` must not block.
  void ReadHead(std::string_view sensor_id, alarm::TimestampMs from, alarm::TimestampMs to,
                std::function<void(std::vector<alarm::Reading>)> done);

  // Seals every head and writes the chunks, snapshots the engines, then
  // stops and joins the threads. Tasks already queued run first. Afterwards,
  // once the journal has written the snapshots, CheckpointResult(
  // kFinalCheckpointRound) says where a restart must replay from.
  // `applied_through` as for StartCheckpoint. Idempotent.
  void Stop(uint64_t applied_through = 0);
  static constexpr uint64_t kFinalCheckpointRound = ~uint64_t{0};

  // JournalOrder: every shard has handed the journal the items of every log
  // entry at or below the returned sequence -- it ran past it, or it has run
  // everything posted to it (an entry posted to one shard does not wait for
  // the others). Thread-safe.
  uint64_t HandedThrough() const override;

  // Readings held in heads, over all shards (approximate while running).
  uint64_t readings_in_heads() const;
  // Readings older than their sensor's newest, stored but not evaluated.
  uint64_t late_readings() const;

  static constexpr size_t kQueueCapacity = 4096;
  struct QueueStats {
    uint64_t tasks;        // queued, not yet run (approximate)
    uint64_t full_events;  // posts that found the queue full and had to wait
    // How long the last checkpoint held the shard's thread (0 before the first).
    uint64_t last_checkpoint_ns;
  };
  // Thread-safe.
  QueueStats queue_stats(uint32_t shard) const;

 private:
  class Shard;
  std::vector<std::unique_ptr<Shard>> shards_;
  AlarmJournal* journal_;
  bool stopped_ = false;
};

// ---- History reads: self-contained additions on top of ShardSet::Post ----

// A sensor's open head read together with a store snapshot taken on the same
// shard turn, after the shard wrote its pending chunks: chunks at the snapshot
// plus the head are the sensor's whole history, with no gap and nothing twice
// (a later seal cannot show up in both).
struct HeadRead {
  // kUnavailable when the shard cannot write its chunks (storage failed).
  alarm::Status status;
  std::vector<alarm::Reading> readings;  // the head's in [from, to), time-ordered
  std::shared_ptr<const storage::ReadSnapshot> snapshot;
};
// Runs on the shard of `sensor_id` and calls `done` there; `done` must not block.
void ReadHeadWithSnapshot(ShardSet& shards, std::string_view sensor_id, alarm::TimestampMs from,
                          alarm::TimestampMs to, std::function<void(HeadRead)> done);

// The latest reading and open alarms of one sensor, as its shard knows them.
struct SensorLatest {
  std::optional<alarm::Reading> reading;
  // The store's latest was folded in (HeadSet::LatestSeeded): `reading` is
  // the sensor's latest. Otherwise ask the store, then SeedLatest.
  bool seeded = false;
  std::vector<alarm::ActiveAlarm> alarms;  // open alarms, most severe first
};
// Sets (*out)[i].alarms to the open alarms of sensor_ids[i] in `engine`. The
// one place latest values read alarm state. REQUIRES: out->size() ==
// sensor_ids.size(); on the engine's shard thread.
void OpenAlarmsOf(const alarm::Engine& engine, std::span<const std::string_view> sensor_ids,
                  std::vector<SensorLatest>* out);
// On shard `shard` (which owns every sensor in `sensor_ids`), reads each
// sensor's latest and open alarms and calls `done` there with them, in order.
// The ids must stay valid until `done` runs; `done` must not block.
void ReadLatest(ShardSet& shards, uint32_t shard, std::vector<std::string_view> sensor_ids,
                std::function<void(std::vector<SensorLatest>)> done);
// The planned-work windows open (every shard holds all of them), read on
// shard 0 and given to `done` there; `done` must not block.
void ReadPlannedWork(ShardSet& shards, std::function<void(std::vector<alarm::PlannedWork>)> done);
// Folds stored latest readings (nullopt: none stored) into shard `shard`'s
// latest values (HeadSet::SeedLatest).
void SeedLatest(ShardSet& shards, uint32_t shard,
                std::vector<std::pair<std::string, std::optional<alarm::Reading>>> stored);

}  // namespace vigil::server
