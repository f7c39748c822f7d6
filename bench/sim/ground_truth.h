// Ground truth: the alarms a scenario must cause, worked out from the rule
// figures (alarm/rule.h semantics) applied to the generated readings and to
// when their gateways deliver them, one alarm level a line; with its text
// format (written by vigil-sim, read by the checker). Free functions without
// state; any thread may call them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/event.h"
#include "bench/sim/province.h"
#include "bench/sim/scenario.h"

namespace vigil::sim {

// The server's vocabulary (alarm/event.h, alarm/rule.h), so that names read
// and written here are the ones vigild logs: AlarmKindName ("threshold",
// "rate_of_change", "no_data", "sensor_fault", "gateway_offline"), LevelName
// ("LL", "L", "none", "H", "HH"), TransitionName ("raised", "escalated",
// "de_escalated", "cleared").
using alarm::AlarmKind;
using alarm::AlarmKindName;
using alarm::Level;
using alarm::LevelName;
using Transition = alarm::EventKind;
inline std::string_view TransitionName(Transition t) { return alarm::EventKindName(t); }

inline constexpr AlarmKind kAllAlarmKinds[] = {AlarmKind::kThreshold, AlarmKind::kRateOfChange,
                                               AlarmKind::kNoData, AlarmKind::kSensorFault,
                                               AlarmKind::kGatewayOffline};
std::optional<AlarmKind> AlarmKindFromName(std::string_view name);
std::optional<Level> LevelFromName(std::string_view name);
// A change of the condition (raised, escalated, de_escalated, cleared); not
// "acknowledged", which is an operator's doing.
std::optional<Transition> TransitionFromName(std::string_view name);

// Maps simulated time to the wall-clock time at which a streaming run lived
// it: wall = wall_start + (sim - sim_start) / speed. The server stamps alarm
// transitions with its wall clock.
struct SimClock {
  TimestampMs sim_start = 0;
  TimestampMs sim_end = 0;
  TimestampMs wall_start = 0;
  double speed = 1;

  TimestampMs ToWall(TimestampMs sim) const;
};

// One expected alarm level: the alarm of `kind` on `source` (a sensor id; the
// gateway id for gateway_offline) enters `level` (raised, or escalated or
// de-escalated into it) within [raise_from, raise_to] and leaves it (cleared,
// or escalated or de-escalated out of it) within [clear_from, clear_to]; no
// clear when it is still active at the end. Times are simulated time, ms.
// Not `required`: either outcome is right (e.g. a reading and the server's
// timer race); the checker neither misses nor counts it extra.
struct Expectation {
  std::string source{};
  AlarmKind kind = AlarmKind::kThreshold;
  Level level = Level::kNone;
  int severity = 3;
  TimestampMs raise_from = 0;
  TimestampMs raise_to = 0;
  std::optional<TimestampMs> clear_from{}, clear_to{};
  bool required = true;
  std::string event{};  // "e3:gas_rise": the injected event behind it; "-" for none
};

// Expectation::event of the `may` alarms of a source before its first
// delivery: no-data of a sensor, gateway-offline of a gateway, which a server
// started before the run may raise then (its clocks of sources never seen
// start when it starts); cleared by the first delivery.
inline constexpr std::string_view kBeforeFirstDelivery = "before_first_delivery";

struct GroundTruth {
  uint64_t seed = 0;
  uint32_t enterprises = 0;
  std::string province;
  SimClock clock;
  int64_t batch_period_ms = 0;
  int64_t server_tick_ms = 0;
  int64_t gateway_offline_after_ms = 0;
  std::vector<std::string> events;        // "id=1 kind=gas_rise ...", informational
  std::vector<Expectation> expectations;  // by raise_from, then source
};

// Works out every alarm level the scenario causes. `wall_start` is the wall
// time at which a streaming run starts simulated time (the clock's mapping).
GroundTruth ComputeGroundTruth(const Scenario& scenario, TimestampMs wall_start);

// The ground truth of a run stopped early, at simulated time `sim_end`
// (batches made up to it): the clock ends there; an expectation whose raise
// window starts at or after it is dropped; one whose raise or clear window
// reaches it becomes `may` (either outcome is right), without a clear.
GroundTruth CutGroundTruth(GroundTruth truth, TimestampMs sim_end);

// The text form: `#` lines (the scenario and its events), then one line per
// expectation: `source alarm level severity raise_from_ms raise_to_ms
// clear_from_ms clear_to_ms must|may event`, with `-` for no clear.
std::string FormatGroundTruth(const GroundTruth& truth);
// Reads FormatGroundTruth's output. On a malformed line returns false and
// sets *error to "line N: reason".
bool ParseGroundTruth(std::string_view text, GroundTruth* out, std::string* error);

}  // namespace vigil::sim
