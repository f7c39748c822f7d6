#include "server/pipeline/storage_writer.h"

#include <chrono>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/log/log.h"
#include "server/log/thread_name.h"
#include "server/pipeline/worker_queue.h"
#include "storage/mutex.h"

namespace vigil::server {
namespace {

// Upper bound on batches queued at once: max streams x window plus unary
// writes fit with room to spare; beyond it Submit answers "busy".
// Most batches or bytes committed in one write.
constexpr size_t kMaxGroupBatches = 1024;
// 16 MiB keeps the group's buffers below glibc's mmap threshold ceiling, so
// they are reused instead of faulted in afresh for every group.
constexpr size_t kMaxGroupBytes = size_t{16} << 20;

// A control entry; its outcome reaches the action's completion (if any)
// through the shards, or here when it could not be stored.
class ControlPending final : public PendingBatch {
 public:
  void Done(Outcome outcome, const alarm::Status& error) override {
    if (outcome == Outcome::kFailed && completion != nullptr) completion->Done(error, 0);
    delete this;
  }
};

alarm::TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

class StorageWriter::Impl {
 public:
  Impl(StorageWriter* owner, storage::IngestLog* log, ShardSet* shards, WriterOptions options,
       const std::unordered_map<std::string, storage::Watermark>& marks)
      : owner_(owner),
        log_(log),
        shards_(shards),
        options_(std::move(options)),
        queue_(kQueueCapacity, FullPolicy::kRefuse) {
    for (auto& [gateway, mark] : marks) marks_.emplace(gateway, mark);
  }

  void StartThread() {
    queue_.Start("vigil-writer", [this] { return CommitGroup(); });
  }

  bool Submit(PendingBatch* batch) { return queue_.Push(batch); }

  void Stop() { queue_.Stop(); }

  uint64_t queued() const { return queue_.queued(); }

  alarm::Status sticky_error() const {
    storage::MutexLock lock(&error_mu_);
    return error_;
  }

  bool CheckSpace() {
    if (options_.min_free_bytes == 0 || !options_.free_bytes) return false;
    const bool low = options_.free_bytes() < options_.min_free_bytes;
    if (owner_->low_space_.exchange(low, std::memory_order_relaxed) != low) {
      if (low) {
        LogError("disk_nearly_full", {{"min_free_bytes", options_.min_free_bytes},
                                      {"reason", "refusing batches until space is freed"}});
      } else {
        LogInfo("disk_space_ok", {{"min_free_bytes", options_.min_free_bytes}});
      }
    }
    return low;
  }

  alarm::Status TryRecover() {
    if (!owner_->failed_.load(std::memory_order_acquire)) return alarm::Status::Ok();
    alarm::Status s = log_->Resume();
    if (!s.ok()) return s;
    {
      storage::MutexLock lock(&error_mu_);
      error_ = alarm::Status::Ok();
    }
    owner_->failed_.store(false, std::memory_order_release);
    owner_->recoveries_.fetch_add(1, std::memory_order_relaxed);
    LogInfo("storage_recovered");
    return alarm::Status::Ok();
  }

  void NoteApplied(std::string_view gateway_id, storage::Watermark watermark) {
    storage::MutexLock lock(&applied_mu_);
    auto [it, added] = applied_.try_emplace(std::string(gateway_id), watermark);
    if (!added) it->second = std::max(it->second, watermark);
    applied_pending_.store(true, std::memory_order_release);
  }

  void MergeApplied(const std::unordered_map<std::string, storage::Watermark>& marks) {
    storage::MutexLock lock(&applied_mu_);
    for (const auto& [gateway, watermark] : marks) {
      auto [it, added] = applied_.try_emplace(gateway, watermark);
      if (!added) it->second = std::max(it->second, watermark);
    }
    applied_pending_.store(true, std::memory_order_release);
  }

 private:
  // Folds what the follower applied into the watermarks and fences (between
  // groups, so no undo is pending).
  void TakeApplied() {
    if (!applied_pending_.load(std::memory_order_acquire)) return;
    std::unordered_map<std::string, storage::Watermark> applied;
    {
      storage::MutexLock lock(&applied_mu_);
      applied.swap(applied_);
      applied_pending_.store(false, std::memory_order_relaxed);
    }
    for (const auto& [gateway, watermark] : applied) {
      auto it = marks_.find(std::string_view(gateway));
      if (it == marks_.end()) {
        marks_.emplace(gateway, watermark);
      } else {
        it->second = std::max(it->second, watermark);
      }
      if (auto fence = fences_.find(std::string_view(gateway));
          fence != fences_.end() && fence->second <= watermark) {
        fences_.erase(fence);
      }
    }
    owner_->fenced_.store(!fences_.empty(), std::memory_order_relaxed);
  }

  // Returns false when the queue was empty.
  bool CommitGroup() {
    TakeApplied();
    group_.clear();
    size_t bytes = 0;
    PendingBatch* batch = nullptr;
    while (group_.size() < kMaxGroupBatches && bytes < kMaxGroupBytes && queue_.Pop(batch)) {
      group_.push_back(batch);
      bytes += batch->record.size();
    }
    if (group_.empty()) return false;
    queue_.Done(group_.size());

    outcomes_.assign(group_.size(), PendingBatch::Outcome::kDuplicate);
    refusals_.assign(group_.size(), Refusal::kNone);
    appends_.clear();
    undo_.clear();
    const bool failed = owner_->failed_.load(std::memory_order_acquire);
    for (size_t i = 0; i < group_.size(); ++i) {
      PendingBatch* b = group_[i];
      if (b->kind == storage::LogEntryKind::kControl) {
        outcomes_[i] = failed ? PendingBatch::Outcome::kFailed : PendingBatch::Outcome::kStored;
        if (!failed) {
          appends_.push_back(
              {.gateway_id = {}, .watermark = {}, .record = b->record, .kind = b->kind});
        }
        continue;
      }
      auto it = marks_.find(std::string_view(b->gateway_id));
      if (it != marks_.end() && b->watermark.epoch < it->second.epoch) {
        // Not a resend: a gateway whose epoch went back (reset clock or epoch
        // store). Acking it duplicate would drop its readings unseen.
        outcomes_[i] = PendingBatch::Outcome::kFailed;
        refusals_[i] = Refusal::kEpochBehind;
        continue;
      }
      if (it != marks_.end() && b->watermark <= it->second) continue;  // duplicate
      if (failed) {
        outcomes_[i] = PendingBatch::Outcome::kFailed;
        continue;
      }
      // Fences are rare: no lookup (no hashing of the id) while there is none.
      if (auto fence = fences_.empty() ? fences_.end() : fences_.find(b->gateway_id);
          fence != fences_.end()) {
        if (b->watermark.epoch > fence->second.epoch) {
          fences_.erase(fence);  // a new epoch: the gateway renumbered, the gap is its own
        } else if (b->watermark > fence->second) {
          // An earlier batch of this gateway failed and was not resent yet:
          // storing this one would make that resend look like a duplicate.
          outcomes_[i] = PendingBatch::Outcome::kFailed;
          refusals_[i] = Refusal::kAfterGap;
          continue;
        } else if (b->watermark == fence->second) {
          fences_.erase(fence);  // the resend that closes the gap (re-set below if it fails)
        }
      }
      if (it == marks_.end()) {
        it = marks_.emplace(b->gateway_id, storage::Watermark{}).first;
      }
      undo_.push_back({&it->second, it->second});
      it->second = b->watermark;
      outcomes_[i] = PendingBatch::Outcome::kStored;
      appends_.push_back(
          {.gateway_id = b->gateway_id, .watermark = b->watermark, .record = b->record});
    }

    alarm::Status error;
    if (failed)
      error = alarm::Status::Unavailable("storage failed earlier: " + sticky_error().message());
    if (!appends_.empty() && LowOnSpace()) {
      Undo();
      appends_.clear();
      error = alarm::Status::ResourceExhausted(
          "the data folder's disk is nearly full (below storage.min_free_space): nothing was "
          "stored; resend after a backoff");
    }
    if (appends_.empty()) {
      Finish(error);
      return true;
    }
    // The shards' clock: commit time, never going back.
    stored_at_ = std::max(stored_at_, WallMs());
    for (storage::LogAppend& a : appends_) a.stored_at = stored_at_;
    AppendAndWait();
    return true;
  }

  // Appends the group and waits for its completion, which finishes it (posts
  // the stored batches to the shards, answers every batch) in log order. The
  // log may complete before Append returns (RocksDB) or later on its own
  // thread (JetStream): this thread waits either way, so at most one group is
  // in flight. That is what the per-gateway fence and undo assume: a group
  // that fails is undone before the next group is built, so no later batch of
  // its gateway is ever stored behind it (which would make the failed batch's
  // resend look like a duplicate). Pipelining groups would need the fence to
  // cover groups in flight.
  void AppendAndWait() {
    {
      storage::MutexLock lock(&in_flight_mu_);
      in_flight_ = true;
    }
    log_->Append(appends_, [this](alarm::Result<uint64_t> first) {
      Complete(std::move(first));
      // Notified under the lock: once this thread unlocks, the writer may go
      // on (and, stopping, destroy this Impl); nothing here is touched after.
      storage::MutexLock lock(&in_flight_mu_);
      in_flight_ = false;
      in_flight_cv_.NotifyOne();
    });
    storage::MutexLock lock(&in_flight_mu_);
    while (in_flight_) in_flight_cv_.Wait(&in_flight_mu_);
  }

  // The group's completion: once, alone with the group's state (the writer
  // thread waits in AppendAndWait meanwhile), on either thread.
  void Complete(alarm::Result<uint64_t> first) {
    alarm::Status error;
    if (first && options_.handoff != nullptr) {
      // The follower feeds the shards from the log; only local state is handed over.
      uint64_t seq = *first;
      for (size_t i = 0; i < group_.size(); ++i) {
        if (outcomes_[i] != PendingBatch::Outcome::kStored) continue;
        PendingBatch* b = group_[i];
        if (b->kind == storage::LogEntryKind::kControl &&
            (b->completion != nullptr || b->rules != nullptr)) {
          options_.handoff->Stored(seq, {.completion = b->completion, .rules = b->rules});
          b->completion = nullptr;  // the shards complete it now
        }
        ++seq;
      }
    } else if (first) {
      uint64_t seq = *first;
      for (size_t i = 0; i < group_.size(); ++i) {
        if (outcomes_[i] != PendingBatch::Outcome::kStored) continue;
        PendingBatch* b = group_[i];
        if (b->kind == storage::LogEntryKind::kControl) {
          shards_->PostControl(seq++, stored_at_, b->control, b->completion, b->rules);
          continue;
        }
        shards_->PostBatch(seq++, stored_at_, std::move(b->record), b->buffered, b->buffered_bytes,
                           b->received_at);
        b->buffered_bytes = 0;  // now released by the shards
      }
      owner_->posted_through_.store(seq - 1, std::memory_order_release);
    } else {
      Undo();
      {
        storage::MutexLock lock(&error_mu_);
        error_ = first.error();
      }
      owner_->failed_.store(true, std::memory_order_release);
      owner_->failures_.fetch_add(1, std::memory_order_relaxed);
      LogError("storage_write_failed",
               {{"error", first.error().ToString()},
                {"disk_full", first.error().code() == alarm::Status::Code::kResourceExhausted}});
      error = alarm::Status::Unavailable("storage write failed: " + first.error().message());
    }
    Finish(error);
  }

  // Fences, then every batch's answer: `error` for those the group's outcome
  // covers, their own for those refused on their own.
  void Finish(const alarm::Status& error) {
    UpdateFences();
    for (size_t i = 0; i < group_.size(); ++i) {
      if (refusals_[i] == Refusal::kNone) {
        group_[i]->Done(outcomes_[i], error);
      } else {
        group_[i]->Done(outcomes_[i], RefusalStatus(*group_[i], refusals_[i]));
      }
    }
  }

  // Why one batch was refused on its own (the group's error covers the rest).
  enum class Refusal : uint8_t { kNone, kEpochBehind, kAfterGap };

  // Restores the watermarks of a group that was not stored. Newest first: a
  // group holding several batches of one gateway must end at the oldest
  // value, not at the one its second batch saw.
  void Undo() {
    for (auto u = undo_.rbegin(); u != undo_.rend(); ++u) *u->first = u->second;
    for (auto& outcome : outcomes_) {
      if (outcome == PendingBatch::Outcome::kStored) outcome = PendingBatch::Outcome::kFailed;
    }
  }

  // After a group: every new batch that failed fences its gateway at the
  // lowest failed watermark; a fence at or below the stored watermark is
  // gone (its batch, or a later copy, was stored).
  void UpdateFences() {
    for (size_t i = 0; i < group_.size(); ++i) {
      const PendingBatch* b = group_[i];
      if (b->kind == storage::LogEntryKind::kControl) continue;
      if (outcomes_[i] != PendingBatch::Outcome::kFailed || refusals_[i] == Refusal::kEpochBehind) {
        continue;
      }
      auto [fence, added] = fences_.try_emplace(b->gateway_id, b->watermark);
      if (added) {
        owner_->gaps_opened_.fetch_add(1, std::memory_order_relaxed);
        LogWarn("ingest_gap", {{"gateway", b->gateway_id},
                               {"resend_from_epoch", b->watermark.epoch},
                               {"resend_from_sequence", b->watermark.sequence},
                               {"reason",
                                "a batch was not stored; later batches of this "
                                "gateway wait for its resend"}});
      } else {
        fence->second = std::min(fence->second, b->watermark);
      }
    }
    for (size_t i = 0; i < group_.size(); ++i) {
      const PendingBatch* b = group_[i];
      if (b->kind == storage::LogEntryKind::kControl) continue;
      if (refusals_[i] == Refusal::kEpochBehind) {
        owner_->epoch_refusals_.fetch_add(1, std::memory_order_relaxed);
      } else if (refusals_[i] == Refusal::kAfterGap) {
        owner_->gap_refusals_.fetch_add(1, std::memory_order_relaxed);
      }
      if (fences_.empty()) continue;
      auto fence = fences_.find(std::string_view(b->gateway_id));
      if (fence == fences_.end()) continue;
      auto mark = marks_.find(std::string_view(b->gateway_id));
      if (mark != marks_.end() && fence->second <= mark->second) fences_.erase(fence);
    }
    owner_->fenced_.store(!fences_.empty(), std::memory_order_relaxed);
  }

  alarm::Status RefusalStatus(const PendingBatch& b, Refusal refusal) {
    auto text = [](const storage::Watermark& w) {
      return "(" + std::to_string(w.epoch) + ", " + std::to_string(w.sequence) + ")";
    };
    if (refusal == Refusal::kEpochBehind) {
      const storage::Watermark& mark = marks_.find(std::string_view(b.gateway_id))->second;
      auto [logged, added] = last_epoch_log_.try_emplace(b.gateway_id, mark);
      if (added || logged->second != mark) {
        logged->second = mark;
        LogError("ingest_epoch_behind",
                 {{"gateway", b.gateway_id},
                  {"epoch", b.watermark.epoch},
                  {"stored_epoch", mark.epoch},
                  {"stored_sequence", mark.sequence},
                  {"reason", "batches of an epoch below the stored one are refused"}});
      }
      return alarm::Status::FailedPrecondition(
          "batch " + text(b.watermark) + " has an epoch below the stored watermark " + text(mark) +
          " of this gateway: nothing was stored. Start a new epoch above " +
          std::to_string(mark.epoch) +
          " (e.g. the boot time in ms) at sequence 1; "
          "Ingest.GetWatermark returns the stored watermark");
    }
    auto fence = fences_.find(std::string_view(b.gateway_id));
    const storage::Watermark from = fence != fences_.end() ? fence->second : b.watermark;
    return alarm::Status::Aborted("batch " + text(b.watermark) +
                                  " follows a batch that was not stored: nothing was stored; "
                                  "resend every unacked batch in order, from " +
                                  text(from));
  }

  // True while free space is below the floor; probes at most every 100 ms.
  bool LowOnSpace() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_space_check_ >= std::chrono::milliseconds(100)) {
      last_space_check_ = now;
      return CheckSpace();
    }
    return owner_->low_space_.load(std::memory_order_relaxed);
  }

  StorageWriter* owner_;
  storage::IngestLog* log_;
  ShardSet* shards_;
  WriterOptions options_;
  std::chrono::steady_clock::time_point last_space_check_{};

  // Writer thread only.
  std::unordered_map<std::string, storage::Watermark, StringHash, std::equal_to<>> marks_;
  std::vector<PendingBatch*> group_;
  std::vector<PendingBatch::Outcome> outcomes_;
  std::vector<storage::LogAppend> appends_;
  std::vector<std::pair<storage::Watermark*, storage::Watermark>> undo_;
  std::vector<Refusal> refusals_;
  // Per gateway, the lowest watermark of a batch that failed and was not
  // resent yet: its later batches are refused until it is stored.
  std::unordered_map<std::string, storage::Watermark, StringHash, std::equal_to<>> fences_;
  // The stored watermark an epoch refusal was last logged for, per gateway
  // (one log line per watermark, not one per refused batch).
  std::unordered_map<std::string, storage::Watermark, StringHash, std::equal_to<>> last_epoch_log_;
  alarm::TimestampMs stored_at_ = 0;

  // The group in flight: set before Append, cleared by its completion.
  storage::Mutex in_flight_mu_;
  storage::CondVar in_flight_cv_;
  bool in_flight_ VIGIL_GUARDED_BY(in_flight_mu_) = false;

  mutable storage::Mutex error_mu_;
  alarm::Status error_ VIGIL_GUARDED_BY(error_mu_);

  // Applied watermarks from a shared log's follower, for TakeApplied.
  storage::Mutex applied_mu_;
  std::unordered_map<std::string, storage::Watermark> applied_ VIGIL_GUARDED_BY(applied_mu_);
  std::atomic<bool> applied_pending_{false};

  // Last, so destroyed first: its thread stops before the state it uses goes.
  WorkerQueue<PendingBatch*> queue_;
};

alarm::Result<std::unique_ptr<StorageWriter>> StorageWriter::Start(storage::IngestLog* log,
                                                                   ShardSet* shards,
                                                                   WriterOptions options) {
  auto marks = log->LoadWatermarks();
  if (!marks) return marks.error();
  std::unique_ptr<StorageWriter> writer(new StorageWriter(nullptr));
  writer->impl_ = std::make_unique<Impl>(writer.get(), log, shards, std::move(options), *marks);
  writer->log_ = log;
  writer->posted_through_.store(log->end_position() - 1, std::memory_order_relaxed);
  writer->impl_->StartThread();
  return writer;
}

StorageWriter::StorageWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StorageWriter::~StorageWriter() { Stop(); }

bool StorageWriter::Submit(PendingBatch* batch) { return impl_->Submit(batch); }

bool StorageWriter::SubmitControl(storage::ControlRecord record, CommandCompletion* completion,
                                  std::shared_ptr<const alarm::RuleSet> rules) {
  auto* pending = new ControlPending();
  pending->kind = storage::LogEntryKind::kControl;
  pending->record = storage::EncodeControlRecord(record);
  pending->control = std::move(record);
  pending->completion = completion;
  pending->rules = std::move(rules);
  if (Submit(pending)) return true;
  delete pending;
  return false;
}

void StorageWriter::Stop() {
  if (impl_) impl_->Stop();
}

void StorageWriter::NoteApplied(std::string_view gateway_id, storage::Watermark watermark) {
  impl_->NoteApplied(gateway_id, watermark);
}

void StorageWriter::MergeApplied(const std::unordered_map<std::string, storage::Watermark>& marks) {
  impl_->MergeApplied(marks);
}

alarm::Status StorageWriter::sticky_error() const { return impl_->sticky_error(); }

alarm::Result<std::optional<storage::Watermark>> StorageWriter::StoredWatermark(
    std::string_view gateway_id) const {
  return log_->LoadWatermark(gateway_id);
}

alarm::Status StorageWriter::TryRecover() { return impl_->TryRecover(); }

bool StorageWriter::CheckSpace() { return impl_->CheckSpace(); }

uint64_t StorageWriter::queued() const { return impl_->queued(); }

}  // namespace vigil::server
