#include "server/pipeline/alarm_journal.h"

#include <boost/lockfree/queue.hpp>
#include <deque>
#include <map>
#include <thread>
#include <utility>

#include "alarm/engine.h"
#include "server/log/log.h"
#include "server/log/thread_name.h"
#include "server/pipeline/journal_book.h"
#include "server/pipeline/worker_queue.h"
#include "storage/alarm_codec.h"

namespace vigil::server {
namespace {

using alarm::AlarmEvent;
using alarm::JournalEntry;
using alarm::Status;

constexpr size_t kQueueCapacity = 16384;
constexpr size_t kMaxGroupItems = 512;

alarm::TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class AlarmJournal::Impl {
 public:
  Impl(AlarmJournal* owner, storage::JournalStore* store, RegistryHolder* registry, AlarmFeed* feed,
       uint32_t shard_count)
      : owner_(owner),
        store_(store),
        registry_(registry),
        feed_(feed),
        shard_count_(shard_count),
        book_(shard_count),
        snapshot_round_(shard_count),
        snapshot_through_(shard_count),
        queue_(kQueueCapacity, FullPolicy::kWait) {}

  Status LoadOpen(const storage::JournalState& state) {
    std::vector<JournalEntry> open;
    for (const std::string& bytes : state.open_entries) {
      auto entry = storage::DecodeJournalEntry(bytes);
      if (!entry) return Status::Corruption("open alarm table: " + entry.error().message());
      open.push_back(std::move(*entry));
    }
    book_.Load(state.last_seq, open, state.chain_head);
    feed_->Reset(std::move(open), state.first_seq, state.last_seq);
    return Status::Ok();
  }

  void StartThread() {
    queue_.Start("vigil-journal", [this] { return CommitGroup(); });
  }

  void Submit(JournalItem* item) {
    if (queue_.Push(item)) return;
    // Stopped (REQUIRES broken): refused rather than left in a queue no one
    // drains. Its events are not lost: the log entry's mark did not move.
    if (item->completion != nullptr) item->completion->Done(Status::Unavailable("stopping"), 0);
    delete item;
  }

  void Stop() { queue_.Stop(); }

  void NumberInLogOrder(const JournalOrder* order) {
    order_.store(order, std::memory_order_release);
  }

  uint64_t queued() const { return queue_.queued(); }

  std::optional<uint64_t> SnapshotDone(uint32_t shard, uint64_t round) const {
    if (shard >= shard_count_) return std::nullopt;
    if (snapshot_round_[shard].load(std::memory_order_acquire) < round) return std::nullopt;
    return snapshot_through_[shard].load(std::memory_order_relaxed);
  }

 private:
  // Returns false when there was nothing to write.
  bool CommitGroup() {
    if (const JournalOrder* order = order_.load(std::memory_order_acquire)) {
      return CommitInLogOrder(*order);
    }
    std::vector<std::unique_ptr<JournalItem>> group;
    JournalItem* item = nullptr;
    while (group.size() < kMaxGroupItems && queue_.Pop(item)) group.emplace_back(item);
    if (group.empty()) return false;
    WriteGroup(group);
    return true;
  }

  // NumberInLogOrder: items wait per shard (each shard submits in log order)
  // and leave by (log entry, shard) once every shard has passed the entry.
  // The bound is read before the queue is drained: an item it covers was
  // submitted before the shard moved past its entry, so it is in hand.
  bool CommitInLogOrder(const JournalOrder& order) {
    const uint64_t bound = order.HandedThrough();
    JournalItem* item = nullptr;
    bool popped = false;
    while (queue_.Pop(item)) {
      if (item->shard >= held_.size()) held_.resize(item->shard + 1);
      held_[item->shard].emplace_back(item);
      ++held_count_;
      popped = true;
    }
    std::vector<std::unique_ptr<JournalItem>> group;
    while (group.size() < kMaxGroupItems) {
      size_t best = held_.size();
      for (size_t s = 0; s < held_.size(); ++s) {
        if (held_[s].empty()) continue;
        // Items with no log entry (snapshots, bare completions) number nothing.
        const uint64_t seq = held_[s].front()->log_seq;
        if (best == held_.size() || seq < held_[best].front()->log_seq) best = s;
      }
      if (best == held_.size()) break;
      const uint64_t seq = held_[best].front()->log_seq;
      if (seq != 0 && seq > bound) break;
      group.push_back(std::move(held_[best].front()));
      held_[best].pop_front();
      --held_count_;
    }
    if (group.empty()) {
      if (held_count_ == 0) return popped;
      // Waiting for a shard to pass an entry: look again shortly, less often
      // the longer it takes (a shard writing a checkpoint's chunks).
      std::this_thread::sleep_for(std::chrono::microseconds(50 << std::min(held_waits_++, 4)));
      return true;
    }
    held_waits_ = 0;
    WriteGroup(group);
    return true;
  }

  // Writes `group`, retrying every second while the store fails.
  void WriteGroup(const std::vector<std::unique_ptr<JournalItem>>& group) {
    for (int attempt = 0;; ++attempt) {
      Status s = TryCommit(group);
      if (s.ok()) break;
      owner_->counters_.write_failures.fetch_add(1, std::memory_order_relaxed);
      if (!owner_->counters_.failing.exchange(true)) {
        LogError("alarm_journal_write_failed", {{"error", s.ToString()}});
      }
      if (queue_.stopping() && attempt >= 3) {
        // Unjournaled events are not lost: their marks did not move, so a
        // restart replays the log entries that caused them.
        LogError("alarm_journal_gave_up", {{"items", group.size()}});
        for (auto& g : group) {
          if (g->completion != nullptr) g->completion->Done(s, 0);
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    queue_.Done(group.size());
  }

  // Builds and writes one group; on failure undoes every in-memory change so
  // that the same group can be tried again.
  Status TryCommit(const std::vector<std::unique_ptr<JournalItem>>& group) {
    item_last_seq_.assign(group.size(), 0);
    const std::shared_ptr<const alarm::Registry> registry = registry_->Get();
    std::vector<storage::SnapshotWrite> snapshots;
    for (size_t i = 0; i < group.size(); ++i) {
      JournalItem& it = *group[i];
      const size_t before = book_.pending().size();
      if (it.reconcile) Reconcile(it, *registry);
      for (AlarmEvent& e : it.events) book_.Add(e, *registry);
      if (book_.pending().size() > before) item_last_seq_[i] = book_.pending().back().seq;
      if (it.log_seq != 0) book_.Mark(it.shard, it.log_seq);
      if (!it.snapshot.empty()) snapshots.push_back({.shard = it.shard, .bytes = it.snapshot});
    }

    std::vector<std::string> encoded;
    encoded.reserve(book_.pending().size());
    std::vector<storage::JournalAppend> appends;
    for (const JournalEntry& e : book_.pending()) {
      encoded.push_back(storage::EncodeJournalEntry(e));
      appends.push_back({.seq = e.seq,
                         .alarm_id = e.alarm_id,
                         .at = e.event.at,
                         .entry = encoded.back(),
                         .hash = book_.Chain(encoded.back())});
    }
    const std::vector<JournalBook::OpenWrite> open = book_.OpenWrites();
    std::vector<std::optional<std::string>> open_bytes;
    open_bytes.reserve(open.size());
    std::vector<storage::OpenAlarmWrite> open_writes;
    open_writes.reserve(open.size());
    for (const JournalBook::OpenWrite& w : open) {
      const std::optional<std::string>& bytes = open_bytes.emplace_back(
          w.entry ? std::optional(storage::EncodeJournalEntry(*w.entry)) : std::nullopt);
      open_writes.push_back(
          {.alarm_kind = w.key.first,
           .source_id = w.key.second,
           .entry = bytes ? std::optional<std::string_view>(*bytes) : std::nullopt});
    }
    std::vector<storage::JournalMark> mark_writes;
    for (const JournalBook::MarkWrite& m : book_.MarkWrites()) {
      mark_writes.push_back({.shard = m.shard, .log_seq = m.log_seq});
    }

    Status s = store_->WriteJournal({.entries = appends,
                                     .open = open_writes,
                                     .marks = mark_writes,
                                     .snapshots = snapshots,
                                     .shard_count = shard_count_});
    if (!s.ok()) {
      book_.Undo();  // the retry numbers the same group the same way
      return s;
    }
    if (owner_->counters_.failing.exchange(false)) LogInfo("alarm_journal_write_recovered");
    Published(group, book_.Commit());
    return Status::Ok();
  }

  // After a durable write: counters, log lines, the feed, completions, snapshots.
  void Published(const std::vector<std::unique_ptr<JournalItem>>& group,
                 const std::vector<JournalEntry>& entries) {
    JournalCounters& c = owner_->counters_;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& it : group) {
      if (!it->events.empty() && it->received) c.latency.Record(now - *it->received);
    }
    for (const JournalEntry& e : entries) {
      const AlarmEvent& ev = e.event;
      c.events[static_cast<size_t>(ev.kind)][static_cast<size_t>(ev.record.alarm)].fetch_add(
          1, std::memory_order_relaxed);
      LogInfo("alarm", {{"seq", e.seq},
                        {"alarm_id", e.alarm_id},
                        {"transition", alarm::EventKindName(ev.kind)},
                        {"alarm", alarm::AlarmKindName(ev.record.alarm)},
                        {"state", alarm::AlarmStateName(ev.record.state)},
                        // A window's entry names the window (its enterprise follows).
                        {ev.record.alarm == alarm::AlarmKind::kGatewayOffline ? "gateway"
                         : ev.record.alarm == alarm::AlarmKind::kPlannedWork  ? "planned_work"
                                                                              : "sensor",
                         ev.record.alarm == alarm::AlarmKind::kPlannedWork ? ev.record.planned_work
                                                                           : ev.record.source_id},
                        {"rule", ev.record.rule_id},
                        {"severity", static_cast<int>(ev.record.severity)},
                        {"level", alarm::LevelName(ev.record.level)},
                        {"value", ev.value},
                        {"reading_at", ev.reading_at},
                        {"at", ev.at},
                        {"region", e.region_code},
                        {"enterprise", e.enterprise_id},
                        {"actor", ev.actor}});
    }
    feed_->Publish(entries);
    for (size_t i = 0; i < group.size(); ++i) {
      JournalItem& it = *group[i];
      if (it.completion != nullptr) it.completion->Done(Status::Ok(), item_last_seq_[i]);
      if (!it.snapshot.empty() && it.shard < shard_count_) {
        snapshot_through_[it.shard].store(it.snapshot_through, std::memory_order_relaxed);
        snapshot_round_[it.shard].store(it.snapshot_round, std::memory_order_release);
      }
    }
  }

  // Makes the journal's open alarms of `item.shard` match the engine's.
  void Reconcile(const JournalItem& item, const alarm::Registry& registry) {
    const size_t fixes = book_.Reconcile(item.shard, item.engine_alarms, WallMs(), registry);
    if (fixes > 0) LogWarn("alarms_reconciled", {{"shard", item.shard}, {"events", fixes}});
  }

  AlarmJournal* owner_;
  storage::JournalStore* store_;
  RegistryHolder* registry_;
  AlarmFeed* feed_;
  const uint32_t shard_count_;

  // Journal thread only.
  // Numbering, open-alarm table, undo and reconcile: journal_book.h.
  JournalBook book_;
  std::vector<uint64_t> item_last_seq_;
  // NumberInLogOrder: items waiting, per shard, in submission order.
  std::vector<std::deque<std::unique_ptr<JournalItem>>> held_;
  size_t held_count_ = 0;
  int held_waits_ = 0;  // looks in a row that found nothing to release

  std::atomic<const JournalOrder*> order_{nullptr};

  std::vector<std::atomic<uint64_t>> snapshot_round_;
  std::vector<std::atomic<uint64_t>> snapshot_through_;

  // Last, so destroyed first: its thread stops before the state it uses goes.
  WorkerQueue<JournalItem*> queue_;
};

alarm::Result<std::unique_ptr<AlarmJournal>> AlarmJournal::Start(
    storage::JournalStore* store, RegistryHolder* registry, AlarmFeed* feed, uint32_t shard_count,
    const storage::JournalState& state) {
  std::unique_ptr<AlarmJournal> journal(new AlarmJournal(nullptr));
  journal->impl_ = std::make_unique<Impl>(journal.get(), store, registry, feed, shard_count);
  Status s = journal->impl_->LoadOpen(state);
  if (!s.ok()) return s;
  journal->impl_->StartThread();
  return journal;
}

AlarmJournal::AlarmJournal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AlarmJournal::~AlarmJournal() { Stop(); }

void AlarmJournal::Submit(JournalItem* item) { impl_->Submit(item); }

void AlarmJournal::NumberInLogOrder(const JournalOrder* order) { impl_->NumberInLogOrder(order); }

void AlarmJournal::Stop() {
  if (impl_) impl_->Stop();
}

uint64_t AlarmJournal::queued() const { return impl_->queued(); }

std::optional<uint64_t> AlarmJournal::SnapshotDone(uint32_t shard, uint64_t round) const {
  return impl_->SnapshotDone(shard, round);
}

}  // namespace vigil::server
