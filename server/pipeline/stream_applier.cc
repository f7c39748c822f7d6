#include "server/pipeline/stream_applier.h"

#include <algorithm>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "server/log/log.h"
#include "server/log/thread_name.h"
#include "storage/control_record.h"
#include "storage/ingest_record.h"
#include "storage/mutex.h"

namespace vigil::server {
namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

class StreamApplier::Follower {
 public:
  Follower(storage::SharedIngestLog* log, ShardSet* shards, ActionHandoff* handoff,
           ApplierOptions options, ApplierCounters* counters)
      : log_(log),
        shards_(shards),
        handoff_(handoff),
        options_(std::move(options)),
        counters_(counters) {
    if (const std::optional<storage::AppliedState> state = log_->applied_state_at_open()) {
      replay_from_ = state->replay_from;
      next_ = state->marks_through;
      for (const auto& [gateway, mark] : state->marks) marks_.emplace(gateway, mark);
      clock_ms_ = state->clock_ms;
      last_tick_second_ = state->last_tick_second;
    }
    counters_->applied_position.store(next_ == 0 ? 0 : next_ - 1, std::memory_order_relaxed);
  }

  ~Follower() { Stop(); }

  alarm::Status CatchUp(uint64_t* entries, uint64_t* readings) {
    auto last_stored = log_->LastStored();
    if (!last_stored) return last_stored.error();
    const uint64_t before = counters_->entries.load(std::memory_order_relaxed);
    readings_ = 0;
    alarm::Status s = alarm::Status::Ok();
    if (*last_stored != 0 && *last_stored >= next_) {
      s = log_->Follow(
          next_, options_.poll, [this](const storage::SharedLogEntry& e) { return Apply(e); },
          [this, target = *last_stored](uint64_t last, bool /*idle*/) {
            Advance(last);
            return next_ <= target;
          });
    }
    *entries = counters_->entries.load(std::memory_order_relaxed) - before;
    *readings = readings_;
    if (s.code() == alarm::Status::Code::kOutOfRange) {
      counters_->gap.store(true, std::memory_order_relaxed);
    }
    return s;
  }

  void Start(StorageWriter* writer) {
    writer_ = writer;
    thread_ = std::thread([this] {
      NameThisThread("vigil-applier");
      Run();
    });
  }

  void Stop() {
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
  }

  void RequestSnapshot() { snapshot_requested_.store(true, std::memory_order_release); }

  std::optional<storage::AppliedState> TakeSnapshot() {
    storage::MutexLock lock(&snapshot_mu_);
    std::optional<storage::AppliedState> s = std::move(snapshot_);
    snapshot_.reset();
    return s;
  }

  storage::AppliedState StateNow() const {
    storage::AppliedState state;
    state.marks_through = next_;
    for (const auto& [gateway, mark] : marks_) state.marks.emplace(gateway, mark);
    state.clock_ms = clock_ms_;
    state.last_tick_second = last_tick_second_;
    return state;
  }

 private:
  // The follower thread: Follow until stopped; a failure is logged and
  // retried from where it stopped (the ordered consumer is gone with it).
  void Run() {
    alarm::Status last_error;
    while (!stop_.load(std::memory_order_acquire)) {
      counters_->following.store(true, std::memory_order_relaxed);
      alarm::Status s = log_->Follow(
          next_, options_.poll, [this](const storage::SharedLogEntry& e) { return Apply(e); },
          [this](uint64_t last, bool /*idle*/) {
            Advance(last);
            MaybeSnapshot();
            return !stop_.load(std::memory_order_acquire);
          });
      if (s.ok()) continue;  // stopped
      counters_->following.store(false, std::memory_order_relaxed);
      counters_->follow_failures.fetch_add(1, std::memory_order_relaxed);
      if (s.code() == alarm::Status::Code::kOutOfRange) {
        counters_->gap.store(true, std::memory_order_relaxed);
      }
      if (s.ToString() != last_error.ToString()) {
        LogError("ingest_log_follow_failed", {{"error", s.ToString()}, {"next_position", next_}});
        last_error = s;
      }
      for (int i = 0; i < 10 && !stop_.load(std::memory_order_acquire); ++i) {
        MaybeSnapshot();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }

  void Advance(uint64_t last) {
    if (last != 0 && last + 1 > next_) next_ = last + 1;
    counters_->applied_position.store(next_ - 1, std::memory_order_relaxed);
  }

  void MaybeSnapshot() {
    if (!snapshot_requested_.load(std::memory_order_acquire)) return;
    snapshot_requested_.store(false, std::memory_order_relaxed);
    storage::AppliedState state = StateNow();
    storage::MutexLock lock(&snapshot_mu_);
    snapshot_ = std::move(state);
  }

  // A node's ticks say its shard count ("shards=N"): nodes that number their
  // journals alike must have the same.
  void CheckShardCount(std::string_view text) {
    if (options_.shard_count == 0 || !text.starts_with("shards=")) return;
    uint32_t other = 0;
    for (char c : text.substr(7)) {
      if (c < '0' || c > '9' || other > 100000) return;
      other = other * 10 + static_cast<uint32_t>(c - '0');
    }
    if (other == options_.shard_count) return;
    if (counters_->other_shard_count.exchange(other, std::memory_order_relaxed) != other) {
      LogError("cluster_shard_count_mismatch",
               {{"shards", options_.shard_count},
                {"other_node_shards", other},
                {"effect",
                 "the nodes' alarm journal seqs differ: give every node the same server.shards"}});
    }
  }

  alarm::Status Apply(const storage::SharedLogEntry& e) {
    next_ = std::max(next_, e.position + 1);
    counters_->pending.store(e.pending, std::memory_order_relaxed);
    // Below replay_from the shards' chunks and engine snapshots hold the
    // entry already: it only moves this state.
    const bool post = e.position >= replay_from_;
    clock_ms_ = std::max(clock_ms_, e.entry.stored_at);
    if (e.entry.kind == storage::LogEntryKind::kBatch) {
      auto it = marks_.find(e.gateway_id);
      if (it != marks_.end() && e.watermark <= it->second) {
        counters_->duplicates.fetch_add(1, std::memory_order_relaxed);
        return alarm::Status::Ok();
      }
      if (it == marks_.end()) {
        marks_.emplace(std::string(e.gateway_id), e.watermark);
      } else {
        it->second = e.watermark;
      }
      // The gateway may have moved to this node after a failure elsewhere:
      // its fence here waits for a batch that is now stored.
      if (writer_ != nullptr && writer_->fenced()) writer_->NoteApplied(e.gateway_id, e.watermark);
      if (!post) return alarm::Status::Ok();
      if (auto header = storage::ParseIngestRecordHeader(e.entry.payload)) {
        readings_ += header->reading_count;
      }
      shards_->PostBatch(e.position, clock_ms_, std::string(e.entry.payload));
      counters_->entries.fetch_add(1, std::memory_order_relaxed);
      return alarm::Status::Ok();
    }
    auto control = storage::DecodeControlRecord(e.entry.payload);
    if (!control) {
      return alarm::Status::Corruption("ingest log entry " + std::to_string(e.position) + ": " +
                                       control.error().message());
    }
    if (control->kind == storage::ControlKind::kTick) {
      CheckShardCount(control->text);
      const int64_t second = clock_ms_ / 1000;
      if (second <= last_tick_second_) {
        counters_->ticks_dropped.fetch_add(1, std::memory_order_relaxed);
        return alarm::Status::Ok();
      }
      last_tick_second_ = second;
    }
    if (control->kind == storage::ControlKind::kRegistryChanged) {
      // For this node, whatever the shards hold: its registry must follow
      // the stream even where the shards' replay has not begun.
      if (!e.published_here && options_.registry_change) {
        if (alarm::Status s = options_.registry_change(control->text); !s.ok()) {
          counters_->registry_not_applied.fetch_add(1, std::memory_order_relaxed);
          LogError("replicated_registry_not_applied",
                   {{"log_position", e.position}, {"error", s.ToString()}});
        }
      }
      return alarm::Status::Ok();
    }
    if (!post) return alarm::Status::Ok();
    LocalAction local;
    if (e.published_here && control->kind != storage::ControlKind::kTick) {
      local = handoff_->Take(e.position, options_.action_wait);
    }
    if (control->kind == storage::ControlKind::kRulesChanged && local.rules == nullptr &&
        options_.rules_of) {
      auto rules = options_.rules_of(control->text);
      if (rules) {
        local.rules = std::move(*rules);
      } else {
        counters_->rules_not_applied.fetch_add(1, std::memory_order_relaxed);
        LogError("replicated_rules_not_applied",
                 {{"log_position", e.position}, {"error", rules.error().ToString()}});
      }
    }
    shards_->PostControl(e.position, clock_ms_, *control, local.completion, local.rules);
    counters_->entries.fetch_add(1, std::memory_order_relaxed);
    return alarm::Status::Ok();
  }

  storage::SharedIngestLog* const log_;
  ShardSet* const shards_;
  ActionHandoff* const handoff_;
  const ApplierOptions options_;
  ApplierCounters* const counters_;
  StorageWriter* writer_ = nullptr;  // set before the thread starts

  // The follower's (CatchUp's caller's, then the thread's).
  uint64_t replay_from_ = 0;
  uint64_t next_ = 0;
  std::unordered_map<std::string, storage::Watermark, StringHash, std::equal_to<>> marks_;
  alarm::TimestampMs clock_ms_ = 0;
  int64_t last_tick_second_ = 0;
  uint64_t readings_ = 0;

  std::atomic<bool> stop_{false};
  std::atomic<bool> snapshot_requested_{false};
  storage::Mutex snapshot_mu_;
  std::optional<storage::AppliedState> snapshot_ VIGIL_GUARDED_BY(snapshot_mu_);
  std::thread thread_;
};

StreamApplier::StreamApplier(storage::SharedIngestLog* log, ShardSet* shards,
                             ActionHandoff* handoff, ApplierOptions options)
    : follower_(std::make_unique<Follower>(log, shards, handoff, std::move(options), &counters_)) {}

StreamApplier::~StreamApplier() { Stop(); }

alarm::Status StreamApplier::CatchUp(uint64_t* entries, uint64_t* readings) {
  return follower_->CatchUp(entries, readings);
}
void StreamApplier::Start(StorageWriter* writer) { follower_->Start(writer); }
void StreamApplier::Stop() { follower_->Stop(); }
void StreamApplier::RequestSnapshot() { follower_->RequestSnapshot(); }
std::optional<storage::AppliedState> StreamApplier::TakeSnapshot() {
  return follower_->TakeSnapshot();
}
storage::AppliedState StreamApplier::StateNow() const { return follower_->StateNow(); }

}  // namespace vigil::server
