#include "bench/sim/province.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <span>

#include "bench/sim/signal.h"

namespace vigil::sim {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

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
    {SensorRole::kMethaneFace, "ch4-wf", "methane", "%CH4", 0, 4, 10s, 0.01, 0.20, 0.35, 0.06, 10,
     0.05, 20min, 0.01, 0.01, 0.02, 0.70},
    {SensorRole::kMethaneReturn, "ch4-ra", "methane", "%CH4", 0, 4, 10s, 0.01, 0.15, 0.30, 0.05, 10,
     0.04, 20min, 0.01, 0.01, 0.02, 0.60},
    {SensorRole::kMethaneIntake, "ch4-in", "methane", "%CH4", 0, 4, 10s, 0.01, 0.03, 0.08, 0.01, 10,
     0.01, 20min, 0.005, 0.005, 0.0, 0.25},
    {SensorRole::kCarbonMonoxide, "co-wf", "carbon_monoxide", "ppm", 0, 500, 15s, 1, 3, 8, 2, 10, 2,
     30min, 0.6, 0.5, 0, 16},
    {SensorRole::kWindSpeed, "ws-ra", "wind_speed", "m/s", 0, 15, 30s, 0.01, 1.8, 3.0, 0.1, 10, 0.2,
     30min, 0.05, 0.05, 0.8, 5.0},
    {SensorRole::kFaceTemperature, "tt-wf", "temperature", "degC", 0, 40, 30s, 0.1, 21, 23.5, 0.6,
     14, 0.3, 1h, 0.05, 0.1, 15, 25},
    // Hazardous chemicals: every 1-10 s.
    {SensorRole::kTankLevel, "lt", "level", "m", 0, 15, 5s, 0.001, 5, 9, 1.2, 18, 0.5, 1h, 0.002,
     0.2, 2.0, 11.5},
    {SensorRole::kTankTemperature, "tt", "temperature", "degC", -40, 200, 10s, 0.1, 18, 28, 3, 15,
     0.5, 1h, 0.05, 0.2, 0, 36},
    {SensorRole::kTankPressure, "pt", "pressure", "MPa", 0, 2.5, 2s, 0.001, 0.7, 1.0, 0.08, 15,
     0.03, 1h, 0.002, 0.01, 0.3, 1.35},
    {SensorRole::kCombustibleGas, "gt", "combustible_gas", "%LEL", 0, 100, 1s, 0.1, 0.3, 1.5, 0.2,
     14, 0.5, 10min, 0.15, 0.1, 0, 8},
    {SensorRole::kToxicGas, "at", "hydrogen_sulfide", "ppm", 0, 100, 1s, 0.1, 0.1, 0.8, 0.1, 14,
     0.2, 10min, 0.1, 0.05, 0, 3.5},
    // Tailings: every 1-10 min.
    {SensorRole::kPhreaticDepth, "pz", "phreatic_line_depth", "m", 0, 30, 10min, 0.01, 11, 14, 0, 0,
     0.15, 6h, 0.01, 0.05, 9, 20},
    {SensorRole::kDamDisplacement, "gnss", "dam_displacement", "mm", -500, 500, 5min, 0.1, -30, 30,
     0.5, 15, 0.2, 6h, 0.2, 0.3, -90, 90},
    {SensorRole::kRainfall, "rg", "rainfall", "mm", 0, 300, 1min, 0.1, 0, 6, 0, 0, 4, 3h, 0.05, 0,
     0, 30},
    {SensorRole::kPondLevel, "wl", "pond_level", "m", 0, 40, 5min, 0.01, 28, 31, 0, 0, 0.1, 6h,
     0.005, 0.05, 25, 34},
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

// The province's general rules: a quantity in every enterprise of a kind, or
// in the whole province. Per-sensor rules for the return airway and intake
// methane sensors are added by BuildProvince.
std::vector<RuleFigures> GeneralRules(const std::string& province_code) {
  return {
      {.id = "ch4-coal-face",
       .quantity = "methane",
       .enterprise_kind = SiteKind::kCoalMine,
       .hh = LevelFigure{1.5, 1},
       .h = LevelFigure{1.0, 2},
       .deadband = 0.5,
       .restore_high = 1.0,
       .off_delay = 10s,
       .source = "Methane at the coal face (AQ 1029; Coal Mine Safety Regulations): alarm >= 1.0 "
                 "%CH4, power cut-off >= 1.5 %CH4, restore < 1.0 %CH4 (deadband 0.5 holds HH "
                 "down to 1.0)."},
      {.id = "co-coal-mine",
       .quantity = "carbon_monoxide",
       .enterprise_kind = SiteKind::kCoalMine,
       .h = LevelFigure{24, 2},
       .deadband = 2,
       .on_delay = 10s,
       .off_delay = 30s,
       .source = "CO: at most 24 ppm (0.0024 %) in underground air (Coal Mine Safety "
                 "Regulations)."},
      {.id = "wind-speed-coal-mine",
       .quantity = "wind_speed",
       .enterprise_kind = SiteKind::kCoalMine,
       .h = LevelFigure{6, 3},
       .l = LevelFigure{0.25, 2},
       .deadband = 0.05,
       .on_delay = 30s,
       .off_delay = 30s,
       .source = "Air speed in a district return airway 0.25 .. 6 m/s (Coal Mine Safety "
                 "Regulations)."},
      {.id = "temperature-coal-face",
       .quantity = "temperature",
       .enterprise_kind = SiteKind::kCoalMine,
       .hh = LevelFigure{30, 2},
       .h = LevelFigure{26, 3},
       .deadband = 0.5,
       .on_delay = 1min,
       .off_delay = 5min,
       .source = "Air temperature at the face: above 26 degC hours are cut, above 30 degC work "
                 "stops (Coal Mine Safety Regulations)."},
      {.id = "combustible-gas-" + province_code,
       .quantity = "combustible_gas",
       .region_prefix = province_code,
       .hh = LevelFigure{50, 1},
       .h = LevelFigure{25, 2},
       .deadband = 2,
       .off_delay = 10s,
       .source = "Combustible gas: level 1 alarm 25 %LEL, level 2 alarm 50 %LEL (GB/T "
                 "50493-2019)."},
      {.id = "h2s-hazchem",
       .quantity = "hydrogen_sulfide",
       .enterprise_kind = SiteKind::kHazardousChemical,
       .hh = LevelFigure{14, 1},
       .h = LevelFigure{7, 2},
       .deadband = 1,
       .off_delay = 10s,
       .source = "Hydrogen sulfide: level 1 at 100 % OEL (MAC 10 mg/m3, ~7 ppm), level 2 at 200 % "
                 "(GB/T 50493-2019, GBZ 2.1)."},
      {.id = "tank-temperature-hazchem",
       .quantity = "temperature",
       .enterprise_kind = SiteKind::kHazardousChemical,
       .hh = LevelFigure{50, 2},
       .h = LevelFigure{40, 3},
       .deadband = 1,
       .on_delay = 30s,
       .off_delay = 1min,
       .rate = RateFigure{5, 1min, 2},
       .source = "Tank temperature: high 40 degC, high-high 50 degC (illustrative, pressurized "
                 "storage); a change faster than 5 degC/min means fire exposure or a runaway."},
      {.id = "tank-level-hazchem",
       .quantity = "level",
       .enterprise_kind = SiteKind::kHazardousChemical,
       .hh = LevelFigure{13.5, 1},
       .h = LevelFigure{12.75, 2},
       .l = LevelFigure{1.5, 3},
       .ll = LevelFigure{1.0, 2},
       .deadband = 0.05,
       .on_delay = 5s,
       .off_delay = 30s,
       .source = "Tank level on a 15 m tank: H 85 %, HH 90 % of the range; L and LL protect the "
                 "pumps (illustrative set points)."},
      {.id = "tank-pressure-hazchem",
       .quantity = "pressure",
       .enterprise_kind = SiteKind::kHazardousChemical,
       .hh = LevelFigure{1.6, 1},
       .h = LevelFigure{1.5, 2},
       .deadband = 0.02,
       .on_delay = 5s,
       .off_delay = 30s,
       .source = "Tank pressure, LPG sphere of design pressure 1.77 MPa: H 1.5, HH 1.6 MPa "
                 "(illustrative)."},
      {.id = "phreatic-line-tailings",
       .quantity = "phreatic_line_depth",
       .enterprise_kind = SiteKind::kTailings,
       .l = LevelFigure{8, 3},
       .ll = LevelFigure{6, 2},
       .deadband = 0.1,
       .on_delay = 30min,
       .off_delay = 1h,
       .source = "Phreatic line burial depth: a shallower line is a wetter, less stable dam "
                 "(illustrative, from the dam's stability analysis)."},
      {.id = "dam-displacement-tailings",
       .quantity = "dam_displacement",
       .enterprise_kind = SiteKind::kTailings,
       .h = LevelFigure{100, 3},
       .l = LevelFigure{-100, 3},
       .deadband = 2,
       .rate = RateFigure{5, 24h, 2},
       .source = "Dam surface displacement (GNSS, cumulative): beyond +-100 mm, or more than 5 mm "
                 "within a day (illustrative)."},
      {.id = "rainfall-tailings",
       .quantity = "rainfall",
       .enterprise_kind = SiteKind::kTailings,
       .hh = LevelFigure{100, 2},
       .h = LevelFigure{50, 3},
       .deadband = 1,
       .off_delay = 1h,
       .source = "Rainfall, running 24 h total: rainstorm >= 50 mm, heavy rainstorm >= 100 mm."},
      {.id = "pond-level-tailings",
       .quantity = "pond_level",
       .enterprise_kind = SiteKind::kTailings,
       .hh = LevelFigure{37, 1},
       .h = LevelFigure{35, 2},
       .deadband = 0.1,
       .on_delay = 5min,
       .off_delay = 30min,
       .source = "Pond level: high water eats the dry beach and the flood storage "
                 "(illustrative)."},
  };
}

// The general rule that selects a sensor of `quantity` at a site of `kind`.
uint32_t GeneralRuleIndex(const std::vector<RuleFigures>& rules, std::string_view quantity,
                          SiteKind kind) {
  for (uint32_t i = 0; i < rules.size(); ++i) {
    const RuleFigures& r = rules[i];
    if (r.sensor_id.empty() && r.quantity == quantity &&
        (!r.enterprise_kind || r.enterprise_kind == kind)) {
      return i;
    }
  }
  return 0;  // every role has one (tested: each sensor resolves to its rule in a RuleSet)
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
  r.off_delay = 10s;
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
  s.rule = GeneralRuleIndex(p->rules, spec.quantity, e.kind);
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

// `text` as `#` comment lines of at most about 100 columns, indented by two.
std::string Comment(std::string_view text) {
  std::string out;
  std::string line = "  #";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(pos, end - pos);
    if (line.size() + 1 + word.size() > 100 && line.size() > 3) {
      out += line + "\n";
      line = "  #";
    }
    line += " ";
    line += word;
    pos = end + 1;
  }
  return out + line + "\n";
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
  p.rules = GeneralRules(options.province_code);
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

std::string FormatNumber(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("nan");
}

std::string RegistryYaml(const Province& p) {
  std::string out =
      "# Registry of a simulated province, written by vigil-sim (seed " +
      std::to_string(p.options.seed) + ", " + std::to_string(p.options.enterprises) +
      " enterprises).\n# Format: server/config/registry_yaml.h.\n"
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
      ").\n# Format: server/config/rules_yaml.h; semantics: alarm/rule.h.\n"
      "# Regulatory figures are cited; plant set points are illustrative. Every rule raises\n"
      "# no-data after 3 missed expected intervals and keeps sensor-fault on (instrument "
      "range).\nrules:\n";
  for (const RuleFigures& r : p.rules) {
    out += Comment(r.source) + "  - id: " + r.id + "\n    select: { ";
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
  const ProvinceOptions& o = p.options;
  if (o.gateway_offline_after.count() > 0) {
    out +=
        "# A gateway silent this long (server clock) raises one gateway_offline alarm; the\n"
        "# no-data alarms of its sensors are suppressed while it is silent.\n"
        "gateway_offline: { after: " +
        FormatDuration(o.gateway_offline_after) +
        ", severity: " + std::to_string(o.gateway_offline_severity) + " }\n";
  }
  return out;
}

}  // namespace vigil::sim
