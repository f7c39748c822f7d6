// Rule: one alarm rule (which sensors it selects, which conditions raise an
// alarm) and its validation. Plain value type; safe to copy across threads.
// Rules are grouped and resolved per sensor by RuleSet (rule_set.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "alarm/registry.h"
#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::alarm {

// Threshold level of a process alarm, ordered from low to high so that
// `level > Level::kNone` means "high side".
enum class Level : int8_t { kLL = -2, kL = -1, kNone = 0, kH = 1, kHH = 2 };
std::string_view LevelName(Level level);  // "LL", "L", "none", "H", "HH"

// Which sensors a rule applies to. Either `sensor_id` alone, or `quantity`
// together with exactly one of `enterprise_id`, `region_prefix`,
// `enterprise_kind`. Most specific wins (RuleSet): sensor > enterprise >
// region prefix (longer first) > enterprise kind.
struct Selector {
  std::string sensor_id{};
  std::string quantity{};       // Registry Sensor::quantity, e.g. "methane"
  std::string enterprise_id{};  // with quantity
  std::string region_prefix{};  // 1..6 digits of a GB/T 2260 code, with quantity
  EnterpriseKind enterprise_kind = EnterpriseKind::kUnspecified;  // with quantity

  bool operator==(const Selector&) const = default;
};

struct ThresholdLevel {
  // H/HH: alarm when reading >= value; L/LL: when reading <= value. With
  // `strict` (a standard's "above"/"below"): reading > value, < value; the
  // level is then also held only while strictly past its exit.
  double value = 0;
  Severity severity = Severity::kYellow;
  bool strict = false;

  bool operator==(const ThresholdLevel&) const = default;
};

// The longest rate-of-change window: a month (e.g. dam displacement per
// month). The engine keeps checkpoint times as 32-bit offsets (49.7 days),
// which must reach 1.25 windows back.
inline constexpr std::chrono::milliseconds kMaxRateWindow = std::chrono::days(31);

// The longest stuck-value time: the engine counts how long a value has been
// unchanged in 32 bits of milliseconds (49.7 days).
inline constexpr std::chrono::milliseconds kMaxStuckAfter = std::chrono::days(31);

// Which changes a rate-of-change rule watches: a tank heating up fast is the
// hazard, the same tank cooling as fast is not.
enum class RateDirection : uint8_t { kEither = 0, kRising = 1, kFalling = 2 };

// A change over `window` of more than `limit` in `direction` raises a
// rate-of-change alarm, e.g. rising 5 (°C) per 60 s. Evaluated against a
// reading between window and 1.25 x window old (fixed-size state, see
// engine.h).
struct RateOfChange {
  double limit = 0;                     // units per window, > 0
  std::chrono::milliseconds window{0};  // > 0, at most kMaxRateWindow
  Severity severity = Severity::kYellow;
  RateDirection direction = RateDirection::kEither;

  bool operator==(const RateOfChange&) const = default;
};

struct Rule {
  std::string id{};  // IsValidId
  Selector selector{};

  // Threshold levels; each optional. REQUIRES ll < l < h < hh where present.
  std::optional<ThresholdLevel> hh{}, h{}, l{}, ll{};
  // A level, once active, is left only when the reading is back past its
  // value by more than `deadband` (hysteresis). Default: 0.
  double deadband = 0;
  // Overrides the return to normal of the high (low) side: high alarms clear
  // when reading < restore_high; low alarms when reading > restore_low.
  // E.g. methane alarm >= 1.0 %CH4, restore below 1.0 %CH4.
  std::optional<double> restore_high{}, restore_low{};
  // Per level: a threshold alarm is raised, or escalated to a worse level
  // (H -> HH, L -> LL), only once it held at least that level for on_delay;
  // it is cleared, or de-escalated (HH -> H), only once it stayed below the
  // level (past its deadband) for off_delay. Default: 0 (immediate).
  std::chrono::milliseconds on_delay{0}, off_delay{0};

  std::optional<RateOfChange> rate{};

  // Communication lost after no_data_intervals x the sensor's expected
  // interval without a reading; 0 disables. Sensors without a declared
  // expected_interval never raise it. Default: 0.
  uint32_t no_data_intervals = 0;
  Severity no_data_severity = Severity::kYellow;

  // Sensor fault: a non-zero quality code or a value outside the sensor's
  // declared instrument range. Default: on.
  bool sensor_fault = true;
  Severity sensor_fault_severity = Severity::kYellow;

  // Stuck value (a frozen transmitter): readings of exactly the same value
  // (whatever their quality) spanning more than stuck_after of event time
  // raise a stuck-value alarm, cleared by the next different value. At most
  // kMaxStuckAfter; 0 disables. Default: 0.
  std::chrono::milliseconds stuck_after{0};
  Severity stuck_severity = Severity::kYellow;

  bool operator==(const Rule&) const = default;

  // kInvalidArgument naming the rule, the field and the reason, e.g.
  // "rule 'ch4': h.value 1.6 must be below hh.value 1.5".
  Status Validate() const;
};

// Gateway offline: a gateway that stored no batch for `after` raises one
// gateway-offline alarm (severity `severity`), cleared by its next batch; while
// a gateway is silent, the no-data alarms of the sensors it carried are
// suppressed (one alarm, not one per sensor). Applies to every gateway.
struct GatewayOfflineRule {
  std::chrono::milliseconds after{0};  // 0 disables (and no-data is never suppressed)
  Severity severity = Severity::kOrange;

  bool operator==(const GatewayOfflineRule&) const = default;

  // kInvalidArgument naming the field and the reason.
  Status Validate() const;
};

}  // namespace vigil::alarm
