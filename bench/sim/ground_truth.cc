#include "bench/sim/ground_truth.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>

#include "bench/common/cli.h"

namespace vigil::sim {
namespace {

// One expected transition, at a server time in [from, to] (simulated time).
struct Change {
  AlarmKind kind = AlarmKind::kThreshold;
  Transition what = Transition::kRaised;
  Level level = Level::kNone;
  int severity = 3;
  TimestampMs from = 0;
  TimestampMs to = 0;
  bool required = true;
};

// ---------------------------------------------------------------------------
// The ground truth is an oracle for the server, so it is worked out here from
// the rule semantics documented in alarm/rule.h, not by alarm::Engine: were it
// computed by the code under test, it would agree with the server by
// construction. tests/sim/engine_replay_test.cc checks that the two agree.
//
// Threshold levels, after alarm/rule.h: a level is entered at its value and
// held until the reading passes its exit (value -/+ deadband, or the restore
// value for the return to normal); per level, on_delay must run out before a
// raise or an escalation (held at least at the new level) and off_delay
// before a clear or a de-escalation (held below the level), on readings or on
// the server's timer.

struct ThresholdState {
  Level level = Level::kNone;
  bool pending = false;
  TimestampMs since = 0;   // event time the pending condition started
  TimestampMs set_at = 0;  // server time it started
  // The level the pending change goes to: worse than `level` (on-delay) or
  // better (off-delay; kNone: the clear).
  Level pending_level = Level::kNone;
  // On-delay towards H (L): event time of the first reading at HH (LL) since.
  std::optional<TimestampMs> next_since{};
};

Level Classify(const RuleFigures& r, Level cur, double v) {
  if (r.hh) {
    double exit = r.hh->value - r.deadband;
    if (!r.h && r.restore_high) exit = *r.restore_high;
    if (v >= r.hh->value || (cur == Level::kHH && v >= exit)) return Level::kHH;
  }
  if (r.h) {
    const double exit = r.restore_high ? *r.restore_high : r.h->value - r.deadband;
    if (v >= r.h->value || (cur >= Level::kH && v >= exit)) return Level::kH;
  }
  if (r.ll) {
    double exit = r.ll->value + r.deadband;
    if (!r.l && r.restore_low) exit = *r.restore_low;
    if (v <= r.ll->value || (cur == Level::kLL && v <= exit)) return Level::kLL;
  }
  if (r.l) {
    const double exit = r.restore_low ? *r.restore_low : r.l->value + r.deadband;
    if (v <= r.l->value || (cur < Level::kNone && v <= exit)) return Level::kL;
  }
  return Level::kNone;
}

int SeverityOf(const RuleFigures& r, Level level) {
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
  return 4;
}

bool SameSide(Level a, Level b) {
  return (a > Level::kNone && b > Level::kNone) || (a < Level::kNone && b < Level::kNone);
}

int Magnitude(Level level) { return std::abs(static_cast<int>(level)); }

// `a` is a worse condition than `b`: abnormal where `b` is normal, or further
// out on the same side.
bool Worse(Level a, Level b) {
  return (b == Level::kNone && a != Level::kNone) ||
         (SameSide(a, b) && Magnitude(a) > Magnitude(b));
}

Level Extreme(Level level) { return level > Level::kNone ? Level::kHH : Level::kLL; }

// What the pending change of `s` does when its delay runs out.
Transition PendingTransition(const ThresholdState& s) {
  if (Worse(s.pending_level, s.level)) {
    return s.level == Level::kNone ? Transition::kRaised : Transition::kEscalated;
  }
  return s.pending_level == Level::kNone ? Transition::kCleared : Transition::kDeEscalated;
}

const std::chrono::milliseconds& PendingDelay(const RuleFigures& r, const ThresholdState& s) {
  return Worse(s.pending_level, s.level) ? r.on_delay : r.off_delay;
}

Change ThresholdChange(const RuleFigures& r, Transition what, Level level, TimestampMs from,
                       TimestampMs to) {
  return Change{AlarmKind::kThreshold, what, level, SeverityOf(r, level), from, to, true};
}

// Makes the pending change of `s`, at a server time in [from, to]. A HH (LL)
// seen during H's (L's) on-delay then has its own on-delay running.
void FirePending(const RuleFigures& r, ThresholdState* s, TimestampMs from, TimestampMs to,
                 std::vector<Change>* out) {
  const Transition what = PendingTransition(*s);
  const Level old = s->level;
  s->level = s->pending_level;
  s->pending = false;
  out->push_back(ThresholdChange(r, what, what == Transition::kCleared ? old : s->level, from, to));
  if (what == Transition::kRaised || what == Transition::kEscalated) {
    if (s->next_since && Extreme(s->level) != s->level) {
      s->pending = true;
      s->pending_level = Extreme(s->level);
      s->set_at += *s->next_since - s->since;
      s->since = *s->next_since;
    }
  }
  s->next_since.reset();
}

// A good reading (t, v) evaluated when it reaches the server, at `now`.
void StepThreshold(const RuleFigures& r, ThresholdState* s, TimestampMs t, double v,
                   TimestampMs now, std::vector<Change>* out) {
  const Level raw = Classify(r, s->level, v);
  if (raw == s->level) {
    s->pending = false;
    return;
  }
  auto start_pending = [&](Level target) {
    s->pending = true;
    s->since = t;
    s->set_at = now;
    s->pending_level = target;
    s->next_since.reset();
  };
  if (Worse(raw, s->level)) {
    if (!s->pending || !Worse(s->pending_level, s->level) || !SameSide(raw, s->pending_level)) {
      start_pending(raw);
    } else if (Magnitude(raw) < Magnitude(s->pending_level)) {
      s->pending_level = raw;
      s->next_since.reset();
    } else if (raw == s->pending_level) {
      s->next_since.reset();
    } else if (!s->next_since) {
      s->next_since = t;
    }
    if (t - s->since < r.on_delay.count()) return;
  } else {
    const Level target = SameSide(raw, s->level) ? raw : Level::kNone;
    if (!s->pending || Worse(s->pending_level, s->level)) {
      start_pending(target);
    } else if (Worse(target, s->pending_level)) {
      s->pending_level = target;
    }
    if (t - s->since < r.off_delay.count()) return;
  }
  FirePending(r, s, now, now, out);
  StepThreshold(r, s, t, v, now, out);
}

// The server's timer: the pending delay ran out, at a time in [from, to].
// The last reading (value `v`) may call for a further change, whose delay
// then runs from the timer (the engine knows nothing newer).
void FireThresholdTimer(const RuleFigures& r, ThresholdState* s, double v, TimestampMs from,
                        TimestampMs to, std::vector<Change>* out) {
  FirePending(r, s, from, to, out);
  if (s->pending) return;
  const Level raw = Classify(r, s->level, v);
  if (raw == s->level) return;
  s->pending = true;
  s->since = from;
  s->set_at = from;
  s->pending_level = Worse(raw, s->level) || SameSide(raw, s->level) ? raw : Level::kNone;
  s->next_since.reset();
}

// ---------------------------------------------------------------------------
// Rate of change: |change| per window above the limit, measured against a
// reading between window and 1.25 x window old (plus one interval, since
// the server keeps checkpoints, not every reading). Where the choice of
// anchor decides, the window of the transition spans every choice.

struct RateState {
  bool active = false;
  std::optional<TimestampMs> undecided_since;
  std::vector<Sample> good;  // readings that fed the rate, in time order
};

void StepRate(const RuleFigures& r, const SensorSpec& sensor, RateState* s, TimestampMs t, double v,
              TimestampMs now, std::vector<Change>* out) {
  const RateFigure& rate = *r.rate;
  const int64_t w = rate.window.count();
  const TimestampMs oldest = t - w - w / 4 - sensor.interval.count();
  auto first = std::lower_bound(s->good.begin(), s->good.end(), oldest,
                                [](const Sample& a, TimestampMs at) { return a.t < at; });
  bool any_anchor = false;
  bool over_any = false;
  bool over_all = true;
  for (auto it = first; it != s->good.end() && t - it->t >= w; ++it) {
    any_anchor = true;
    const double per_window =
        (v - it->value) / static_cast<double>(t - it->t) * static_cast<double>(w);
    const bool over = std::fabs(per_window) > rate.limit;
    over_any = over_any || over;
    over_all = over_all && over;
  }
  s->good.push_back(Sample{t, v});
  if (!any_anchor) return;
  auto change = [&](Transition what, bool required) {
    out->push_back(Change{AlarmKind::kRateOfChange, what, Level::kNone, rate.severity,
                          s->undecided_since.value_or(now), now, required});
  };
  // "Decided" means every anchor agrees; until then the transition may happen.
  const bool towards = s->active ? !over_all : over_any;
  const bool decided = s->active ? !over_any : over_all;
  if (towards && !s->undecided_since) s->undecided_since = now;
  if (decided) {
    change(s->active ? Transition::kCleared : Transition::kRaised, true);
    s->active = !s->active;
    s->undecided_since.reset();
  } else if (!towards && s->undecided_since) {
    // Some anchors crossed, then none: the server may have gone there and back.
    change(s->active ? Transition::kCleared : Transition::kRaised, false);
    change(s->active ? Transition::kRaised : Transition::kCleared, false);
    s->undecided_since.reset();
  }
}

// ---------------------------------------------------------------------------
// A sensor's threshold, rate and sensor-fault alarms, from its readings in
// the order the server evaluates them.
void EvaluateReadings(const Scenario& scenario, uint32_t sensor, std::vector<Change>* out) {
  const Province& p = scenario.province();
  const SensorSpec& spec = p.sensors[sensor];
  const RuleFigures& rule = p.RuleOf(spec);
  const int64_t tick = std::llround(static_cast<double>(scenario.options().server_tick.count()) *
                                    scenario.options().speed);
  const bool has_levels = rule.hh || rule.h || rule.l || rule.ll;
  std::vector<Sample> samples;
  scenario.Readings(sensor, scenario.start(), scenario.end(), &samples);

  ThresholdState th;
  RateState rate;
  bool fault = false;
  bool uncertain = false;  // a timer raced a reading: what follows may differ
  double last_value = 0;   // of the last good reading: what a timer sees
  for (const Sample& sample : samples) {
    const TimestampMs now = scenario.Arrival(spec.enterprise, sample.t);
    const bool faulty = sample.value < spec.range_low || sample.value > spec.range_high;
    // Timers due before this reading: a change may leave another one pending
    // (HH after H, normal after HH -> H), at most one per level and a clear.
    for (int changes = 0; has_levels && th.pending && changes < 5; ++changes) {
      const TimestampMs due = std::max(th.since + PendingDelay(rule, th).count(), th.set_at);
      if (due >= now) break;
      const bool sure = now - due >= tick;
      bool required = !uncertain;
      if (!sure && faulty) required = false;  // a bad reading would cancel the delay
      if (!sure && !faulty) {
        // The reading may be evaluated before the timer fires: does it do the same?
        ThresholdState probe_state = th;
        std::vector<Change> probe;
        StepThreshold(rule, &probe_state, sample.t, sample.value, now, &probe);
        if (probe.empty() || probe.front().what != PendingTransition(th)) required = false;
      }
      FireThresholdTimer(rule, &th, last_value, due, sure ? due + tick : now, out);
      out->back().required = required;
      uncertain = !required;
    }
    if (faulty) {
      if (!fault) {
        out->push_back(Change{AlarmKind::kSensorFault, Transition::kRaised, Level::kNone,
                              rule.sensor_fault_severity, now, now, true});
      }
      fault = true;
      th.pending = false;
      continue;
    }
    if (fault) {
      out->push_back(Change{AlarmKind::kSensorFault, Transition::kCleared, Level::kNone,
                            rule.sensor_fault_severity, now, now, true});
      fault = false;
    }
    if (rule.rate) StepRate(rule, spec, &rate, sample.t, sample.value, now, out);
    if (has_levels) {
      const size_t before = out->size();
      StepThreshold(rule, &th, sample.t, sample.value, now, out);
      last_value = sample.value;
      for (size_t i = before; i < out->size(); ++i) (*out)[i].required = !uncertain;
      if (th.level == Level::kNone && !th.pending) uncertain = false;
    }
  }
}

// A gateway's silence on the server's clock: raised `timeout` after its last
// delivery (on the server's next timer tick), cleared by the next delivery.
void Silences(const std::vector<TimestampMs>& arrivals, int64_t timeout, int64_t tick,
              AlarmKind kind, int severity, std::vector<Change>* out) {
  for (size_t i = 1; i < arrivals.size(); ++i) {
    const TimestampMs due = arrivals[i - 1] + timeout;
    if (arrivals[i] <= due) continue;
    const bool sure = arrivals[i] - due >= tick;
    out->push_back(Change{kind, Transition::kRaised, Level::kNone, severity, due,
                          sure ? due + tick : arrivals[i], sure});
    out->push_back(
        Change{kind, Transition::kCleared, Level::kNone, severity, arrivals[i], arrivals[i], sure});
  }
}

// No data, after the engine semantics documented in alarm/engine.h: a
// sensor's timeout runs from its last delivery; at the server's first timer
// tick at or after it runs out, the alarm is raised, and the sensor's next
// delivery clears it -- unless the sensor's gateway is silent then: it
// delivered nothing from the sensor's last delivery until its next report was
// due (`grace`, the sensor's expected interval), or nothing for the gateway
// rule's `offline_after` (0: the rule is off, never silent). Then
// nothing is raised and the timeout starts again when the gateway next
// delivers (a full timeout from its return). `sensor` and `gateway` are the
// distinct delivery times of the sensor's readings and of every batch of its
// gateway (a superset), ascending. Where the tick time decides (a delivery or
// the gateway timeout within one tick of the deadline), the expectation is
// `may`, with a window wide enough for either outcome.
void NoData(const std::vector<TimestampMs>& sensor, const std::vector<TimestampMs>& gateway,
            int64_t timeout, int64_t grace, int64_t offline_after, int64_t tick, int severity,
            std::vector<Change>* out) {
  // The gateway's last delivery at or before `now` (a tick after a delivery at
  // the same time sees it), and its first one after `t`.
  auto gateway_last = [&](TimestampMs now) {
    auto it = std::upper_bound(gateway.begin(), gateway.end(), now);
    return it == gateway.begin() ? std::numeric_limits<TimestampMs>::min() : *(it - 1);
  };
  auto gateway_next = [&](TimestampMs t) {
    auto it = std::upper_bound(gateway.begin(), gateway.end(), t);
    return it == gateway.end() ? std::numeric_limits<TimestampMs>::max() : *it;
  };
  auto silent = [&](TimestampMs last, TimestampMs now) {
    if (offline_after <= 0) return false;
    const TimestampMs g = gateway_last(now);
    return g < last + std::max<int64_t>(grace, 1) || now - g >= offline_after;
  };
  auto add = [&](Transition what, TimestampMs from, TimestampMs to, bool required) {
    out->push_back(Change{AlarmKind::kNoData, what, Level::kNone, severity, from, to, required});
  };
  if (sensor.empty()) return;
  TimestampMs last = sensor[0];  // the clock's start: last delivery, or the gateway's return
  for (size_t i = 1; i < sensor.size();) {
    const TimestampMs next = sensor[i];
    const TimestampMs due = last + timeout;
    if (next <= due) {
      last = next;
      ++i;
      continue;
    }
    // The tick that finds the deadline comes in [due, due + tick), unless the
    // next delivery comes first.
    const bool sure = next - due >= tick;
    const TimestampMs latest = std::min(due + tick - 1, next - 1);
    const bool silent_first = silent(last, due);
    const bool silent_last = silent(last, latest);
    if (!silent_first && !silent_last) {
      add(Transition::kRaised, due, sure ? due + tick : next, sure);
      add(Transition::kCleared, next, next, sure);
      last = next;
      ++i;
      continue;
    }
    // The sensor's deliveries are its gateway's, so the gateway is back by `next`.
    const TimestampMs back = std::min(next, gateway_next(latest));
    if (silent_first != silent_last) {
      // Raised at the deadline, or suppressed and raised a timeout after the
      // gateway's return (if that comes before the next delivery): either way
      // cleared by the next delivery.
      const TimestampMs to = std::min(next, back + timeout + tick);
      add(Transition::kRaised, due, std::max(latest, to), false);
      add(Transition::kCleared, next, next, false);
      last = next;
      ++i;
      continue;
    }
    // Suppressed: the clock starts again at the gateway's return.
    if (back >= next) {
      last = next;
      ++i;
    } else {
      last = back;
    }
  }
}

// Before a source's first delivery: the server starts the no-data and
// gateway-offline clocks of sources it has never seen when it starts (its
// first timer tick), which may be well before the run does. So an alarm
// raised then, before the first delivery, and cleared by it, is right too.
Expectation BeforeFirstDelivery(const std::string& source, AlarmKind kind, int severity,
                                TimestampMs start, TimestampMs first) {
  return Expectation{.source = source,
                     .kind = kind,
                     .level = Level::kNone,
                     .severity = severity,
                     .raise_from = start,
                     .raise_to = first,
                     .clear_from = first,
                     .clear_to = first,
                     .required = false,
                     .event = std::string(kBeforeFirstDelivery)};
}

// Turns one source's transitions into alarm levels (expectations).
void AddExpectations(const std::string& source, const std::vector<Change>& changes,
                     std::vector<Expectation>* out) {
  std::map<AlarmKind, size_t> open;  // kind -> index into *out
  for (const Change& c : changes) {
    auto it = open.find(c.kind);
    if (it != open.end()) {
      Expectation& e = (*out)[it->second];
      e.clear_from = c.from;
      e.clear_to = c.to;
      open.erase(it);
    }
    if (c.what == Transition::kCleared) continue;
    open[c.kind] = out->size();
    out->push_back(Expectation{.source = source,
                               .kind = c.kind,
                               .level = c.level,
                               .severity = c.severity,
                               .raise_from = c.from,
                               .raise_to = c.to,
                               .required = c.required});
  }
}

// The injected event behind an expectation: the latest event on the sensor,
// or an outage of its gateway, that started before the alarm.
std::string EventLabel(const Scenario& scenario, uint32_t enterprise,
                       std::optional<uint32_t> sensor, TimestampMs raise_to) {
  const Event* best = nullptr;
  for (const Event& ev : scenario.events()) {
    const bool mine = ev.sensor ? ev.sensor == sensor : ev.enterprise == enterprise;
    if (mine && ev.start <= raise_to && (best == nullptr || ev.start > best->start)) best = &ev;
  }
  if (best == nullptr) return "-";
  return "e" + std::to_string(best->id) + ":" + std::string(EventKindName(best->kind));
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    size_t end = pos;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
    if (end > pos) fields.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

}  // namespace

std::optional<AlarmKind> AlarmKindFromName(std::string_view name) {
  for (AlarmKind kind : kAllAlarmKinds) {
    if (AlarmKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

std::optional<Level> LevelFromName(std::string_view name) {
  for (Level level : {Level::kLL, Level::kL, Level::kNone, Level::kH, Level::kHH}) {
    if (LevelName(level) == name) return level;
  }
  return std::nullopt;
}

std::optional<Transition> TransitionFromName(std::string_view name) {
  for (Transition t : {Transition::kRaised, Transition::kEscalated, Transition::kDeEscalated,
                       Transition::kCleared}) {
    if (TransitionName(t) == name) return t;
  }
  return std::nullopt;
}

TimestampMs SimClock::ToWall(TimestampMs sim) const {
  return wall_start + std::llround(static_cast<double>(sim - sim_start) / speed);
}

GroundTruth ComputeGroundTruth(const Scenario& scenario, TimestampMs wall_start) {
  const Province& p = scenario.province();
  const ScenarioOptions& o = scenario.options();
  GroundTruth truth;
  truth.seed = p.options.seed;
  truth.enterprises = p.options.enterprises;
  truth.province = p.options.province_code;
  truth.clock = SimClock{scenario.start(), scenario.end(), wall_start, o.speed};
  truth.batch_period_ms = scenario.batch_period().count();
  truth.server_tick_ms = o.server_tick.count();
  truth.gateway_offline_after_ms = p.options.gateway_offline_after.count();
  for (const Event& ev : scenario.events()) {
    const EnterpriseSpec& e = p.enterprises[ev.enterprise];
    truth.events.push_back(
        "id=" + std::to_string(ev.id) + " kind=" + std::string(EventKindName(ev.kind)) +
        " enterprise=" + e.id + " gateway=" + e.gateway_id +
        " sensor=" + (ev.sensor ? p.sensors[*ev.sensor].id : std::string("-")) +
        " start_ms=" + std::to_string(ev.start) + " end_ms=" + std::to_string(ev.end));
  }
  const int64_t tick = std::llround(static_cast<double>(o.server_tick.count()) * o.speed);
  const int64_t offline_after = scenario.GatewayOfflineAfter().count();
  // Gateways: a batch (a heartbeat when empty) every slice, delivered at once
  // but in outages, whose batches come at their end.
  std::vector<std::vector<TimestampMs>> gateway_arrivals(p.enterprises.size());
  for (uint32_t e = 0; e < p.enterprises.size(); ++e) {
    std::vector<TimestampMs>& arrivals = gateway_arrivals[e];
    for (uint64_t k = 0; k < scenario.slice_count(); ++k) {
      const TimestampMs a = scenario.Arrival(e, scenario.SliceStart(k));
      if (arrivals.empty() || arrivals.back() != a) arrivals.push_back(a);
    }
  }
  std::vector<Sample> samples;
  for (uint32_t s = 0; s < p.sensors.size(); ++s) {
    const SensorSpec& spec = p.sensors[s];
    std::vector<Change> changes;
    EvaluateReadings(scenario, s, &changes);
    samples.clear();
    scenario.Readings(s, scenario.start(), scenario.end(), &samples);
    std::vector<TimestampMs> arrivals;
    for (const Sample& sample : samples) {
      const TimestampMs a = scenario.Arrival(spec.enterprise, sample.t);
      if (arrivals.empty() || arrivals.back() != a) arrivals.push_back(a);
    }
    const int64_t timeout = scenario.NoDataTimeout(s).count();
    const uint32_t intervals = p.RuleOf(spec).no_data_intervals;
    NoData(arrivals, gateway_arrivals[spec.enterprise], timeout,
           intervals == 0 ? 0 : timeout / intervals, offline_after, tick,
           p.RuleOf(spec).no_data_severity, &changes);

    std::stable_sort(changes.begin(), changes.end(),
                     [](const Change& a, const Change& b) { return a.from < b.from; });
    const size_t first = truth.expectations.size();
    AddExpectations(spec.id, changes, &truth.expectations);
    for (size_t i = first; i < truth.expectations.size(); ++i) {
      Expectation& e = truth.expectations[i];
      e.event = EventLabel(scenario, spec.enterprise, s, e.raise_to);
    }
    if (!arrivals.empty()) {
      truth.expectations.push_back(BeforeFirstDelivery(spec.id, AlarmKind::kNoData,
                                                       p.RuleOf(spec).no_data_severity,
                                                       scenario.start(), arrivals.front()));
    }
  }
  // Gateway offline: the rule's `after` of silence, cleared by the next batch.
  for (uint32_t e = 0; e < p.enterprises.size() && offline_after > 0; ++e) {
    std::vector<Change> changes;
    Silences(gateway_arrivals[e], offline_after, tick, AlarmKind::kGatewayOffline,
             p.options.gateway_offline_severity, &changes);
    const size_t first = truth.expectations.size();
    AddExpectations(p.enterprises[e].gateway_id, changes, &truth.expectations);
    for (size_t i = first; i < truth.expectations.size(); ++i) {
      Expectation& x = truth.expectations[i];
      x.event = EventLabel(scenario, e, std::nullopt, x.raise_to);
    }
    if (!gateway_arrivals[e].empty()) {
      truth.expectations.push_back(BeforeFirstDelivery(
          p.enterprises[e].gateway_id, AlarmKind::kGatewayOffline,
          p.options.gateway_offline_severity, scenario.start(), gateway_arrivals[e].front()));
    }
  }
  std::stable_sort(truth.expectations.begin(), truth.expectations.end(),
                   [](const Expectation& a, const Expectation& b) {
                     return a.raise_from != b.raise_from ? a.raise_from < b.raise_from
                                                         : a.source < b.source;
                   });
  return truth;
}

GroundTruth CutGroundTruth(GroundTruth truth, TimestampMs sim_end) {
  truth.clock.sim_end = std::min(truth.clock.sim_end, sim_end);
  const TimestampMs end = truth.clock.sim_end;
  std::vector<Expectation> kept;
  for (Expectation& e : truth.expectations) {
    if (e.raise_from >= end) continue;
    if (e.raise_to >= end || (e.clear_to && *e.clear_to >= end)) {
      e.required = false;
      e.clear_from.reset();
      e.clear_to.reset();
    }
    kept.push_back(std::move(e));
  }
  truth.expectations = std::move(kept);
  return truth;
}

std::string FormatGroundTruth(const GroundTruth& t) {
  std::string out =
      "# vigil-sim ground truth: the alarms the scenario must cause, one alarm level a line.\n"
      "# scenario seed=" +
      std::to_string(t.seed) + " enterprises=" + std::to_string(t.enterprises) +
      " province=" + t.province + " start_ms=" + std::to_string(t.clock.sim_start) +
      " end_ms=" + std::to_string(t.clock.sim_end) + " speed=" + FormatNumber(t.clock.speed) +
      " wall_start_ms=" + std::to_string(t.clock.wall_start) +
      " batch_period_ms=" + std::to_string(t.batch_period_ms) +
      " server_tick_ms=" + std::to_string(t.server_tick_ms) +
      " gateway_offline_after_ms=" + std::to_string(t.gateway_offline_after_ms) + "\n";
  for (const std::string& e : t.events) out += "# event " + e + "\n";
  out +=
      "# Times are simulated event time (ms since the Unix epoch, UTC); a streaming run lives\n"
      "# simulated time t at wall time wall_start_ms + (t - start_ms) / speed. A line: the alarm\n"
      "# enters the level (raised, or escalated / de-escalated into it) within [raise_from,\n"
      "# raise_to] and leaves it within [clear_from, clear_to] (- = still active at the end).\n"
      "# may = either outcome is right (a reading raced the server's timer).\n"
      "# source alarm level severity raise_from_ms raise_to_ms clear_from_ms clear_to_ms "
      "expect event\n";
  for (const Expectation& e : t.expectations) {
    out += e.source + " " + std::string(AlarmKindName(e.kind)) + " " +
           std::string(LevelName(e.level)) + " " + std::to_string(e.severity) + " " +
           std::to_string(e.raise_from) + " " + std::to_string(e.raise_to) + " " +
           (e.clear_from ? std::to_string(*e.clear_from) : "-") + " " +
           (e.clear_to ? std::to_string(*e.clear_to) : "-") + " " + (e.required ? "must" : "may") +
           " " + e.event + "\n";
  }
  return out;
}

bool ParseGroundTruth(std::string_view text, GroundTruth* out, std::string* error) {
  *out = GroundTruth{};
  size_t line_no = 0;
  size_t pos = 0;
  bool have_scenario = false;
  auto fail = [&](const std::string& why) {
    *error = "line " + std::to_string(line_no) + ": " + why;
    return false;
  };
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    std::vector<std::string_view> f = Fields(line);
    if (f.empty()) continue;
    if (f[0] == "#") {
      if (f.size() >= 2 && f[1] == "event") {
        out->events.emplace_back(line.substr(line.find("event") + 6));
      }
      if (f.size() < 2 || f[1] != "scenario") continue;
      have_scenario = true;
      for (size_t i = 2; i < f.size(); ++i) {
        const size_t eq = f[i].find('=');
        if (eq == std::string_view::npos)
          return fail("expected key=value, got " + std::string(f[i]));
        const std::string_view key = f[i].substr(0, eq);
        const std::string_view value = f[i].substr(eq + 1);
        int64_t n = 0;
        if (key == "province") {
          out->province = std::string(value);
          continue;
        }
        if (key == "speed") {
          if (!bench::ParseNumber(value, &out->clock.speed) || out->clock.speed <= 0) {
            return fail("bad speed");
          }
          continue;
        }
        if (!bench::ParseNumber(value, &n)) return fail("bad number for " + std::string(key));
        if (key == "seed") out->seed = static_cast<uint64_t>(n);
        if (key == "enterprises") out->enterprises = static_cast<uint32_t>(n);
        if (key == "start_ms") out->clock.sim_start = n;
        if (key == "end_ms") out->clock.sim_end = n;
        if (key == "wall_start_ms") out->clock.wall_start = n;
        if (key == "batch_period_ms") out->batch_period_ms = n;
        if (key == "server_tick_ms") out->server_tick_ms = n;
        if (key == "gateway_offline_after_ms") out->gateway_offline_after_ms = n;
      }
      continue;
    }
    if (f.size() != 10) return fail("expected 10 fields, got " + std::to_string(f.size()));
    Expectation e;
    e.source = std::string(f[0]);
    auto kind = AlarmKindFromName(f[1]);
    auto level = LevelFromName(f[2]);
    if (!kind) return fail("unknown alarm kind " + std::string(f[1]));
    if (!level) return fail("unknown level " + std::string(f[2]));
    e.kind = *kind;
    e.level = *level;
    int64_t n = 0;
    if (!bench::ParseNumber(f[3], &n) || n < 1 || n > 4) return fail("bad severity");
    e.severity = static_cast<int>(n);
    if (!bench::ParseNumber(f[4], &e.raise_from) || !bench::ParseNumber(f[5], &e.raise_to)) {
      return fail("bad raise window");
    }
    if (f[6] != "-" || f[7] != "-") {
      int64_t from = 0;
      int64_t to = 0;
      if (!bench::ParseNumber(f[6], &from) || !bench::ParseNumber(f[7], &to))
        return fail("bad clear window");
      e.clear_from = from;
      e.clear_to = to;
    }
    if (f[8] != "must" && f[8] != "may") return fail("expect must be must or may");
    e.required = f[8] == "must";
    e.event = std::string(f[9]);
    out->expectations.push_back(std::move(e));
  }
  if (!have_scenario) {
    *error = "no '# scenario' line";
    return false;
  }
  return true;
}

}  // namespace vigil::sim
