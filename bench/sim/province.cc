#include "bench/sim/province.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <span>

#include "bench/sim/signal.h"

namespace vigil::sim {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kSecond{1000};
constexpr milliseconds kMinute{60'000};
constexpr milliseconds kHour{3'600'000};

// What a sensor of one role is: the registry's view (quantity, unit, range,
// interval) and the normal signal (base drawn in [base_low, base_high)).
struct RoleSpec {
  SensorRole role;
  const char* tag;  // sensor id suffix; a digit (face, tank, section) follows when per-unit
  const char* quantity;
  const char* unit;
  double range_low, range_high;
  milliseconds interval;
  double resolution;
  double base_low, base_high;
  double daily_amplitude, daily_peak_hour;
  double wander_amplitude;
  milliseconds wander_period;
  double noise_amplitude;
  double max_drift_per_day;
  double normal_low, normal_high;
};

// Normal bands sit inside every level of the role's rule (below) by more
// than the rule's deadband, so normal readings never raise an alarm.
constexpr RoleSpec kRoles[] = {
    // Coal mine: KJ-type monitoring, every sensor polled at least every 30 s.
    {SensorRole::kMethaneFace, "ch4-wf", "methane", "%CH4", 0, 4, 10 * kSecond, 0.01, 0.20, 0.35,
     0.06, 10, 0.05, 20 * kMinute, 0.01, 0.01, 0.02, 0.70},
    {SensorRole::kMethaneReturn, "ch4-ra", "methane", "%CH4", 0, 4, 10 * kSecond, 0.01, 0.15, 0.30,
     0.05, 10, 0.04, 20 * kMinute, 0.01, 0.01, 0.02, 0.60},
    {SensorRole::kMethaneIntake, "ch4-in", "methane", "%CH4", 0, 4, 10 * kSecond, 0.01, 0.03, 0.08,
     0.01, 10, 0.01, 20 * kMinute, 0.005, 0.005, 0.0, 0.25},
    {SensorRole::kCarbonMonoxide, "co-wf", "carbon_monoxide", "ppm", 0, 500, 15 * kSecond, 1, 3, 8,
     2, 10, 2, 30 * kMinute, 0.6, 0.5, 0, 16},
    {SensorRole::kWindSpeed, "ws-ra", "wind_speed", "m/s", 0, 15, 30 * kSecond, 0.01, 1.8, 3.0, 0.1,
     10, 0.2, 30 * kMinute, 0.05, 0.05, 0.8, 5.0},
    {SensorRole::kFaceTemperature, "tt-wf", "temperature", "degC", 0, 40, 30 * kSecond, 0.1, 21,
     23.5, 0.6, 14, 0.3, kHour, 0.05, 0.1, 15, 25},
    // Hazardous chemicals: every 1-10 s.
    {SensorRole::kTankLevel, "lt", "level", "m", 0, 15, 5 * kSecond, 0.001, 5, 9, 1.2, 18, 0.5,
     kHour, 0.002, 0.2, 2.0, 11.5},
    {SensorRole::kTankTemperature, "tt", "temperature", "degC", -40, 200, 10 * kSecond, 0.1, 18, 28,
     3, 15, 0.5, kHour, 0.05, 0.2, 0, 36},
    {SensorRole::kTankPressure, "pt", "pressure", "MPa", 0, 2.5, 2 * kSecond, 0.001, 0.7, 1.0, 0.08,
     15, 0.03, kHour, 0.002, 0.01, 0.3, 1.35},
    {SensorRole::kCombustibleGas, "gt", "combustible_gas", "%LEL", 0, 100, kSecond, 0.1, 0.3, 1.5,
     0.2, 14, 0.5, 10 * kMinute, 0.15, 0.1, 0, 8},
    {SensorRole::kToxicGas, "at", "hydrogen_sulfide", "ppm", 0, 100, kSecond, 0.1, 0.1, 0.8, 0.1,
     14, 0.2, 10 * kMinute, 0.1, 0.05, 0, 3.5},
    // Tailings: every 1-10 min.
    {SensorRole::kPhreaticDepth, "pz", "phreatic_line_depth", "m", 0, 30, 10 * kMinute, 0.01, 11,
     14, 0, 0, 0.15, 6 * kHour, 0.01, 0.05, 9, 20},
    {SensorRole::kDamDisplacement, "gnss", "dam_displacement", "mm", -500, 500, 5 * kMinute, 0.1,
     -30, 30, 0.5, 15, 0.2, 6 * kHour, 0.2, 0.3, -90, 90},
    {SensorRole::kRainfall, "rg", "rainfall", "mm", 0, 300, kMinute, 0.1, 0, 6, 0, 0, 4, 3 * kHour,
     0.05, 0, 0, 30},
    {SensorRole::kPondLevel, "wl", "pond_level", "m", 0, 40, 5 * kMinute, 0.01, 28, 31, 0, 0, 0.1,
     6 * kHour, 0.005, 0.05, 25, 34},
};

const RoleSpec& SpecOf(SensorRole role) { return kRoles[static_cast<size_t>(role)]; }

constexpr std::array<SensorRole, 6> kFaceRoles = {
    SensorRole::kMethaneFace,    SensorRole::kMethaneReturn, SensorRole::kMethaneIntake,
    SensorRole::kCarbonMonoxide, SensorRole::kWindSpeed,     SensorRole::kFaceTemperature};
constexpr std::array<SensorRole, 5> kTankRoles = {
    SensorRole::kTankLevel, SensorRole::kTankTemperature, SensorRole::kTankPressure,
    SensorRole::kCombustibleGas, SensorRole::kToxicGas};
constexpr std::array<SensorRole, 2> kSectionRoles = {SensorRole::kPhreaticDepth,
                                                     SensorRole::kDamDisplacement};
constexpr std::array<SensorRole, 2> kReservoirRoles = {SensorRole::kRainfall,
                                                       SensorRole::kPondLevel};

std::string Padded(uint64_t n, size_t width) {
  std::string digits = std::to_string(n);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return digits;
}

RuleFigures KindRule(std::string id, const char* quantity, SiteKind kind, std::string source) {
  RuleFigures r;
  r.id = std::move(id);
  r.quantity = quantity;
  r.enterprise_kind = kind;
  r.source = std::move(source);
  return r;
}

// The province's rules, most general first. Per-sensor rules for the return
// airway and intake methane sensors are added by BuildProvince.
std::vector<RuleFigures> KindRules(const std::string& province_code) {
  std::vector<RuleFigures> rules;
  RuleFigures r = KindRule(
      "ch4-coal-face", "methane", SiteKind::kCoalMine,
      "Methane at the coal face (AQ 1029; Coal Mine Safety Regulations): alarm >= 1.0 %CH4, "
      "power cut-off >= 1.5 %CH4, restore < 1.0 %CH4 (deadband 0.5 holds HH down to 1.0).");
  r.hh = {1.5, 1};
  r.h = {1.0, 2};
  r.deadband = 0.5;
  r.restore_high = 1.0;
  r.off_delay = 10 * kSecond;
  rules.push_back(r);

  r = KindRule("co-coal-mine", "carbon_monoxide", SiteKind::kCoalMine,
               "CO: at most 24 ppm (0.0024 %) in underground air (Coal Mine Safety Regulations).");
  r.h = {24, 2};
  r.deadband = 2;
  r.on_delay = 10 * kSecond;
  r.off_delay = 30 * kSecond;
  rules.push_back(r);

  r = KindRule("wind-speed-coal-mine", "wind_speed", SiteKind::kCoalMine,
               "Air speed in a district return airway 0.25 .. 6 m/s (Coal Mine Safety "
               "Regulations).");
  r.h = {6, 3};
  r.l = {0.25, 2};
  r.deadband = 0.05;
  r.on_delay = 30 * kSecond;
  r.off_delay = 30 * kSecond;
  rules.push_back(r);

  r = KindRule("temperature-coal-face", "temperature", SiteKind::kCoalMine,
               "Air temperature at the face: above 26 degC hours are cut, above 30 degC work "
               "stops (Coal Mine Safety Regulations).");
  r.hh = {30, 2};
  r.h = {26, 3};
  r.deadband = 0.5;
  r.on_delay = kMinute;
  r.off_delay = 5 * kMinute;
  rules.push_back(r);

  r = RuleFigures{};
  r.id = "combustible-gas-" + province_code;
  r.quantity = "combustible_gas";
  r.region_prefix = province_code;
  r.source = "Combustible gas: level 1 alarm 25 %LEL, level 2 alarm 50 %LEL (GB/T 50493-2019).";
  r.hh = {50, 1};
  r.h = {25, 2};
  r.deadband = 2;
  r.off_delay = 10 * kSecond;
  rules.push_back(r);

  r = KindRule("h2s-hazchem", "hydrogen_sulfide", SiteKind::kHazardousChemical,
               "Hydrogen sulfide: level 1 at 100 % OEL (MAC 10 mg/m3, ~7 ppm), level 2 at 200 % "
               "(GB/T 50493-2019, GBZ 2.1).");
  r.hh = {14, 1};
  r.h = {7, 2};
  r.deadband = 1;
  r.off_delay = 10 * kSecond;
  rules.push_back(r);

  r = KindRule("tank-temperature-hazchem", "temperature", SiteKind::kHazardousChemical,
               "Tank temperature: high 40 degC, high-high 50 degC (illustrative, pressurized "
               "storage); a change faster than 5 degC/min means fire exposure or a runaway.");
  r.hh = {50, 2};
  r.h = {40, 3};
  r.deadband = 1;
  r.on_delay = 30 * kSecond;
  r.off_delay = kMinute;
  r.rate = RateFigure{5, kMinute, 2};
  rules.push_back(r);

  r = KindRule("tank-level-hazchem", "level", SiteKind::kHazardousChemical,
               "Tank level on a 15 m tank: H 85 %, HH 90 % of the range; L and LL protect the "
               "pumps (illustrative set points).");
  r.hh = {13.5, 1};
  r.h = {12.75, 2};
  r.l = {1.5, 3};
  r.ll = {1.0, 2};
  r.deadband = 0.05;
  r.on_delay = 5 * kSecond;
  r.off_delay = 30 * kSecond;
  rules.push_back(r);

  r = KindRule("tank-pressure-hazchem", "pressure", SiteKind::kHazardousChemical,
               "Tank pressure, LPG sphere of design pressure 1.77 MPa: H 1.5, HH 1.6 MPa "
               "(illustrative).");
  r.hh = {1.6, 1};
  r.h = {1.5, 2};
  r.deadband = 0.02;
  r.on_delay = 5 * kSecond;
  r.off_delay = 30 * kSecond;
  rules.push_back(r);

  r = KindRule("phreatic-line-tailings", "phreatic_line_depth", SiteKind::kTailings,
               "Phreatic line burial depth: a shallower line is a wetter, less stable dam "
               "(illustrative, from the dam's stability analysis).");
  r.l = {8, 3};
  r.ll = {6, 2};
  r.deadband = 0.1;
  r.on_delay = 30 * kMinute;
  r.off_delay = kHour;
  rules.push_back(r);

  r = KindRule("dam-displacement-tailings", "dam_displacement", SiteKind::kTailings,
               "Dam surface displacement (GNSS, cumulative): beyond +-100 mm, or more than 5 mm "
               "within a day (illustrative).");
  r.h = {100, 3};
  r.l = {-100, 3};
  r.deadband = 2;
  r.rate = RateFigure{5, 24 * kHour, 2};
  rules.push_back(r);

  r = KindRule("rainfall-tailings", "rainfall", SiteKind::kTailings,
               "Rainfall, running 24 h total: rainstorm >= 50 mm, heavy rainstorm >= 100 mm.");
  r.hh = {100, 2};
  r.h = {50, 3};
  r.deadband = 1;
  r.off_delay = kHour;
  rules.push_back(r);

  r = KindRule("pond-level-tailings", "pond_level", SiteKind::kTailings,
               "Pond level: high water eats the dry beach and the flood storage (illustrative).");
  r.hh = {37, 1};
  r.h = {35, 2};
  r.deadband = 0.1;
  r.on_delay = 5 * kMinute;
  r.off_delay = 30 * kMinute;
  rules.push_back(r);
  return rules;
}

// Index of the kind-wide rule a role falls under in KindRules().
uint32_t KindRuleIndex(SensorRole role) {
  switch (role) {
    case SensorRole::kMethaneFace:
    case SensorRole::kMethaneReturn:
    case SensorRole::kMethaneIntake:
      return 0;
    case SensorRole::kCarbonMonoxide:
      return 1;
    case SensorRole::kWindSpeed:
      return 2;
    case SensorRole::kFaceTemperature:
      return 3;
    case SensorRole::kCombustibleGas:
      return 4;
    case SensorRole::kToxicGas:
      return 5;
    case SensorRole::kTankTemperature:
      return 6;
    case SensorRole::kTankLevel:
      return 7;
    case SensorRole::kTankPressure:
      return 8;
    case SensorRole::kPhreaticDepth:
      return 9;
    case SensorRole::kDamDisplacement:
      return 10;
    case SensorRole::kRainfall:
      return 11;
    case SensorRole::kPondLevel:
      return 12;
  }
  return 0;
}

// Return airway of a face: alarm and cut-off at >= 1.0 %CH4, restore below
// 1.0; intake airway: >= 0.5 and below 0.5 (Coal Mine Safety Regulations,
// table of methane sensor settings). One level, since alarm and cut-off
// coincide.
RuleFigures AirwayRule(const SensorSpec& sensor, bool intake) {
  RuleFigures r;
  r.id = "ch4-" + sensor.id.substr(2);
  r.sensor_id = sensor.id;
  const double limit = intake ? 0.5 : 1.0;
  r.hh = {limit, 1};
  r.restore_high = limit;
  r.off_delay = 10 * kSecond;
  r.source = intake ? "Intake airway of a coal face: alarm and power cut-off >= 0.5 %CH4, "
                      "restore < 0.5 %CH4."
                    : "Return airway of a coal face: alarm and power cut-off >= 1.0 %CH4, "
                      "restore < 1.0 %CH4.";
  return r;
}

void AddSensor(Province* p, uint32_t enterprise, SensorRole role, const std::string& suffix,
               Draws* draws) {
  const RoleSpec& spec = SpecOf(role);
  const EnterpriseSpec& e = p->enterprises[enterprise];
  SensorSpec s;
  s.id = "s-" + e.id.substr(2) + "-" + spec.tag + suffix;
  s.enterprise = enterprise;
  s.role = role;
  s.quantity = spec.quantity;
  s.unit = spec.unit;
  s.range_low = spec.range_low;
  s.range_high = spec.range_high;
  s.interval = spec.interval;
  s.phase_ms =
      static_cast<TimestampMs>(draws->Next() % static_cast<uint64_t>(spec.interval.count()));
  s.resolution = spec.resolution;
  SignalModel& m = s.signal;
  m.base = draws->Uniform(spec.base_low, spec.base_high);
  m.daily_amplitude = spec.daily_amplitude * draws->Uniform(0.7, 1.0);
  m.daily_peak_hour = spec.daily_peak_hour + draws->Uniform(-1.5, 1.5);
  m.wander_amplitude = spec.wander_amplitude;
  m.wander_period = spec.wander_period;
  m.noise_amplitude = spec.noise_amplitude;
  m.drift_per_day = draws->Uniform(-spec.max_drift_per_day, spec.max_drift_per_day);
  m.normal_low = spec.normal_low;
  m.normal_high = spec.normal_high;
  m.seed = draws->Next();
  s.rule = KindRuleIndex(role);
  if (role == SensorRole::kMethaneReturn || role == SensorRole::kMethaneIntake) {
    s.rule = static_cast<uint32_t>(p->rules.size());
    p->rules.push_back(AirwayRule(s, role == SensorRole::kMethaneIntake));
  }
  p->enterprises[enterprise].sensors.push_back(static_cast<uint32_t>(p->sensors.size()));
  p->sensors.push_back(std::move(s));
}

void AddUnitSensors(Province* p, uint32_t enterprise, std::span<const SensorRole> roles,
                    const std::string& suffix, Draws* draws) {
  for (SensorRole role : roles) AddSensor(p, enterprise, role, suffix, draws);
}

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void AppendLevel(std::string* out, const char* name, const std::optional<LevelFigure>& level) {
  if (!level) return;
  *out += std::string("      ") + name + ": { value: " + FormatNumber(level->value) +
          ", severity: " + std::to_string(level->severity) + " }\n";
}

}  // namespace

std::string_view SiteKindName(SiteKind kind) {
  switch (kind) {
    case SiteKind::kHazardousChemical:
      return "hazardous_chemical";
    case SiteKind::kCoalMine:
      return "coal_mine";
    case SiteKind::kTailings:
      return "tailings";
  }
  return "other";
}

Province BuildProvince(const ProvinceOptions& options) {
  Province p;
  p.options = options;
  p.rules = KindRules(options.province_code);
  Draws draws(Mix(options.seed, 0x70726f76ULL));
  const size_t width = std::max<size_t>(4, std::to_string(options.enterprises).size());
  constexpr SiteKind kKinds[] = {SiteKind::kHazardousChemical, SiteKind::kCoalMine,
                                 SiteKind::kTailings};
  constexpr const char* kNames[] = {"Chemical Tank Farm", "Coal Mine", "Tailings Dam"};
  for (uint32_t i = 0; i < options.enterprises; ++i) {
    EnterpriseSpec e;
    const uint32_t k = i % 3;
    e.kind = kKinds[k];
    // City 01..17, county 01..12: plausible codes, not necessarily real ones.
    e.region_code =
        options.province_code + Padded(1 + draws.Index(17), 2) + Padded(1 + draws.Index(12), 2);
    const std::string number = Padded(i + 1, width);
    e.id = "e-" + e.region_code + "-" + number;
    e.gateway_id = "gw-" + e.region_code + "-" + number;
    e.name = std::string("Simulated ") + kNames[k] + " " + number;
    p.enterprises.push_back(std::move(e));
    switch (kKinds[k]) {
      case SiteKind::kCoalMine: {
        const uint32_t faces = 1 + draws.Index(2);
        for (uint32_t f = 1; f <= faces; ++f) {
          AddUnitSensors(&p, i, kFaceRoles, std::to_string(f), &draws);
        }
        break;
      }
      case SiteKind::kHazardousChemical: {
        const uint32_t tanks = 1 + draws.Index(3);
        for (uint32_t t = 1; t <= tanks; ++t) {
          AddUnitSensors(&p, i, kTankRoles, std::to_string(100 + t), &draws);
        }
        break;
      }
      case SiteKind::kTailings: {
        const uint32_t sections = 1 + draws.Index(2);
        for (uint32_t s = 1; s <= sections; ++s) {
          AddUnitSensors(&p, i, kSectionRoles, std::string(1, static_cast<char>('a' + s - 1)),
                         &draws);
        }
        AddUnitSensors(&p, i, kReservoirRoles, "", &draws);
        break;
      }
    }
  }
  return p;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  struct Unit {
    int64_t ms;
    const char* suffix;
  };
  constexpr Unit kUnits[] = {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
  for (const Unit& u : kUnits) {
    if (ms % u.ms == 0) return std::to_string(ms / u.ms) + u.suffix;
  }
  return std::to_string(ms) + "ms";
}

std::string FormatNumber(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("nan");
}

std::string RegistryYaml(const Province& p) {
  std::string out =
      "# Registry of a simulated province, written by vigil-sim (seed " +
      std::to_string(p.options.seed) + ", " + std::to_string(p.options.enterprises) +
      " enterprises). Format: server/registry_yaml.h.\n"
      "# Every enterprise has one gateway; sensor ranges and intervals are those of the site "
      "kind.\nenterprises:\n";
  for (const EnterpriseSpec& e : p.enterprises) {
    out += "  - id: " + e.id + "\n    name: " + Quoted(e.name) +
           "\n    kind: " + std::string(SiteKindName(e.kind)) + "\n    region_code: \"" +
           e.region_code + "\"\n";
  }
  out += "\nsensors:\n";
  for (const SensorSpec& s : p.sensors) {
    out += "  - id: " + s.id + "\n    enterprise: " + p.enterprises[s.enterprise].id +
           "\n    quantity: " + s.quantity + "\n    unit: " + Quoted(s.unit) + "\n    range: [" +
           FormatNumber(s.range_low) + ", " + FormatNumber(s.range_high) +
           "]\n    expected_interval: " + FormatDuration(s.interval) + "\n";
  }
  out += "\ngateways:\n";
  for (const EnterpriseSpec& e : p.enterprises) {
    out += "  - id: " + e.gateway_id + "\n    enterprise: " + e.id + "\n";
  }
  return out;
}

std::string RulesYaml(const Province& p) {
  std::string out =
      "# Alarm rules of a simulated province, written by vigil-sim (seed " +
      std::to_string(p.options.seed) +
      "). Format: server/rules_yaml.h; semantics: alarm/rule.h.\n"
      "# Regulatory figures are cited; plant set points are illustrative. Every rule raises\n"
      "# no-data after 3 missed expected intervals and keeps sensor-fault on (instrument "
      "range).\nrules:\n";
  for (const RuleFigures& r : p.rules) {
    out += "  # " + r.source + "\n  - id: " + r.id + "\n    select: { ";
    if (!r.sensor_id.empty()) {
      out += "sensor: " + r.sensor_id;
    } else if (r.enterprise_kind) {
      out += "quantity: " + r.quantity +
             ", enterprise_kind: " + std::string(SiteKindName(*r.enterprise_kind));
    } else {
      out += "quantity: " + r.quantity + ", region: \"" + r.region_prefix + "\"";
    }
    out += " }\n    levels:\n";
    AppendLevel(&out, "hh", r.hh);
    AppendLevel(&out, "h", r.h);
    AppendLevel(&out, "l", r.l);
    AppendLevel(&out, "ll", r.ll);
    out += "    deadband: " + FormatNumber(r.deadband) + "\n";
    if (r.restore_high) out += "    restore_high: " + FormatNumber(*r.restore_high) + "\n";
    if (r.restore_low) out += "    restore_low: " + FormatNumber(*r.restore_low) + "\n";
    out += "    on_delay: " + FormatDuration(r.on_delay) +
           "\n    off_delay: " + FormatDuration(r.off_delay) + "\n";
    if (r.rate) {
      out += "    rate_of_change: { limit: " + FormatNumber(r.rate->limit) +
             ", window: " + FormatDuration(r.rate->window) +
             ", severity: " + std::to_string(r.rate->severity) + " }\n";
    }
    out += "    no_data: { intervals: " + std::to_string(r.no_data_intervals) +
           ", severity: " + std::to_string(r.no_data_severity) + " }\n" +
           "    sensor_fault: { severity: " + std::to_string(r.sensor_fault_severity) + " }\n";
  }
  return out;
}

}  // namespace vigil::sim
