#include "server/pipeline/storage_writer.h"

#include <chrono>
#include <thread>
#include <unordered_map>
#include <unordered_set>
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
        groups_(std::max<size_t>(options_.max_groups_in_flight, 1)),
        queue_(kQueueCapacity, FullPolicy::kRefuse) {
    for (auto& [gateway, mark] : marks) marks_.emplace(gateway, mark);
  }

  void StartThread() {
    queue_.Start("vigil-writer", [this] { return CommitGroup(); });
  }

  bool Submit(PendingBatch* batch) { return queue_.Push(batch); }

  void Stop() { queue_.Stop(); }

  uint64_t queued() const { return queue_.queued(); }

  uint64_t groups_in_flight() const { return in_flight(); }

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
  // Why one batch was refused on its own (the group's error covers the rest).
  enum class Refusal : uint8_t { kNone, kEpochBehind, kAfterGap };

  // One group from its building to its answers. Slots are reused in turn
  // (groups complete in append order), so their vectors keep their capacity.
  struct Group {
    std::vector<PendingBatch*> batches;
    std::vector<PendingBatch::Outcome> outcomes;
    std::vector<Refusal> refusals;
    std::vector<alarm::Status> answers;  // for batches refused on their own
    std::vector<storage::LogAppend> appends;
    std::vector<std::pair<storage::Watermark*, storage::Watermark>> undo;
    // Gateways with a batch stored by the group (pipelined only): none of
    // them is in a later group until this one completed.
    std::vector<std::string_view> gateways;
    alarm::Status error;  // for every batch not refused on its own
    alarm::TimestampMs stored_at = 0;
    std::chrono::steady_clock::time_point appended_at;
  };

  bool pipelined() const { return groups_.size() > 1; }

  // Builds and appends one group; false when there is nothing to do now
  // (the thread then sleeps until a Submit or a completion wakes it).
  bool CommitGroup() {
    WaitForInFlightBelow(groups_.size());
    Group& g = groups_[next_group_];
    g.batches.clear();
    {
      storage::MutexLock lock(&state_mu_);
      TakeApplied();
      Gather(g);
      if (!g.batches.empty()) Decide(g);
    }
    if (g.batches.empty()) {
      // Nothing, or only batches of gateways in flight: wait for a completion
      // (stopping), or sleep until one wakes this thread.
      const size_t n = in_flight();
      if (n > 0 && queue_.stopping()) {
        WaitForInFlightBelow(n);
        return true;
      }
      return n == 0 && !deferred_.empty();  // deferred: their gateway completed meanwhile
    }
    queue_.Done(g.batches.size());
    if (g.appends.empty()) {
      // Answers go out in log order, one group at a time: after those in flight.
      WaitForInFlightBelow(1);
      {
        storage::MutexLock lock(&state_mu_);
        Settle(g);
      }
      Answer(g);
      return true;
    }
    // The shards' clock: commit time, never going back.
    stored_at_ = std::max(stored_at_, WallMs());
    g.stored_at = stored_at_;
    for (storage::LogAppend& a : g.appends) a.stored_at = stored_at_;
    {
      storage::MutexLock lock(&in_flight_mu_);
      ++in_flight_;
    }
    g.appended_at = std::chrono::steady_clock::now();
    next_group_ = (next_group_ + 1) % groups_.size();
    log_->Append(g.appends,
                 [this, &g](alarm::Result<uint64_t> first) { Complete(g, std::move(first)); });
    return true;
  }

  size_t in_flight() const {
    storage::MutexLock lock(&in_flight_mu_);
    return in_flight_;
  }

  // Waits until fewer than `n` groups are in flight.
  void WaitForInFlightBelow(size_t n) {
    storage::MutexLock lock(&in_flight_mu_);
    while (in_flight_ >= n) in_flight_cv_.Wait(&in_flight_mu_);
  }

  // Takes the next group's batches: first those deferred whose gateway has
  // no group in flight any more (in the order they came), then the queue's.
  // A batch of a gateway in flight is deferred, and behind it every later
  // one of that gateway, so a gateway's batches keep their order.
  void Gather(Group& g) VIGIL_REQUIRES(state_mu_) {
    size_t bytes = 0;
    auto full = [&] { return g.batches.size() >= kMaxGroupBatches || bytes >= kMaxGroupBytes; };
    if (!deferred_.empty()) {
      size_t kept = 0;
      for (PendingBatch* b : deferred_) {
        if (full() || Busy(*b)) {
          deferred_[kept++] = b;
          continue;
        }
        g.batches.push_back(b);
        bytes += b->record.size();
      }
      deferred_.resize(kept);
    }
    PendingBatch* batch = nullptr;
    while (!full() && deferred_.size() < kMaxGroupBatches && queue_.Pop(batch)) {
      if (Busy(*batch)) {
        deferred_.push_back(batch);
      } else {
        g.batches.push_back(batch);
        bytes += batch->record.size();
      }
    }
  }

  // True when `b` must wait: a group in flight stores a batch of its gateway.
  bool Busy(const PendingBatch& b) const VIGIL_REQUIRES(state_mu_) {
    return !gateways_in_flight_.empty() && b.kind == storage::LogEntryKind::kBatch &&
           gateways_in_flight_.contains(std::string_view(b.gateway_id));
  }

  // Each batch's outcome against the watermarks and fences; the stored ones
  // raise their gateway's watermark (undone if the group fails) and become
  // the group's appends.
  void Decide(Group& g) VIGIL_REQUIRES(state_mu_) {
    const size_t n = g.batches.size();
    g.outcomes.assign(n, PendingBatch::Outcome::kDuplicate);
    g.refusals.assign(n, Refusal::kNone);
    g.answers.assign(n, alarm::Status());
    g.appends.clear();
    g.undo.clear();
    g.gateways.clear();
    g.error = alarm::Status();
    const bool failed = owner_->failed_.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) {
      PendingBatch* b = g.batches[i];
      if (b->kind == storage::LogEntryKind::kControl) {
        g.outcomes[i] = failed ? PendingBatch::Outcome::kFailed : PendingBatch::Outcome::kStored;
        if (!failed) {
          g.appends.push_back(
              {.gateway_id = {}, .watermark = {}, .record = b->record, .kind = b->kind});
        }
        continue;
      }
      auto it = marks_.find(std::string_view(b->gateway_id));
      if (it != marks_.end() && b->watermark.epoch < it->second.epoch) {
        // Not a resend: a gateway whose epoch went back (reset clock or epoch
        // store). Acking it duplicate would drop its readings unseen.
        g.outcomes[i] = PendingBatch::Outcome::kFailed;
        g.refusals[i] = Refusal::kEpochBehind;
        continue;
      }
      if (it != marks_.end() && b->watermark <= it->second) continue;  // duplicate
      if (failed) {
        g.outcomes[i] = PendingBatch::Outcome::kFailed;
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
          g.outcomes[i] = PendingBatch::Outcome::kFailed;
          g.refusals[i] = Refusal::kAfterGap;
          continue;
        } else if (b->watermark == fence->second) {
          fences_.erase(fence);  // the resend that closes the gap (re-set below if it fails)
        }
      }
      if (it == marks_.end()) {
        it = marks_.emplace(b->gateway_id, storage::Watermark{}).first;
      }
      g.undo.push_back({&it->second, it->second});
      it->second = b->watermark;
      g.outcomes[i] = PendingBatch::Outcome::kStored;
      g.appends.push_back(
          {.gateway_id = b->gateway_id, .watermark = b->watermark, .record = b->record});
    }
    if (failed) {
      g.error = alarm::Status::Unavailable("storage failed earlier: " + sticky_error().message());
    }
    if (!g.appends.empty() && LowOnSpace()) {
      Undo(g);
      g.appends.clear();
      g.error = alarm::Status::ResourceExhausted(
          "the data folder's disk is nearly full (below storage.min_free_space): nothing was "
          "stored; resend after a backoff");
    }
    if (!pipelined() || g.appends.empty()) return;
    for (size_t i = 0; i < n; ++i) {
      const PendingBatch* b = g.batches[i];
      if (g.outcomes[i] != PendingBatch::Outcome::kStored ||
          b->kind != storage::LogEntryKind::kBatch) {
        continue;
      }
      if (gateways_in_flight_.insert(std::string_view(b->gateway_id)).second) {
        g.gateways.push_back(b->gateway_id);
      }
    }
  }

  // The group's completion, on the log's thread (or this one, for a log that
  // completes inside Append): groups complete one at a time, in append order.
  void Complete(Group& g, alarm::Result<uint64_t> first) {
    owner_->append_latency_.Record(std::chrono::steady_clock::now() - g.appended_at);
    if (!first) {
      {
        storage::MutexLock lock(&error_mu_);
        if (error_.ok()) error_ = first.error();
      }
      owner_->failed_.store(true, std::memory_order_release);
      owner_->failures_.fetch_add(1, std::memory_order_relaxed);
      LogError("storage_write_failed",
               {{"error", first.error().ToString()},
                {"disk_full", first.error().code() == alarm::Status::Code::kResourceExhausted}});
      g.error = alarm::Status::Unavailable("storage write failed: " + first.error().message());
    }
    {
      storage::MutexLock lock(&state_mu_);
      if (!first) Undo(g);
      Settle(g);
      // Settled (undone, fenced): the gateways' next batches may go now.
      for (std::string_view gateway : g.gateways) gateways_in_flight_.erase(gateway);
      g.gateways.clear();
    }
    if (first) Hand(g, *first);
    Answer(g);
    // Under the lock: once it is released, the writer may go on (and,
    // stopping, destroy this Impl); nothing here is touched after.
    storage::MutexLock lock(&in_flight_mu_);
    --in_flight_;
    in_flight_cv_.NotifyAll();
    queue_.Wake();
  }

  // Hands the stored group on: to the shards (this writer feeds them), or
  // only its local actions and rules to the follower (a shared log).
  void Hand(Group& g, uint64_t first) {
    uint64_t seq = first;
    for (size_t i = 0; i < g.batches.size(); ++i) {
      if (g.outcomes[i] != PendingBatch::Outcome::kStored) continue;
      PendingBatch* b = g.batches[i];
      if (options_.handoff != nullptr) {
        if (b->kind == storage::LogEntryKind::kControl &&
            (b->completion != nullptr || b->rules != nullptr)) {
          options_.handoff->Stored(seq, {.completion = b->completion, .rules = b->rules});
          b->completion = nullptr;  // the shards complete it now
        }
        ++seq;
        continue;
      }
      if (b->kind == storage::LogEntryKind::kControl) {
        shards_->PostControl(seq++, g.stored_at, b->control, b->completion, b->rules);
        continue;
      }
      shards_->PostBatch(seq++, g.stored_at, std::move(b->record), b->buffered, b->buffered_bytes,
                         b->received_at);
      b->buffered_bytes = 0;  // now released by the shards
    }
    if (options_.handoff == nullptr)
      owner_->posted_through_.store(seq - 1, std::memory_order_release);
  }

  // Fences, and the answer of every batch refused on its own.
  void Settle(Group& g) VIGIL_REQUIRES(state_mu_) {
    UpdateFences(g);
    for (size_t i = 0; i < g.batches.size(); ++i) {
      if (g.refusals[i] != Refusal::kNone) {
        g.answers[i] = RefusalStatus(*g.batches[i], g.refusals[i]);
      }
    }
  }

  // Every batch's answer: the group's error, or its own refusal.
  static void Answer(Group& g) {
    for (size_t i = 0; i < g.batches.size(); ++i) {
      g.batches[i]->Done(g.outcomes[i], g.refusals[i] == Refusal::kNone ? g.error : g.answers[i]);
    }
    g.batches.clear();
  }

  // Restores the watermarks of a group that was not stored. Newest first: a
  // group holding several batches of one gateway must end at the oldest
  // value, not at the one its second batch saw.
  static void Undo(Group& g) {
    for (auto u = g.undo.rbegin(); u != g.undo.rend(); ++u) *u->first = u->second;
    for (auto& outcome : g.outcomes) {
      if (outcome == PendingBatch::Outcome::kStored) outcome = PendingBatch::Outcome::kFailed;
    }
  }

  // After a group: every new batch that failed fences its gateway at the
  // lowest failed watermark; a fence at or below the stored watermark is
  // gone (its batch, or a later copy, was stored).
  void UpdateFences(const Group& g) VIGIL_REQUIRES(state_mu_) {
    for (size_t i = 0; i < g.batches.size(); ++i) {
      const PendingBatch* b = g.batches[i];
      if (b->kind == storage::LogEntryKind::kControl) continue;
      if (g.outcomes[i] != PendingBatch::Outcome::kFailed ||
          g.refusals[i] == Refusal::kEpochBehind) {
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
    for (size_t i = 0; i < g.batches.size(); ++i) {
      const PendingBatch* b = g.batches[i];
      if (b->kind == storage::LogEntryKind::kControl) continue;
      if (g.refusals[i] == Refusal::kEpochBehind) {
        owner_->epoch_refusals_.fetch_add(1, std::memory_order_relaxed);
      } else if (g.refusals[i] == Refusal::kAfterGap) {
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

  alarm::Status RefusalStatus(const PendingBatch& b, Refusal refusal) VIGIL_REQUIRES(state_mu_) {
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

  // Folds what the follower applied into the watermarks and fences. A
  // gateway in a group in flight keeps its entry for later: that group's
  // undo must not lower what was applied meanwhile.
  void TakeApplied() VIGIL_REQUIRES(state_mu_) {
    if (!applied_pending_.load(std::memory_order_acquire)) return;
    std::unordered_map<std::string, storage::Watermark> applied;
    {
      storage::MutexLock lock(&applied_mu_);
      applied.swap(applied_);
      applied_pending_.store(false, std::memory_order_relaxed);
    }
    std::unordered_map<std::string, storage::Watermark> later;
    for (const auto& [gateway, watermark] : applied) {
      if (gateways_in_flight_.contains(std::string_view(gateway))) {
        later.emplace(gateway, watermark);
        continue;
      }
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
    if (!later.empty()) MergeApplied(later);
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

  // Writer thread only.
  std::chrono::steady_clock::time_point last_space_check_{};
  std::vector<Group> groups_;  // max_groups_in_flight slots, used in turn
  size_t next_group_ = 0;
  // Batches waiting for their gateway's group in flight, in arrival order.
  std::vector<PendingBatch*> deferred_;
  alarm::TimestampMs stored_at_ = 0;

  // Shared by the writer (building a group) and completions (settling one).
  storage::Mutex state_mu_;
  std::unordered_map<std::string, storage::Watermark, StringHash, std::equal_to<>> marks_
      VIGIL_GUARDED_BY(state_mu_);
  // Per gateway, the lowest watermark of a batch that failed and was not
  // resent yet: its later batches are refused until it is stored.
  std::unordered_map<std::string, storage::Watermark, StringHash, std::equal_to<>> fences_
      VIGIL_GUARDED_BY(state_mu_);
  // The stored watermark an epoch refusal was last logged for, per gateway
  // (one log line per watermark, not one per refused batch).
  std::unordered_map<std::string, storage::Watermark, StringHash, std::equal_to<>> last_epoch_log_
      VIGIL_GUARDED_BY(state_mu_);
  // Gateways a group in flight stores a batch of (views of that batch's id).
  std::unordered_set<std::string_view> gateways_in_flight_ VIGIL_GUARDED_BY(state_mu_);

  // Groups appended and not yet answered.
  mutable storage::Mutex in_flight_mu_;
  storage::CondVar in_flight_cv_;
  size_t in_flight_ VIGIL_GUARDED_BY(in_flight_mu_) = 0;

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

uint64_t StorageWriter::groups_in_flight() const { return impl_->groups_in_flight(); }

}  // namespace vigil::server
