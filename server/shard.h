// Shards: N threads, each the single owner of the per-sensor state of the
// sensors that hash to it: their open chunk heads and their alarm state. Other threads never touch
// that state: they post ShardTasks through the shard's bounded lock-free queue, and the shard runs
// them in order. A full queue makes the poster wait, which pushes back on ingest.
#pragma once

#include <array>
#include <atomic>
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
#include "storage/head_set.h"
#include "storage/store.h"

namespace vigil::server {

// State a task may touch; lives on, and is used by, its shard's thread only.
struct ShardState {
  uint32_t index = 0;
  uint32_t count = 1;
  storage::Store* store = nullptr;
  storage::HeadSet heads;
  // Sealed chunks not yet written (written once per drain, before any query).
  std::vector<storage::SealedChunk> sealed;
  // Highest ingest-log sequence this shard has processed.
  uint64_t last_log_seq = 0;
  bool store_failed = false;
  // Alarm rules and state of this shard's sensors; `events` is scratch.
  alarm::Engine engine;
  std::vector<alarm::AlarmEvent> events;
  struct AlarmCounters* alarm_counters = nullptr;

  // Reports and clears `events` (log line and counters per event).
  void PublishEvents();

  // Writes `sealed`; on failure keeps them for the next attempt and logs.
  void WriteSealed();
};

// Alarm transitions and open alarms, for /metrics. Written by one shard,
// read by anyone.
struct AlarmCounters {
  // [EventKind value][AlarmKind value], values 1..5.
  std::array<std::array<std::atomic<uint64_t>, 6>, 6> events{};
  // Open alarms (active, or cleared and not yet acknowledged) by severity 1..4.
  std::array<std::atomic<uint64_t>, 5> open_by_severity{};
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

// A stored gateway batch on its way to every shard (each takes the series it
// owns). Reference-counted: the last shard to release it frees it.
class StoredBatchTask final : public ShardTask {
 public:
  // REQUIRES: `record` is a valid IngestRecord (checked; a malformed one is
  // logged and skipped).
  // `buffered` (may be null) is decremented by `buffered_bytes` when the
  // record is freed.
  StoredBatchTask(uint64_t log_seq, std::string record, uint32_t shard_count,
                  std::atomic<int64_t>* buffered = nullptr, int64_t buffered_bytes = 0);
  ~StoredBatchTask() override;
  void Run(ShardState& shard) override;
  void Release() override;

 private:
  uint64_t log_seq_;
  std::string record_;
  std::atomic<uint32_t> refs_;
  std::atomic<int64_t>* buffered_;
  int64_t buffered_bytes_;
};

class ShardSet {
 public:
  // Starts `count` threads. `store` must outlive the ShardSet.
  ShardSet(uint32_t count, storage::Store* store, const storage::HeadSetOptions& heads);
  ~ShardSet();  // Stop()s
  ShardSet(const ShardSet&) = delete;
  ShardSet& operator=(const ShardSet&) = delete;

  uint32_t count() const;
  // Queues `task` on shard `shard`; waits (spinning, then yielding) while the
  // queue is full. Thread-safe. REQUIRES: not stopped.
  void Post(uint32_t shard, ShardTask* task);
  // Posts one StoredBatchTask to every shard.
  void PostBatch(uint64_t log_seq, std::string record, std::atomic<int64_t>* buffered = nullptr,
                 int64_t buffered_bytes = 0);

  // Checkpoint round: every shard seals heads holding readings from log
  // records <= seal_through, writes them, and reports the first log sequence
  // it may still need on restart. Returns immediately; poll CheckpointResult.
  void StartCheckpoint(uint64_t round, uint64_t seal_through);
  // Min over shards of their reported replay point, once every shard has
  // finished `round`; nullopt before.
  std::optional<uint64_t> CheckpointResult(uint64_t round) const;

  // Installs `rules` on every shard (alarm state of unchanged rules is kept).
  void SetRules(const std::shared_ptr<const alarm::RuleSet>& rules, alarm::TimestampMs now);
  // Fires due alarm timers (delays, no-data) on every shard.
  void Tick(alarm::TimestampMs now);
  // Alarm counters of shard `shard`. Thread-safe.
  const AlarmCounters& alarm_counters(uint32_t shard) const;

  // Reads the open head of `sensor_id` on its shard (after writing pending
  // chunks there) and calls `done` with the readings on the shard's thread;
  // `done` must not block.
  void ReadHead(std::string_view sensor_id, alarm::TimestampMs from, alarm::TimestampMs to,
                std::function<void(std::vector<alarm::Reading>)> done);

  // Seals every head and writes the chunks, then stops and joins the threads.
  // Tasks already queued run first. Afterwards CheckpointResult(
  // kFinalCheckpointRound) says where a restart must replay from. Idempotent.
  void Stop();
  static constexpr uint64_t kFinalCheckpointRound = ~uint64_t{0};

  // Readings held in heads, over all shards (approximate while running).
  uint64_t readings_in_heads() const;

  static constexpr size_t kQueueCapacity = 4096;
  struct QueueStats {
    uint64_t tasks;        // queued, not yet run (approximate)
    uint64_t full_events;  // posts that found the queue full and had to wait
  };
  // Thread-safe.
  QueueStats queue_stats(uint32_t shard) const;

 private:
  class Shard;
  std::vector<std::unique_ptr<Shard>> shards_;
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
// Folds stored latest readings (nullopt: none stored) into shard `shard`'s
// latest values (HeadSet::SeedLatest).
void SeedLatest(ShardSet& shards, uint32_t shard,
                std::vector<std::pair<std::string, std::optional<alarm::Reading>>> stored);

}  // namespace vigil::server
