// Province: a simulated province of monitored enterprises (hazardous-chemical
// plants, coal mines, tailings dams), each behind one gateway, with the
// sensors each kind of site really has, their instrument ranges, reporting
// intervals and signal models, and the alarm rules that apply to them. Pure
// and deterministic: the same options always build the same province. Plain
// values; safe to share read-only between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/time_text.h"

namespace vigil::sim {

// Event time: milliseconds since the Unix epoch, UTC.
using TimestampMs = int64_t;

enum class SiteKind : uint8_t { kHazardousChemical, kCoalMine, kTailings };
// The registry's names: "hazardous_chemical", "coal_mine", "tailings".
std::string_view SiteKindName(SiteKind kind);

// What a sensor measures and where; decides its quantity, unit, range,
// interval, signal model, rule and which injected events can use it.
enum class SensorRole : uint8_t {
  // Coal mine, per longwall face.
  kMethaneFace,     // methane at the working face
  kMethaneReturn,   // methane in the face's return airway
  kMethaneIntake,   // methane in the face's intake airway
  kCarbonMonoxide,  // CO at the face
  kWindSpeed,       // air speed in the return airway
  kFaceTemperature,
  // Hazardous chemicals, per tank.
  kTankLevel,
  kTankTemperature,
  kTankPressure,
  kCombustibleGas,  // %LEL detector at the tank dike
  kToxicGas,        // hydrogen sulfide detector at the tank dike
  // Tailings dam, per monitoring section, then per reservoir.
  kPhreaticDepth,
  kDamDisplacement,
  kRainfall,  // the gauge's running 24 h total
  kPondLevel,
};

// A level of a threshold rule: high levels alarm at reading >= value, low
// levels at reading <= value. Severity 1 red .. 4 blue.
struct LevelFigure {
  double value = 0;
  int severity = 3;
};

struct RateFigure {
  double limit = 0;  // |change| per window above this raises the alarm
  std::chrono::milliseconds window{0};
  int severity = 2;
};

// One alarm rule, in the terms of the rules file (server/config/rules_yaml.h) and
// the semantics of alarm/rule.h. Exactly one selector: `sensor_id`, or
// `quantity` with `enterprise_kind` or `region_prefix`.
struct RuleFigures {
  std::string id{};
  std::string sensor_id{};
  std::string quantity{};
  std::string region_prefix{};
  std::optional<SiteKind> enterprise_kind{};
  std::optional<LevelFigure> hh{}, h{}, l{}, ll{};
  double deadband = 0;
  std::optional<double> restore_high{}, restore_low{};
  std::chrono::milliseconds on_delay{0}, off_delay{0};
  std::optional<RateFigure> rate{};
  uint32_t no_data_intervals = 3;  // x the sensor's expected interval
  int no_data_severity = 3;
  int sensor_fault_severity = 3;
  std::string source{};  // where the figures come from: a comment in the YAML
};

// How a sensor's normal reading moves: a base value, a daily cycle (local
// time, UTC+8), a slow random wander, white noise and a slow linear drift,
// clamped to [normal_low, normal_high] (a band strictly inside every alarm
// level of the sensor's rule, so that normal readings never raise an alarm),
// then rounded to the instrument's resolution.
struct SignalModel {
  double base = 0;
  double daily_amplitude = 0;  // half the day's swing
  double daily_peak_hour = 14;
  double wander_amplitude = 0;
  std::chrono::milliseconds wander_period{3'600'000};
  double noise_amplitude = 0;  // uniform +-
  double drift_per_day = 0;    // from the scenario start
  double normal_low = 0;
  double normal_high = 0;
  uint64_t seed = 0;
};

struct SensorSpec {
  std::string id;
  uint32_t enterprise = 0;  // index into Province::enterprises
  SensorRole role = SensorRole::kMethaneFace;
  std::string quantity;  // registry quantity, e.g. "methane"
  std::string unit;      // e.g. "%CH4"
  double range_low = 0;  // instrument range
  double range_high = 0;
  std::chrono::milliseconds interval{0};  // reporting interval (registry expected_interval)
  TimestampMs phase_ms = 0;               // offset of its samples within the interval
  double resolution = 0;                  // readings are multiples of it
  SignalModel signal;
  uint32_t rule = 0;  // index into Province::rules: the effective rule
};

struct EnterpriseSpec {
  std::string id;
  std::string name;
  SiteKind kind = SiteKind::kHazardousChemical;
  std::string region_code;  // 6 digits, GB/T 2260
  std::string gateway_id;
  std::vector<uint32_t> sensors;  // indexes into Province::sensors
};

struct ProvinceOptions {
  uint64_t seed = 1;
  // Enterprises, in turn hazardous-chemical, coal mine, tailings. Default: 30.
  uint32_t enterprises = 30;
  // 2-digit province code (GB/T 2260) that starts every region code. Default: "37" (Shandong).
  std::string province_code = "37";
  // The rules file's top-level gateway rule (alarm/rule.h GatewayOfflineRule):
  // a gateway that delivered nothing for `after` (server clock) raises one
  // gateway_offline alarm, and the no-data alarms of its sensors are
  // suppressed while it is silent. 0 leaves the key out (disabled). Default: 60 s.
  std::chrono::milliseconds gateway_offline_after{60'000};
  int gateway_offline_severity = 2;
};

struct Province {
  ProvinceOptions options;
  std::vector<EnterpriseSpec> enterprises;
  std::vector<SensorSpec> sensors;
  std::vector<RuleFigures> rules;

  const RuleFigures& RuleOf(const SensorSpec& sensor) const { return rules[sensor.rule]; }
};

// REQUIRES: options.enterprises >= 1, province_code is 2 digits.
Province BuildProvince(const ProvinceOptions& options);

// The registry file (server/config/registry_yaml.h format) and the rules file
// (server/config/rules_yaml.h format: the rules, and `gateway_offline` unless
// options.gateway_offline_after is 0) of the province.
std::string RegistryYaml(const Province& province);
std::string RulesYaml(const Province& province);

// "250ms", "10s", "5m", "2h", "1d": the largest unit that divides `d`, as
// vigild's config files write and read durations.
using alarm::FormatDuration;
// Shortest text that reads back as the same double.
std::string FormatNumber(double v);

}  // namespace vigil::sim
