// Scenario: a province over a span of simulated time, with injected events
// (gas rising past alarm and cut-off levels, slow drift across a threshold, a
// value chattering around one, a frozen sensor, a broken instrument, a gateway
// outage with backfill, a tank temperature climbing fast). It answers what
// every sensor reads at any time and when its gateway delivers each reading.
// Pure and deterministic: the same province and options give the same
// readings. Immutable once built; any number of threads may read it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/sim/province.h"

namespace vigil::sim {

enum class EventKind : uint8_t {
  kGasRise,              // methane past alarm and power cut-off; combustible gas past both levels
  kSlowDrift,            // a slow drift across a threshold and back
  kChatter,              // a value chattering around a threshold, inside its deadband
  kFreeze,               // a sensor stops reporting for a while (communication lost)
  kBrokenInstrument,     // readings below the instrument range (open 4-20 mA loop), then repaired
  kGatewayOutage,        // the gateway is offline, buffers, then backfills
  kTankTemperatureRise,  // a tank temperature climbing at 8 degC/min
};
inline constexpr EventKind kAllEventKinds[] = {EventKind::kGasRise,
                                               EventKind::kSlowDrift,
                                               EventKind::kChatter,
                                               EventKind::kFreeze,
                                               EventKind::kBrokenInstrument,
                                               EventKind::kGatewayOutage,
                                               EventKind::kTankTemperatureRise};
// "gas_rise", "slow_drift", "chatter", "freeze", "broken_instrument",
// "gateway_outage", "tank_temperature_rise".
std::string_view EventKindName(EventKind kind);
std::optional<EventKind> EventKindFromName(std::string_view name);

// One injected event. A value event moves the sensor from its normal value to
// `target` over `rise`, holds it there for `hold` (+- `amplitude`: the
// chatter, or a little noise), and brings it back over `fall`. A broken
// instrument reads `target` (out of range) during [start, end); a frozen
// sensor sends nothing then; a gateway outage delivers nothing then and
// backfills at `end` (long enough for the sensors' no-data timeouts and, when
// the gateway rule is on, its offline timeout to run out twice).
struct Event {
  uint32_t id = 0;  // 1, 2, ... in the order planned
  EventKind kind = EventKind::kGasRise;
  uint32_t enterprise = 0;
  std::optional<uint32_t> sensor{};  // none for a gateway outage
  TimestampMs start = 0;
  TimestampMs end = 0;
  double target = 0;
  double amplitude = 0;
  std::chrono::milliseconds rise{0}, hold{0}, fall{0};
};

struct ScenarioOptions {
  // Event time of the start, ms since the Unix epoch. REQUIRES: > 0.
  TimestampMs start_ms = 0;
  // Simulated time covered. Default: 6 h.
  std::chrono::milliseconds duration{6 * 3'600'000};
  // Simulated time per unit of wall time when streamed (60 = a simulated
  // minute per second). The server measures no-data and gateway silence on
  // its own clock, so those alarms come `speed` times later in simulated
  // time; the ground truth takes that into account. Default: 1 (real time).
  double speed = 1;
  // Simulated time a gateway batch covers; 0 = max(1 s, speed x 100 ms).
  std::chrono::milliseconds batch_period{0};
  // Event kinds to inject, in turn; empty = all.
  std::vector<EventKind> event_kinds;
  // Events per enterprise, one after another. Default: 1.
  uint32_t events_per_enterprise = 1;
  // Spread each enterprise's events over the whole duration (event j starts
  // in the first half of the j-th of events_per_enterprise equal slots, or
  // once the one before has settled) rather than one right after another.
  // Default: off.
  bool spread_events = false;
  // Period of the server's alarm timers (its clock). Default: 1 s.
  std::chrono::milliseconds server_tick{1000};
};

struct Sample {
  TimestampMs t = 0;
  double value = 0;
};

class Scenario {
 public:
  // Plans the events. REQUIRES: options.start_ms > 0, duration > 0, speed > 0.
  Scenario(const Province& province, ScenarioOptions options);

  const Province& province() const { return *province_; }
  const ScenarioOptions& options() const { return options_; }
  TimestampMs start() const { return options_.start_ms; }
  TimestampMs end() const { return options_.start_ms + options_.duration.count(); }
  std::chrono::milliseconds batch_period() const { return batch_period_; }
  const std::vector<Event>& events() const { return events_; }
  // Events planned but left out because they did not fit in the duration.
  uint32_t skipped_events() const { return skipped_events_; }

  // Appends the readings of `sensor` taken in [from, to) ∩ [start, end), in
  // time order, to *out. A frozen sensor has none while frozen.
  void Readings(uint32_t sensor, TimestampMs from, TimestampMs to, std::vector<Sample>* out) const;
  // The reading of `sensor` at sample time `t` (normal value plus events, rounded).
  double ValueAt(uint32_t sensor, TimestampMs t) const;

  // Batch slices: slice k covers [start + k P, start + (k+1) P), the last
  // one cut at end(). The gateway sends slice k once simulated time reaches
  // its end, unless it is in an outage then: then at the outage's end.
  uint64_t slice_count() const;
  TimestampMs SliceStart(uint64_t slice) const;
  TimestampMs SliceEnd(uint64_t slice) const;
  // Simulated time at which the enterprise's gateway delivers a reading
  // taken at `t`.
  TimestampMs Arrival(uint32_t enterprise, TimestampMs t) const;
  // Whether the gateway is connected at simulated time `t`.
  bool GatewayOnline(uint32_t enterprise, TimestampMs t) const;

  // The server's no-data timeout of `sensor` (rule intervals x expected
  // interval), in simulated time: x speed.
  std::chrono::milliseconds NoDataTimeout(uint32_t sensor) const;
  // The gateway rule's silence (province().options.gateway_offline_after), in
  // simulated time: x speed; 0 when the rule is off.
  std::chrono::milliseconds GatewayOfflineAfter() const;

 private:
  void PlanEvents();

  const Province* province_;
  ScenarioOptions options_;
  std::chrono::milliseconds batch_period_;
  std::vector<Event> events_;
  uint32_t skipped_events_ = 0;
  std::vector<std::vector<uint32_t>> sensor_events_;       // per sensor: indexes into events_
  std::vector<std::vector<uint32_t>> enterprise_outages_;  // per enterprise: indexes into events_
};

// FNV-1a over every reading (sensor id, time, value bits) and its arrival
// time: equal for equal scenarios, different (in practice) otherwise.
uint64_t ReadingsDigest(const Scenario& scenario);

}  // namespace vigil::sim
