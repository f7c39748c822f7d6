#include "alarm/engine.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace vigil::alarm {
namespace {

bool HasThresholds(const Rule& r) { return r.hh || r.h || r.l || r.ll; }

// The level a reading `v` is in, given the currently reported level `cur`:
// a level is entered at its value and, once reached, held until the reading
// passes its exit (value -/+ deadband, or the restore value for the return
// to normal).
Level Classify(const Rule& r, Level cur, double v) {
  if (r.hh) {
    double exit = r.hh->value - r.deadband;
    if (!r.h && r.restore_high) exit = *r.restore_high;
    if (v >= r.hh->value || (cur == Level::kHH && v >= exit)) return Level::kHH;
  }
  if (r.h) {
    double exit = r.restore_high ? *r.restore_high : r.h->value - r.deadband;
    if (v >= r.h->value || (cur >= Level::kH && v >= exit)) return Level::kH;
  }
  if (r.ll) {
    double exit = r.ll->value + r.deadband;
    if (!r.l && r.restore_low) exit = *r.restore_low;
    if (v <= r.ll->value || (cur == Level::kLL && v <= exit)) return Level::kLL;
  }
  if (r.l) {
    double exit = r.restore_low ? *r.restore_low : r.l->value + r.deadband;
    if (v <= r.l->value || (cur <= Level::kL && cur != Level::kNone && v <= exit)) {
      return Level::kL;
    }
  }
  return Level::kNone;
}

Severity LevelSeverity(const Rule& r, Level level) {
  switch (level) {
    case Level::kHH:
      return r.hh->severity;
    case Level::kH:
      return r.h->severity;
    case Level::kL:
      return r.l->severity;
    case Level::kLL:
      return r.ll->severity;
    case Level::kNone:
      break;
  }
  return Severity::kBlue;
}

bool SameSide(Level a, Level b) {
  return (a > Level::kNone && b > Level::kNone) || (a < Level::kNone && b < Level::kNone);
}

// How extreme a level is, for escalation: HH/LL 2, H/L 1.
int Magnitude(Level level) { return std::abs(static_cast<int>(level)); }

// The no-data timeout of a sensor under a rule; 0 when disabled.
int64_t NoDataTimeoutMs(const Rule& r, const Sensor& sensor) {
  return int64_t{r.no_data_intervals} * sensor.expected_interval.count();
}

bool HasRange(const Sensor& s) { return s.range_low < s.range_high; }

bool SameSensorParams(const Sensor& a, const Sensor& b) {
  return a.range_low == b.range_low && a.range_high == b.range_high &&
         a.expected_interval == b.expected_interval;
}

}  // namespace

uint32_t ShardOf(std::string_view sensor_id, uint32_t shard_count) {
  uint64_t h = 14695981039346656037ull;
  for (char c : sensor_id) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return shard_count == 0 ? 0 : static_cast<uint32_t>(h % shard_count);
}

Engine::Engine(EngineOptions options) : options_(options) {
  static_assert(sizeof(SensorState) <= 72, "per-sensor state grew: update engine.h");
}

void Engine::SetRuleSet(std::shared_ptr<const RuleSet> rules, TimestampMs now,
                        std::vector<AlarmEvent>* out) {
  std::shared_ptr<const RuleSet> old_rules = std::move(rules_);
  auto old_index = std::move(index_);
  auto old_states = std::move(states_);
  auto old_rates = std::move(rates_);
  auto old_alarms = std::move(alarms_);
  rules_ = std::move(rules);
  index_ = {};
  states_ = {};
  rates_ = {};
  alarms_ = {};

  std::vector<uint32_t> old_to_new(old_states.size(), UINT32_MAX);
  for (const Sensor& sensor : rules_->registry().entries().sensors) {
    if (ShardOf(sensor.id, options_.shard_count) != options_.shard) continue;
    const Rule* rule = rules_->ForSensor(sensor.id);
    if (rule == nullptr) continue;
    auto slot = static_cast<uint32_t>(states_.size());
    SensorState state;
    auto old = old_index.find(std::string_view(sensor.id));
    if (old != old_index.end()) {
      const SensorState& o = old_states[old->second];
      if (*o.rule == *rule && SameSensorParams(*o.sensor, sensor)) {
        state = o;
        state.heap_due = kNoTimer;
        if (o.rate_index != kNoRate) {
          state.rate_index = static_cast<uint32_t>(rates_.size());
          rates_.push_back(old_rates[o.rate_index]);
        }
        old_to_new[old->second] = slot;
      }
    }
    state.rule = rule;
    state.sensor = &sensor;
    if (rule->rate && state.rate_index == kNoRate) {
      state.rate_index = static_cast<uint32_t>(rates_.size());
      rates_.emplace_back();
    }
    states_.push_back(state);
    index_.emplace(std::string_view(sensor.id), slot);
  }

  for (const auto& [key, rec] : old_alarms) {
    auto old_slot = static_cast<uint32_t>(key / 8);
    auto kind = static_cast<AlarmKind>(key % 8);
    if (old_to_new[old_slot] != UINT32_MAX) {
      alarms_.emplace(AlarmKey(old_to_new[old_slot], kind), rec);
      continue;
    }
    // The rule changed or no longer applies: close the alarm.
    const SensorState& o = old_states[old_slot];
    out->push_back(AlarmEvent{.kind = EventKind::kCleared,
                              .alarm = kind,
                              .state = AlarmState::kClosed,
                              .sensor_id = o.sensor->id,
                              .rule_id = o.rule->id,
                              .severity = rec.severity,
                              .level = rec.level,
                              .value = o.last_value,
                              .reading_at = o.last_reading_at,
                              .at = now});
  }
  RebuildTimers();
}

void Engine::Evaluate(std::string_view sensor_id, std::span<const TimestampMs> timestamps,
                      std::span<const double> values, std::span<const Quality> quality,
                      TimestampMs now, std::vector<AlarmEvent>* out) {
  auto it = index_.find(sensor_id);
  if (it == index_.end()) {
    ++stats_.unknown_series;
    return;
  }
  const uint32_t slot = it->second;
  SensorState& s = states_[slot];
  const Rule& rule = *s.rule;
  const Sensor& sensor = *s.sensor;
  size_t n = std::min(timestamps.size(), values.size());
  const bool has_quality = !quality.empty();
  if (has_quality) n = std::min(n, quality.size());

  s.last_seen = std::max(s.last_seen, now);
  if (s.flags & kNoData) {
    s.flags &= static_cast<uint8_t>(~kNoData);
    Clear(slot, AlarmKind::kNoData, n > 0 ? values[n - 1] : s.last_value,
          n > 0 ? timestamps[n - 1] : s.last_reading_at, now, out);
  }

  const bool thresholds = HasThresholds(rule);
  const bool range = rule.sensor_fault && HasRange(sensor);
  for (size_t i = 0; i < n; ++i) {
    const TimestampMs t = timestamps[i];
    const double v = values[i];
    if (t <= s.last_reading_at) {
      ++stats_.late_readings;
      continue;
    }
    ++stats_.readings;
    s.last_reading_at = t;
    s.last_value = v;
    if (rule.sensor_fault) {
      const bool faulty = (has_quality && quality[i] != kQualityGood) ||
                          (range && (v < sensor.range_low || v > sensor.range_high));
      if (faulty) {
        if (!(s.flags & kFault)) {
          s.flags |= kFault;
          Raise(slot, AlarmKind::kSensorFault, rule.sensor_fault_severity, Level::kNone, v, t, now,
                out);
        }
        s.flags &= static_cast<uint8_t>(~kPending);
        continue;
      }
      if (s.flags & kFault) {
        s.flags &= static_cast<uint8_t>(~kFault);
        Clear(slot, AlarmKind::kSensorFault, v, t, now, out);
      }
    }
    if (s.rate_index != kNoRate) EvaluateRate(slot, t, v, now, out);
    if (thresholds) EvaluateThreshold(slot, t, v, now, out);
  }
  Schedule(slot);
}

void Engine::EvaluateThreshold(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                               std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  const Rule& rule = *s.rule;
  const Level raw = Classify(rule, s.level, v);
  if (s.level != Level::kNone) {
    s.peak = s.level > Level::kNone ? std::max(s.peak, v) : std::min(s.peak, v);
  }
  if (raw == s.level) {
    s.flags &= static_cast<uint8_t>(~kPending);
    return;
  }
  if (s.level == Level::kNone) {  // towards raising
    if (rule.on_delay.count() > 0) {
      if (!(s.flags & kPending)) {
        s.flags |= kPending;
        s.pending_since = t;
      }
      s.pending_level = raw;
      if (t - s.pending_since < rule.on_delay.count()) return;
    }
    Raise(slot, AlarmKind::kThreshold, LevelSeverity(rule, raw), raw, v, t, now, out);
    return;
  }
  if (raw != Level::kNone && SameSide(raw, s.level)) {  // escalation: immediate
    ChangeLevel(slot, raw, v, t, now, out);
    return;
  }
  // Towards normal (or the opposite side, which first clears).
  if (rule.off_delay.count() > 0) {
    if (!(s.flags & kPending)) {
      s.flags |= kPending;
      s.pending_since = t;
    }
    if (t - s.pending_since < rule.off_delay.count()) return;
  }
  Clear(slot, AlarmKind::kThreshold, v, t, now, out);
  if (raw != Level::kNone) EvaluateThreshold(slot, t, v, now, out);
}

void Engine::EvaluateRate(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                          std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  RateState& r = rates_[s.rate_index];
  const RateOfChange& rate = *s.rule->rate;
  const int64_t window = rate.window.count();
  // Anchor: the newest checkpoint at least one window old.
  for (size_t i = r.count; i-- > 0;) {
    if (t - r.at[i] < window) continue;
    const double per_window =
        (v - r.value[i]) / static_cast<double>(t - r.at[i]) * static_cast<double>(window);
    const bool over = std::fabs(per_window) > rate.limit;
    if (over && !(s.flags & kRateAlarm)) {
      s.flags |= kRateAlarm;
      Raise(slot, AlarmKind::kRateOfChange, rate.severity, Level::kNone, per_window, t, now, out);
    } else if (!over && (s.flags & kRateAlarm)) {
      s.flags &= static_cast<uint8_t>(~kRateAlarm);
      Clear(slot, AlarmKind::kRateOfChange, per_window, t, now, out);
    }
    break;
  }
  // Checkpoints every window / 4.
  if (r.count == 0 || t - r.at[r.count - 1] >= window / 4) {
    if (r.count == kRatePoints) {
      std::move(r.at.begin() + 1, r.at.end(), r.at.begin());
      std::move(r.value.begin() + 1, r.value.end(), r.value.begin());
      --r.count;
    }
    r.at[r.count] = t;
    r.value[r.count] = v;
    ++r.count;
  }
}

void Engine::Tick(TimestampMs now, std::vector<AlarmEvent>* out) {
  auto later = [](const Timer& a, const Timer& b) {
    return a.due != b.due ? a.due > b.due : a.slot > b.slot;
  };
  while (!timers_.empty() && timers_.front().due <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), later);
    const Timer timer = timers_.back();
    timers_.pop_back();
    SensorState& s = states_[timer.slot];
    if (timer.due != s.heap_due) continue;  // superseded by an earlier entry
    s.heap_due = kNoTimer;
    RunTimers(timer.slot, now, out);
    Schedule(timer.slot);
  }
}

void Engine::RunTimers(uint32_t slot, TimestampMs now, std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  const Rule& rule = *s.rule;
  if (s.flags & kPending) {
    if (s.level == Level::kNone) {
      if (now - s.pending_since >= rule.on_delay.count()) {
        Raise(slot, AlarmKind::kThreshold, LevelSeverity(rule, s.pending_level), s.pending_level,
              s.last_value, s.last_reading_at, now, out);
      }
    } else if (now - s.pending_since >= rule.off_delay.count()) {
      Clear(slot, AlarmKind::kThreshold, s.last_value, s.last_reading_at, now, out);
    }
  }
  const int64_t timeout = NoDataTimeoutMs(rule, *s.sensor);
  if (timeout > 0 && !(s.flags & kNoData)) {
    if (s.last_seen == kUnset) {
      s.last_seen = now;  // start the clock of a sensor never seen
    } else if (now - s.last_seen >= timeout) {
      s.flags |= kNoData;
      Raise(slot, AlarmKind::kNoData, rule.no_data_severity, Level::kNone, s.last_value,
            s.last_reading_at, now, out);
    }
  }
}

TimestampMs Engine::NextDue(const SensorState& s) const {
  TimestampMs due = kNoTimer;
  if (s.flags & kPending) {
    const auto delay = s.level == Level::kNone ? s.rule->on_delay : s.rule->off_delay;
    due = s.pending_since + delay.count();
  }
  const int64_t timeout = NoDataTimeoutMs(*s.rule, *s.sensor);
  if (timeout > 0 && !(s.flags & kNoData)) {
    due = std::min(due, s.last_seen == kUnset ? kUnset : s.last_seen + timeout);
  }
  return due;
}

void Engine::Schedule(uint32_t slot) {
  SensorState& s = states_[slot];
  const TimestampMs due = NextDue(s);
  if (due >= s.heap_due) return;  // the live entry fires first and reschedules
  s.heap_due = due;
  timers_.push_back(Timer{.due = due, .slot = slot});
  std::push_heap(timers_.begin(), timers_.end(), [](const Timer& a, const Timer& b) {
    return a.due != b.due ? a.due > b.due : a.slot > b.slot;
  });
}

void Engine::RebuildTimers() {
  timers_.clear();
  for (uint32_t slot = 0; slot < states_.size(); ++slot) {
    states_[slot].heap_due = kNoTimer;
    Schedule(slot);
  }
}

void Engine::Raise(uint32_t slot, AlarmKind kind, Severity severity, Level level, double v,
                   TimestampMs t, TimestampMs now, std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  if (kind == AlarmKind::kThreshold) {
    s.level = level;
    s.peak = v;
    s.flags &= static_cast<uint8_t>(~kPending);
  }
  AlarmRecord& rec = alarms_[AlarmKey(slot, kind)];  // replaces a cleared-unacked one
  rec = AlarmRecord{.state = AlarmState::kActiveUnacked,
                    .severity = severity,
                    .level = level,
                    .trigger_value = v,
                    .trigger_reading_at = t,
                    .peak = v,
                    .raised_at = now,
                    .changed_at = now};
  Emit(slot, EventKind::kRaised, kind, rec, v, t, now, out);
}

void Engine::ChangeLevel(uint32_t slot, Level level, double v, TimestampMs t, TimestampMs now,
                         std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  const EventKind event =
      Magnitude(level) > Magnitude(s.level) ? EventKind::kEscalated : EventKind::kDeEscalated;
  s.level = level;
  s.flags &= static_cast<uint8_t>(~kPending);
  AlarmRecord& rec = alarms_[AlarmKey(slot, AlarmKind::kThreshold)];
  rec.level = level;
  rec.severity = LevelSeverity(*s.rule, level);
  rec.changed_at = now;
  Emit(slot, event, AlarmKind::kThreshold, rec, v, t, now, out);
}

void Engine::Clear(uint32_t slot, AlarmKind kind, double v, TimestampMs t, TimestampMs now,
                   std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  auto it = alarms_.find(AlarmKey(slot, kind));
  if (kind == AlarmKind::kThreshold) {
    s.level = Level::kNone;
    s.flags &= static_cast<uint8_t>(~kPending);
  }
  if (it == alarms_.end()) return;
  AlarmRecord& rec = it->second;
  if (kind == AlarmKind::kThreshold) rec.peak = s.peak;
  rec.state =
      rec.state == AlarmState::kActiveAcked ? AlarmState::kClosed : AlarmState::kClearedUnacked;
  rec.changed_at = now;
  Emit(slot, EventKind::kCleared, kind, rec, v, t, now, out);
  if (rec.state == AlarmState::kClosed) alarms_.erase(it);
}

Status Engine::Acknowledge(std::string_view sensor_id, AlarmKind alarm, TimestampMs at,
                           std::vector<AlarmEvent>* out) {
  auto idx = index_.find(sensor_id);
  auto it = idx == index_.end() ? alarms_.end() : alarms_.find(AlarmKey(idx->second, alarm));
  if (it == alarms_.end()) {
    return Status::NotFound("no open " + std::string(AlarmKindName(alarm)) + " alarm on sensor '" +
                            std::string(sensor_id) + "'");
  }
  const uint32_t slot = idx->second;
  AlarmRecord& rec = it->second;
  if (rec.state == AlarmState::kActiveAcked) return Status::Ok();
  rec.state =
      rec.state == AlarmState::kActiveUnacked ? AlarmState::kActiveAcked : AlarmState::kClosed;
  rec.changed_at = at;
  const SensorState& s = states_[slot];
  Emit(slot, EventKind::kAcknowledged, alarm, rec, s.last_value, s.last_reading_at, at, out);
  if (rec.state == AlarmState::kClosed) alarms_.erase(it);
  return Status::Ok();
}

void Engine::Emit(uint32_t slot, EventKind event, AlarmKind kind, const AlarmRecord& rec, double v,
                  TimestampMs t, TimestampMs now, std::vector<AlarmEvent>* out) const {
  const SensorState& s = states_[slot];
  out->push_back(AlarmEvent{.kind = event,
                            .alarm = kind,
                            .state = rec.state,
                            .sensor_id = s.sensor->id,
                            .rule_id = s.rule->id,
                            .severity = rec.severity,
                            .level = rec.level,
                            .value = v,
                            .reading_at = t,
                            .at = now});
}

ActiveAlarm Engine::ToActive(uint64_t key, const AlarmRecord& rec) const {
  const auto slot = static_cast<uint32_t>(key / 8);
  const auto kind = static_cast<AlarmKind>(key % 8);
  const SensorState& s = states_[slot];
  const bool live_peak = kind == AlarmKind::kThreshold && rec.state != AlarmState::kClearedUnacked;
  return ActiveAlarm{.sensor_id = s.sensor->id,
                     .rule_id = s.rule->id,
                     .alarm = kind,
                     .state = rec.state,
                     .severity = rec.severity,
                     .level = rec.level,
                     .trigger_value = rec.trigger_value,
                     .trigger_reading_at = rec.trigger_reading_at,
                     .peak_value = live_peak ? s.peak : rec.peak,
                     .raised_at = rec.raised_at,
                     .changed_at = rec.changed_at};
}

std::vector<ActiveAlarm> Engine::Active() const {
  std::vector<ActiveAlarm> active;
  active.reserve(alarms_.size());
  for (const auto& [key, rec] : alarms_) active.push_back(ToActive(key, rec));
  return active;
}

EngineSnapshot Engine::Snapshot() const {
  EngineSnapshot snap;
  for (const SensorState& s : states_) {
    const bool fresh = s.last_seen == kUnset && s.last_reading_at == kUnset && s.flags == 0 &&
                       s.level == Level::kNone;
    if (fresh) continue;
    SensorSnapshot e{.sensor_id = s.sensor->id,
                     .rule_id = s.rule->id,
                     .level = s.level,
                     .pending = (s.flags & kPending) != 0,
                     .pending_level = s.pending_level,
                     .pending_since = s.pending_since,
                     .fault = (s.flags & kFault) != 0,
                     .no_data = (s.flags & kNoData) != 0,
                     .rate_alarm = (s.flags & kRateAlarm) != 0,
                     .last_seen = s.last_seen == kUnset ? 0 : s.last_seen,
                     .seen = s.last_seen != kUnset,
                     .last_reading_at = s.last_reading_at == kUnset ? 0 : s.last_reading_at,
                     .has_reading = s.last_reading_at != kUnset,
                     .last_value = s.last_value,
                     .peak = s.peak,
                     .rate_count = 0,
                     .rate_at = {},
                     .rate_value = {}};
    if (s.rate_index != kNoRate) {
      const RateState& r = rates_[s.rate_index];
      e.rate_count = r.count;
      e.rate_at = r.at;
      e.rate_value = r.value;
    }
    snap.sensors.push_back(std::move(e));
  }
  snap.alarms = Active();
  return snap;
}

Status Engine::Restore(const EngineSnapshot& snapshot) {
  auto valid_level = [](Level l) { return static_cast<int>(l) >= -2 && static_cast<int>(l) <= 2; };
  for (const SensorSnapshot& e : snapshot.sensors) {
    if (!valid_level(e.level) || !valid_level(e.pending_level) || e.rate_count > kRatePoints) {
      return Status::InvalidArgument("snapshot of sensor '" + e.sensor_id + "': invalid state");
    }
  }
  for (const ActiveAlarm& a : snapshot.alarms) {
    const auto kind = static_cast<int>(a.alarm);
    const auto state = static_cast<int>(a.state);
    if (kind < 1 || kind > 5 || state < 1 || state > 3 || !valid_level(a.level)) {
      return Status::InvalidArgument("snapshot alarm of sensor '" + a.sensor_id +
                                     "': invalid kind, state or level");
    }
  }
  for (const SensorSnapshot& e : snapshot.sensors) {
    auto idx = index_.find(std::string_view(e.sensor_id));
    if (idx == index_.end()) continue;
    SensorState& s = states_[idx->second];
    if (s.rule->id != e.rule_id) continue;
    s.level = e.level;
    s.pending_level = e.pending_level;
    s.pending_since = e.pending_since;
    s.flags = static_cast<uint8_t>((e.pending ? kPending : 0) | (e.fault ? kFault : 0) |
                                   (e.no_data ? kNoData : 0) | (e.rate_alarm ? kRateAlarm : 0));
    s.last_seen = e.seen ? e.last_seen : kUnset;
    s.last_reading_at = e.has_reading ? e.last_reading_at : kUnset;
    s.last_value = e.last_value;
    s.peak = e.peak;
    if (s.rate_index != kNoRate) {
      RateState& r = rates_[s.rate_index];
      r.count = e.rate_count;
      r.at = e.rate_at;
      r.value = e.rate_value;
    }
  }
  for (const ActiveAlarm& a : snapshot.alarms) {
    auto idx = index_.find(std::string_view(a.sensor_id));
    if (idx == index_.end() || states_[idx->second].rule->id != a.rule_id) continue;
    alarms_[AlarmKey(idx->second, a.alarm)] =
        AlarmRecord{.state = a.state,
                    .severity = a.severity,
                    .level = a.level,
                    .trigger_value = a.trigger_value,
                    .trigger_reading_at = a.trigger_reading_at,
                    .peak = a.peak_value,
                    .raised_at = a.raised_at,
                    .changed_at = a.changed_at};
  }
  RebuildTimers();
  return Status::Ok();
}

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kRaised:
      return "raised";
    case EventKind::kEscalated:
      return "escalated";
    case EventKind::kDeEscalated:
      return "de_escalated";
    case EventKind::kCleared:
      return "cleared";
    case EventKind::kAcknowledged:
      return "acknowledged";
  }
  return "invalid";
}

std::string_view AlarmKindName(AlarmKind kind) {
  switch (kind) {
    case AlarmKind::kThreshold:
      return "threshold";
    case AlarmKind::kRateOfChange:
      return "rate_of_change";
    case AlarmKind::kNoData:
      return "no_data";
    case AlarmKind::kSensorFault:
      return "sensor_fault";
    case AlarmKind::kGatewayOffline:
      return "gateway_offline";
  }
  return "invalid";
}

std::string_view AlarmStateName(AlarmState state) {
  switch (state) {
    case AlarmState::kActiveUnacked:
      return "active_unacked";
    case AlarmState::kActiveAcked:
      return "active_acked";
    case AlarmState::kClearedUnacked:
      return "cleared_unacked";
    case AlarmState::kClosed:
      return "closed";
  }
  return "invalid";
}

}  // namespace vigil::alarm
