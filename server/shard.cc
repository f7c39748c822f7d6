#include "server/shard.h"

#include <algorithm>
#include <boost/lockfree/queue.hpp>
#include <chrono>
#include <limits>
#include <thread>
#include <unordered_map>

#include "server/log.h"
#include "storage/ingest_record.h"

namespace vigil::server {
namespace {

constexpr int kDrainBurst = 256;

// Sends a shard to work on a checkpoint round and records its answer.
class CheckpointTask final : public ShardTask {
 public:
  CheckpointTask(uint64_t round, uint64_t seal_through, std::atomic<uint64_t>* done_round,
                 std::atomic<uint64_t>* replay_point)
      : round_(round),
        seal_through_(seal_through),
        done_round_(done_round),
        replay_point_(replay_point) {}

  void Run(ShardState& shard) override {
    shard.heads.SealThrough(seal_through_, &shard.sealed);
    shard.WriteSealed();
    if (shard.store_failed) return;  // chunks not durable: do not let the log go
    const uint64_t point = shard.heads.OldestUnsealedLogSeq().value_or(shard.last_log_seq + 1);
    replay_point_->store(point, std::memory_order_relaxed);
    done_round_->store(round_, std::memory_order_release);
  }

 private:
  uint64_t round_;
  uint64_t seal_through_;
  std::atomic<uint64_t>* done_round_;
  std::atomic<uint64_t>* replay_point_;
};

class RulesTask final : public ShardTask {
 public:
  RulesTask(std::shared_ptr<const alarm::RuleSet> rules, alarm::TimestampMs now)
      : rules_(std::move(rules)), now_(now) {}
  void Run(ShardState& shard) override {
    shard.engine.SetRuleSet(rules_, now_, &shard.events);
    shard.PublishEvents();
  }

 private:
  std::shared_ptr<const alarm::RuleSet> rules_;
  alarm::TimestampMs now_;
};

class TickTask final : public ShardTask {
 public:
  explicit TickTask(alarm::TimestampMs now) : now_(now) {}
  void Run(ShardState& shard) override {
    shard.engine.Tick(now_, &shard.events);
    shard.PublishEvents();
  }

 private:
  alarm::TimestampMs now_;
};

alarm::TimestampMs NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

}  // namespace

uint32_t ShardFor(std::string_view sensor_id, uint32_t shard_count) {
  // The engine's own partition: a sensor's heads and alarms share a shard.
  return alarm::ShardOf(sensor_id, shard_count);
}

void ShardState::PublishEvents() {
  if (events.empty()) return;
  for (const alarm::AlarmEvent& e : events) {
    const auto kind = static_cast<size_t>(e.kind);
    const auto alarm_kind = static_cast<size_t>(e.alarm);
    if (kind < 6 && alarm_kind < 6) {
      alarm_counters->events[kind][alarm_kind].fetch_add(1, std::memory_order_relaxed);
    }
    LogInfo("alarm", {{"transition", alarm::EventKindName(e.kind)},
                      {"alarm", alarm::AlarmKindName(e.alarm)},
                      {"state", alarm::AlarmStateName(e.state)},
                      {"sensor", e.sensor_id},
                      {"rule", e.rule_id},
                      {"severity", static_cast<int>(e.severity)},
                      {"level", alarm::LevelName(e.level)},
                      {"value", e.value},
                      {"reading_at", e.reading_at},
                      {"at", e.at}});
  }
  events.clear();
  // Transitions are rare: recounting the open alarms then is cheap enough.
  std::array<uint64_t, 5> open{};
  for (const alarm::ActiveAlarm& a : engine.Active()) {
    const auto severity = static_cast<size_t>(a.severity);
    if (severity < open.size()) ++open[severity];
  }
  for (size_t i = 0; i < open.size(); ++i) {
    alarm_counters->open_by_severity[i].store(open[i], std::memory_order_relaxed);
  }
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
}

StoredBatchTask::StoredBatchTask(uint64_t log_seq, std::string record, uint32_t shard_count,
                                 std::atomic<int64_t>* buffered, int64_t buffered_bytes)
    : log_seq_(log_seq),
      record_(std::move(record)),
      refs_(shard_count),
      buffered_(buffered),
      buffered_bytes_(buffered_bytes) {}

StoredBatchTask::~StoredBatchTask() {
  if (buffered_ != nullptr) buffered_->fetch_sub(buffered_bytes_, std::memory_order_relaxed);
}

void StoredBatchTask::Run(ShardState& shard) {
  auto view = storage::IngestRecordView::Parse(record_);
  if (!view) {
    LogError("ingest_record_corrupt", {{"log_seq", log_seq_}, {"error", view.error().ToString()}});
    return;
  }
  alarm::SeriesView series;
  const alarm::TimestampMs now = NowMs();
  for (auto it = view->series(); it.Next(&series);) {
    if (ShardFor(series.sensor_id, shard.count) != shard.index) continue;
    shard.heads.Append(series.sensor_id, series.timestamps, series.values, series.quality, log_seq_,
                       &shard.sealed);
    shard.engine.Evaluate(series.sensor_id, series.timestamps, series.values, series.quality, now,
                          &shard.events);
  }
  shard.PublishEvents();
  shard.last_log_seq = std::max(shard.last_log_seq, log_seq_);
}

void StoredBatchTask::Release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

class ShardSet::Shard {
 public:
  Shard(uint32_t index, uint32_t count, storage::Store* store,
        const storage::HeadSetOptions& options)
      : queue_(kQueueCapacity),
        state_{.index = index,
               .count = count,
               .store = store,
               .heads = storage::HeadSet(options),
               .sealed = {},
               .last_log_seq = 0,
               .store_failed = false,
               .engine = alarm::Engine(alarm::EngineOptions{.shard = index, .shard_count = count}),
               .events = {},
               .alarm_counters = &alarm_counters} {
    thread_ = std::thread([this] { Loop(); });
  }

  ~Shard() { Join(); }

  void Post(ShardTask* task) {
    posted.fetch_add(1, std::memory_order_relaxed);
    for (int spins = 0; !queue_.push(task); ++spins) {
      if (spins == 0) queue_full.fetch_add(1, std::memory_order_relaxed);
      if (spins > 64) std::this_thread::yield();
    }
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();
  }

  void RequestStop() {
    stopping_.store(true, std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  std::atomic<uint64_t> done_round{0};
  std::atomic<uint64_t> replay_point{0};
  std::atomic<uint64_t> readings_in_heads{0};
  std::atomic<uint64_t> posted{0};
  std::atomic<uint64_t> ran{0};
  std::atomic<uint64_t> queue_full{0};
  AlarmCounters alarm_counters;

 private:
  bool Drain() {
    ShardTask* task = nullptr;
    int ran_now = 0;
    while (ran_now < kDrainBurst && queue_.pop(task)) {
      task->Run(state_);
      task->Release();
      ++ran_now;
      ran.fetch_add(1, std::memory_order_relaxed);
    }
    if (ran_now > 0) {
      state_.WriteSealed();
      readings_in_heads.store(state_.heads.readings_in_heads(), std::memory_order_relaxed);
    }
    return ran_now > 0;
  }

  void Loop() {
    for (;;) {
      if (Drain()) continue;
      const uint32_t seen = wake_.load(std::memory_order_acquire);
      if (Drain()) continue;
      if (stopping_.load(std::memory_order_acquire)) break;
      wake_.wait(seen, std::memory_order_acquire);
    }
    while (Drain()) {
    }
  }

  boost::lockfree::queue<ShardTask*, boost::lockfree::fixed_sized<true>> queue_;
  std::atomic<uint32_t> wake_{0};
  std::atomic<bool> stopping_{false};
  ShardState state_;
  std::thread thread_;
};

ShardSet::ShardSet(uint32_t count, storage::Store* store, const storage::HeadSetOptions& heads) {
  shards_.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    storage::HeadSetOptions options = heads;
    // Disjoint chunk-id sequences per shard.
    options.first_chunk_id = heads.first_chunk_id * count + i;
    options.chunk_id_stride = count;
    shards_.push_back(std::make_unique<Shard>(i, count, store, options));
  }
}

ShardSet::~ShardSet() { Stop(); }

uint32_t ShardSet::count() const { return static_cast<uint32_t>(shards_.size()); }

void ShardSet::Post(uint32_t shard, ShardTask* task) { shards_[shard]->Post(task); }

void ShardSet::PostBatch(uint64_t log_seq, std::string record, std::atomic<int64_t>* buffered,
                         int64_t buffered_bytes) {
  auto* task = new StoredBatchTask(log_seq, std::move(record), count(), buffered, buffered_bytes);
  for (auto& shard : shards_) shard->Post(task);
}

void ShardSet::StartCheckpoint(uint64_t round, uint64_t seal_through) {
  for (auto& shard : shards_) {
    shard->Post(new CheckpointTask(round, seal_through, &shard->done_round, &shard->replay_point));
  }
}

std::optional<uint64_t> ShardSet::CheckpointResult(uint64_t round) const {
  uint64_t point = std::numeric_limits<uint64_t>::max();
  for (const auto& shard : shards_) {
    if (shard->done_round.load(std::memory_order_acquire) < round) return std::nullopt;
    point = std::min(point, shard->replay_point.load(std::memory_order_relaxed));
  }
  return point;
}

void ShardSet::SetRules(const std::shared_ptr<const alarm::RuleSet>& rules,
                        alarm::TimestampMs now) {
  for (auto& shard : shards_) shard->Post(new RulesTask(rules, now));
}

void ShardSet::Tick(alarm::TimestampMs now) {
  for (auto& shard : shards_) shard->Post(new TickTask(now));
}

const AlarmCounters& ShardSet::alarm_counters(uint32_t shard) const {
  return shards_[shard]->alarm_counters;
}

void ShardSet::ReadHead(std::string_view sensor_id, alarm::TimestampMs from, alarm::TimestampMs to,
                        std::function<void(std::vector<alarm::Reading>)> done) {
  const uint32_t shard = ShardFor(sensor_id, count());
  Post(shard, new HeadReadTask(std::string(sensor_id), from, to, std::move(done)));
}

void ShardSet::Stop() {
  if (stopped_) return;
  stopped_ = true;
  StartCheckpoint(kFinalCheckpointRound, std::numeric_limits<uint64_t>::max());
  for (auto& shard : shards_) shard->RequestStop();
  for (auto& shard : shards_) shard->Join();
}

ShardSet::QueueStats ShardSet::queue_stats(uint32_t shard) const {
  const Shard& s = *shards_[shard];
  const uint64_t ran = s.ran.load(std::memory_order_relaxed);
  const uint64_t posted = s.posted.load(std::memory_order_relaxed);
  return {.tasks = posted > ran ? posted - ran : 0,
          .full_events = s.queue_full.load(std::memory_order_relaxed)};
}

uint64_t ShardSet::readings_in_heads() const {
  uint64_t total = 0;
  for (const auto& shard : shards_) {
    total += shard->readings_in_heads.load(std::memory_order_relaxed);
  }
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
    const auto it = index.find(alarm.sensor_id);
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

void SeedLatest(ShardSet& shards, uint32_t shard,
                std::vector<std::pair<std::string, std::optional<alarm::Reading>>> stored) {
  shards.Post(shard, new SeedLatestTask(std::move(stored)));
}

}  // namespace vigil::server
