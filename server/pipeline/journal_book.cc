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
  } else if (a.alarm == alarm::AlarmKind::kRollup) {
    if (const alarm::Enterprise* e = reg.EnterpriseOfPlace(a.source_id)) enterprise_id = e->id;
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
  AddOne(event, registry);
  const alarm::AlarmKind kind = event.record.alarm;
  if (rules_.rules != nullptr &&
      (kind == alarm::AlarmKind::kThreshold || kind == alarm::AlarmKind::kRateOfChange)) {
    RollUpSensor(event, registry);
  }
}

void JournalBook::AddOne(const AlarmEvent& event, const alarm::Registry& registry) {
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
    if (key.first == static_cast<uint8_t>(alarm::AlarmKind::kRollup)) continue;
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
  group_rules_ = rules_;
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
  rules_ = group_rules_;
  next_seq_ = group_first_seq_;
  chain_head_ = group_chain_head_;
}

bool JournalBook::UseRules(const std::shared_ptr<const alarm::RuleSet>& rules, uint64_t log_seq,
                           alarm::TimestampMs at, const alarm::Registry& registry) {
  if (rules == nullptr || rules == rules_.rules) return false;
  if (rules_.rules != nullptr && log_seq < rules_.log_seq) return false;
  rules_ = {rules, log_seq};
  RollUpAll(at, registry);
  return true;
}

namespace {

bool Counts(const alarm::ActiveAlarm& a) {
  // Active (acknowledged or not, shelved or not), not planned work: a
  // condition present that someone is responsible for.
  return (a.state == AlarmState::kActiveUnacked || a.state == AlarmState::kActiveAcked) &&
         a.planned_work.empty();
}

}  // namespace

void JournalBook::RollUpSensor(const AlarmEvent& event, const alarm::Registry& registry) {
  const alarm::Registry& places = rules_.rules->registry();
  const alarm::Sensor* sensor = places.FindSensor(event.record.source_id);
  if (sensor == nullptr || sensor->facility_id.empty()) return;
  const alarm::Facility* facility = places.FindFacility(sensor->facility_id);
  const alarm::Enterprise* enterprise = places.FindEnterprise(sensor->enterprise_id);
  if (facility == nullptr || enterprise == nullptr) return;
  if (!sensor->item_id.empty()) {
    RollUpPlace(alarm::RollupParent::kItem, sensor->item_id, facility, *enterprise, event.at,
                registry);
  }
  RollUpPlace(alarm::RollupParent::kFacility, facility->id, facility, *enterprise, event.at,
              registry);
  RollUpPlace(alarm::RollupParent::kEnterprise, enterprise->id, nullptr, *enterprise, event.at,
              registry);
}

void JournalBook::RollUpAll(alarm::TimestampMs at, const alarm::Registry& registry) {
  const alarm::Registry& places = rules_.rules->registry();
  for (const alarm::Enterprise& enterprise : places.entries().enterprises) {
    for (const alarm::Facility* facility : places.FacilitiesOf(enterprise.id)) {
      for (const alarm::MonitoringItem& item : facility->items) {
        RollUpPlace(alarm::RollupParent::kItem, item.id, facility, enterprise, at, registry);
      }
      RollUpPlace(alarm::RollupParent::kFacility, facility->id, facility, enterprise, at, registry);
    }
    RollUpPlace(alarm::RollupParent::kEnterprise, enterprise.id, nullptr, enterprise, at, registry);
  }
  std::vector<alarm::ActiveAlarm> gone;
  for (const auto& [key, entry] : open_) {
    if (key.first != static_cast<uint8_t>(alarm::AlarmKind::kRollup)) continue;
    if (places.EnterpriseOfPlace(key.second) == nullptr) gone.push_back(entry.event.record);
  }
  for (alarm::ActiveAlarm& record : gone) {
    AlarmEvent e;
    e.kind = alarm::EventKind::kCleared;
    record.state = AlarmState::kClosed;
    record.changed_at = at;
    record.contributing.clear();
    e.record = std::move(record);
    e.reading_at = INT64_MIN;
    e.at = at;
    e.comment = "its place is no longer in the registry";
    AddOne(e, registry);
  }
}

void JournalBook::RollUpPlace(alarm::RollupParent parent, const std::string& place,
                              const alarm::Facility* facility, const alarm::Enterprise& enterprise,
                              alarm::TimestampMs at, const alarm::Registry& registry) {
  const alarm::Registry& places = rules_.rules->registry();
  const alarm::RollupRule* rule =
      alarm::RollupFor(rules_.rules->rollups(), parent, facility, enterprise);
  const auto open = open_.find({static_cast<uint8_t>(alarm::AlarmKind::kRollup), place});
  if (rule == nullptr && open == open_.end()) return;  // the common case: nothing to do

  // The children: each one's worst counting severity and that alarm's id.
  std::vector<std::optional<alarm::Severity>> severities;
  std::vector<uint64_t> alarm_ids;
  auto child = [&](alarm::AlarmKind kind, const std::string& id) {
    std::optional<alarm::Severity> worst;
    uint64_t alarm_id = 0;
    const auto it = open_.find({static_cast<uint8_t>(kind), id});
    if (it != open_.end() && Counts(it->second.event.record)) {
      worst = it->second.event.record.severity;
      alarm_id = it->second.alarm_id;
    }
    return std::pair(worst, alarm_id);
  };
  auto add = [&](std::pair<std::optional<alarm::Severity>, uint64_t> c) {
    severities.push_back(c.first);
    alarm_ids.push_back(c.second);
  };
  if (rule != nullptr) {
    switch (rule->children) {
      case alarm::RollupChildren::kSensors: {
        const auto sensors = parent == alarm::RollupParent::kItem ? places.SensorsOfItem(place)
                                                                  : places.SensorsOfFacility(place);
        for (const alarm::Sensor* sensor : sensors) {
          auto threshold = child(alarm::AlarmKind::kThreshold, sensor->id);
          auto rate = child(alarm::AlarmKind::kRateOfChange, sensor->id);
          const bool rate_worse =
              rate.first && (!threshold.first || *rate.first < *threshold.first);
          add(rate_worse ? rate : threshold);
        }
        break;
      }
      case alarm::RollupChildren::kItems:
        for (const alarm::MonitoringItem& item : facility->items) {
          add(child(alarm::AlarmKind::kRollup, item.id));
        }
        break;
      case alarm::RollupChildren::kFacilities:
        for (const alarm::Facility* f : places.FacilitiesOf(enterprise.id)) {
          add(child(alarm::AlarmKind::kRollup, f->id));
        }
        break;
    }
  }
  alarm::RollupOutcome outcome;
  if (rule != nullptr) outcome = alarm::EvaluateRollup(*rule, severities);
  const alarm::ActiveAlarm* current = open == open_.end() ? nullptr : &open->second.event.record;
  if (!outcome.severity && current == nullptr) return;
  if (outcome.severity && current != nullptr && current->severity == *outcome.severity) return;

  AlarmEvent e;
  e.at = at;
  e.reading_at = INT64_MIN;
  if (!outcome.severity) {
    e.kind = alarm::EventKind::kCleared;
    e.record = *current;
    e.record.state = AlarmState::kClosed;
    e.record.contributing.clear();
    e.comment = rule == nullptr ? "no roll-up rule selects it any more" : "no condition met";
  } else {
    const alarm::RollupCondition& cond = rule->when[outcome.condition];
    if (current == nullptr) {
      e.kind = alarm::EventKind::kRaised;
      e.record.source_id = place;
      e.record.alarm = alarm::AlarmKind::kRollup;
      e.record.state = AlarmState::kActiveUnacked;
      e.record.occurrence = next_seq_;  // the seq this raise gets: unique, and the same on replay
      e.record.raised_at = at;
      e.record.trigger_reading_at = INT64_MIN;
    } else {
      e.kind = *outcome.severity < current->severity ? alarm::EventKind::kEscalated
                                                     : alarm::EventKind::kDeEscalated;
      e.record = *current;
      e.record.state = AlarmState::kActiveUnacked;
    }
    e.record.rule_id = rule->id;
    e.record.severity = *outcome.severity;
    e.record.threshold = cond.count;
    e.record.trigger_value = static_cast<double>(outcome.contributing.size());
    e.record.contributing.clear();
    for (const size_t i : outcome.contributing) e.record.contributing.push_back(alarm_ids[i]);
    e.value = e.record.trigger_value;
    e.comment =
        std::to_string(outcome.contributing.size()) + " of " + std::to_string(severities.size()) +
        " " + std::string(alarm::RollupChildrenName(rule->children)) + " at severity " +
        std::to_string(static_cast<int>(cond.level)) + " or worse (" + std::to_string(cond.count) +
        " raise severity " + std::to_string(static_cast<int>(cond.raise)) + ")";
  }
  e.record.changed_at = at;
  AddOne(e, registry);
}

}  // namespace vigil::server
