#include "storage/alarm_codec.h"

#include "storage/internal/wire.h"

namespace vigil::storage {
namespace {

using internal::WireReader;
using internal::WireWriter;

constexpr uint8_t kJournalEntryVersion = 1;
// Version 2 (written only for an entry of planned work, so that every other
// entry keeps its bytes and hash) adds the record's planned_work.
constexpr uint8_t kJournalEntryVersion2 = 2;
// Version 2 adds per sensor the HH on-delay offset, the unchanged time and
// the stuck flag, and per shelf its level. Version 3 adds the alarms'
// planned_work, the planned-work windows and the calibrating sensors.
// Versions 1 and 2 still decode.
constexpr uint8_t kSnapshotVersion = 3;
constexpr uint8_t kSnapshotVersion2 = 2;
constexpr uint8_t kSnapshotVersion1 = 1;

void PutActive(WireWriter& w, const alarm::ActiveAlarm& a) {
  w.PutString(a.source_id);
  w.PutString(a.rule_id);
  w.Put(a.alarm);
  w.Put(a.state);
  w.Put(a.severity);
  w.Put(a.level);
  w.Put(a.occurrence);
  w.Put(a.threshold);
  w.Put(a.trigger_value);
  w.Put(a.trigger_reading_at);
  w.Put(a.peak_value);
  w.Put(a.raised_at);
  w.Put(a.changed_at);
  w.Put(a.shelved_until);
}

alarm::ActiveAlarm GetActive(WireReader& r) {
  alarm::ActiveAlarm a;
  a.source_id = r.GetString();
  a.rule_id = r.GetString();
  a.alarm = r.Get<alarm::AlarmKind>();
  a.state = r.Get<alarm::AlarmState>();
  a.severity = r.Get<alarm::Severity>();
  a.level = r.Get<alarm::Level>();
  a.occurrence = r.Get<uint64_t>();
  a.threshold = r.Get<double>();
  a.trigger_value = r.Get<double>();
  a.trigger_reading_at = r.Get<alarm::TimestampMs>();
  a.peak_value = r.Get<double>();
  a.raised_at = r.Get<alarm::TimestampMs>();
  a.changed_at = r.Get<alarm::TimestampMs>();
  a.shelved_until = r.Get<alarm::TimestampMs>();
  return a;
}

bool ValidActive(const alarm::ActiveAlarm& a) {
  const auto kind = static_cast<uint8_t>(a.alarm);
  const auto state = static_cast<uint8_t>(a.state);
  const auto severity = static_cast<uint8_t>(a.severity);
  const auto level = static_cast<int8_t>(a.level);
  return kind >= 1 && kind <= alarm::kMaxAlarmKind && state >= 1 && state <= 5 && severity >= 1 &&
         severity <= 4 && level >= -2 && level <= 2;
}

void PutPlannedWork(WireWriter& w, const alarm::PlannedWork& p) {
  w.PutString(p.id);
  w.PutString(p.enterprise_id);
  w.Put(static_cast<uint32_t>(p.sensor_ids.size()));
  for (const std::string& id : p.sensor_ids) w.PutString(id);
  w.Put(p.start);
  w.Put(p.end);
  w.PutString(p.reason);
  w.PutString(p.owner);
  w.PutString(p.opened_by);
}

alarm::PlannedWork GetPlannedWork(WireReader& r) {
  alarm::PlannedWork p;
  p.id = r.GetString();
  p.enterprise_id = r.GetString();
  for (uint32_t n = r.GetCount(4); n > 0 && r.ok(); --n) p.sensor_ids.emplace_back(r.GetString());
  p.start = r.Get<alarm::TimestampMs>();
  p.end = r.Get<alarm::TimestampMs>();
  p.reason = r.GetString();
  p.owner = r.GetString();
  p.opened_by = r.GetString();
  return p;
}

}  // namespace

std::string EncodePlannedWork(const alarm::PlannedWork& work) {
  std::string out;
  WireWriter w(&out);
  PutPlannedWork(w, work);
  return out;
}

alarm::Result<alarm::PlannedWork> DecodePlannedWork(std::string_view bytes) {
  WireReader r(bytes);
  alarm::PlannedWork work = GetPlannedWork(r);
  if (!r.done()) return alarm::Status::Corruption("planned work: malformed");
  return work;
}

std::string EncodeJournalEntry(const alarm::JournalEntry& entry) {
  std::string out;
  WireWriter w(&out);
  const bool planned = !entry.event.record.planned_work.empty();
  w.Put(planned ? kJournalEntryVersion2 : kJournalEntryVersion);
  w.Put(entry.seq);
  w.Put(entry.alarm_id);
  const alarm::AlarmEvent& e = entry.event;
  w.Put(e.kind);
  PutActive(w, e.record);
  w.Put(e.value);
  w.Put(e.reading_at);
  w.Put(e.at);
  w.PutString(e.actor);
  w.PutString(e.comment);
  w.PutString(entry.enterprise_id);
  w.PutString(entry.region_code);
  w.Put(entry.enterprise_kind);
  w.Put(entry.peak_severity);
  if (planned) w.PutString(entry.event.record.planned_work);
  return out;
}

alarm::Result<alarm::JournalEntry> DecodeJournalEntry(std::string_view bytes) {
  WireReader r(bytes);
  alarm::JournalEntry entry;
  const auto version = r.Get<uint8_t>();
  entry.seq = r.Get<uint64_t>();
  entry.alarm_id = r.Get<uint64_t>();
  alarm::AlarmEvent& e = entry.event;
  e.kind = r.Get<alarm::EventKind>();
  e.record = GetActive(r);
  e.value = r.Get<double>();
  e.reading_at = r.Get<alarm::TimestampMs>();
  e.at = r.Get<alarm::TimestampMs>();
  e.actor = r.GetString();
  e.comment = r.GetString();
  entry.enterprise_id = r.GetString();
  entry.region_code = r.GetString();
  entry.enterprise_kind = r.Get<alarm::EnterpriseKind>();
  entry.peak_severity = r.Get<alarm::Severity>();
  if (version == kJournalEntryVersion2) e.record.planned_work = r.GetString();
  const auto kind = static_cast<uint8_t>(e.kind);
  const auto peak = static_cast<uint8_t>(entry.peak_severity);
  const bool known_version = version == kJournalEntryVersion ||
                             (version == kJournalEntryVersion2 && !e.record.planned_work.empty());
  if (!r.done() || !known_version || kind < 1 || kind > alarm::kMaxEventKind ||
      !ValidActive(e.record) || peak < 1 || peak > 4) {
    return alarm::Status::Corruption("alarm journal entry: malformed");
  }
  return entry;
}

std::string EncodeShardSnapshot(const ShardSnapshot& snapshot) {
  // Runs on a shard thread at every checkpoint, with up to a million sensors:
  // one allocation, not a doubling series of copies.
  constexpr size_t kSensorFixedBytes = 89;  // every field but the strings and rate points
  size_t bytes = 64;
  for (const alarm::SensorSnapshot& s : snapshot.engine.sensors) {
    bytes += kSensorFixedBytes + s.sensor_id.size() + s.rule_id.size() + size_t{16} * s.rate_count;
  }
  std::string out;
  out.reserve(bytes);
  WireWriter w(&out);
  w.Put(kSnapshotVersion);
  w.Put(snapshot.shard);
  w.Put(snapshot.shard_count);
  w.Put(snapshot.through_log_seq);
  const alarm::EngineSnapshot& e = snapshot.engine;
  w.Put(e.next_occurrence);
  w.Put(static_cast<uint32_t>(e.gateways.size()));
  for (const alarm::GatewaySnapshot& g : e.gateways) {
    w.PutString(g.gateway_id);
    w.Put(g.last_seen);
    w.Put(g.seen);
    w.Put(g.offline);
  }
  w.Put(static_cast<uint32_t>(e.sensors.size()));
  for (const alarm::SensorSnapshot& s : e.sensors) {
    w.PutString(s.sensor_id);
    w.PutString(s.rule_id);
    w.Put(s.level);
    w.Put(s.pending);
    w.Put(s.pending_level);
    w.Put(s.pending_since);
    w.Put(s.pending_lag_ms);
    w.Put(s.fault);
    w.Put(s.no_data);
    w.Put(s.rate_alarm);
    w.Put(s.gateway_silent);
    w.Put(s.last_seen);
    w.Put(s.seen);
    w.Put(s.last_reading_at);
    w.Put(s.has_reading);
    w.Put(s.last_value);
    w.Put(s.peak);
    w.Put(s.gateway);
    w.Put(s.rate_count);
    for (uint8_t i = 0; i < s.rate_count && i < s.rate_at.size(); ++i) {
      w.Put(s.rate_at[i]);
      w.Put(s.rate_value[i]);
    }
    w.Put(s.pending_next_ms);
    w.Put(s.unchanged_ms);
    w.Put(s.stuck);
  }
  w.Put(static_cast<uint32_t>(e.alarms.size()));
  for (const alarm::ActiveAlarm& a : e.alarms) {
    PutActive(w, a);
    w.PutString(a.planned_work);
  }
  w.Put(static_cast<uint32_t>(e.shelves.size()));
  for (const alarm::ShelfSnapshot& s : e.shelves) {
    w.PutString(s.source_id);
    w.Put(s.alarm);
    w.Put(s.until);
    w.Put(s.level);
  }
  w.Put(static_cast<uint32_t>(e.planned_work.size()));
  for (const alarm::PlannedWork& p : e.planned_work) PutPlannedWork(w, p);
  w.Put(static_cast<uint32_t>(e.calibrating.size()));
  for (const alarm::CalibrationSnapshot& c : e.calibrating) {
    w.PutString(c.sensor_id);
    w.Put(c.since);
  }
  return out;
}

alarm::Result<ShardSnapshot> DecodeShardSnapshot(std::string_view bytes) {
  WireReader r(bytes);
  ShardSnapshot snapshot;
  const auto version = r.Get<uint8_t>();
  snapshot.shard = r.Get<uint32_t>();
  snapshot.shard_count = r.Get<uint32_t>();
  snapshot.through_log_seq = r.Get<uint64_t>();
  alarm::EngineSnapshot& e = snapshot.engine;
  e.next_occurrence = r.Get<uint64_t>();
  bool valid = true;
  // Smallest encodings of one element bound each count.
  for (uint32_t n = r.GetCount(14); n > 0 && r.ok(); --n) {
    alarm::GatewaySnapshot& g = e.gateways.emplace_back();
    g.gateway_id = r.GetString();
    g.last_seen = r.Get<alarm::TimestampMs>();
    g.seen = r.Get<bool>();
    g.offline = r.Get<bool>();
  }
  for (uint32_t n = r.GetCount(74); n > 0 && r.ok(); --n) {
    alarm::SensorSnapshot& s = e.sensors.emplace_back();
    s.sensor_id = r.GetString();
    s.rule_id = r.GetString();
    s.level = r.Get<alarm::Level>();
    s.pending = r.Get<bool>();
    s.pending_level = r.Get<alarm::Level>();
    s.pending_since = r.Get<alarm::TimestampMs>();
    s.pending_lag_ms = r.Get<int32_t>();
    s.fault = r.Get<bool>();
    s.no_data = r.Get<bool>();
    s.rate_alarm = r.Get<bool>();
    s.gateway_silent = r.Get<bool>();
    s.last_seen = r.Get<alarm::TimestampMs>();
    s.seen = r.Get<bool>();
    s.last_reading_at = r.Get<alarm::TimestampMs>();
    s.has_reading = r.Get<bool>();
    s.last_value = r.Get<double>();
    s.peak = r.Get<double>();
    s.gateway = r.Get<int32_t>();
    s.rate_count = r.Get<uint8_t>();
    if (s.rate_count > s.rate_at.size()) {
      valid = false;
      break;
    }
    for (uint8_t i = 0; i < s.rate_count; ++i) {
      s.rate_at[i] = r.Get<alarm::TimestampMs>();
      s.rate_value[i] = r.Get<double>();
    }
    if (version == kSnapshotVersion1) {
      // Version 1 ran one delay per alarm: with a level set, a pending delay
      // was the off-delay back to normal, whatever pending_level held.
      if (s.level != alarm::Level::kNone) s.pending_level = alarm::Level::kNone;
      continue;
    }
    s.pending_next_ms = r.Get<int32_t>();
    s.unchanged_ms = r.Get<uint32_t>();
    s.stuck = r.Get<bool>();
  }
  for (uint32_t n = r.GetCount(80); n > 0 && r.ok(); --n) {
    e.alarms.push_back(GetActive(r));
    if (version == kSnapshotVersion) e.alarms.back().planned_work = r.GetString();
  }
  for (uint32_t n = r.GetCount(13); n > 0 && r.ok(); --n) {
    alarm::ShelfSnapshot& s = e.shelves.emplace_back();
    s.source_id = r.GetString();
    s.alarm = r.Get<alarm::AlarmKind>();
    s.until = r.Get<alarm::TimestampMs>();
    if (version != kSnapshotVersion1) s.level = r.Get<alarm::Level>();
  }
  if (version == kSnapshotVersion) {
    for (uint32_t n = r.GetCount(40); n > 0 && r.ok(); --n) {
      e.planned_work.push_back(GetPlannedWork(r));
    }
    for (uint32_t n = r.GetCount(12); n > 0 && r.ok(); --n) {
      alarm::CalibrationSnapshot& c = e.calibrating.emplace_back();
      c.sensor_id = r.GetString();
      c.since = r.Get<alarm::TimestampMs>();
    }
  }
  valid = valid && r.done() &&
          (version == kSnapshotVersion || version == kSnapshotVersion2 ||
           version == kSnapshotVersion1) &&
          snapshot.shard_count > 0 && snapshot.shard < snapshot.shard_count;
  for (const alarm::ActiveAlarm& a : e.alarms) valid = valid && ValidActive(a);
  if (!valid) return alarm::Status::Corruption("alarm engine snapshot: malformed");
  return snapshot;
}

}  // namespace vigil::storage
