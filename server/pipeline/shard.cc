#include "server/pipeline/shard.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <unordered_map>

#include "server/log/log.h"
#include "server/log/thread_name.h"
#include "server/pipeline/worker_queue.h"
#include "storage/ingest_record.h"

namespace vigil::server {
namespace {

constexpr int kDrainBurst = 256;
// Sealed chunks are written once this many are pending or the oldest is this
// old: one RocksDB write (and overlap-check iterators) per group rather than
// per batch, which below saturation was a write per batch and shard. Reads
// and checkpoints write them first; the ingest log holds them until then.
constexpr size_t kSealedWriteChunks = 256;
constexpr std::chrono::milliseconds kSealedWriteDelay{200};

// Sends a shard to work on a checkpoint round: seal and write heads, then
// snapshot the alarm engine through the journal.
class CheckpointTask final : public ShardTask {
 public:
  CheckpointTask(uint64_t round, uint64_t seal_through, uint64_t applied_through,
                 std::atomic<uint64_t>* done_round, std::atomic<uint64_t>* failed_round,
                 std::atomic<uint64_t>* replay_point, std::atomic<uint64_t>* took_ns)
      : round_(round),
        seal_through_(seal_through),
        applied_through_(applied_through),
        done_round_(done_round),
        failed_round_(failed_round),
        replay_point_(replay_point),
        took_ns_(took_ns) {}

  void Run(ShardState& shard) override {
    // The shard's readings wait while this runs: operators see how long.
    const auto start = std::chrono::steady_clock::now();
    RunTimed(shard);
    took_ns_->store(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now() - start)
                                              .count()),
                    std::memory_order_relaxed);
  }

 private:
  void RunTimed(ShardState& shard) {
    // Entries the shard never saw (dropped as duplicates, meant for another
    // shard) are behind it too: the engine is evaluated through them.
    shard.last_log_seq = std::max(shard.last_log_seq, applied_through_);
    shard.heads.SealThrough(seal_through_, &shard.sealed);
    shard.WriteSealed();
    if (shard.store_failed) {  // chunks not durable: do not let the log go
      failed_round_->store(round_, std::memory_order_release);
      return;
    }
    const uint64_t point = shard.heads.OldestUnsealedLogSeq().value_or(shard.last_log_seq + 1);
    auto* item = new JournalItem();
    item->shard = shard.index;
    item->snapshot = storage::EncodeShardSnapshot({.shard = shard.index,
                                                   .shard_count = shard.count,
                                                   .through_log_seq = shard.last_log_seq,
                                                   .engine = shard.engine.Snapshot()});
    item->snapshot_round = round_;
    item->snapshot_through = shard.last_log_seq;
    shard.journal->Submit(item);
    replay_point_->store(point, std::memory_order_relaxed);
    done_round_->store(round_, std::memory_order_release);
  }

  uint64_t round_;
  uint64_t seal_through_;
  uint64_t applied_through_;
  std::atomic<uint64_t>* done_round_;
  std::atomic<uint64_t>* failed_round_;
  std::atomic<uint64_t>* replay_point_;
  std::atomic<uint64_t>* took_ns_;
};

// Start-up rules (before replay); later changes come as control records.
class RulesTask final : public ShardTask {
 public:
  RulesTask(std::shared_ptr<const alarm::RuleSet> rules, alarm::TimestampMs now)
      : rules_(std::move(rules)), now_(now) {}
  void Run(ShardState& shard) override {
    shard.engine.SetRuleSet(rules_, now_, &shard.events);
    shard.Journal(0, std::nullopt, nullptr);
  }

 private:
  std::shared_ptr<const alarm::RuleSet> rules_;
  alarm::TimestampMs now_;
};

class RecoverTask final : public ShardTask {
 public:
  explicit RecoverTask(std::shared_ptr<const AlarmRecovery> recovery)
      : recovery_(std::move(recovery)) {}
  void Run(ShardState& shard) override {
    const AlarmRecovery& r = *recovery_;
    if (r.shard_count == 0) return;
    const bool same_layout = r.shard_count == shard.count;
    uint64_t through = UINT64_MAX;
    bool own_found = false;
    for (const storage::ShardSnapshot& snap : r.snapshots) {
      // Same layout: this shard's own snapshot only. The others hold none of
      // its sensors, and Restore keeps the greatest occurrence counter: replay
      // would number this shard's alarms differently from the run it repeats,
      // and the journal would close them as reconciled and open new ids.
      // Another layout: all of them, each sensor's state being in one; the
      // greatest counter then keeps a new occurrence from reusing a restored one.
      if (same_layout && snap.shard != shard.index) continue;
      alarm::Status s = shard.engine.Restore(snap.engine);
      if (!s.ok()) {
        LogError("engine_snapshot_skipped", {{"shard", shard.index}, {"error", s.ToString()}});
        continue;
      }
      if (same_layout) {
        own_found = true;
        through = snap.through_log_seq;
      }
    }
    if (!same_layout) {
      // Another layout: each sensor's state is as of its old shard's
      // snapshot; re-evaluating from the oldest is safe, as readings at or
      // before a sensor's newest are skipped.
      through = UINT64_MAX;
      for (const storage::ShardSnapshot& snap : r.snapshots) {
        through = std::min(through, snap.through_log_seq);
      }
      own_found = r.snapshots.size() == r.shard_count;
    }
    shard.engine_through = own_found ? through : 0;
    shard.replay = ReplayFilter(r.marks, r.shard_count);
  }

 private:
  std::shared_ptr<const AlarmRecovery> recovery_;
};

class ReconcileTask final : public ShardTask {
 public:
  void Run(ShardState& shard) override {
    auto* item = new JournalItem();
    item->shard = shard.index;
    item->reconcile = true;
    item->engine_alarms = shard.engine.Active();
    shard.journal->Submit(item);
    shard.replay.Clear();  // replay is over
  }
};

class ControlTask final : public ShardTask {
 public:
  ControlTask(uint64_t log_seq, alarm::TimestampMs stored_at, storage::ControlRecord record,
              CommandCompletion* completion, std::shared_ptr<const alarm::RuleSet> rules)
      : log_seq_(log_seq),
        stored_at_(stored_at),
        record_(std::move(record)),
        completion_(completion),
        rules_(std::move(rules)) {}

  void Run(ShardState& shard) override {
    shard.last_log_seq = std::max(shard.last_log_seq, log_seq_);
    if (!shard.Evaluates(log_seq_)) {
      if (completion_ != nullptr) completion_->Done(alarm::Status::Ok(), 0);
      return;
    }
    alarm::Status status;
    using storage::ControlKind;
    switch (record_.kind) {
      case ControlKind::kTick:
        shard.engine.Tick(stored_at_, &shard.events);
        break;
      case ControlKind::kAcknowledge:
        status = shard.engine.Acknowledge(record_.alarm, stored_at_, record_.actor, record_.text,
                                          &shard.events);
        break;
      case ControlKind::kShelve:
        status = shard.engine.Shelve(record_.alarm, stored_at_ + record_.shelve_for_ms, stored_at_,
                                     record_.actor, record_.text, &shard.events);
        break;
      case ControlKind::kUnshelve:
        status = shard.engine.Unshelve(record_.alarm, stored_at_, record_.actor, record_.text,
                                       &shard.events);
        break;
      case ControlKind::kRulesChanged:
        // On replay there is no rule set: the current rules were set at start.
        if (rules_) shard.engine.SetRuleSet(rules_, stored_at_, &shard.events);
        break;
      case ControlKind::kRegistryChanged:
        break;  // for the node, not the shards (PostControl does not send it)
      case ControlKind::kPlannedWorkOpen:
        status = shard.engine.OpenPlannedWork(record_.planned,
                                              std::chrono::milliseconds(record_.shelve_for_ms),
                                              stored_at_, &shard.events);
        break;
      case ControlKind::kPlannedWorkClose:
        status = shard.engine.ClosePlannedWork(record_.planned.id, stored_at_, record_.actor,
                                               record_.text, &shard.events);
        break;
    }
    if (!status.ok()) {
      if (completion_ != nullptr) completion_->Done(status, 0);
      return;
    }
    shard.Journal(log_seq_, std::nullopt, completion_);
  }

 private:
  uint64_t log_seq_;
  alarm::TimestampMs stored_at_;
  storage::ControlRecord record_;
  CommandCompletion* completion_;
  std::shared_ptr<const alarm::RuleSet> rules_;
};

class HeadReadTask final : public ShardTask {
 public:
  HeadReadTask(std::string sensor_id, alarm::TimestampMs from, alarm::TimestampMs to,
               std::function<void(std::vector<alarm::Reading>)> done)
      : sensor_id_(std::move(sensor_id)), from_(from), to_(to), done_(std::move(done)) {}

  void Run(ShardState& shard) override {
    // Chunks sealed in this drain must be readable before the head is read,
    // or a reader could see neither.
    shard.WriteSealed();
    std::vector<alarm::Reading> readings;
    shard.heads.ReadHead(sensor_id_, from_, to_, &readings);
    done_(std::move(readings));
  }

 private:
  std::string sensor_id_;
  alarm::TimestampMs from_;
  alarm::TimestampMs to_;
  std::function<void(std::vector<alarm::Reading>)> done_;
};

// A stored gateway batch on its way to every shard (each decodes its own
// section). Reference-counted: the last shard to release it frees it.
class StoredBatchTask final : public ShardTask {
 public:
  StoredBatchTask(uint64_t log_seq, alarm::TimestampMs stored_at, std::string record,
                  uint32_t shard_count, std::atomic<int64_t>* buffered, int64_t buffered_bytes,
                  std::optional<SteadyTime> received)
      : log_seq_(log_seq),
        stored_at_(stored_at),
        record_(std::move(record)),
        refs_(shard_count),
        buffered_(buffered),
        buffered_bytes_(buffered_bytes),
        received_(received) {}
  ~StoredBatchTask() override {
    if (buffered_ != nullptr) buffered_->fetch_sub(buffered_bytes_, std::memory_order_relaxed);
  }

  void Run(ShardState& shard) override {
    // Only this shard's section of the record (every section, filtered,
    // when the record was split for another shard count).
    storage::ShardSeriesReader& reader = shard.batch_reader;
    const alarm::Status read = reader.Read(record_, shard.index, shard.count, shard.sensor_numbers);
    if (!read.ok()) {
      LogError("ingest_record_corrupt", {{"log_seq", log_seq_}, {"error", read.ToString()}});
      return;
    }
    const bool evaluate = shard.Evaluates(log_seq_);
    if (evaluate) shard.engine.BeginBatch(reader.header().gateway_id, stored_at_, &shard.events);
    const uint64_t late_before = shard.engine.stats().late_readings;
    // Hints for all the series' heads and states first, then the work: a
    // batch's cache misses overlap instead of queueing.
    // Numbered series (the usual) are found by their log number, no id hashed.
    const std::span<const alarm::SeriesView> batch_series = reader.series();
    shard.heads.Locate(batch_series, &shard.head_slots);
    if (evaluate) shard.engine.Locate(batch_series, &shard.engine_slots);
    for (size_t i = 0; i < batch_series.size(); ++i) {
      const alarm::SeriesView& s = batch_series[i];
      shard.heads.AppendAt(shard.head_slots[i], s.timestamps, s.values, s.quality, log_seq_,
                           &shard.sealed);
      if (evaluate) {
        shard.engine.EvaluateAt(shard.engine_slots[i], s.timestamps, s.values, s.quality,
                                stored_at_, &shard.events);
      }
    }
    if (const uint64_t late = shard.engine.stats().late_readings - late_before; late > 0) {
      shard.late_readings->fetch_add(late, std::memory_order_relaxed);
    }
    shard.Journal(log_seq_, received_, nullptr);
    shard.last_log_seq = std::max(shard.last_log_seq, log_seq_);
  }

  void Release() override {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  uint64_t log_seq_;
  alarm::TimestampMs stored_at_;
  std::string record_;
  std::atomic<uint32_t> refs_;
  std::atomic<int64_t>* buffered_;
  int64_t buffered_bytes_;
  std::optional<SteadyTime> received_;
};

alarm::EngineOptions EngineOptionsOf(alarm::EngineOptions options, uint32_t shard, uint32_t count) {
  options.shard = shard;
  options.shard_count = count;
  return options;
}

alarm::TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

uint32_t ShardFor(std::string_view sensor_id, uint32_t shard_count) {
  // The engine's own partition: a sensor's heads and alarms share a shard.
  return alarm::ShardOf(sensor_id, shard_count);
}

void ShardState::Journal(uint64_t log_seq, std::optional<SteadyTime> received,
                         CommandCompletion* completion) {
  replay.DropJournaled(log_seq, &events);  // replay after a restart: what the journal has
  if (events.empty() && completion == nullptr) return;
  auto* item = new JournalItem();
  item->shard = index;
  item->log_seq = events.empty() ? 0 : log_seq;
  item->events = std::move(events);
  events.clear();
  item->received = received;
  item->completion = completion;
  journal->Submit(item);
}

void ShardState::WriteSealed() {
  if (sealed.empty()) return;
  alarm::Status s = store->WriteChunks(sealed);
  if (!s.ok()) {
    if (!store_failed) LogError("chunk_write_failed", {{"shard", index}, {"error", s.ToString()}});
    store_failed = true;
    return;  // kept for the next attempt; the ingest log still holds these readings
  }
  store_failed = false;
  sealed.clear();
  sealed_since.reset();
}

class ShardSet::Shard {
 public:
  Shard(uint32_t index, uint32_t count, storage::ChunkStore* store, AlarmJournal* journal,
        const storage::HeadSetOptions& options, const storage::SensorNumbers* sensor_numbers,
        alarm::EngineOptions engine_options)
      : state_{.index = index,
               .count = count,
               .store = store,
               .journal = journal,
               .heads = storage::HeadSet(options),
               .sealed = {},
               .sealed_since = std::nullopt,
               .last_log_seq = 0,
               .store_failed = false,
               .engine = alarm::Engine(EngineOptionsOf(engine_options, index, count)),
               .events = {},
               .batch_reader = {},
               .head_slots = {},
               .engine_slots = {},
               .sensor_numbers = sensor_numbers,
               .engine_through = 0,
               .replay = {},
               .late_readings = &late_readings},
        queue_(kQueueCapacity, FullPolicy::kWait) {
    queue_.Start("vigil-shard-" + std::to_string(index), [this] { return Drain(); });
  }

  ~Shard() { Join(); }

  void Post(ShardTask* task) {
    // Stopped (REQUIRES broken): released unrun rather than left in a queue
    // no one drains.
    if (!queue_.Push(task)) task->Release();
  }

  void RequestStop() { queue_.RequestStop(); }

  void Join() { queue_.Stop(); }

  // Tasks posted and not yet run; posts that found the queue full.
  uint64_t queued() const { return queue_.queued(); }
  uint64_t full_events() const { return queue_.full_events(); }

  std::atomic<uint64_t> done_round{0};
  std::atomic<uint64_t> failed_round{0};
  std::atomic<uint64_t> replay_point{0};
  std::atomic<uint64_t> readings_in_heads{0};
  std::atomic<uint64_t> late_readings{0};
  std::atomic<uint64_t> checkpoint_ns{0};
  // The last log entry posted to this shard, and the last it ran (its
  // journal items handed over before; ShardSet::HandedThrough).
  std::atomic<uint64_t> posted_seq{0};
  std::atomic<uint64_t> ran_seq{0};

 private:
  bool Drain() {
    ShardTask* task = nullptr;
    int ran_now = 0;
    while (ran_now < kDrainBurst && queue_.Pop(task)) {
      task->Run(state_);
      ran_seq.store(state_.last_log_seq, std::memory_order_release);
      task->Release();
      ++ran_now;
      queue_.Done(1);
    }
    if (ran_now > 0) {
      if (!state_.sealed.empty()) {
        const SteadyTime now = std::chrono::steady_clock::now();
        if (!state_.sealed_since) state_.sealed_since = now;
        if (state_.sealed.size() >= kSealedWriteChunks ||
            now - *state_.sealed_since >= kSealedWriteDelay) {
          state_.WriteSealed();
        }
      }
      readings_in_heads.store(state_.heads.readings_in_heads(), std::memory_order_relaxed);
    }
    return ran_now > 0;
  }

  ShardState state_;
  // Last, so destroyed first: its thread stops before the state it uses goes.
  WorkerQueue<ShardTask*> queue_;
};

ShardSet::ShardSet(uint32_t count, storage::ChunkStore* store, AlarmJournal* journal,
                   const storage::HeadSetOptions& heads,
                   const storage::SensorNumbers* sensor_numbers,
                   const alarm::EngineOptions& engine_options)
    : journal_(journal) {
  shards_.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    storage::HeadSetOptions options = heads;
    // Disjoint chunk-id sequences per shard.
    options.first_chunk_id = heads.first_chunk_id * count + i;
    options.chunk_id_stride = count;
    shards_.push_back(
        std::make_unique<Shard>(i, count, store, journal, options, sensor_numbers, engine_options));
  }
}

ShardSet::~ShardSet() { Stop(); }

uint32_t ShardSet::count() const { return static_cast<uint32_t>(shards_.size()); }

void ShardSet::Post(uint32_t shard, ShardTask* task) { shards_[shard]->Post(task); }

void ShardSet::PostBatch(uint64_t log_seq, alarm::TimestampMs stored_at, std::string record,
                         std::atomic<int64_t>* buffered, int64_t buffered_bytes,
                         std::optional<SteadyTime> received) {
  if (stored_at == 0) stored_at = WallMs();  // a record from before commit times were kept
  // Every shard sees every batch (each reads its own section of it): the
  // log order, the gateway's liveness and the journal marks stay per entry.
  auto* task = new StoredBatchTask(log_seq, stored_at, std::move(record), count(), buffered,
                                   buffered_bytes, received);
  for (auto& shard : shards_) {
    shard->posted_seq.store(log_seq, std::memory_order_release);
    shard->Post(task);
  }
}

void ShardSet::PostControl(uint64_t log_seq, alarm::TimestampMs stored_at,
                           const storage::ControlRecord& record, CommandCompletion* completion,
                           const std::shared_ptr<const alarm::RuleSet>& rules) {
  using storage::ControlKind;
  if (record.kind == ControlKind::kRegistryChanged) return;  // nothing for the shards
  if (record.kind == ControlKind::kTick || record.kind == ControlKind::kRulesChanged) {
    for (auto& shard : shards_) {
      shard->posted_seq.store(log_seq, std::memory_order_release);
      shard->Post(new ControlTask(log_seq, stored_at, record, nullptr, rules));
    }
    return;
  }
  if (record.kind == ControlKind::kPlannedWorkOpen ||
      record.kind == ControlKind::kPlannedWorkClose) {
    // Every shard holds every window; the one owning it journals the
    // window's own event and answers the operator.
    const uint32_t owner = alarm::ShardOf(record.planned.id, count());
    for (uint32_t i = 0; i < count(); ++i) {
      shards_[i]->posted_seq.store(log_seq, std::memory_order_release);
      shards_[i]->Post(
          new ControlTask(log_seq, stored_at, record, i == owner ? completion : nullptr, nullptr));
    }
    return;
  }
  const uint32_t owner = ShardFor(record.alarm.source_id, count());
  shards_[owner]->posted_seq.store(log_seq, std::memory_order_release);
  shards_[owner]->Post(new ControlTask(log_seq, stored_at, record, completion, nullptr));
}

void ShardSet::StartCheckpoint(uint64_t round, uint64_t seal_through, uint64_t applied_through) {
  for (auto& shard : shards_) {
    shard->Post(new CheckpointTask(round, seal_through, applied_through, &shard->done_round,
                                   &shard->failed_round, &shard->replay_point,
                                   &shard->checkpoint_ns));
  }
}

std::optional<uint64_t> ShardSet::CheckpointResult(uint64_t round) const {
  uint64_t point = std::numeric_limits<uint64_t>::max();
  for (uint32_t i = 0; i < shards_.size(); ++i) {
    const Shard& shard = *shards_[i];
    if (shard.done_round.load(std::memory_order_acquire) < round) return std::nullopt;
    auto engine_through = journal_->SnapshotDone(i, round);
    if (!engine_through) return std::nullopt;
    point =
        std::min({point, shard.replay_point.load(std::memory_order_relaxed), *engine_through + 1});
  }
  return point;
}

bool ShardSet::CheckpointFailed(uint64_t round) const {
  return std::any_of(shards_.begin(), shards_.end(), [&](const auto& shard) {
    return shard->failed_round.load(std::memory_order_acquire) == round;
  });
}

void ShardSet::SetRules(const std::shared_ptr<const alarm::RuleSet>& rules,
                        alarm::TimestampMs now) {
  for (auto& shard : shards_) shard->Post(new RulesTask(rules, now));
}

void ShardSet::Recover(const std::shared_ptr<const AlarmRecovery>& recovery) {
  for (auto& shard : shards_) shard->Post(new RecoverTask(recovery));
}

void ShardSet::Reconcile() {
  for (auto& shard : shards_) shard->Post(new ReconcileTask());
}

void ShardSet::ReadHead(std::string_view sensor_id, alarm::TimestampMs from, alarm::TimestampMs to,
                        std::function<void(std::vector<alarm::Reading>)> done) {
  const uint32_t shard = ShardFor(sensor_id, count());
  Post(shard, new HeadReadTask(std::string(sensor_id), from, to, std::move(done)));
}

void ShardSet::Stop(uint64_t applied_through) {
  if (stopped_) return;
  stopped_ = true;
  StartCheckpoint(kFinalCheckpointRound, std::numeric_limits<uint64_t>::max(), applied_through);
  for (auto& shard : shards_) shard->RequestStop();
  for (auto& shard : shards_) shard->Join();
}

ShardSet::QueueStats ShardSet::queue_stats(uint32_t shard) const {
  const Shard& s = *shards_[shard];
  return {.tasks = s.queued(),
          .full_events = s.full_events(),
          .last_checkpoint_ns = s.checkpoint_ns.load(std::memory_order_relaxed)};
}

uint64_t ShardSet::HandedThrough() const {
  uint64_t through = std::numeric_limits<uint64_t>::max();
  for (const auto& shard : shards_) {
    // Ran first, then posted: a shard that has run all it was posted (or
    // more: a checkpoint moves it past entries meant for other shards) holds
    // nothing back; any later post is of a later entry.
    const uint64_t ran = shard->ran_seq.load(std::memory_order_acquire);
    if (ran >= shard->posted_seq.load(std::memory_order_acquire)) continue;
    through = std::min(through, ran);
  }
  return through;
}

uint64_t ShardSet::readings_in_heads() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) {
    total += shard->readings_in_heads.load(std::memory_order_relaxed);
  }
  return total;
}

uint64_t ShardSet::late_readings() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) total += shard->late_readings.load(std::memory_order_relaxed);
  return total;
}

// ---- History reads ----

namespace {

class HeadSnapshotTask final : public ShardTask {
 public:
  HeadSnapshotTask(std::string sensor_id, alarm::TimestampMs from, alarm::TimestampMs to,
                   std::function<void(HeadRead)> done)
      : sensor_id_(std::move(sensor_id)), from_(from), to_(to), done_(std::move(done)) {}

  void Run(ShardState& shard) override {
    shard.WriteSealed();
    HeadRead read;
    if (shard.store_failed) {
      read.status = alarm::Status::Unavailable("storage failed: cannot read a consistent history");
    } else {
      read.snapshot = shard.store->NewSnapshot();
      shard.heads.ReadHead(sensor_id_, from_, to_, &read.readings);
    }
    done_(std::move(read));
  }

 private:
  std::string sensor_id_;
  alarm::TimestampMs from_;
  alarm::TimestampMs to_;
  std::function<void(HeadRead)> done_;
};

class LatestTask final : public ShardTask {
 public:
  LatestTask(std::vector<std::string_view> sensor_ids,
             std::function<void(std::vector<SensorLatest>)> done)
      : sensor_ids_(std::move(sensor_ids)), done_(std::move(done)) {}

  void Run(ShardState& shard) override {
    std::vector<SensorLatest> latest(sensor_ids_.size());
    for (size_t i = 0; i < sensor_ids_.size(); ++i) {
      latest[i].reading = shard.heads.Latest(sensor_ids_[i]);
      latest[i].seeded = shard.heads.LatestSeeded(sensor_ids_[i]);
    }
    OpenAlarmsOf(shard.engine, sensor_ids_, &latest);
    done_(std::move(latest));
  }

 private:
  std::vector<std::string_view> sensor_ids_;
  std::function<void(std::vector<SensorLatest>)> done_;
};

class PlannedWorkTask final : public ShardTask {
 public:
  explicit PlannedWorkTask(std::function<void(std::vector<alarm::PlannedWork>)> done)
      : done_(std::move(done)) {}
  void Run(ShardState& shard) override { done_(shard.engine.planned_work()); }

 private:
  std::function<void(std::vector<alarm::PlannedWork>)> done_;
};

class SeedLatestTask final : public ShardTask {
 public:
  explicit SeedLatestTask(std::vector<std::pair<std::string, std::optional<alarm::Reading>>> stored)
      : stored_(std::move(stored)) {}

  void Run(ShardState& shard) override {
    for (const auto& [sensor_id, reading] : stored_) shard.heads.SeedLatest(sensor_id, reading);
  }

 private:
  std::vector<std::pair<std::string, std::optional<alarm::Reading>>> stored_;
};

}  // namespace

void ReadHeadWithSnapshot(ShardSet& shards, std::string_view sensor_id, alarm::TimestampMs from,
                          alarm::TimestampMs to, std::function<void(HeadRead)> done) {
  shards.Post(ShardFor(sensor_id, shards.count()),
              new HeadSnapshotTask(std::string(sensor_id), from, to, std::move(done)));
}

void OpenAlarmsOf(const alarm::Engine& engine, std::span<const std::string_view> sensor_ids,
                  std::vector<SensorLatest>* out) {
  std::vector<alarm::ActiveAlarm> active = engine.Active();
  if (active.empty()) return;
  std::unordered_map<std::string_view, size_t> index;
  index.reserve(sensor_ids.size());
  for (size_t i = 0; i < sensor_ids.size(); ++i) index.emplace(sensor_ids[i], i);
  for (alarm::ActiveAlarm& alarm : active) {
    if (alarm.alarm == alarm::AlarmKind::kGatewayOffline) continue;  // its source is a gateway
    const auto it = index.find(alarm.source_id);
    if (it != index.end()) (*out)[it->second].alarms.push_back(std::move(alarm));
  }
  for (SensorLatest& latest : *out) {
    std::stable_sort(latest.alarms.begin(), latest.alarms.end(),
                     [](const alarm::ActiveAlarm& a, const alarm::ActiveAlarm& b) {
                       return a.severity < b.severity;
                     });
  }
}

void ReadLatest(ShardSet& shards, uint32_t shard, std::vector<std::string_view> sensor_ids,
                std::function<void(std::vector<SensorLatest>)> done) {
  shards.Post(shard, new LatestTask(std::move(sensor_ids), std::move(done)));
}

void ReadPlannedWork(ShardSet& shards, std::function<void(std::vector<alarm::PlannedWork>)> done) {
  shards.Post(0, new PlannedWorkTask(std::move(done)));
}

void SeedLatest(ShardSet& shards, uint32_t shard,
                std::vector<std::pair<std::string, std::optional<alarm::Reading>>> stored) {
  shards.Post(shard, new SeedLatestTask(std::move(stored)));
}

}  // namespace vigil::server
