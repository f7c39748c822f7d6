#include "bench/sim/scenario.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <span>

#include "bench/sim/signal.h"

namespace vigil::sim {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// One way an event kind plays out at one kind of site, on a sensor of `role`.
// Value events go to `target` (or, when `relative`, to the normal value at
// the start plus `target`). The planner takes the first variant that fits.
struct Variant {
  EventKind kind;
  SiteKind site;
  SensorRole role;
  double target;
  bool relative;
  double amplitude;
  milliseconds rise, hold, fall;
};

constexpr Variant kVariants[] = {
    // Methane at the face up past 1.0 (alarm) and 1.5 %CH4 (cut-off); gas at a tank
    // dike past 25 and 50 %LEL.
    {EventKind::kGasRise, SiteKind::kCoalMine, SensorRole::kMethaneFace, 1.8, false, 0.02, 10min,
     5min, 10min},
    {EventKind::kGasRise, SiteKind::kHazardousChemical, SensorRole::kCombustibleGas, 60, false, 0.5,
     3min, 3min, 5min},
    // Slow drifts across a high (low for the phreatic line) level and back.
    {EventKind::kSlowDrift, SiteKind::kCoalMine, SensorRole::kFaceTemperature, 27.5, false, 0.05,
     2h, 30min, 2h},
    {EventKind::kSlowDrift, SiteKind::kHazardousChemical, SensorRole::kTankLevel, 13.2, false,
     0.005, 1h, 20min, 1h},
    {EventKind::kSlowDrift, SiteKind::kTailings, SensorRole::kPhreaticDepth, 7.2, false, 0.01, 6h,
     2h, 6h},
    {EventKind::kSlowDrift, SiteKind::kTailings, SensorRole::kPondLevel, 35.6, false, 0.01, 2h, 1h,
     2h},
    // Chattering around a level by less than the rule's deadband (0.8 of it).
    {EventKind::kChatter, SiteKind::kCoalMine, SensorRole::kCarbonMonoxide, 24, false, 1.6, 2min,
     10min, 2min},
    {EventKind::kChatter, SiteKind::kHazardousChemical, SensorRole::kCombustibleGas, 25, false, 1.6,
     1min, 10min, 1min},
    {EventKind::kChatter, SiteKind::kTailings, SensorRole::kPondLevel, 35, false, 0.08, 2h, 2h, 2h},
    {EventKind::kChatter, SiteKind::kTailings, SensorRole::kRainfall, 50, false, 0.8, 1h, 1h, 1h},
    // 8 degC/min for 5 min, 2 min there, then cooled at 2 degC/min.
    {EventKind::kTankTemperatureRise, SiteKind::kHazardousChemical, SensorRole::kTankTemperature,
     40, true, 0.2, 5min, 2min, 20min},
    // Durations of the next three are worked out by the planner.
    {EventKind::kBrokenInstrument,
     SiteKind::kHazardousChemical,
     SensorRole::kTankPressure,
     0,
     false,
     0,
     {},
     {},
     {}},
    {EventKind::kBrokenInstrument,
     SiteKind::kCoalMine,
     SensorRole::kWindSpeed,
     0,
     false,
     0,
     {},
     {},
     {}},
    {EventKind::kBrokenInstrument,
     SiteKind::kTailings,
     SensorRole::kRainfall,
     0,
     false,
     0,
     {},
     {},
     {}},
    {EventKind::kFreeze,
     SiteKind::kHazardousChemical,
     SensorRole::kCombustibleGas,
     0,
     false,
     0,
     {},
     {},
     {}},
    {EventKind::kFreeze, SiteKind::kCoalMine, SensorRole::kMethaneFace, 0, false, 0, {}, {}, {}},
    {EventKind::kFreeze, SiteKind::kTailings, SensorRole::kRainfall, 0, false, 0, {}, {}, {}},
    {EventKind::kGatewayOutage,
     SiteKind::kHazardousChemical,
     SensorRole::kTankLevel,
     0,
     false,
     0,
     {},
     {},
     {}},
    {EventKind::kGatewayOutage,
     SiteKind::kCoalMine,
     SensorRole::kMethaneFace,
     0,
     false,
     0,
     {},
     {},
     {}},
    {EventKind::kGatewayOutage,
     SiteKind::kTailings,
     SensorRole::kRainfall,
     0,
     false,
     0,
     {},
     {},
     {}},
};

bool IsValueEvent(EventKind kind) {
  return kind == EventKind::kGasRise || kind == EventKind::kSlowDrift ||
         kind == EventKind::kChatter || kind == EventKind::kTankTemperatureRise;
}

milliseconds RoundUpToSecond(double ms) {
  return milliseconds(static_cast<int64_t>(std::ceil(ms / 1000.0)) * 1000);
}

}  // namespace

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kGasRise:
      return "gas_rise";
    case EventKind::kSlowDrift:
      return "slow_drift";
    case EventKind::kChatter:
      return "chatter";
    case EventKind::kFreeze:
      return "freeze";
    case EventKind::kBrokenInstrument:
      return "broken_instrument";
    case EventKind::kGatewayOutage:
      return "gateway_outage";
    case EventKind::kTankTemperatureRise:
      return "tank_temperature_rise";
  }
  return "unknown";
}

std::optional<EventKind> EventKindFromName(std::string_view name) {
  for (EventKind kind : kAllEventKinds) {
    if (EventKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

Scenario::Scenario(const Province& province, ScenarioOptions options)
    : province_(&province), options_(std::move(options)) {
  batch_period_ = options_.batch_period.count() > 0
                      ? options_.batch_period
                      : std::max<milliseconds>(1s, RoundUpToSecond(options_.speed * 100));
  sensor_events_.resize(province.sensors.size());
  enterprise_outages_.resize(province.enterprises.size());
  PlanEvents();
}

milliseconds Scenario::NoDataTimeout(uint32_t sensor) const {
  const SensorSpec& s = province_->sensors[sensor];
  const double ms = static_cast<double>(province_->RuleOf(s).no_data_intervals) *
                    static_cast<double>(s.interval.count()) * options_.speed;
  return milliseconds(static_cast<int64_t>(std::llround(ms)));
}

milliseconds Scenario::GatewayOfflineAfter() const {
  const double ms =
      static_cast<double>(province_->options.gateway_offline_after.count()) * options_.speed;
  return milliseconds(static_cast<int64_t>(std::llround(ms)));
}

void Scenario::PlanEvents() {
  const Province& p = *province_;
  Draws draws(Mix(p.options.seed, 0x6576656e7473ULL));
  std::vector<EventKind> kinds = options_.event_kinds;
  if (kinds.empty()) kinds.assign(std::begin(kAllEventKinds), std::end(kAllEventKinds));
  const int64_t period = batch_period_.count();
  const int64_t lead_in = std::max<int64_t>(milliseconds(5min).count(), 5 * period);

  for (uint32_t e = 0; e < p.enterprises.size(); ++e) {
    const EnterpriseSpec& enterprise = p.enterprises[e];
    std::vector<EventKind> applicable;
    for (EventKind kind : kinds) {
      for (const Variant& v : kVariants) {
        if (v.kind == kind && v.site == enterprise.kind) {
          applicable.push_back(kind);
          break;
        }
      }
    }
    TimestampMs cursor = start() + lead_in + 1000 * static_cast<int64_t>(draws.Index(600));
    for (uint32_t j = 0; j < options_.events_per_enterprise; ++j) {
      if (options_.spread_events) {
        // Event j no earlier than a random point in the first half of the j-th
        // of events_per_enterprise equal slots of the time after the lead-in.
        const int64_t slot = (end() - start() - lead_in) / options_.events_per_enterprise;
        const auto half_s = static_cast<uint32_t>(std::max<int64_t>(1, slot / 2000));
        cursor = std::max(cursor, start() + lead_in + static_cast<int64_t>(j) * slot +
                                      1000 * static_cast<int64_t>(draws.Index(half_s)));
      }
      bool placed = false;
      for (size_t c = 0; c < applicable.size() && !placed; ++c) {
        const EventKind kind = applicable[(e / 3 + j + c + p.options.seed) % applicable.size()];
        for (const Variant& v : kVariants) {
          if (v.kind != kind || v.site != enterprise.kind) continue;
          std::vector<uint32_t> candidates;
          for (uint32_t s : enterprise.sensors) {
            if (p.sensors[s].role == v.role) candidates.push_back(s);
          }
          const uint32_t pick = draws.Index(static_cast<uint32_t>(candidates.size()));
          Event ev{.kind = kind,
                   .enterprise = e,
                   .start = cursor,
                   .target = v.target,
                   .amplitude = v.amplitude,
                   .rise = v.rise,
                   .hold = v.hold,
                   .fall = v.fall};
          // After the event: time for its alarms to clear before the next one.
          milliseconds settle = 1min + 2 * batch_period_;
          if (kind == EventKind::kGatewayOutage) {
            milliseconds shortest = milliseconds::max();
            milliseconds longest{0};
            for (uint32_t s : enterprise.sensors) {
              shortest = std::min(shortest, NoDataTimeout(s));
              longest = std::max(longest, p.sensors[s].interval);
            }
            ev.hold = std::max({milliseconds(10min), 2 * shortest + 2 * batch_period_,
                                2 * GatewayOfflineAfter() + 2 * batch_period_});
            settle += 2 * std::max(longest, batch_period_);
          } else {
            const uint32_t sensor = candidates[pick];
            const SensorSpec& s = p.sensors[sensor];
            const RuleFigures& rule = p.RuleOf(s);
            ev.sensor = sensor;
            if (kind == EventKind::kFreeze) {
              ev.hold = std::max<milliseconds>(
                  5min, 2 * NoDataTimeout(sensor) + 2 * batch_period_ + 2 * s.interval);
            } else if (kind == EventKind::kBrokenInstrument) {
              ev.target = s.range_low - 0.05 * (s.range_high - s.range_low);
              ev.hold = std::max<milliseconds>(5min, 10 * s.interval);
            } else if (v.relative) {
              ev.target =
                  RoundTo(BaselineValue(s.signal, ev.start, start()) + v.target, s.resolution);
            }
            settle += rule.off_delay + 5 * std::max(s.interval, batch_period_);
            if (rule.rate && rule.rate->window <= 1h) settle += 2 * rule.rate->window;
          }
          ev.end = ev.start + (ev.rise + ev.hold + ev.fall).count();
          if (ev.end + settle.count() > end()) continue;
          ev.id = static_cast<uint32_t>(events_.size() + 1);
          if (ev.sensor) {
            sensor_events_[*ev.sensor].push_back(static_cast<uint32_t>(events_.size()));
          } else {
            enterprise_outages_[e].push_back(static_cast<uint32_t>(events_.size()));
          }
          events_.push_back(ev);
          cursor = ev.end + settle.count();
          placed = true;
          break;
        }
      }
      if (!placed) ++skipped_events_;
    }
  }
}

double Scenario::ValueAt(uint32_t sensor, TimestampMs t) const {
  const SensorSpec& s = province_->sensors[sensor];
  double v = BaselineValue(s.signal, t, start());
  for (uint32_t index : sensor_events_[sensor]) {
    const Event& ev = events_[index];
    if (t < ev.start || t >= ev.end) continue;
    if (ev.kind == EventKind::kBrokenInstrument) {
      v = ev.target;
      continue;
    }
    if (!IsValueEvent(ev.kind)) continue;
    const auto dt = static_cast<double>(t - ev.start);
    const auto rise = static_cast<double>(ev.rise.count());
    const auto hold = static_cast<double>(ev.hold.count());
    if (dt < rise) {
      v += (ev.target - v) * dt / rise;
    } else if (dt < rise + hold) {
      double u = UnitNoise(Mix(province_->options.seed, ev.id), static_cast<uint64_t>(t));
      // A chatter starts with two readings above the level, so that an on-delay
      // of up to one interval is met by readings as well as by the timer.
      if (ev.kind == EventKind::kChatter &&
          dt - rise < 2 * static_cast<double>(s.interval.count())) {
        u = 0.5 + 0.5 * std::fabs(u);
      }
      v = ev.target + ev.amplitude * u;
    } else {
      const double f = 1 - (dt - rise - hold) / static_cast<double>(ev.fall.count());
      v += (ev.target - v) * f;
    }
  }
  return RoundTo(v, s.resolution);
}

void Scenario::Readings(uint32_t sensor, TimestampMs from, TimestampMs to,
                        std::vector<Sample>* out) const {
  const SensorSpec& s = province_->sensors[sensor];
  const TimestampMs lo = std::max(from, start());
  const TimestampMs hi = std::min(to, end());
  const int64_t interval = s.interval.count();
  // First sample time phase + k * interval at or after lo.
  const int64_t offset = lo - s.phase_ms;
  const int64_t k = offset / interval + (offset > 0 && offset % interval != 0 ? 1 : 0);
  for (TimestampMs t = s.phase_ms + k * interval; t < hi; t += interval) {
    bool frozen = false;
    for (uint32_t index : sensor_events_[sensor]) {
      const Event& ev = events_[index];
      frozen = frozen || (ev.kind == EventKind::kFreeze && t >= ev.start && t < ev.end);
    }
    if (!frozen) out->push_back(Sample{t, ValueAt(sensor, t)});
  }
}

uint64_t Scenario::slice_count() const {
  const int64_t d = options_.duration.count();
  const int64_t p = batch_period_.count();
  return static_cast<uint64_t>((d + p - 1) / p);
}

TimestampMs Scenario::SliceStart(uint64_t slice) const {
  return start() + static_cast<int64_t>(slice) * batch_period_.count();
}

TimestampMs Scenario::SliceEnd(uint64_t slice) const {
  return std::min(end(), SliceStart(slice + 1));
}

TimestampMs Scenario::Arrival(uint32_t enterprise, TimestampMs t) const {
  const uint64_t slice = static_cast<uint64_t>((t - start()) / batch_period_.count());
  const TimestampMs sent = SliceEnd(slice);
  for (uint32_t index : enterprise_outages_[enterprise]) {
    const Event& ev = events_[index];
    if (sent >= ev.start && sent < ev.end) return ev.end;
  }
  return sent;
}

bool Scenario::GatewayOnline(uint32_t enterprise, TimestampMs t) const {
  for (uint32_t index : enterprise_outages_[enterprise]) {
    const Event& ev = events_[index];
    if (t >= ev.start && t < ev.end) return false;
  }
  return true;
}

uint64_t ReadingsDigest(const Scenario& scenario) {
  uint64_t h = 14695981039346656037ULL;
  auto add = [&h](uint64_t word) {
    for (int i = 0; i < 8; ++i) {
      h ^= (word >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  std::vector<Sample> samples;
  const Province& p = scenario.province();
  for (uint32_t s = 0; s < p.sensors.size(); ++s) {
    for (char c : p.sensors[s].id) add(static_cast<uint8_t>(c));
    samples.clear();
    scenario.Readings(s, scenario.start(), scenario.end(), &samples);
    for (const Sample& sample : samples) {
      add(static_cast<uint64_t>(sample.t));
      add(std::bit_cast<uint64_t>(sample.value));
      add(static_cast<uint64_t>(scenario.Arrival(p.sensors[s].enterprise, sample.t)));
    }
  }
  return h;
}

}  // namespace vigil::sim
