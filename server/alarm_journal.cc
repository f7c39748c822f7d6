#include "server/alarm_journal.h"

#include <boost/lockfree/queue.hpp>
#include <map>
#include <thread>
#include <utility>

#include "alarm/engine.h"
#include "server/log.h"
#include "server/thread_name.h"
#include "storage/alarm_codec.h"

namespace vigil::server {
namespace {

using alarm::AlarmEvent;
using alarm::AlarmState;
using alarm::JournalEntry;
using alarm::Status;

constexpr size_t kQueueCapacity = 16384;
constexpr size_t kMaxGroupItems = 512;

using OpenKey = std::pair<uint8_t, std::string>;  // (alarm kind, source id)

OpenKey KeyOf(const alarm::ActiveAlarm& a) { return {static_cast<uint8_t>(a.alarm), a.source_id}; }

alarm::TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool SameRecord(const alarm::ActiveAlarm& a, const alarm::ActiveAlarm& b) {
  return a.occurrence == b.occurrence && a.state == b.state && a.severity == b.severity &&
         a.level == b.level && a.shelved_until == b.shelved_until;
}

}  // namespace

class AlarmJournal::Impl {
 public:
  Impl(AlarmJournal* owner, storage::JournalStore* store, RegistryHolder* registry, AlarmFeed* feed,
       uint32_t shard_count, uint64_t last_seq)
      : owner_(owner),
        store_(store),
        registry_(registry),
        feed_(feed),
        shard_count_(shard_count),
        queue_(kQueueCapacity),
        next_seq_(last_seq + 1),
        snapshot_round_(shard_count),
        snapshot_through_(shard_count) {}

  Status LoadOpen(const storage::JournalState& state) {
    std::vector<JournalEntry> open;
    for (const std::string& bytes : state.open_entries) {
      auto entry = storage::DecodeJournalEntry(bytes);
      if (!entry) return Status::Corruption("open alarm table: " + entry.error().message());
      open_[KeyOf(entry->event.record)] = *entry;
      open.push_back(std::move(*entry));
    }
    feed_->Reset(std::move(open), state.first_seq, state.last_seq);
    return Status::Ok();
  }

  void StartThread() {
    thread_ = std::thread([this] {
      NameThisThread("vigil-journal");
      Loop();
    });
  }

  void Submit(JournalItem* item) {
    owner_->queued_.fetch_add(1, std::memory_order_relaxed);
    for (int spins = 0; !queue_.push(item); ++spins) {
      if (spins > 64) std::this_thread::yield();
    }
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    stopping_.store(true, std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();
    thread_.join();
  }

  std::optional<uint64_t> SnapshotDone(uint32_t shard, uint64_t round) const {
    if (shard >= shard_count_) return std::nullopt;
    if (snapshot_round_[shard].load(std::memory_order_acquire) < round) return std::nullopt;
    return snapshot_through_[shard].load(std::memory_order_relaxed);
  }

 private:
  void Loop() {
    for (;;) {
      if (CommitGroup()) continue;
      const uint32_t seen = wake_.load(std::memory_order_acquire);
      if (CommitGroup()) continue;
      if (stopping_.load(std::memory_order_acquire)) break;
      wake_.wait(seen, std::memory_order_acquire);
    }
    while (CommitGroup()) {
    }
  }

  // Returns false when there was nothing to write.
  bool CommitGroup() {
    std::vector<std::unique_ptr<JournalItem>> group;
    JournalItem* item = nullptr;
    while (group.size() < kMaxGroupItems && queue_.pop(item)) group.emplace_back(item);
    if (group.empty()) return false;
    for (int attempt = 0;; ++attempt) {
      Status s = TryCommit(group);
      if (s.ok()) break;
      owner_->counters_.write_failures.fetch_add(1, std::memory_order_relaxed);
      if (!owner_->counters_.failing.exchange(true)) {
        LogError("alarm_journal_write_failed", {{"error", s.ToString()}});
      }
      if (stopping_.load(std::memory_order_acquire) && attempt >= 3) {
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
    owner_->queued_.fetch_sub(group.size(), std::memory_order_relaxed);
    return true;
  }

  // Builds and writes one group; on failure undoes every in-memory change so
  // that the same group can be tried again.
  Status TryCommit(const std::vector<std::unique_ptr<JournalItem>>& group) {
    const uint64_t first_seq = next_seq_;
    undo_.clear();
    entries_.clear();
    item_last_seq_.assign(group.size(), 0);
    registry_snapshot_ = registry_->Get();
    std::map<uint32_t, uint64_t> marks;
    std::vector<storage::SnapshotWrite> snapshots;
    for (size_t i = 0; i < group.size(); ++i) {
      JournalItem& it = *group[i];
      const size_t before = entries_.size();
      if (it.reconcile) Reconcile(it);
      for (AlarmEvent& e : it.events) AddEntry(e);
      if (entries_.size() > before) item_last_seq_[i] = entries_.back().seq;
      if (it.log_seq != 0) marks[it.shard] = std::max(marks[it.shard], it.log_seq);
      if (!it.snapshot.empty()) snapshots.push_back({.shard = it.shard, .bytes = it.snapshot});
    }

    std::vector<std::string> encoded;
    encoded.reserve(entries_.size());
    std::vector<storage::JournalAppend> appends;
    for (const JournalEntry& e : entries_) {
      encoded.push_back(storage::EncodeJournalEntry(e));
      appends.push_back(
          {.seq = e.seq, .alarm_id = e.alarm_id, .at = e.event.at, .entry = encoded.back()});
    }
    // The open table's final state for every key this group touched.
    std::map<OpenKey, std::optional<std::string>> open_final;
    for (const auto& [key, old] : undo_) {
      auto it = open_.find(key);
      open_final[key] =
          it == open_.end() ? std::nullopt : std::optional(storage::EncodeJournalEntry(it->second));
    }
    std::vector<storage::OpenAlarmWrite> open_writes;
    open_writes.reserve(open_final.size());
    for (const auto& [key, bytes] : open_final) {
      open_writes.push_back(
          {.alarm_kind = key.first,
           .source_id = key.second,
           .entry = bytes ? std::optional<std::string_view>(*bytes) : std::nullopt});
    }
    std::vector<storage::JournalMark> mark_writes;
    mark_writes.reserve(marks.size());
    for (const auto& [shard, seq] : marks) mark_writes.push_back({.shard = shard, .log_seq = seq});

    Status s = store_->WriteJournal({.entries = appends,
                                     .open = open_writes,
                                     .marks = mark_writes,
                                     .snapshots = snapshots,
                                     .shard_count = shard_count_});
    if (!s.ok()) {
      // Undo in reverse order: the first change of a key holds its original.
      for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
        if (it->second) {
          open_[it->first] = *it->second;
        } else {
          open_.erase(it->first);
        }
      }
      next_seq_ = first_seq;
      return s;
    }
    if (owner_->counters_.failing.exchange(false)) LogInfo("alarm_journal_write_recovered");
    Published(group);
    return Status::Ok();
  }

  // After a durable write: counters, log lines, the feed, completions, snapshots.
  void Published(const std::vector<std::unique_ptr<JournalItem>>& group) {
    JournalCounters& c = owner_->counters_;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& it : group) {
      if (!it->events.empty() && it->received) c.latency.Record(now - *it->received);
    }
    for (const JournalEntry& e : entries_) {
      const AlarmEvent& ev = e.event;
      c.events[static_cast<size_t>(ev.kind)][static_cast<size_t>(ev.record.alarm)].fetch_add(
          1, std::memory_order_relaxed);
      LogInfo("alarm",
              {{"seq", e.seq},
               {"alarm_id", e.alarm_id},
               {"transition", alarm::EventKindName(ev.kind)},
               {"alarm", alarm::AlarmKindName(ev.record.alarm)},
               {"state", alarm::AlarmStateName(ev.record.state)},
               {ev.record.alarm == alarm::AlarmKind::kGatewayOffline ? "gateway" : "sensor",
                ev.record.source_id},
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
    feed_->Publish(entries_);
    entries_.clear();
    for (size_t i = 0; i < group.size(); ++i) {
      JournalItem& it = *group[i];
      if (it.completion != nullptr) it.completion->Done(Status::Ok(), item_last_seq_[i]);
      if (!it.snapshot.empty() && it.shard < shard_count_) {
        snapshot_through_[it.shard].store(it.snapshot_through, std::memory_order_relaxed);
        snapshot_round_[it.shard].store(it.snapshot_round, std::memory_order_release);
      }
    }
  }

  void AddEntry(const AlarmEvent& event) {
    const OpenKey key = KeyOf(event.record);
    auto open = open_.find(key);
    JournalEntry entry;
    entry.seq = next_seq_++;
    entry.event = event;
    const bool same_alarm =
        open != open_.end() && open->second.event.record.occurrence == event.record.occurrence;
    if (same_alarm) {
      entry.alarm_id = open->second.alarm_id;
      entry.peak_severity = std::min(open->second.peak_severity, event.record.severity);
      entry.enterprise_id = open->second.enterprise_id;
      entry.region_code = open->second.region_code;
      entry.enterprise_kind = open->second.enterprise_kind;
    } else {
      entry.alarm_id = entry.seq;
      entry.peak_severity = event.record.severity;
    }
    Locate(event.record, &entry);
    Remember(key, open == open_.end() ? std::nullopt : std::optional(open->second));
    if (event.record.state == AlarmState::kClosed) {
      open_.erase(key);
    } else {
      open_[key] = entry;
    }
    entries_.push_back(std::move(entry));
  }

  // Where the alarm's source is, per the registry of the day (kept from the
  // alarm's earlier entries when the source was removed since).
  void Locate(const alarm::ActiveAlarm& a, JournalEntry* entry) const {
    const alarm::Registry& reg = *registry_snapshot_;
    std::string_view enterprise_id;
    if (a.alarm == alarm::AlarmKind::kGatewayOffline) {
      if (const alarm::Gateway* g = reg.FindGateway(a.source_id)) enterprise_id = g->enterprise_id;
    } else if (const alarm::Sensor* sensor = reg.FindSensor(a.source_id)) {
      enterprise_id = sensor->enterprise_id;
    }
    if (const alarm::Enterprise* e = reg.FindEnterprise(enterprise_id)) {
      entry->enterprise_id = e->id;
      entry->region_code = e->region_code;
      entry->enterprise_kind = e->kind;
    }
  }

  void Remember(const OpenKey& key, std::optional<JournalEntry> old) {
    undo_.emplace_back(key, std::move(old));
  }

  // Makes the journal's open alarms of `item.shard` match the engine's.
  void Reconcile(JournalItem& item) {
    std::map<OpenKey, const alarm::ActiveAlarm*> engine;
    for (const alarm::ActiveAlarm& a : item.engine_alarms) engine[KeyOf(a)] = &a;
    const alarm::TimestampMs now = WallMs();
    auto event_of = [&](const alarm::ActiveAlarm& record, const char* why) {
      AlarmEvent e;
      e.kind = alarm::EventKind::kReconciled;
      e.record = record;
      e.value = record.trigger_value;
      e.reading_at = record.trigger_reading_at;
      e.at = now;
      e.comment = why;
      return e;
    };
    std::vector<AlarmEvent> fixes;
    for (const auto& [key, entry] : open_) {
      if (alarm::ShardOf(key.second, shard_count_) != item.shard) continue;
      auto it = engine.find(key);
      if (it != engine.end() && it->second->occurrence == entry.event.record.occurrence) {
        continue;  // compared below
      }
      alarm::ActiveAlarm closed = entry.event.record;
      closed.state = AlarmState::kClosed;
      closed.changed_at = now;
      fixes.push_back(event_of(closed, "not open after restart (rules or registry changed)"));
    }
    for (const auto& [key, a] : engine) {
      auto it = open_.find(key);
      if (it != open_.end() && SameRecord(it->second.event.record, *a)) continue;
      fixes.push_back(event_of(*a, "state corrected after restart"));
    }
    for (const AlarmEvent& e : fixes) AddEntry(e);
    if (!fixes.empty()) {
      LogWarn("alarms_reconciled", {{"shard", item.shard}, {"events", fixes.size()}});
    }
  }

  AlarmJournal* owner_;
  storage::JournalStore* store_;
  RegistryHolder* registry_;
  AlarmFeed* feed_;
  const uint32_t shard_count_;
  boost::lockfree::queue<JournalItem*, boost::lockfree::fixed_sized<true>> queue_;
  std::atomic<uint32_t> wake_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  // Journal thread only.
  uint64_t next_seq_;
  std::map<OpenKey, JournalEntry> open_;
  std::vector<std::pair<OpenKey, std::optional<JournalEntry>>> undo_;
  std::vector<JournalEntry> entries_;
  std::vector<uint64_t> item_last_seq_;
  std::shared_ptr<const alarm::Registry> registry_snapshot_;

  std::vector<std::atomic<uint64_t>> snapshot_round_;
  std::vector<std::atomic<uint64_t>> snapshot_through_;
};

alarm::Result<std::unique_ptr<AlarmJournal>> AlarmJournal::Start(
    storage::JournalStore* store, RegistryHolder* registry, AlarmFeed* feed, uint32_t shard_count,
    const storage::JournalState& state) {
  std::unique_ptr<AlarmJournal> journal(new AlarmJournal(nullptr));
  journal->impl_ =
      std::make_unique<Impl>(journal.get(), store, registry, feed, shard_count, state.last_seq);
  Status s = journal->impl_->LoadOpen(state);
  if (!s.ok()) return s;
  journal->impl_->StartThread();
  return journal;
}

AlarmJournal::AlarmJournal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AlarmJournal::~AlarmJournal() { Stop(); }

void AlarmJournal::Submit(JournalItem* item) { impl_->Submit(item); }

void AlarmJournal::Stop() {
  if (impl_) impl_->Stop();
}

std::optional<uint64_t> AlarmJournal::SnapshotDone(uint32_t shard, uint64_t round) const {
  return impl_->SnapshotDone(shard, round);
}

}  // namespace vigil::server
