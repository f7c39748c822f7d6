#include "alarm/backtest.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <queue>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace vigil::alarm {
namespace {

constexpr TimestampMs kNever = std::numeric_limits<TimestampMs>::max();
constexpr TimestampMs kTickMs = 1000;
constexpr uint64_t kStopCheckEvery = 4096;

// The first whole second at or after t.
TimestampMs CeilSecond(TimestampMs t) {
  const TimestampMs r = t % kTickMs;
  if (r == 0) return t;
  return r > 0 ? t - r + kTickMs : t - r;
}

// One sensor's page of readings and where the next page starts.
struct Cursor {
  const Sensor* sensor = nullptr;
  std::string_view gateway_id{};
  uint32_t slot = Engine::kNoSensor;
  std::vector<Reading> page{};
  size_t pos = 0;
  TimestampMs next_from = 0;
  bool exhausted = false;  // the last page read was short
};

}  // namespace

bool IsProcessTransition(EventKind kind) {
  return kind == EventKind::kRaised || kind == EventKind::kEscalated ||
         kind == EventKind::kDeEscalated || kind == EventKind::kCleared;
}

TimestampMs PeriodTime(const AlarmEvent& event) {
  return HasReading(event.record.alarm, event.reading_at) ? event.reading_at : event.at;
}

BacktestTransition ToBacktestTransition(const AlarmEvent& event, uint64_t alarm_id) {
  return BacktestTransition{.source_id = event.record.source_id,
                            .alarm = event.record.alarm,
                            .rule_id = event.record.rule_id,
                            .event = event.kind,
                            .level = event.record.level,
                            .severity = event.record.severity,
                            .at = event.at,
                            .reading_at = event.reading_at,
                            .value = event.value,
                            .alarm_id = alarm_id};
}

bool IsOperatorAction(const AlarmEvent& event) {
  switch (event.kind) {
    case EventKind::kAcknowledged:
    case EventKind::kShelved:
      return true;
    case EventKind::kUnshelved:
      return !event.actor.empty();  // else the Engine ended it (time up, escalation)
    default:
      return false;
  }
}

Status ReplayOperatorAction(Engine& engine, const AlarmEvent& event, std::vector<AlarmEvent>* out) {
  // Occurrence 0: the open alarm of the point, as the proposal numbers it.
  const AlarmRef ref{.source_id = event.record.source_id, .alarm = event.record.alarm};
  switch (event.kind) {
    case EventKind::kAcknowledged:
      return engine.Acknowledge(ref, event.at, event.actor, event.comment, out);
    case EventKind::kShelved:
      return engine.Shelve(ref, event.record.shelved_until, event.at, event.actor, event.comment,
                           out);
    case EventKind::kUnshelved:
      if (event.actor.empty()) return Status::Ok();
      return engine.Unshelve(ref, event.at, event.actor, event.comment, out);
    default:
      return Status::Ok();  // not an operator action
  }
}

Result<BacktestReplay> ReplayHistory(std::shared_ptr<const RuleSet> rules,
                                     std::span<const AlarmEvent> actions, HistorySource& source,
                                     const BacktestOptions& options) {
  if (options.from >= options.to) return Status::InvalidArgument("from must be before to");
  if (options.page_readings == 0) return Status::InvalidArgument("page_readings must be >= 1");
  if (options.warmup_ms < 0) return Status::InvalidArgument("warmup must be >= 0");
  const TimestampMs start = options.from - options.warmup_ms;
  const Registry& registry = rules->registry();

  BacktestReplay result;
  Engine engine;
  std::vector<AlarmEvent> events;
  engine.SetRuleSet(rules, start, &events);
  events.clear();

  auto region_of = [&](std::string_view enterprise_id) -> std::string_view {
    const Enterprise* e = registry.FindEnterprise(enterprise_id);
    return e == nullptr ? std::string_view() : std::string_view(e->region_code);
  };
  auto in_scope = [&](const ActiveAlarm& alarm) {
    if (alarm.alarm == AlarmKind::kGatewayOffline) {
      const Gateway* g = registry.FindGateway(alarm.source_id);
      return g != nullptr && InRegion(region_of(g->enterprise_id), options.region_prefix);
    }
    const Sensor* s = registry.FindSensor(alarm.source_id);
    return s != nullptr && InRegion(region_of(s->enterprise_id), options.region_prefix);
  };

  // The sensors in scope with a rule (the others hold no state): their
  // readings are read and replayed.
  std::unordered_map<std::string_view, std::string_view> gateway_of_enterprise;
  for (const Gateway& g : registry.entries().gateways) {
    gateway_of_enterprise.emplace(g.enterprise_id, g.id);  // the first registered
  }
  std::vector<Cursor> cursors;
  std::vector<SeriesView> views;
  for (const Sensor& s : registry.entries().sensors) {
    if (!InRegion(region_of(s.enterprise_id), options.region_prefix)) continue;
    if (rules->ForSensor(s.id) == nullptr) continue;
    Cursor& c = cursors.emplace_back();
    c.sensor = &s;
    if (auto it = gateway_of_enterprise.find(s.enterprise_id); it != gateway_of_enterprise.end()) {
      c.gateway_id = it->second;
    }
    c.next_from = start;
    views.push_back(SeriesView{.sensor_id = s.id,
                               .timestamps = {},
                               .values = {},
                               .quality = {},
                               .log_number = s.log_number});
  }
  std::vector<uint32_t> slots;
  engine.Locate(views, &slots);
  for (size_t i = 0; i < cursors.size(); ++i) cursors[i].slot = slots[i];
  result.stats.sensors = cursors.size();

  uint64_t buffered = 0;
  auto refill = [&](Cursor& c) -> Status {
    c.page.clear();
    c.pos = 0;
    if (c.exhausted) return Status::Ok();
    Status s =
        source.ReadPage(c.sensor->id, c.next_from, options.to, options.page_readings, &c.page);
    if (!s.ok()) return s;
    ++result.stats.page_reads;
    if (c.page.size() > options.page_readings) c.page.resize(options.page_readings);
    c.exhausted = c.page.size() < options.page_readings;
    if (!c.page.empty()) c.next_from = c.page.back().at + 1;
    buffered += c.page.size();
    result.stats.max_buffered_readings = std::max(result.stats.max_buffered_readings, buffered);
    return Status::Ok();
  };

  // Earliest reading first; ties by cursor (registry order).
  using Next = std::pair<TimestampMs, uint32_t>;
  std::priority_queue<Next, std::vector<Next>, std::greater<>> heap;
  for (uint32_t i = 0; i < cursors.size(); ++i) {
    if (Status s = refill(cursors[i]); !s.ok()) return s;
    if (!cursors[i].page.empty()) heap.emplace(cursors[i].page.front().at, i);
  }

  auto collect = [&]() -> Status {
    for (const AlarmEvent& e : events) {
      if (!IsProcessTransition(e.kind)) continue;
      if (const TimestampMs t = PeriodTime(e); t < options.from || t >= options.to) continue;
      if (!in_scope(e.record)) continue;
      if (result.transitions.size() >= options.max_transitions) {
        return Status::ResourceExhausted("the backtest made more than " +
                                         std::to_string(options.max_transitions) +
                                         " transitions: narrow the range or the region");
      }
      result.transitions.push_back(ToBacktestTransition(e));
    }
    events.clear();
    return Status::Ok();
  };

  size_t next_action = 0;
  while (next_action < actions.size() && actions[next_action].at < start) ++next_action;
  bool clock_started = false;
  TimestampMs next_tick = kNever;
  const bool gateway_rule = rules->gateway_offline().after.count() > 0;
  std::string_view batch_gateway{};
  TimestampMs batch_at = kNever;
  uint64_t since_stop_check = 0;

  for (;;) {
    const TimestampMs reading_at = heap.empty() ? kNever : heap.top().first;
    const TimestampMs action_at =
        next_action < actions.size() && actions[next_action].at < options.to
            ? actions[next_action].at
            : kNever;
    const TimestampMs tick_at = clock_started && next_tick < options.to ? next_tick : kNever;
    if (reading_at == kNever && action_at == kNever && tick_at == kNever) break;

    if (reading_at <= action_at && reading_at <= tick_at) {
      const uint32_t i = heap.top().second;
      heap.pop();
      Cursor& c = cursors[i];
      const Reading r = c.page[c.pos++];
      --buffered;
      if (!clock_started) {
        clock_started = true;
        next_tick = CeilSecond(r.at);
      }
      // Gateway state matters only to a gateway-offline rule: without one,
      // no lookup per reading.
      if (gateway_rule && (c.gateway_id != batch_gateway || r.at != batch_at)) {
        engine.BeginBatch(c.gateway_id, r.at, &events);
        batch_gateway = c.gateway_id;
        batch_at = r.at;
      }
      const std::span<const Quality> quality =
          r.quality == kQualityGood ? std::span<const Quality>() : std::span(&r.quality, 1);
      engine.EvaluateAt(c.slot, std::span(&r.at, 1), std::span(&r.value, 1), quality, r.at,
                        &events);
      ++result.stats.readings;
      if (Status s = collect(); !s.ok()) return s;
      if (c.pos == c.page.size()) {
        if (Status s = refill(c); !s.ok()) return s;
      }
      if (c.pos < c.page.size()) heap.emplace(c.page[c.pos].at, i);
      if (++since_stop_check == kStopCheckEvery) {
        since_stop_check = 0;
        if (options.stop && options.stop()) return Status::Aborted("backtest stopped");
      }
    } else if (action_at <= tick_at) {
      const AlarmEvent& action = actions[next_action++];
      if (IsOperatorAction(action)) {
        if (ReplayOperatorAction(engine, action, &events).ok()) {
          ++result.stats.actions_applied;
        } else {
          ++result.stats.actions_skipped;
        }
      }
      if (Status s = collect(); !s.ok()) return s;
    } else {
      engine.Tick(tick_at, &events);
      ++result.stats.ticks;
      next_tick += kTickMs;
      if (Status s = collect(); !s.ok()) return s;
    }
  }
  result.stats.late_readings = engine.stats().late_readings;
  result.stats.engine_sensors = engine.sensor_count();
  result.stats.engine_state_bytes = engine.state_bytes();
  return result;
}

// ---- The report ----

namespace {

using PointKey = std::pair<std::string, AlarmKind>;

struct PointSides {
  std::vector<const BacktestTransition*> backtest;
  std::vector<const BacktestTransition*> live;
};

bool SameTransition(const BacktestTransition& a, const BacktestTransition& b) {
  if (a.event != b.event || a.severity != b.severity || a.level != b.level ||
      a.rule_id != b.rule_id) {
    return false;
  }
  // A gateway-offline alarm's "reading" is the gateway's last arrival: the
  // commit time live, a reading's event time in the backtest.
  if (a.alarm == AlarmKind::kGatewayOffline) return true;
  return a.reading_at == b.reading_at && a.value == b.value;
}

// The same transition, its timing decided by the clock on one side and by a
// reading on the other (a delay both met about when the next reading came).
// The one with the earlier reading (the clock's) was made within
// kClockToleranceMs of the other's reading.
bool SameTransitionByClock(const BacktestTransition& a, const BacktestTransition& b) {
  if (a.event != b.event || a.severity != b.severity || a.level != b.level ||
      a.rule_id != b.rule_id || a.reading_at == b.reading_at) {
    return false;
  }
  const BacktestTransition& by_clock = a.reading_at < b.reading_at ? a : b;
  const BacktestTransition& by_reading = a.reading_at < b.reading_at ? b : a;
  return std::abs(by_clock.at - by_reading.reading_at) <= kClockToleranceMs;
}

// Most raises within any window of `window` ms (times sorted).
uint32_t MostWithin(const std::vector<TimestampMs>& times, TimestampMs window) {
  uint32_t most = 0;
  size_t first = 0;
  for (size_t i = 0; i < times.size(); ++i) {
    while (times[i] - times[first] >= window) ++first;
    most = std::max(most, static_cast<uint32_t>(i - first + 1));
  }
  return most;
}

std::vector<TimestampMs> RaiseTimes(const std::vector<const BacktestTransition*>& side) {
  std::vector<TimestampMs> times;
  for (const BacktestTransition* t : side) {
    if (t->event == EventKind::kRaised) times.push_back(t->at);
  }
  std::sort(times.begin(), times.end());
  return times;
}

void AddFloods(std::vector<TimestampMs> times, bool live, std::vector<BacktestFlood>* out) {
  std::sort(times.begin(), times.end());
  BacktestFlood* open = nullptr;
  size_t first = 0;
  for (size_t i = 0; i < times.size(); ++i) {
    while (times[i] - times[first] >= kFloodWindowMs) ++first;
    const auto within = static_cast<uint32_t>(i - first + 1);
    if (within < kFloodRaises) continue;
    if (open == nullptr || times[first] > open->end) {
      open = &out->emplace_back(BacktestFlood{
          .live = live, .start = times[first], .end = times[i], .raised = within, .peak = within});
    } else {
      // The window overlaps the flood: its raises after the flood's end join it.
      open->raised +=
          static_cast<uint64_t>(std::upper_bound(times.begin(), times.end(), times[i]) -
                                std::upper_bound(times.begin(), times.end(), open->end));
      open->end = times[i];
      open->peak = std::max(open->peak, within);
    }
  }
}

std::vector<BacktestAlarm> Alarms(const PointKey& point,
                                  const std::vector<const BacktestTransition*>& side) {
  std::vector<BacktestAlarm> alarms;
  bool open = false;
  for (const BacktestTransition* t : side) {
    if (!open) {
      // A first transition other than a raise: the alarm was open at `from`.
      alarms.push_back(BacktestAlarm{.source_id = point.first,
                                     .alarm = point.second,
                                     .rule_id = t->rule_id,
                                     .level = t->level,
                                     .severity = t->severity,
                                     .raised_at = t->event == EventKind::kRaised ? t->at : 0,
                                     .cleared_at = 0,
                                     .alarm_id = t->alarm_id});
      open = true;
    }
    BacktestAlarm& a = alarms.back();
    if (std::abs(static_cast<int>(t->level)) > std::abs(static_cast<int>(a.level))) {
      a.level = t->level;
    }
    a.severity = std::min(a.severity, t->severity);
    if (t->event == EventKind::kCleared) {
      a.cleared_at = t->at;
      open = false;
    }
  }
  return alarms;
}

bool Overlap(const BacktestAlarm& a, const BacktestAlarm& b) {
  const TimestampMs a_end = a.cleared_at == 0 ? kNever : a.cleared_at;
  const TimestampMs b_end = b.cleared_at == 0 ? kNever : b.cleared_at;
  return a.raised_at <= b_end && b.raised_at <= a_end;
}

}  // namespace

BacktestReport CompareTransitions(std::span<const BacktestTransition> backtest,
                                  std::span<const BacktestTransition> live, size_t top) {
  BacktestReport report;
  std::map<PointKey, PointSides> points;
  for (const BacktestTransition& t : backtest) {
    points[{t.source_id, t.alarm}].backtest.push_back(&t);
  }
  for (const BacktestTransition& t : live) points[{t.source_id, t.alarm}].live.push_back(&t);

  std::map<std::string, BacktestCount> per_rule;
  std::map<std::string, BacktestCount> per_sensor;
  std::vector<BacktestPoint> all_points;
  std::vector<TimestampMs> backtest_raises;
  std::vector<TimestampMs> live_raises;
  std::vector<BacktestDifference> differences;

  for (const auto& [key, sides] : points) {
    BacktestPoint point{.source_id = key.first, .alarm = key.second};
    for (const BacktestTransition* t : sides.backtest) {
      if (point.rule_id.empty()) point.rule_id = t->rule_id;
      if (t->event != EventKind::kRaised) continue;
      ++point.backtest_raised;
      const std::string rule = t->rule_id.empty() ? "gateway_offline" : t->rule_id;
      ++per_rule.try_emplace(rule, BacktestCount{.key = rule}).first->second.backtest;
      ++per_sensor.try_emplace(key.first, BacktestCount{.key = key.first}).first->second.backtest;
    }
    for (const BacktestTransition* t : sides.live) {
      if (point.rule_id.empty()) point.rule_id = t->rule_id;
      if (t->event != EventKind::kRaised) continue;
      ++point.live_raised;
      const std::string rule = t->rule_id.empty() ? "gateway_offline" : t->rule_id;
      ++per_rule.try_emplace(rule, BacktestCount{.key = rule}).first->second.live;
      ++per_sensor.try_emplace(key.first, BacktestCount{.key = key.first}).first->second.live;
    }
    const std::vector<TimestampMs> b_times = RaiseTimes(sides.backtest);
    const std::vector<TimestampMs> l_times = RaiseTimes(sides.live);
    point.backtest_chatter = MostWithin(b_times, kChatterWindowMs);
    point.live_chatter = MostWithin(l_times, kChatterWindowMs);
    backtest_raises.insert(backtest_raises.end(), b_times.begin(), b_times.end());
    live_raises.insert(live_raises.end(), l_times.begin(), l_times.end());
    report.backtest_raised += point.backtest_raised;
    report.live_raised += point.live_raised;
    all_points.push_back(point);

    // Transition by transition, in order; on a mismatch the side whose
    // transition came first (by its reading) is the one without a partner.
    size_t i = 0;
    size_t j = 0;
    auto differ = [&](bool is_live, const BacktestTransition& t) {
      if (is_live) {
        ++report.only_live;
      } else {
        ++report.only_backtest;
      }
      differences.push_back(BacktestDifference{.live = is_live, .transition = t});
    };
    while (i < sides.backtest.size() || j < sides.live.size()) {
      if (i == sides.backtest.size()) {
        differ(true, *sides.live[j++]);
      } else if (j == sides.live.size()) {
        differ(false, *sides.backtest[i++]);
      } else if (SameTransition(*sides.backtest[i], *sides.live[j])) {
        ++report.matched;
        report.max_at_offset_ms =
            std::max(report.max_at_offset_ms, std::abs(sides.backtest[i]->at - sides.live[j]->at));
        ++i;
        ++j;
      } else if (SameTransitionByClock(*sides.backtest[i], *sides.live[j])) {
        ++report.matched_by_clock;
        ++i;
        ++j;
      } else if (sides.backtest[i]->reading_at < sides.live[j]->reading_at) {
        differ(false, *sides.backtest[i++]);
      } else if (sides.live[j]->reading_at < sides.backtest[i]->reading_at) {
        differ(true, *sides.live[j++]);
      } else {
        differ(false, *sides.backtest[i++]);
        differ(true, *sides.live[j++]);
      }
    }

    const std::vector<BacktestAlarm> b_alarms = Alarms(key, sides.backtest);
    const std::vector<BacktestAlarm> l_alarms = Alarms(key, sides.live);
    for (const BacktestAlarm& a : l_alarms) {
      if (std::none_of(b_alarms.begin(), b_alarms.end(),
                       [&](const BacktestAlarm& b) { return Overlap(a, b); })) {
        report.missed.push_back(a);
      }
    }
    for (const BacktestAlarm& b : b_alarms) {
      if (std::none_of(l_alarms.begin(), l_alarms.end(),
                       [&](const BacktestAlarm& a) { return Overlap(a, b); })) {
        report.added.push_back(b);
      }
    }
  }

  for (auto& [rule, count] : per_rule) report.per_rule.push_back(std::move(count));
  for (auto& [sensor, count] : per_sensor) report.per_sensor.push_back(std::move(count));

  for (const BacktestPoint& p : all_points) {
    if (p.backtest_chatter >= kChatterRaises || p.live_chatter >= kChatterRaises) {
      report.chattering.push_back(p);
    }
  }
  std::stable_sort(report.chattering.begin(), report.chattering.end(),
                   [](const BacktestPoint& a, const BacktestPoint& b) {
                     return std::max(a.backtest_chatter, a.live_chatter) >
                            std::max(b.backtest_chatter, b.live_chatter);
                   });
  if (report.chattering.size() > top) report.chattering.resize(top);

  for (const BacktestPoint& p : all_points) {
    if (p.backtest_raised > 0) report.bad_actors.push_back(p);
  }
  std::stable_sort(report.bad_actors.begin(), report.bad_actors.end(),
                   [](const BacktestPoint& a, const BacktestPoint& b) {
                     return a.backtest_raised > b.backtest_raised;
                   });
  if (report.bad_actors.size() > top) report.bad_actors.resize(top);

  AddFloods(std::move(backtest_raises), false, &report.floods);
  AddFloods(std::move(live_raises), true, &report.floods);
  std::stable_sort(
      report.floods.begin(), report.floods.end(),
      [](const BacktestFlood& a, const BacktestFlood& b) { return a.start < b.start; });

  auto by_raise = [](const BacktestAlarm& a, const BacktestAlarm& b) {
    return std::tie(a.raised_at, a.source_id) < std::tie(b.raised_at, b.source_id);
  };
  std::stable_sort(report.missed.begin(), report.missed.end(), by_raise);
  std::stable_sort(report.added.begin(), report.added.end(), by_raise);
  report.missed_total = report.missed.size();
  report.added_total = report.added.size();
  if (report.missed.size() > top * 10) report.missed.resize(top * 10);
  if (report.added.size() > top * 10) report.added.resize(top * 10);

  std::stable_sort(differences.begin(), differences.end(),
                   [](const BacktestDifference& a, const BacktestDifference& b) {
                     return a.transition.at < b.transition.at;
                   });
  if (differences.size() > top * 10) differences.resize(top * 10);
  report.differences = std::move(differences);
  return report;
}

}  // namespace vigil::alarm
