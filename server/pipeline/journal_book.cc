#include "server/pipeline/journal_book.h"

#include <algorithm>

#include "alarm/engine.h"

namespace vigil::server {
namespace {

using alarm::AlarmEvent;
using alarm::AlarmState;
using alarm::JournalEntry;

bool SameRecord(const alarm::ActiveAlarm& a, const alarm::ActiveAlarm& b) {
  return a.occurrence == b.occurrence && a.state == b.state && a.severity == b.severity &&
         a.level == b.level && a.shelved_until == b.shelved_until &&
         a.planned_work == b.planned_work;
}

// Where the alarm's source is, per `reg` (left as it is when the source is
// not in the registry).
void Locate(const alarm::ActiveAlarm& a, const alarm::Registry& reg, JournalEntry* entry) {
  std::string_view enterprise_id;
  if (a.alarm == alarm::AlarmKind::kPlannedWork) {
    enterprise_id = a.source_id;  // a window's source is its enterprise
  } else if (a.alarm == alarm::AlarmKind::kGatewayOffline) {
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

}  // namespace

void JournalBook::Load(uint64_t last_seq, std::span<const JournalEntry> open_entries,
                       const storage::ChainHash& chain_head) {
  next_seq_ = last_seq + 1;
  group_first_seq_ = next_seq_;
  chain_head_ = chain_head;
  group_chain_head_ = chain_head;
  open_.clear();
  for (const JournalEntry& e : open_entries) open_[KeyOf(e.event.record)] = e;
}

void JournalBook::Add(const AlarmEvent& event, const alarm::Registry& registry) {
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
  Locate(event.record, registry, &entry);
  undo_.emplace_back(key, open == open_.end() ? std::nullopt : std::optional(open->second));
  if (event.record.state == AlarmState::kClosed) {
    open_.erase(key);
  } else {
    open_[key] = entry;
  }
  pending_.push_back(std::move(entry));
}

size_t JournalBook::Reconcile(uint32_t shard, std::span<const alarm::ActiveAlarm> engine_alarms,
                              alarm::TimestampMs now, const alarm::Registry& registry) {
  std::map<OpenKey, const alarm::ActiveAlarm*> engine;
  for (const alarm::ActiveAlarm& a : engine_alarms) engine[KeyOf(a)] = &a;
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
    if (alarm::ShardOf(key.second, shard_count_) != shard) continue;
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
  for (const AlarmEvent& e : fixes) Add(e, registry);
  return fixes.size();
}

void JournalBook::Mark(uint32_t shard, uint64_t log_seq) {
  uint64_t& mark = marks_[shard];
  mark = std::max(mark, log_seq);
}

storage::ChainHash JournalBook::Chain(std::string_view entry) {
  chain_head_ = storage::NextChainHash(chain_head_, entry);
  return chain_head_;
}

std::vector<JournalBook::OpenWrite> JournalBook::OpenWrites() const {
  std::map<OpenKey, std::optional<JournalEntry>> final_state;
  for (const auto& [key, old] : undo_) {
    auto it = open_.find(key);
    final_state[key] = it == open_.end() ? std::nullopt : std::optional(it->second);
  }
  std::vector<OpenWrite> writes;
  writes.reserve(final_state.size());
  for (auto& [key, entry] : final_state) writes.push_back({key, std::move(entry)});
  return writes;
}

std::vector<JournalBook::MarkWrite> JournalBook::MarkWrites() const {
  std::vector<MarkWrite> writes;
  writes.reserve(marks_.size());
  for (const auto& [shard, log_seq] : marks_) writes.push_back({shard, log_seq});
  return writes;
}

std::vector<JournalEntry> JournalBook::Commit() {
  undo_.clear();
  marks_.clear();
  group_first_seq_ = next_seq_;
  group_chain_head_ = chain_head_;
  return std::exchange(pending_, {});
}

void JournalBook::Undo() {
  // In reverse order: the first change of a key holds its original.
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    if (it->second) {
      open_[it->first] = *it->second;
    } else {
      open_.erase(it->first);
    }
  }
  undo_.clear();
  marks_.clear();
  pending_.clear();
  next_seq_ = group_first_seq_;
  chain_head_ = group_chain_head_;
}

}  // namespace vigil::server
