#include "alarm/engine.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "alarm/time_text.h"

namespace vigil::alarm {
namespace {

bool HasThresholds(const Rule& r) { return r.hh || r.h || r.l || r.ll; }

// Whether `v` is at or past `limit` on the high (low) side: >= (<=), or
// > (<) for a strict level.
bool AtOrAbove(double v, double limit, bool strict) { return strict ? v > limit : v >= limit; }
bool AtOrBelow(double v, double limit, bool strict) { return strict ? v < limit : v <= limit; }

// The level a reading `v` is in, given the currently reported level `cur`:
// a level is entered at its value and, once reached, held until the reading
// passes its exit (value -/+ deadband, or the restore value for the return
// to normal, which reads "clears below (above) it" whatever the level).
Level Classify(const Rule& r, Level cur, double v) {
  if (r.hh) {
    double exit = r.hh->value - r.deadband;
    bool strict = r.hh->strict;
    if (!r.h && r.restore_high) {
      exit = *r.restore_high;
      strict = false;
    }
    if (AtOrAbove(v, r.hh->value, r.hh->strict) ||
        (cur == Level::kHH && AtOrAbove(v, exit, strict)))
      return Level::kHH;
  }
  if (r.h) {
    const bool restore = r.restore_high.has_value();
    const double exit = restore ? *r.restore_high : r.h->value - r.deadband;
    if (AtOrAbove(v, r.h->value, r.h->strict) ||
        (cur >= Level::kH && AtOrAbove(v, exit, !restore && r.h->strict))) {
      return Level::kH;
    }
  }
  if (r.ll) {
    double exit = r.ll->value + r.deadband;
    bool strict = r.ll->strict;
    if (!r.l && r.restore_low) {
      exit = *r.restore_low;
      strict = false;
    }
    if (AtOrBelow(v, r.ll->value, r.ll->strict) ||
        (cur == Level::kLL && AtOrBelow(v, exit, strict)))
      return Level::kLL;
  }
  if (r.l) {
    const bool restore = r.restore_low.has_value();
    const double exit = restore ? *r.restore_low : r.l->value + r.deadband;
    if (AtOrBelow(v, r.l->value, r.l->strict) ||
        (cur <= Level::kL && cur != Level::kNone && AtOrBelow(v, exit, !restore && r.l->strict))) {
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

// The value of a level in force (0 for kNone).
double LevelValue(const Rule& r, Level level) {
  switch (level) {
    case Level::kHH:
      return r.hh->value;
    case Level::kH:
      return r.h->value;
    case Level::kL:
      return r.l->value;
    case Level::kLL:
      return r.ll->value;
    case Level::kNone:
      break;
  }
  return 0;
}

bool SameSide(Level a, Level b) {
  return (a > Level::kNone && b > Level::kNone) || (a < Level::kNone && b < Level::kNone);
}

// How extreme a level is, for escalation: HH/LL 2, H/L 1.
int Magnitude(Level level) { return std::abs(static_cast<int>(level)); }

// Whether level `a` is a worse condition than `b`: abnormal where `b` is
// normal, or further out on the same side (H -> HH).
bool Worse(Level a, Level b) {
  return (b == Level::kNone && a != Level::kNone) ||
         (SameSide(a, b) && Magnitude(a) > Magnitude(b));
}

// The worst level of `level`'s side: HH or LL.
Level Extreme(Level level) { return level > Level::kNone ? Level::kHH : Level::kLL; }

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

uint32_t ShardOf(std::string_view id, uint32_t shard_count) {
  uint64_t h = 14695981039346656037ull;
  for (char c : id) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return shard_count == 0 ? 0 : static_cast<uint32_t>(h % shard_count);
}

Engine::Engine(EngineOptions options) : options_(options) {
  static_assert(sizeof(SensorState) <= kSensorStateBytes, "per-sensor state grew: update engine.h");
}

void Engine::SetRuleSet(std::shared_ptr<const RuleSet> rules, TimestampMs now,
                        std::vector<AlarmEvent>* out) {
  std::shared_ptr<const RuleSet> old_rules = std::move(rules_);
  auto old_index = std::move(index_);
  auto old_gateway_index = std::move(gateway_index_);
  auto old_states = std::move(states_);
  auto old_rates = std::move(rates_);
  auto old_gateways = std::move(gateways_);
  auto old_alarms = std::move(alarms_);
  auto old_shelves = std::move(shelves_);
  auto old_calibrating = std::move(calibrating_);
  rules_ = std::move(rules);
  index_ = {};
  gateway_index_ = {};
  states_ = {};
  rates_ = {};
  gateways_ = {};
  alarms_ = {};
  shelves_ = {};
  calibrating_ = {};

  // Gateways: every shard tracks every gateway (no-data suppression needs
  // them all); each raises the alarms of the ones it owns.
  const auto& registered_gateways = rules_->registry().entries().gateways;
  std::vector<uint32_t> old_gateway_to_new(old_gateways.size(), kNone);
  gateways_.reserve(registered_gateways.size());
  for (const Gateway& gateway : registered_gateways) {
    auto g = static_cast<uint32_t>(gateways_.size());
    GatewayState state;
    if (auto old = old_gateway_index.find(std::string_view(gateway.id));
        old != old_gateway_index.end()) {
      state = old_gateways[old->second];
      old_gateway_to_new[old->second] = g;
    }
    state.gateway = &gateway;
    state.owned = ShardOf(gateway.id, options_.shard_count) == options_.shard;
    gateways_.push_back(state);
    gateway_index_.emplace(std::string_view(gateway.id), g);
  }

  // Old states index into the old rule set, kept alive here.
  auto old_rule = [&](const SensorState& o) -> const Rule& {
    return old_rules->rules()[o.rule_index];
  };
  auto old_sensor = [&](const SensorState& o) -> const Sensor& {
    return old_rules->registry().entries().sensors[o.sensor_index];
  };
  const auto& sensors = rules_->registry().entries().sensors;
  first_rule_ = rules_->rules().data();
  first_sensor_ = sensors.data();
  std::vector<uint32_t> old_to_new(old_states.size(), kNone);
  for (const Sensor& sensor : sensors) {
    if (ShardOf(sensor.id, options_.shard_count) != options_.shard) continue;
    const Rule* rule = rules_->ForSensor(sensor.id);
    if (rule == nullptr) continue;
    auto slot = static_cast<uint32_t>(states_.size());
    SensorState state;
    const uint32_t old = old_index.Find(sensor.id, [&](uint32_t old_slot) -> std::string_view {
      return old_sensor(old_states[old_slot]).id;
    });
    if (old != kNone) {
      const SensorState& o = old_states[old];
      if (old_rule(o) == *rule && SameSensorParams(old_sensor(o), sensor)) {
        state = o;
        state.heap_due = kNoTimer;
        if (o.rate_index != kNone) {
          state.rate_index = static_cast<uint32_t>(rates_.size());
          rates_.push_back(old_rates[o.rate_index]);
        }
        if (state.gateway != kNone) state.gateway = old_gateway_to_new[state.gateway];
        old_to_new[old] = slot;
      }
    }
    state.rule_index = static_cast<uint32_t>(rule - first_rule_);
    state.sensor_index = static_cast<uint32_t>(&sensor - sensors.data());
    if (rule->rate && state.rate_index == kNone) {
      state.rate_index = static_cast<uint32_t>(rates_.size());
      rates_.emplace_back();
    }
    if (state.gateway == kNone) state.flags &= static_cast<uint8_t>(~kGatewaySilent);
    if (state.flags & kGatewaySilent) gateways_[state.gateway].has_silent = true;
    states_.push_back(state);
  }
  // Built once per rule set: exact sizes keep the per-sensor bytes at what they hold.
  states_.shrink_to_fit();
  rates_.shrink_to_fit();
  index_.Reset(states_.size());
  for (uint32_t slot = 0; slot < states_.size(); ++slot)
    index_.Insert(SensorOf(states_[slot]).id, slot);
  uint32_t max_number = 0;
  for (const Sensor& sensor : sensors) max_number = std::max(max_number, sensor.log_number);
  slot_by_number_.assign(max_number == 0 ? 0 : size_t{max_number} + 1, kUnnumbered);
  for (const Sensor& sensor : sensors) {
    if (sensor.log_number != 0) slot_by_number_[sensor.log_number] = kNone;
  }
  for (uint32_t slot = 0; slot < states_.size(); ++slot) {
    if (const uint32_t number = SensorOf(states_[slot]).log_number; number != 0) {
      slot_by_number_[number] = slot;
    }
  }

  auto new_slot = [&](uint32_t old_slot) {
    return old_slot >= kGatewaySlot
               ? (old_gateway_to_new[old_slot - kGatewaySlot] == kNone
                      ? kNone
                      : kGatewaySlot + old_gateway_to_new[old_slot - kGatewaySlot])
               : old_to_new[old_slot];
  };
  for (const auto& [old_slot, since] : old_calibrating) {
    if (const uint32_t slot = old_to_new[old_slot]; slot != kNone) calibrating_[slot] = since;
  }
  for (const auto& [key, shelf] : old_shelves) {
    if (uint32_t slot = new_slot(KeySlot(key)); slot != kNone) {
      shelves_.emplace(AlarmKey(slot, KeyKind(key)), shelf);
    }
  }
  for (const auto& [key, rec] : old_alarms) {
    const uint32_t old_slot = KeySlot(key);
    const AlarmKind kind = KeyKind(key);
    if (uint32_t slot = new_slot(old_slot); slot != kNone) {
      alarms_.emplace(AlarmKey(slot, kind), rec);
      continue;
    }
    // The rule changed or its source is gone: close the alarm.
    AlarmEvent e{.kind = EventKind::kCleared, .record = {}, .at = now};
    e.record.alarm = kind;
    e.record.state = AlarmState::kClosed;
    e.record.severity = rec.severity;
    e.record.level = rec.level;
    e.record.occurrence = rec.occurrence;
    e.record.threshold = rec.threshold;
    e.record.trigger_value = rec.trigger_value;
    e.record.trigger_reading_at = rec.trigger_reading_at;
    e.record.peak_value = rec.peak;
    e.record.raised_at = rec.raised_at;
    e.record.changed_at = now;
    e.record.planned_work = rec.planned_work;
    if (old_slot >= kGatewaySlot) {
      e.record.source_id = old_gateways[old_slot - kGatewaySlot].gateway->id;
    } else {
      const SensorState& o = old_states[old_slot];
      e.record.source_id = old_sensor(o).id;
      e.record.rule_id = old_rule(o).id;
      e.value = o.last_value;
      e.reading_at = o.last_reading_at == kUnset ? 0 : o.last_reading_at;
    }
    e.comment = "rule or registry changed";
    out->push_back(std::move(e));
  }
  current_gateway_ = kNone;
  RebuildTimers();
}

void Engine::BeginBatch(std::string_view gateway_id, TimestampMs now,
                        std::vector<AlarmEvent>* out) {
  auto it = gateway_index_.find(gateway_id);
  if (it == gateway_index_.end()) {
    current_gateway_ = kNone;
    return;
  }
  const uint32_t g = it->second;
  current_gateway_ = g;
  GatewayState& gw = gateways_[g];
  gw.last_seen = gw.last_seen == kUnset ? now : std::max(gw.last_seen, now);
  if (gw.has_silent) RearmSilentSensors(g, now);
  if (gw.offline) {
    gw.offline = false;
    Clear(kGatewaySlot + g, AlarmKind::kGatewayOffline, 0, now, now, out);
  }
}

void Engine::RearmSilentSensors(uint32_t gateway, TimestampMs now) {
  // Rare (once per gateway outage), so a scan beats a per-gateway list.
  gateways_[gateway].has_silent = false;
  for (uint32_t slot = 0; slot < states_.size(); ++slot) {
    SensorState& s = states_[slot];
    if (!(s.flags & kGatewaySilent) || s.gateway != gateway) continue;
    s.flags &= static_cast<uint8_t>(~kGatewaySilent);
    s.last_seen = now;  // a full timeout from now proves the sensor itself is dead
    Schedule(slot);
  }
}

void Engine::Evaluate(std::string_view sensor_id, uint64_t id_hash,
                      std::span<const TimestampMs> timestamps, std::span<const double> values,
                      std::span<const Quality> quality, TimestampMs now,
                      std::vector<AlarmEvent>* out) {
  EvaluateAt(FindSensor(sensor_id, id_hash), timestamps, values, quality, now, out);
}

void Engine::EvaluateAt(uint32_t slot, std::span<const TimestampMs> timestamps,
                        std::span<const double> values, std::span<const Quality> quality,
                        TimestampMs now, std::vector<AlarmEvent>* out) {
  static_assert(kNoSensor == kNone);
  if (slot == kNone) {
    ++stats_.unknown_series;
    return;
  }
  SensorState& s = states_[slot];
  const Rule& rule = RuleOf(s);
  const Sensor& sensor = SensorOf(s);
  size_t n = std::min(timestamps.size(), values.size());
  const bool has_quality = !quality.empty();
  if (has_quality) n = std::min(n, quality.size());

  s.last_seen = s.last_seen == kUnset ? now : std::max(s.last_seen, now);
  if (current_gateway_ != kNone) s.gateway = current_gateway_;
  s.flags &= static_cast<uint8_t>(~kGatewaySilent);
  if (s.flags & kNoData) {
    s.flags &= static_cast<uint8_t>(~kNoData);
    Clear(slot, AlarmKind::kNoData, n > 0 ? values[n - 1] : s.last_value,
          n > 0 ? timestamps[n - 1] : s.last_reading_at, now, out);
  }

  const bool thresholds = HasThresholds(rule);
  const bool range = rule.sensor_fault && HasRange(sensor);
  bool calibration_ended = false;
  for (size_t i = 0; i < n; ++i) {
    const TimestampMs t = timestamps[i];
    const double v = values[i];
    // Calibration starts with the first flagged reading and ends with the
    // first one without the flag, once that reading is evaluated (below).
    const bool calibration = has_quality && quality[i] == kQualityCalibration;
    if (calibration != ((s.flags & kCalibrating) != 0)) {
      if (calibration) {
        s.flags |= kCalibrating;
        calibrating_[slot] = now;
      } else {
        s.flags &= static_cast<uint8_t>(~kCalibrating);
        calibrating_.erase(slot);
        calibration_ended = true;
      }
    }
    // Same time as the newest: last written wins (as storage keeps it), so
    // it is evaluated as the current value.
    if (t < s.last_reading_at) {
      ++stats_.late_readings;
      continue;
    }
    ++stats_.readings;
    if (rule.stuck_after.count() > 0) EvaluateStuck(slot, t, v, now, out);
    s.last_reading_at = t;
    s.last_value = v;
    if (rule.sensor_fault) {
      const bool faulty = (has_quality && quality[i] != kQualityGood && !calibration) ||
                          (range && (v < sensor.range_low || v > sensor.range_high));
      if (faulty) {
        if (!(s.flags & kFault)) {
          s.flags |= kFault;
          Raise(slot, AlarmKind::kSensorFault, rule.sensor_fault_severity, Level::kNone, 0, v, t,
                now, out);
        }
        s.flags &= static_cast<uint8_t>(~kPending);
        continue;
      }
      if (s.flags & kFault) {
        s.flags &= static_cast<uint8_t>(~kFault);
        Clear(slot, AlarmKind::kSensorFault, v, t, now, out);
      }
    }
    if (s.rate_index != kNone) EvaluateRate(slot, t, v, now, out);
    if (thresholds) EvaluateThreshold(slot, t, v, now, out);
  }
  if (calibration_ended) EndPlanned(now, slot, out);
  Schedule(slot);
}

void Engine::EvaluateThreshold(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                               std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  const Rule& rule = RuleOf(s);
  const Level raw = Classify(rule, s.level, v);
  if (s.level != Level::kNone) {
    s.peak = s.level > Level::kNone ? std::max(s.peak, v) : std::min(s.peak, v);
  }
  if (raw == s.level) {
    s.flags &= static_cast<uint8_t>(~kPending);
    return;
  }
  const bool pending = (s.flags & kPending) != 0;
  if (Worse(raw, s.level)) {  // towards a raise or an escalation: the on-delay
    if (!pending || !Worse(s.pending_level, s.level) || !SameSide(raw, s.pending_level)) {
      StartPending(s, t, now);
      s.pending_level = raw;
    } else if (Magnitude(raw) < Magnitude(s.pending_level)) {
      s.pending_level = raw;  // only the lesser level held since pending_since
      s.pending_next_ms = 0;
    } else if (raw == s.pending_level) {
      s.pending_next_ms = 0;  // back from HH: its on-delay starts over
    } else if (s.pending_next_ms == 0) {
      s.pending_next_ms =
          static_cast<int32_t>(std::clamp<TimestampMs>(t - s.pending_since, 1, INT32_MAX));
    }
    if (t - s.pending_since < rule.on_delay.count()) return;
  } else {  // towards normal, a lesser level, or the other side (which first clears)
    const Level target = SameSide(raw, s.level) ? raw : Level::kNone;
    if (!pending || Worse(s.pending_level, s.level)) {
      StartPending(s, t, now);
      s.pending_level = target;
    } else if (Worse(target, s.pending_level)) {
      s.pending_level = target;  // held at most at this level since pending_since
    }
    if (t - s.pending_since < rule.off_delay.count()) return;
  }
  FirePending(slot, v, t, now, out);
  // The new level may have a further change pending (HH seen during H's
  // on-delay) or met at once (a zero delay, the other side).
  EvaluateThreshold(slot, t, v, now, out);
}

void Engine::FirePending(uint32_t slot, double v, TimestampMs t, TimestampMs now,
                         std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  const Rule& rule = RuleOf(s);
  const Level target = s.pending_level;
  if (!Worse(target, s.level)) {  // off-delay met
    if (target == Level::kNone) {
      Clear(slot, AlarmKind::kThreshold, v, t, now, out);
    } else {
      ChangeLevel(slot, target, v, t, now, out);
    }
    return;
  }
  const int32_t next_ms = s.pending_next_ms;
  s.pending_next_ms = 0;
  if (s.level == Level::kNone) {
    Raise(slot, AlarmKind::kThreshold, LevelSeverity(rule, target), target,
          LevelValue(rule, target), v, t, now, out);
  } else {
    ChangeLevel(slot, target, v, t, now, out);
  }
  if (next_ms > 0 && Extreme(target) != target) {
    // HH (LL) held since that reading: its own on-delay runs from there.
    s.flags |= kPending;
    s.pending_level = Extreme(target);
    s.pending_since += next_ms;
  }
}

void Engine::EvaluateStuck(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                           std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  const Rule& rule = RuleOf(s);
  if (s.last_reading_at != kUnset && v == s.last_value) {
    s.unchanged_ms = static_cast<uint32_t>(
        std::min<TimestampMs>(TimestampMs{s.unchanged_ms} + (t - s.last_reading_at), UINT32_MAX));
    if (!(s.flags & kStuck) && s.unchanged_ms > rule.stuck_after.count()) {
      s.flags |= kStuck;
      Raise(slot, AlarmKind::kStuckValue, rule.stuck_severity, Level::kNone,
            static_cast<double>(rule.stuck_after.count()) / 1000, v, t, now, out);
    }
    return;
  }
  s.unchanged_ms = 0;
  if (s.flags & kStuck) {
    s.flags &= static_cast<uint8_t>(~kStuck);
    Clear(slot, AlarmKind::kStuckValue, v, t, now, out);
  }
}

void Engine::EvaluateRate(uint32_t slot, TimestampMs t, double v, TimestampMs now,
                          std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  RateState& r = rates_[s.rate_index];
  const RateOfChange& rate = *RuleOf(s).rate;
  const int64_t window = rate.window.count();
  // Anchor: the newest checkpoint at least one window old.
  for (size_t i = r.count; i-- > 0;) {
    if (t - r.at(i) < window) continue;
    const double per_window =
        (v - r.value[i]) / static_cast<double>(t - r.at(i)) * static_cast<double>(window);
    bool over = false;
    switch (rate.direction) {
      case RateDirection::kEither:
        over = std::fabs(per_window) > rate.limit;
        break;
      case RateDirection::kRising:
        over = per_window > rate.limit;
        break;
      case RateDirection::kFalling:
        over = per_window < -rate.limit;
        break;
    }
    if (over && !(s.flags & kRateAlarm)) {
      s.flags |= kRateAlarm;
      Raise(slot, AlarmKind::kRateOfChange, rate.severity, Level::kNone, rate.limit, per_window, t,
            now, out);
    } else if (!over && (s.flags & kRateAlarm)) {
      s.flags &= static_cast<uint8_t>(~kRateAlarm);
      Clear(slot, AlarmKind::kRateOfChange, per_window, t, now, out);
    }
    break;
  }
  // Checkpoints every window / 4.
  if (r.count == 0 || t - r.at(r.count - 1) >= window / 4) r.Add(t, v);
}

void Engine::RateState::Add(TimestampMs t, double v) {
  // Drop the oldest while full or while t is out of a 32-bit offset's reach
  // (only after a silence of ~49 days: those checkpoints are many windows old).
  size_t drop = count == kRatePoints ? 1 : 0;
  while (drop < count && t - at(drop) > TimestampMs{UINT32_MAX}) ++drop;
  if (drop == count) {
    count = 0;
  } else if (drop > 0) {
    const TimestampMs new_base = at(drop);
    for (size_t i = drop; i < count; ++i) {
      offset[i - drop] = static_cast<uint32_t>(at(i) - new_base);
      value[i - drop] = value[i];
    }
    base = new_base;
    count = static_cast<uint8_t>(count - drop);
  }
  if (count == 0) base = t;
  offset[count] = static_cast<uint32_t>(t - base);
  value[count] = v;
  ++count;
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
  TickGateways(now, out);
  TickShelves(now, out);
  TickPlannedWork(now, out);
}

void Engine::TickGateways(TimestampMs now, std::vector<AlarmEvent>* out) {
  const GatewayOfflineRule& rule = rules_->gateway_offline();
  if (rule.after.count() <= 0) return;
  for (uint32_t g = 0; g < gateways_.size(); ++g) {
    GatewayState& gw = gateways_[g];
    if (gw.last_seen == kUnset) {
      gw.last_seen = now;  // start the clock of a gateway never seen
      continue;
    }
    if (!gw.owned || gw.offline || now - gw.last_seen < rule.after.count()) continue;
    gw.offline = true;
    Raise(kGatewaySlot + g, AlarmKind::kGatewayOffline, rule.severity, Level::kNone,
          static_cast<double>(rule.after.count()) / 1000, 0, gw.last_seen, now, out);
  }
}

void Engine::TickShelves(TimestampMs now, std::vector<AlarmEvent>* out) {
  for (auto it = shelves_.begin(); it != shelves_.end();) {
    if (it->second.until > now) {
      ++it;
      continue;
    }
    const uint64_t key = it->first;
    it = shelves_.erase(it);
    if (auto rec = alarms_.find(key); rec != alarms_.end()) {
      const auto [v, t] = LastReading(KeySlot(key));
      AlarmEvent& e = out->emplace_back();
      e.kind = EventKind::kUnshelved;
      e.record = ToActive(key, rec->second);
      e.value = v;
      e.reading_at = t;
      e.at = now;
      e.comment = "shelving time is up";
    }
  }
}

void Engine::RunTimers(uint32_t slot, TimestampMs now, std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  const Rule& rule = RuleOf(s);
  // At most one change per level of a side and a clear: bounded.
  for (int changes = 0; (s.flags & kPending) && changes < 5; ++changes) {
    const auto delay = Worse(s.pending_level, s.level) ? rule.on_delay : rule.off_delay;
    if (now - (s.pending_since + s.pending_lag_ms) < delay.count()) break;
    FirePending(slot, s.last_value, s.last_reading_at, now, out);
    if (s.flags & kPending) continue;
    // The last reading may call for a further change (HH -> H -> normal):
    // its delay runs from now, as nothing newer shows when it began.
    const Level raw = Classify(rule, s.level, s.last_value);
    if (raw == s.level) break;
    StartPending(s, now, now);
    s.pending_level = Worse(raw, s.level) || SameSide(raw, s.level) ? raw : Level::kNone;
  }
  const int64_t timeout = NoDataTimeoutMs(rule, SensorOf(s));
  if (timeout > 0 && !(s.flags & (kNoData | kGatewaySilent))) {
    if (s.last_seen == kUnset) {
      s.last_seen = now;  // start the clock of a sensor never seen
    } else if (now - s.last_seen >= timeout) {
      // Silent together with its gateway: one gateway alarm says it all. The
      // gateway is silent when it sent nothing from this sensor's last series
      // until its next report was due (the gateway died first, or with it),
      // or nothing for the gateway timeout.
      const int64_t gateway_after = rules_->gateway_offline().after.count();
      const bool gateway_silent =
          gateway_after > 0 && s.gateway != kNone &&
          (gateways_[s.gateway].last_seen <
               s.last_seen + std::max<int64_t>(SensorOf(s).expected_interval.count(), 1) ||
           now - gateways_[s.gateway].last_seen >= gateway_after);
      if (gateway_silent) {
        s.flags |= kGatewaySilent;
        gateways_[s.gateway].has_silent = true;
        ++stats_.no_data_suppressed;
      } else {
        s.flags |= kNoData;
        Raise(slot, AlarmKind::kNoData, rule.no_data_severity, Level::kNone,
              static_cast<double>(timeout) / 1000, s.last_value, s.last_reading_at, now, out);
      }
    }
  }
}

TimestampMs Engine::NextDue(const SensorState& s) const {
  TimestampMs due = kNoTimer;
  if (s.flags & kPending) {
    const auto delay = Worse(s.pending_level, s.level) ? RuleOf(s).on_delay : RuleOf(s).off_delay;
    due = s.pending_since + s.pending_lag_ms + delay.count();
  }
  const int64_t timeout = NoDataTimeoutMs(RuleOf(s), SensorOf(s));
  if (timeout > 0 && !(s.flags & (kNoData | kGatewaySilent))) {
    due = std::min(due, s.last_seen == kUnset ? kUnset : s.last_seen + timeout);
  }
  return due;
}

void Engine::StartPending(SensorState& s, TimestampMs t, TimestampMs now) {
  s.flags |= kPending;
  s.pending_since = t;
  s.pending_next_ms = 0;
  const TimestampMs lag = now > t ? now - t : 0;
  s.pending_lag_ms = static_cast<int32_t>(std::min<TimestampMs>(lag, INT32_MAX));
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

void Engine::Raise(uint32_t slot, AlarmKind kind, Severity severity, Level level, double threshold,
                   double v, TimestampMs t, TimestampMs now, std::vector<AlarmEvent>* out) {
  if (kind == AlarmKind::kThreshold) {
    SensorState& s = states_[slot];
    s.level = level;
    s.peak = v;
    s.flags &= static_cast<uint8_t>(~kPending);
  }
  const uint64_t key = AlarmKey(slot, kind);
  auto [it, fresh] = alarms_.try_emplace(key);
  AlarmRecord& rec = it->second;
  // A cleared-unacked alarm that turns abnormal again is the same alarm
  // active again (ISA-18.2), not a second one: one open alarm per point.
  const uint64_t occurrence = fresh ? next_occurrence_++ : rec.occurrence;
  const TimestampMs raised_at = fresh ? now : rec.raised_at;
  // Only an alarm that opens under planned work is planned: one already
  // open (cleared-unacked) stays an alarm to acknowledge.
  std::string planned;
  if (!fresh && rec.state == AlarmState::kPlanned) {
    planned = std::move(rec.planned_work);
  } else if (const std::string* work = fresh ? PlannedWorkOf(slot, kind, now) : nullptr;
             work != nullptr && !BreaksThrough(severity)) {
    planned = *work;
  }
  const bool is_planned = !planned.empty();
  rec = AlarmRecord{.state = is_planned ? AlarmState::kPlanned : AlarmState::kActiveUnacked,
                    .severity = severity,
                    .level = level,
                    .occurrence = occurrence,
                    .threshold = threshold,
                    .trigger_value = v,
                    .trigger_reading_at = t,
                    .peak = v,
                    .raised_at = raised_at,
                    .changed_at = now,
                    .planned_work = std::move(planned)};
  Emit(EventKind::kRaised, key, rec, v, t, now, out);
  if (fresh && !is_planned && BreaksThrough(severity) && PlannedWorkOf(slot, kind, now)) {
    out->back().comment = "red breaks through planned work";
  }
  if (kind == AlarmKind::kThreshold) EndShelveIfPast(slot, level, now, out);
}

void Engine::ChangeLevel(uint32_t slot, Level level, double v, TimestampMs t, TimestampMs now,
                         std::vector<AlarmEvent>* out) {
  SensorState& s = states_[slot];
  const EventKind event =
      Magnitude(level) > Magnitude(s.level) ? EventKind::kEscalated : EventKind::kDeEscalated;
  s.level = level;
  s.flags &= static_cast<uint8_t>(~kPending);
  const uint64_t key = AlarmKey(slot, AlarmKind::kThreshold);
  AlarmRecord& rec = alarms_[key];
  rec.level = level;
  rec.severity = LevelSeverity(RuleOf(s), level);
  rec.threshold = LevelValue(RuleOf(s), level);
  rec.changed_at = now;
  // A worse level is a new condition for the operator (ISA-18.2: HH is its
  // own alarm): annunciated and acknowledged on its own. Under planned work
  // it stays planned, unless it is red and breaks through: then it is
  // annunciated as a new alarm.
  EventKind emitted = event;
  bool broke_through = false;
  if (rec.state == AlarmState::kPlanned) {
    if (event == EventKind::kEscalated && BreaksThrough(rec.severity)) {
      rec.state = AlarmState::kActiveUnacked;
      rec.planned_work.clear();
      emitted = EventKind::kRaised;
      broke_through = true;
    }
  } else if (event == EventKind::kEscalated) {
    rec.state = AlarmState::kActiveUnacked;
  }
  Emit(emitted, key, rec, v, t, now, out);
  if (broke_through) out->back().comment = "red breaks through planned work";
  if (event == EventKind::kEscalated) EndShelveIfPast(slot, level, now, out);
}

void Engine::EndShelveIfPast(uint32_t slot, Level level, TimestampMs now,
                             std::vector<AlarmEvent>* out) {
  const uint64_t key = AlarmKey(slot, AlarmKind::kThreshold);
  auto shelf = shelves_.find(key);
  if (shelf == shelves_.end()) return;
  const Level shelved = shelf->second.level;
  if (SameSide(level, shelved) && Magnitude(level) <= Magnitude(shelved)) return;
  shelves_.erase(shelf);
  // The event before (raised, escalated) was emitted with the shelve in force.
  out->back().record.shelved_until = 0;
  Emit(EventKind::kUnshelved, key, alarms_.find(key)->second, out->back().value,
       out->back().reading_at, now, out);
  out->back().comment = "escalated past the shelved level " + std::string(LevelName(shelved));
}

void Engine::Clear(uint32_t slot, AlarmKind kind, double v, TimestampMs t, TimestampMs now,
                   std::vector<AlarmEvent>* out) {
  const uint64_t key = AlarmKey(slot, kind);
  auto it = alarms_.find(key);
  if (kind == AlarmKind::kThreshold) {
    SensorState& s = states_[slot];
    s.level = Level::kNone;
    s.flags &= static_cast<uint8_t>(~kPending);
  }
  if (it == alarms_.end()) return;
  AlarmRecord& rec = it->second;
  if (kind == AlarmKind::kThreshold) rec.peak = states_[slot].peak;
  // A planned alarm was never annunciated: nothing to acknowledge.
  rec.state = rec.state == AlarmState::kActiveAcked || rec.state == AlarmState::kPlanned
                  ? AlarmState::kClosed
                  : AlarmState::kClearedUnacked;
  rec.changed_at = now;
  Emit(EventKind::kCleared, key, rec, v, t, now, out);
  if (rec.state == AlarmState::kClosed) alarms_.erase(it);
}

namespace {

Status PlannedRefusal(const AlarmRef& ref) {
  return Status::FailedPrecondition("the " + std::string(AlarmKindName(ref.alarm)) + " alarm of '" +
                                    ref.source_id + "' is planned work: it needs no action");
}

}  // namespace

Result<uint64_t> Engine::FindAlarm(const AlarmRef& ref) const {
  uint32_t slot = kNone;
  if (ref.alarm == AlarmKind::kGatewayOffline) {
    if (auto it = gateway_index_.find(ref.source_id); it != gateway_index_.end()) {
      slot = kGatewaySlot + it->second;
    }
  } else {
    slot = FindSensor(ref.source_id);
  }
  const uint64_t key = slot == kNone ? 0 : AlarmKey(slot, ref.alarm);
  auto it = slot == kNone ? alarms_.end() : alarms_.find(key);
  if (it == alarms_.end() || (ref.occurrence != 0 && it->second.occurrence != ref.occurrence)) {
    return Status::NotFound(
        "no open " + std::string(AlarmKindName(ref.alarm)) + " alarm of '" + ref.source_id + "'" +
        (ref.occurrence != 0 ? " with occurrence " + std::to_string(ref.occurrence)
                             : std::string()));
  }
  return key;
}

Status Engine::Acknowledge(const AlarmRef& ref, TimestampMs at, std::string_view actor,
                           std::string_view comment, std::vector<AlarmEvent>* out) {
  auto key = FindAlarm(ref);
  if (!key) return key.error();
  auto it = alarms_.find(*key);
  AlarmRecord& rec = it->second;
  if (rec.state == AlarmState::kPlanned) return PlannedRefusal(ref);
  if (rec.state == AlarmState::kActiveAcked) return Status::Ok();
  rec.state =
      rec.state == AlarmState::kActiveUnacked ? AlarmState::kActiveAcked : AlarmState::kClosed;
  rec.changed_at = at;
  const auto [v, t] = LastReading(KeySlot(*key));
  Emit(EventKind::kAcknowledged, *key, rec, v, t, at, out);
  out->back().actor = actor;
  out->back().comment = comment;
  if (rec.state == AlarmState::kClosed) alarms_.erase(it);
  return Status::Ok();
}

Status Engine::Shelve(const AlarmRef& ref, TimestampMs until, TimestampMs at,
                      std::string_view actor, std::string_view reason,
                      std::vector<AlarmEvent>* out) {
  if (until <= at) return Status::InvalidArgument("shelving must end after it starts");
  auto key = FindAlarm(ref);
  if (!key) return key.error();
  AlarmRecord& rec = alarms_.find(*key)->second;
  if (rec.state == AlarmState::kPlanned) return PlannedRefusal(ref);
  shelves_[*key] = Shelf{.until = until, .level = rec.level};
  rec.changed_at = at;
  const auto [v, t] = LastReading(KeySlot(*key));
  Emit(EventKind::kShelved, *key, rec, v, t, at, out);
  out->back().actor = actor;
  out->back().comment = reason;
  return Status::Ok();
}

Status Engine::Unshelve(const AlarmRef& ref, TimestampMs at, std::string_view actor,
                        std::string_view comment, std::vector<AlarmEvent>* out) {
  auto key = FindAlarm(ref);
  if (!key) return key.error();
  auto shelf = shelves_.find(*key);
  if (shelf == shelves_.end()) {
    return Status::FailedPrecondition("the " + std::string(AlarmKindName(ref.alarm)) +
                                      " alarm of '" + ref.source_id + "' is not shelved");
  }
  shelves_.erase(shelf);
  AlarmRecord& rec = alarms_.find(*key)->second;
  rec.changed_at = at;
  const auto [v, t] = LastReading(KeySlot(*key));
  Emit(EventKind::kUnshelved, *key, rec, v, t, at, out);
  out->back().actor = actor;
  out->back().comment = comment;
  return Status::Ok();
}

bool PlannedWork::Covers(const Sensor& sensor) const {
  return sensor.enterprise_id == enterprise_id &&
         (sensor_ids.empty() ||
          std::find(sensor_ids.begin(), sensor_ids.end(), sensor.id) != sensor_ids.end());
}

const std::string* Engine::PlannedWorkOf(uint32_t slot, AlarmKind kind, TimestampMs now) const {
  static const std::string kCalibration(kCalibrationWork);
  if (slot < kGatewaySlot && (states_[slot].flags & kCalibrating) && kind != AlarmKind::kNoData) {
    if (auto it = calibrating_.find(slot); it != calibrating_.end() &&
                                           it->second != kCalibrationOver &&
                                           now - it->second < options_.max_calibration.count()) {
      return &kCalibration;
    }
  }
  for (const PlannedWork& work : planned_) {
    if (now < work.start || now >= work.end) continue;
    if (slot >= kGatewaySlot) {
      if (work.sensor_ids.empty() &&
          gateways_[slot - kGatewaySlot].gateway->enterprise_id == work.enterprise_id) {
        return &work.id;
      }
    } else if (work.Covers(SensorOf(states_[slot]))) {
      return &work.id;
    }
  }
  return nullptr;
}

void Engine::EndPlanned(TimestampMs now, uint32_t only_slot, std::vector<AlarmEvent>* out) {
  auto it = only_slot == kNone ? alarms_.begin() : alarms_.lower_bound(AlarmKey(only_slot, {}));
  const auto last =
      only_slot == kNone ? alarms_.end() : alarms_.lower_bound(AlarmKey(only_slot + 1, {}));
  while (it != last) {
    const uint64_t key = it->first;
    AlarmRecord& rec = it->second;
    const uint32_t slot = KeySlot(key);
    const AlarmKind kind = KeyKind(key);
    if (rec.state != AlarmState::kPlanned || PlannedWorkOf(slot, kind, now) != nullptr) {
      ++it;
      continue;
    }
    // Every other kind's alarm is open exactly while its condition holds; a
    // threshold alarm may be waiting out its off-delay, already back to normal.
    bool present = true;
    if (kind == AlarmKind::kThreshold) {
      SensorState& s = states_[slot];
      present = Classify(RuleOf(s), s.level, s.last_value) != Level::kNone;
      if (!present) {
        s.level = Level::kNone;
        s.flags &= static_cast<uint8_t>(~kPending);
        rec.peak = s.peak;
      }
    }
    const std::string work = rec.planned_work;
    const auto [v, t] = LastReading(slot);
    rec.changed_at = now;
    if (present) {
      rec.state = AlarmState::kActiveUnacked;
      rec.planned_work.clear();
      Emit(EventKind::kRaised, key, rec, v, t, now, out);
      out->back().comment = "planned work " + work + " ended; the condition is still present";
      ++it;
    } else {
      rec.state = AlarmState::kClosed;
      Emit(EventKind::kCleared, key, rec, v, t, now, out);
      out->back().comment = "planned work " + work + " ended";
      it = alarms_.erase(it);
    }
  }
}

void Engine::TickPlannedWork(TimestampMs now, std::vector<AlarmEvent>* out) {
  bool ended = false;
  std::vector<AlarmEvent> expired;  // after the alarms they covered, as ClosePlannedWork
  for (auto it = planned_.begin(); it != planned_.end();) {
    if (now < it->end) {
      ++it;
      continue;
    }
    if (OwnsWork(*it)) {
      expired.push_back(WorkEvent(EventKind::kPlannedWorkClosed, *it, now, "", "expired"));
    }
    it = planned_.erase(it);
    ended = true;
  }
  for (auto& [slot, since] : calibrating_) {
    if (since == kCalibrationOver || now - since < options_.max_calibration.count()) continue;
    since = kCalibrationOver;  // until a reading without the flag ends it
    ended = true;
  }
  if (ended) EndPlanned(now, kNone, out);
  for (AlarmEvent& e : expired) out->push_back(std::move(e));
}

AlarmEvent Engine::WorkEvent(EventKind kind, const PlannedWork& work, TimestampMs at,
                             std::string_view actor, std::string comment) {
  AlarmEvent e;
  e.kind = kind;
  e.record.source_id = work.enterprise_id;
  e.record.alarm = AlarmKind::kPlannedWork;
  e.record.state = AlarmState::kClosed;
  e.record.severity = Severity::kBlue;
  e.record.threshold = static_cast<double>(work.end - work.start) / 1000;
  e.record.raised_at = work.start;
  e.record.changed_at = at;
  e.record.planned_work = work.id;
  e.at = at;
  e.actor = actor;
  e.comment = std::move(comment);
  return e;
}

Status Engine::OpenPlannedWork(PlannedWork work, std::chrono::milliseconds duration, TimestampMs at,
                               std::vector<AlarmEvent>* out) {
  if (work.id.empty() || work.enterprise_id.empty()) {
    return Status::InvalidArgument("planned work needs an id and an enterprise");
  }
  if (duration.count() <= 0) return Status::InvalidArgument("planned work must last");
  for (const PlannedWork& open : planned_) {
    if (open.id == work.id) {
      return Status::FailedPrecondition("planned work '" + work.id + "' is open already");
    }
  }
  work.start = std::max(work.start, at);
  work.end = work.start + duration.count();
  if (OwnsWork(work)) {
    std::string text = work.reason + " (owner " + work.owner + "; " + FormatTimeUtc(work.start) +
                       " to " + FormatTimeUtc(work.end) + "; ";
    if (work.sensor_ids.empty()) {
      text += "every sensor of " + work.enterprise_id;
    } else {
      text += "sensors";
      for (const std::string& id : work.sensor_ids) text += " " + id;
    }
    text += ")";
    out->push_back(
        WorkEvent(EventKind::kPlannedWorkOpened, work, at, work.opened_by, std::move(text)));
  }
  planned_.push_back(std::move(work));
  return Status::Ok();
}

Status Engine::ClosePlannedWork(std::string_view id, TimestampMs at, std::string_view actor,
                                std::string_view comment, std::vector<AlarmEvent>* out) {
  auto it = std::find_if(planned_.begin(), planned_.end(),
                         [&](const PlannedWork& work) { return work.id == id; });
  if (it == planned_.end()) {
    return Status::NotFound("no open planned work '" + std::string(id) + "'");
  }
  const PlannedWork work = std::move(*it);
  planned_.erase(it);
  EndPlanned(at, kNone, out);
  // Last: the operator's answer is the entry of the window's end.
  if (OwnsWork(work)) {
    out->push_back(WorkEvent(EventKind::kPlannedWorkClosed, work, at, actor, std::string(comment)));
  }
  return Status::Ok();
}

std::pair<double, TimestampMs> Engine::LastReading(uint32_t slot) const {
  if (slot >= kGatewaySlot) return {0, gateways_[slot - kGatewaySlot].last_seen};
  const SensorState& s = states_[slot];
  return {s.last_value, s.last_reading_at == kUnset ? 0 : s.last_reading_at};
}

const std::string& Engine::SourceId(uint32_t slot) const {
  return slot >= kGatewaySlot ? gateways_[slot - kGatewaySlot].gateway->id
                              : SensorOf(states_[slot]).id;
}

void Engine::Emit(EventKind event, uint64_t key, const AlarmRecord& rec, double v, TimestampMs t,
                  TimestampMs now, std::vector<AlarmEvent>* out) const {
  AlarmEvent& e = out->emplace_back();
  e.kind = event;
  e.record = ToActive(key, rec);
  e.value = v;
  e.reading_at = t == kUnset ? 0 : t;
  e.at = now;
}

ActiveAlarm Engine::ToActive(uint64_t key, const AlarmRecord& rec) const {
  const uint32_t slot = KeySlot(key);
  const AlarmKind kind = KeyKind(key);
  const bool sensor = slot < kGatewaySlot;
  const bool live_peak = kind == AlarmKind::kThreshold &&
                         rec.state != AlarmState::kClearedUnacked &&
                         rec.state != AlarmState::kClosed;
  auto shelf = shelves_.find(key);
  return ActiveAlarm{.source_id = SourceId(slot),
                     .rule_id = sensor ? RuleOf(states_[slot]).id : std::string(),
                     .alarm = kind,
                     .state = rec.state,
                     .severity = rec.severity,
                     .level = rec.level,
                     .occurrence = rec.occurrence,
                     .threshold = rec.threshold,
                     .trigger_value = rec.trigger_value,
                     .trigger_reading_at = rec.trigger_reading_at,
                     .peak_value = live_peak ? states_[slot].peak : rec.peak,
                     .raised_at = rec.raised_at,
                     .changed_at = rec.changed_at,
                     .shelved_until = shelf == shelves_.end() ? 0 : shelf->second.until,
                     .planned_work = rec.planned_work};
}

uint32_t Engine::FindSensor(std::string_view sensor_id, uint64_t id_hash) const {
  return index_.Find(sensor_id, id_hash, [this](uint32_t slot) -> std::string_view {
    return SensorOf(states_[slot]).id;
  });
}

void Engine::Locate(std::span<const SeriesView> series, std::vector<uint32_t>* slots) const {
  slots->resize(series.size());
  for (size_t i = 0; i < series.size(); ++i) {
    const uint32_t number = series[i].log_number;
    // Number 0 (named by id) is never in the table: kUnnumbered too.
    uint32_t slot = number < slot_by_number_.size() ? slot_by_number_[number] : kUnnumbered;
    if (slot == kUnnumbered) slot = FindSensor(series[i].sensor_id);
    (*slots)[i] = slot;
  }
  for (const uint32_t slot : *slots) {
    if (slot != kNone) __builtin_prefetch(&states_[slot], 1);
  }
  // The registry entry (its rule's ranges) and a rate rule's checkpoints.
  for (const uint32_t slot : *slots) {
    if (slot == kNone) continue;
    const SensorState& s = states_[slot];
    __builtin_prefetch(&SensorOf(s));
    if (s.rate_index != kNone) __builtin_prefetch(&rates_[s.rate_index], 1);
  }
}

void Engine::Prefetch(std::span<const uint64_t> id_hashes) const {
  for (const uint64_t h : id_hashes) index_.PrefetchEntry(h);
  for (const uint64_t h : id_hashes) {
    if (const uint32_t slot = index_.Candidate(h); slot != kNone) {
      __builtin_prefetch(&states_[slot], 1);
    }
  }
  // The registry entry (its id is compared) and a rate rule's checkpoints.
  for (const uint64_t h : id_hashes) {
    if (const uint32_t slot = index_.Candidate(h); slot != kNone) {
      const SensorState& s = states_[slot];
      __builtin_prefetch(&SensorOf(s));
      if (s.rate_index != kNone) __builtin_prefetch(&rates_[s.rate_index], 1);
    }
  }
}

size_t Engine::state_bytes() const {
  return states_.capacity() * sizeof(SensorState) + rates_.capacity() * sizeof(RateState) +
         index_.bytes() + timers_.capacity() * sizeof(Timer) +
         slot_by_number_.capacity() * sizeof(uint32_t);
}

std::vector<ActiveAlarm> Engine::Active() const {
  std::vector<ActiveAlarm> active;
  active.reserve(alarms_.size());
  for (const auto& [key, rec] : alarms_) active.push_back(ToActive(key, rec));
  return active;
}

EngineSnapshot Engine::Snapshot() const {
  EngineSnapshot snap;
  snap.next_occurrence = next_occurrence_;
  snap.sensors.reserve(states_.size());  // runs on the shard thread: no regrowth copies
  for (const GatewayState& g : gateways_) {
    snap.gateways.push_back(GatewaySnapshot{.gateway_id = g.gateway->id,
                                            .last_seen = g.last_seen == kUnset ? 0 : g.last_seen,
                                            .seen = g.last_seen != kUnset,
                                            .offline = g.offline});
  }
  for (const SensorState& s : states_) {
    const bool fresh = s.last_seen == kUnset && s.last_reading_at == kUnset && s.flags == 0 &&
                       s.level == Level::kNone && s.gateway == kNone;
    if (fresh) continue;
    SensorSnapshot e{.sensor_id = SensorOf(s).id,
                     .rule_id = RuleOf(s).id,
                     .level = s.level,
                     .pending = (s.flags & kPending) != 0,
                     .pending_level = s.pending_level,
                     .pending_since = s.pending_since,
                     .pending_lag_ms = s.pending_lag_ms,
                     .pending_next_ms = s.pending_next_ms,
                     .unchanged_ms = s.unchanged_ms,
                     .stuck = (s.flags & kStuck) != 0,
                     .fault = (s.flags & kFault) != 0,
                     .no_data = (s.flags & kNoData) != 0,
                     .rate_alarm = (s.flags & kRateAlarm) != 0,
                     .gateway_silent = (s.flags & kGatewaySilent) != 0,
                     .last_seen = s.last_seen == kUnset ? 0 : s.last_seen,
                     .seen = s.last_seen != kUnset,
                     .last_reading_at = s.last_reading_at == kUnset ? 0 : s.last_reading_at,
                     .has_reading = s.last_reading_at != kUnset,
                     .last_value = s.last_value,
                     .peak = s.peak,
                     .gateway = s.gateway == kNone ? -1 : static_cast<int32_t>(s.gateway),
                     .rate_count = 0,
                     .rate_at = {},
                     .rate_value = {}};
    if (s.rate_index != kNone) {
      const RateState& r = rates_[s.rate_index];
      e.rate_count = r.count;
      for (size_t i = 0; i < r.count; ++i) {
        e.rate_at[i] = r.at(i);
        e.rate_value[i] = r.value[i];
      }
    }
    snap.sensors.push_back(std::move(e));
  }
  snap.alarms = Active();
  snap.planned_work = planned_;
  for (const auto& [slot, since] : calibrating_) {
    snap.calibrating.push_back({.sensor_id = SensorOf(states_[slot]).id, .since = since});
  }
  for (const auto& [key, shelf] : shelves_) {
    snap.shelves.push_back(ShelfSnapshot{.source_id = SourceId(KeySlot(key)),
                                         .alarm = KeyKind(key),
                                         .until = shelf.until,
                                         .level = shelf.level});
  }
  return snap;
}

Status Engine::Restore(const EngineSnapshot& snapshot) {
  auto valid_level = [](Level l) { return static_cast<int>(l) >= -2 && static_cast<int>(l) <= 2; };
  auto valid_kind = [](AlarmKind k) {
    return static_cast<int>(k) >= 1 && static_cast<int>(k) <= kMaxAlarmKind;
  };
  for (const SensorSnapshot& e : snapshot.sensors) {
    const bool rate_in_order = e.rate_count <= kRatePoints &&
                               std::is_sorted(e.rate_at.begin(), e.rate_at.begin() + e.rate_count);
    if (!valid_level(e.level) || !valid_level(e.pending_level) || !rate_in_order ||
        e.gateway < -1 || e.gateway >= static_cast<int64_t>(snapshot.gateways.size())) {
      return Status::InvalidArgument("snapshot of sensor '" + e.sensor_id + "': invalid state");
    }
  }
  for (const ActiveAlarm& a : snapshot.alarms) {
    const auto state = static_cast<int>(a.state);
    const bool valid_state = (state >= 1 && state <= 3) || a.state == AlarmState::kPlanned;
    if (!valid_kind(a.alarm) || !valid_state || !valid_level(a.level)) {
      return Status::InvalidArgument("snapshot alarm of '" + a.source_id +
                                     "': invalid kind, state or level");
    }
  }
  for (const ShelfSnapshot& shelf : snapshot.shelves) {
    if (!valid_kind(shelf.alarm) || !valid_level(shelf.level)) {
      return Status::InvalidArgument("snapshot shelf of '" + shelf.source_id +
                                     "': invalid kind or level");
    }
  }
  next_occurrence_ = std::max(next_occurrence_, snapshot.next_occurrence);
  // Snapshot gateway index -> this engine's gateway index.
  std::vector<uint32_t> gateway_map(snapshot.gateways.size(), kNone);
  for (size_t i = 0; i < snapshot.gateways.size(); ++i) {
    const GatewaySnapshot& e = snapshot.gateways[i];
    auto it = gateway_index_.find(std::string_view(e.gateway_id));
    if (it == gateway_index_.end()) continue;
    gateway_map[i] = it->second;
    GatewayState& g = gateways_[it->second];
    if (e.seen)
      g.last_seen = g.last_seen == kUnset ? e.last_seen : std::max(g.last_seen, e.last_seen);
    if (g.owned) g.offline = e.offline;
  }
  for (const SensorSnapshot& e : snapshot.sensors) {
    const uint32_t slot = FindSensor(e.sensor_id);
    if (slot == kNone) continue;
    SensorState& s = states_[slot];
    if (RuleOf(s).id != e.rule_id) continue;
    s.level = e.level;
    s.pending_level = e.pending_level;
    s.pending_since = e.pending_since;
    s.pending_lag_ms = e.pending_lag_ms < 0 ? 0 : e.pending_lag_ms;
    s.pending_next_ms = e.pending_next_ms < 0 ? 0 : e.pending_next_ms;
    s.unchanged_ms = e.unchanged_ms;
    s.gateway = e.gateway < 0 ? kNone : gateway_map[static_cast<size_t>(e.gateway)];
    s.flags = static_cast<uint8_t>((e.pending ? kPending : 0) | (e.fault ? kFault : 0) |
                                   (e.no_data ? kNoData : 0) | (e.rate_alarm ? kRateAlarm : 0) |
                                   (e.stuck ? kStuck : 0) |
                                   (e.gateway_silent && s.gateway != kNone ? kGatewaySilent : 0));
    if (s.flags & kGatewaySilent) gateways_[s.gateway].has_silent = true;
    s.last_seen = e.seen ? e.last_seen : kUnset;
    s.last_reading_at = e.has_reading ? e.last_reading_at : kUnset;
    s.last_value = e.last_value;
    s.peak = e.peak;
    if (s.rate_index != kNone) {
      RateState& r = rates_[s.rate_index];
      r = RateState{};
      for (size_t i = 0; i < e.rate_count; ++i) r.Add(e.rate_at[i], e.rate_value[i]);
    }
  }
  // The slot of (source, kind) in this engine, or kNone.
  auto slot_of = [&](const std::string& source, AlarmKind kind,
                     const std::string& rule_id) -> uint32_t {
    if (kind == AlarmKind::kGatewayOffline) {
      auto it = gateway_index_.find(std::string_view(source));
      return it == gateway_index_.end() || !gateways_[it->second].owned ? kNone
                                                                        : kGatewaySlot + it->second;
    }
    const uint32_t slot = FindSensor(source);
    if (slot == kNone) return kNone;
    return rule_id.empty() || RuleOf(states_[slot]).id == rule_id ? slot : kNone;
  };
  for (const ActiveAlarm& a : snapshot.alarms) {
    const uint32_t slot = slot_of(a.source_id, a.alarm, a.rule_id);
    if (slot == kNone) continue;
    alarms_[AlarmKey(slot, a.alarm)] = AlarmRecord{.state = a.state,
                                                   .severity = a.severity,
                                                   .level = a.level,
                                                   .occurrence = a.occurrence,
                                                   .threshold = a.threshold,
                                                   .trigger_value = a.trigger_value,
                                                   .trigger_reading_at = a.trigger_reading_at,
                                                   .peak = a.peak_value,
                                                   .raised_at = a.raised_at,
                                                   .changed_at = a.changed_at,
                                                   .planned_work = a.planned_work};
  }
  // Every shard holds every window: the snapshots of several shards hold
  // the same ones.
  for (const PlannedWork& work : snapshot.planned_work) {
    const bool known = std::any_of(planned_.begin(), planned_.end(),
                                   [&](const PlannedWork& open) { return open.id == work.id; });
    if (!known) planned_.push_back(work);
  }
  for (const CalibrationSnapshot& c : snapshot.calibrating) {
    if (const uint32_t slot = FindSensor(c.sensor_id); slot != kNone) {
      calibrating_[slot] = c.since;
      states_[slot].flags |= kCalibrating;
    }
  }
  for (const ShelfSnapshot& shelf : snapshot.shelves) {
    const uint32_t slot = slot_of(shelf.source_id, shelf.alarm, "");
    if (slot == kNone) continue;
    const uint64_t key = AlarmKey(slot, shelf.alarm);
    Level level = shelf.level;
    if (level == Level::kNone) {  // an older snapshot: the level it was shelved at is the alarm's
      if (auto rec = alarms_.find(key); rec != alarms_.end()) level = rec->second.level;
    }
    shelves_[key] = Shelf{.until = shelf.until, .level = level};
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
    case EventKind::kShelved:
      return "shelved";
    case EventKind::kUnshelved:
      return "unshelved";
    case EventKind::kReconciled:
      return "reconciled";
    case EventKind::kPlannedWorkOpened:
      return "planned_work_opened";
    case EventKind::kPlannedWorkClosed:
      return "planned_work_closed";
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
    case AlarmKind::kStuckValue:
      return "stuck_value";
    case AlarmKind::kPlannedWork:
      return "planned_work";
  }
  return "invalid";
}

bool ParseAlarmKind(std::string_view name, AlarmKind* kind) {
  for (uint8_t k = 1; k <= kMaxAlarmKind; ++k) {
    if (AlarmKindName(static_cast<AlarmKind>(k)) == name) {
      *kind = static_cast<AlarmKind>(k);
      return true;
    }
  }
  return false;
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
    case AlarmState::kPlanned:
      return "planned";
  }
  return "invalid";
}

}  // namespace vigil::alarm
