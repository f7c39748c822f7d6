#include "server/config/rules_yaml.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>

#include "server/config/config.h"
#include "server/config/internal/yaml_item.h"
#include "server/config/text_input.h"

// Parsing stops at the first problem. Inside this file a problem is thrown as
// a RulesError (start-up or control-thread reload, never the data path) and
// turned into a Status by ParseRulesYaml, which never throws. Items, error
// messages and node descriptions are shared with the config and registry
// readers (server/config/internal/yaml_item.h); the key walking is this file's own.

namespace vigil::server {
namespace {

using alarm::Result;
using alarm::Status;
using Millis = std::chrono::milliseconds;

// As config.cc: keeps time arithmetic far from overflow.
constexpr Millis kMaxDuration = std::chrono::hours(24 * 36500);
constexpr int64_t kMaxNoDataIntervals = 1'000'000;

struct RulesError {
  std::string message;
};

using Item = internal::YamlItem;
using internal::Describe;

struct Key {
  std::string_view name;
  bool required;
  std::function<void(const Item&)> parse;
};

std::optional<int64_t> ParseInt64(std::string_view text) {
  if (text.starts_with('+')) {
    text.remove_prefix(1);
    if (text.starts_with('-')) return std::nullopt;  // "+-1": one sign only
  }
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

class Parser {
 public:
  explicit Parser(const std::string& source_name) : source_(source_name) {}

  RulesDocument Parse(const YAML::Node& root) {
    RulesDocument doc;
    if (root.IsNull()) return doc;  // Empty file or only comments.
    if (!root.IsMap()) Fail(root.Mark(), "", "expected a mapping with a 'rules' list");
    const Key top[] = {
        {"rules", false, [&](const Item& item) { RuleList(item, &doc.rules); }},
        {"gateway_offline", false,
         [&](const Item& item) { doc.gateway_offline = GatewayOffline(item); }},
        {"rollups", false, [&](const Item& item) { RollupList(item, &doc.rollups); }},
    };
    Map(Item{"", root.Mark(), root}, top);
    return doc;
  }

 private:
  [[noreturn]] void Fail(const YAML::Mark& mark, std::string_view path,
                         std::string_view reason) const {
    throw RulesError{internal::YamlErrorMessage(source_, mark, path, reason)};
  }
  [[noreturn]] void Fail(const Item& item, std::string_view reason) const {
    Fail(item.mark(), item.path, reason);
  }

  static std::string Child(const Item& where, std::string_view name) {
    return where.path.empty() ? std::string(name) : where.path + "." + std::string(name);
  }

  // Walks the mapping `where.value`, handing each key to its Key. Unknown,
  // duplicate and non-string keys fail, and so does a missing required key.
  void Map(const Item& where, std::span<const Key> keys) const {
    std::vector<std::string_view> seen;
    for (auto it = where.value.begin(); it != where.value.end(); ++it) {
      // Copies: yaml-cpp's iterator hands out a temporary pair of node handles.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) Fail(key.Mark(), where.path, "keys must be plain strings");
      auto known = std::find_if(keys.begin(), keys.end(),
                                [&](const Key& k) { return k.name == key.Scalar(); });
      if (known == keys.end()) {
        std::string names;
        for (const Key& k : keys) names += (names.empty() ? "" : ", ") + std::string(k.name);
        Fail(key.Mark(), Child(where, key.Scalar()), "unknown key (known: " + names + ")");
      }
      if (std::find(seen.begin(), seen.end(), known->name) != seen.end()) {
        Fail(key.Mark(), Child(where, key.Scalar()), "key given twice");
      }
      seen.push_back(known->name);
      known->parse(Item{Child(where, known->name), key.Mark(), value});
    }
    for (const Key& k : keys) {
      if (k.required && std::find(seen.begin(), seen.end(), k.name) == seen.end()) {
        Fail(where.mark(), Child(where, k.name), "required key missing");
      }
    }
  }

  // A nested mapping such as `levels:` or `select:`.
  void Section(const Item& item, std::span<const Key> keys) const {
    if (!item.value.IsMap()) Fail(item, "expected a mapping, got " + Describe(item.value));
    Map(item, keys);
  }

  std::string String(const Item& item) const {
    if (!item.value.IsScalar()) Fail(item, "expected a string, got " + Describe(item.value));
    return item.value.Scalar();
  }

  std::string Id(const Item& item) const {
    std::string id = String(item);
    if (!alarm::IsValidId(id)) {
      Fail(item, "'" + alarm::Echo(id) +
                     "' is not a valid id: 1..128 printable ASCII bytes without spaces");
    }
    return id;
  }

  double Number(const Item& item) const {
    if (!item.value.IsScalar()) Fail(item, "expected a number, got " + Describe(item.value));
    std::optional<double> value = ParseNumber(item.value.Scalar());
    if (!value) Fail(item, "expected a number, got '" + alarm::Echo(item.value.Scalar()) + "\'");
    if (!std::isfinite(*value)) {
      Fail(item, "must be a finite number, got '" + alarm::Echo(item.value.Scalar()) + "\'");
    }
    return *value;
  }

  alarm::Severity Severity(const Item& item) const {
    static constexpr std::string_view kReason = "must be 1 (red) .. 4 (blue)";
    if (!item.value.IsScalar()) {
      Fail(item, std::string(kReason) + ", got " + Describe(item.value));
    }
    const std::string& text = item.value.Scalar();
    static constexpr std::string_view kNames[] = {"red", "orange", "yellow", "blue"};
    for (size_t i = 0; i < 4; ++i) {
      if (text == kNames[i]) return static_cast<alarm::Severity>(i + 1);
    }
    std::optional<int64_t> value = ParseInt64(text);
    if (!value || *value < 1 || *value > 4) Fail(item, std::string(kReason) + ", got " + text);
    return static_cast<alarm::Severity>(*value);
  }

  Millis Duration(const Item& item, Millis min) const {
    if (!item.value.IsScalar()) Fail(item, "expected a duration, got " + Describe(item.value));
    Result<Millis> value = ParseDuration(item.value.Scalar());
    if (!value) Fail(item, value.error().message());
    if (*value > kMaxDuration) {
      Fail(item, "must be at most " + FormatDuration(kMaxDuration) + ", got '" +
                     alarm::Echo(item.value.Scalar()) + "\'");
    }
    if (*value < min)
      Fail(item, "must be positive, got '" + alarm::Echo(item.value.Scalar()) + "\'");
    return *value;
  }

  // `on`/`true` or `off`/`false`, for the switch form of no_data and
  // sensor_fault; nullopt for any other value.
  static std::optional<bool> Switch(const YAML::Node& node) {
    if (!node.IsScalar()) return std::nullopt;
    const std::string& text = node.Scalar();
    if (text == "on" || text == "true") return true;
    if (text == "off" || text == "false") return false;
    return std::nullopt;
  }

  // A list of entries named `what` in paths ("rules[2] (ch4-face)"), each
  // a mapping handed to `entry`.
  void EntryList(const Item& item, std::string_view what, std::string_view described,
                 const std::function<void(const Item&)>& entry) const {
    if (item.value.IsNull()) return;
    if (!item.value.IsSequence()) {
      Fail(item, "expected a list of " + std::string(described) + ", got " + Describe(item.value));
    }
    size_t index = 0;
    for (const YAML::Node& node : item.value) {
      std::string path = std::string(what) + "[" + std::to_string(index++) + "]";
      // Name the entry in every message once its id is known, wherever the
      // id key stands in the mapping.
      if (node.IsMap()) {
        const YAML::Node id = node["id"];
        if (id.IsDefined() && id.IsScalar() && alarm::IsValidId(id.Scalar()))
          path += " (" + id.Scalar() + ")";
      }
      Item element{std::move(path), node.Mark(), node};
      if (!node.IsMap()) Fail(element, "expected a mapping, got " + Describe(node));
      entry(element);
    }
  }

  void RuleList(const Item& item, std::vector<alarm::Rule>* rules) {
    EntryList(item, "rules", "rules",
              [&](const Item& element) { rules->push_back(RuleEntry(element)); });
  }

  void RollupList(const Item& item, std::vector<alarm::RollupRule>* rollups) {
    EntryList(item, "rollups", "roll-up rules", [&](const Item& element) {
      alarm::RollupRule rollup = RollupEntry(element);
      for (const alarm::RollupRule& earlier : *rollups) {
        if (earlier.id == rollup.id) Fail(element, "duplicate rollup id '" + rollup.id + "'");
      }
      if (Status s = rollup.Validate(); !s.ok()) Fail(element, s.message());
      rollups->push_back(std::move(rollup));
    });
  }

  // A scalar or a list of scalars, each handed to `one`.
  void OneOrMany(const Item& item, const std::function<void(const Item&)>& one) const {
    if (item.value.IsScalar()) return one(item);
    if (!item.value.IsSequence())
      Fail(item, "expected a name or a list, got " + Describe(item.value));
    size_t index = 0;
    for (const YAML::Node& node : item.value) {
      one(Item{item.path + "[" + std::to_string(index++) + "]", node.Mark(), node});
    }
  }

  alarm::RollupRule RollupEntry(const Item& item) {
    alarm::RollupRule r;
    const Key select[] = {
        {"facility_kind", false,
         [&](const Item& v) {
           OneOrMany(v, [&](const Item& k) {
             const std::string name = String(k);
             const alarm::FacilityKind kind = alarm::FacilityKindFromName(name);
             if (kind == alarm::FacilityKind::kUnspecified) {
               Fail(k,
                    "must be one of major_hazard_source, tank_farm, tailings_reservoir, "
                    "working_face, other, got '" +
                        alarm::Echo(name) + "'");
             }
             r.facility_kinds.push_back(kind);
           });
         }},
        {"facility", false,
         [&](const Item& v) {
           OneOrMany(v, [&](const Item& f) { r.facility_ids.push_back(Id(f)); });
         }},
        {"enterprise_kind", false,
         [&](const Item& v) {
           OneOrMany(v, [&](const Item& k) {
             const std::string name = String(k);
             const alarm::EnterpriseKind kind = alarm::EnterpriseKindFromName(name);
             if (kind == alarm::EnterpriseKind::kUnspecified) {
               Fail(k, "must be one of hazardous_chemical, coal_mine, tailings, other, got '" +
                           alarm::Echo(name) + "'");
             }
             r.enterprise_kinds.push_back(kind);
           });
         }},
    };
    const Key keys[] = {
        {"id", true, [&](const Item& v) { r.id = Id(v); }},
        {"parent", true,
         [&](const Item& v) {
           const std::string name = String(v);
           if (name == "item") {
             r.parent = alarm::RollupParent::kItem;
           } else if (name == "facility") {
             r.parent = alarm::RollupParent::kFacility;
           } else if (name == "enterprise") {
             r.parent = alarm::RollupParent::kEnterprise;
           } else {
             Fail(v, "must be one of item, facility, enterprise, got '" + alarm::Echo(name) + "'");
           }
         }},
        {"from", true,
         [&](const Item& v) {
           const std::string name = String(v);
           if (name == "sensors") {
             r.children = alarm::RollupChildren::kSensors;
           } else if (name == "items") {
             r.children = alarm::RollupChildren::kItems;
           } else if (name == "facilities") {
             r.children = alarm::RollupChildren::kFacilities;
           } else {
             Fail(v, "must be one of sensors, items, facilities, got '" + alarm::Echo(name) + "'");
           }
         }},
        {"select", false, [&](const Item& v) { Section(v, select); }},
        {"when", true,
         [&](const Item& v) {
           if (!v.value.IsSequence())
             Fail(v, "expected a list of conditions, got " + Describe(v.value));
           size_t index = 0;
           for (const YAML::Node& node : v.value) {
             Item cond{v.path + "[" + std::to_string(index++) + "]", node.Mark(), node};
             alarm::RollupCondition& c = r.when.emplace_back();
             const Key fields[] = {
                 {"count", true,
                  [&](const Item& n) {
                    const std::optional<int64_t> count =
                        n.value.IsScalar() ? ParseInt64(n.value.Scalar()) : std::nullopt;
                    if (!count || *count < 1 || *count > 1'000'000) {
                      Fail(n, "must be a whole number 1 .. 1000000");
                    }
                    c.count = static_cast<uint32_t>(*count);
                  }},
                 {"level", true, [&](const Item& n) { c.level = Severity(n); }},
                 {"raise", true, [&](const Item& n) { c.raise = Severity(n); }},
             };
             Section(cond, fields);
           }
         }},
    };
    Map(item, keys);
    return r;
  }

  alarm::Rule RuleEntry(const Item& item) {
    // Fields are collected in locals and the Rule built in one designated
    // initializer (g++ 12 -O3 warns falsely on field-by-field assignment).
    std::string id;
    alarm::Selector selector;
    std::optional<alarm::ThresholdLevel> hh, h, l, ll;
    double deadband = 0;
    std::optional<double> restore_high, restore_low;
    Millis on_delay{0}, off_delay{0};
    std::optional<alarm::RateOfChange> rate;
    uint32_t no_data_intervals = 0;
    alarm::Severity no_data_severity = alarm::Severity::kYellow;
    bool sensor_fault = true;
    alarm::Severity sensor_fault_severity = alarm::Severity::kYellow;
    Millis stuck_after{0};
    alarm::Severity stuck_severity = alarm::Severity::kYellow;

    const Key keys[] = {
        {"id", true,
         [&](const Item& v) {
           id = Id(v);
           auto [it, added] = rule_lines_.emplace(id, v.mark().line + 1);
           if (!added) {
             Fail(v, "duplicate rule id '" + id + "', first at line " + std::to_string(it->second));
           }
         }},
        {"select", true, [&](const Item& v) { selector = Select(v); }},
        {"levels", false,
         [&](const Item& v) {
           const Key level_keys[] = {
               {"hh", false, [&](const Item& lv) { hh = Level(lv, "above"); }},
               {"h", false, [&](const Item& lv) { h = Level(lv, "above"); }},
               {"l", false, [&](const Item& lv) { l = Level(lv, "below"); }},
               {"ll", false, [&](const Item& lv) { ll = Level(lv, "below"); }},
           };
           Section(v, level_keys);
         }},
        {"deadband", false,
         [&](const Item& v) {
           deadband = Number(v);
           if (deadband < 0) Fail(v, "must be >= 0, got '" + alarm::Echo(v.value.Scalar()) + "\'");
         }},
        {"restore_high", false, [&](const Item& v) { restore_high = Number(v); }},
        {"restore_low", false, [&](const Item& v) { restore_low = Number(v); }},
        {"on_delay", false, [&](const Item& v) { on_delay = Duration(v, Millis(0)); }},
        {"off_delay", false, [&](const Item& v) { off_delay = Duration(v, Millis(0)); }},
        {"rate_of_change", false, [&](const Item& v) { rate = Rate(v); }},
        {"no_data", false,
         [&](const Item& v) {
           if (std::optional<bool> on = Switch(v.value); on && !*on) {
             no_data_intervals = 0;
             return;
           }
           if (!v.value.IsMap()) {
             Fail(v, "expected { intervals: N, severity: S } or off, got " + Describe(v.value));
           }
           const Key no_data_keys[] = {
               {"intervals", true,
                [&](const Item& n) {
                  if (!n.value.IsScalar()) {
                    Fail(n, "expected an integer, got " + Describe(n.value));
                  }
                  std::optional<int64_t> count = ParseInt64(n.value.Scalar());
                  if (!count || *count < 0 || *count > kMaxNoDataIntervals) {
                    Fail(n, "must be an integer 0 (off) .. " + std::to_string(kMaxNoDataIntervals) +
                                ", got '" + alarm::Echo(n.value.Scalar()) + "\'");
                  }
                  no_data_intervals = static_cast<uint32_t>(*count);
                }},
               {"severity", false, [&](const Item& n) { no_data_severity = Severity(n); }},
           };
           Map(v, no_data_keys);
         }},
        {"sensor_fault", false,
         [&](const Item& v) {
           if (std::optional<bool> on = Switch(v.value)) {
             sensor_fault = *on;
             return;
           }
           if (!v.value.IsMap()) {
             Fail(v, "expected { severity: S }, on or off, got " + Describe(v.value));
           }
           const Key fault_keys[] = {
               {"severity", false, [&](const Item& n) { sensor_fault_severity = Severity(n); }},
           };
           Map(v, fault_keys);
           sensor_fault = true;
         }},
        {"stuck_value", false,
         [&](const Item& v) {
           if (std::optional<bool> on = Switch(v.value); on && !*on) {
             stuck_after = Millis(0);
             return;
           }
           if (!v.value.IsMap()) {
             Fail(v, "expected { after: D, severity: S } or off, got " + Describe(v.value));
           }
           const Key stuck_keys[] = {
               {"after", true,
                [&](const Item& n) {
                  stuck_after = Duration(n, Millis(1));
                  if (stuck_after > alarm::kMaxStuckAfter) {
                    Fail(n, "must be at most 31d, got '" + n.value.Scalar() + "'");
                  }
                }},
               {"severity", false, [&](const Item& n) { stuck_severity = Severity(n); }},
           };
           Map(v, stuck_keys);
         }},
    };
    Map(item, keys);

    alarm::Rule rule{
        .id = std::move(id),
        .selector = std::move(selector),
        .hh = hh,
        .h = h,
        .l = l,
        .ll = ll,
        .deadband = deadband,
        .restore_high = restore_high,
        .restore_low = restore_low,
        .on_delay = on_delay,
        .off_delay = off_delay,
        .rate = rate,
        .no_data_intervals = no_data_intervals,
        .no_data_severity = no_data_severity,
        .sensor_fault = sensor_fault,
        .sensor_fault_severity = sensor_fault_severity,
        .stuck_after = stuck_after,
        .stuck_severity = stuck_severity,
    };
    if (Status s = rule.Validate(); !s.ok()) Fail(item.mark(), item.path, s.message());
    return rule;
  }

  alarm::Selector Select(const Item& item) const {
    std::string sensor, quantity, enterprise, region;
    alarm::EnterpriseKind kind = alarm::EnterpriseKind::kUnspecified;
    const Key keys[] = {
        {"sensor", false, [&](const Item& v) { sensor = Id(v); }},
        {"quantity", false,
         [&](const Item& v) {
           quantity = String(v);
           if (quantity.empty()) Fail(v, "must not be empty");
         }},
        {"enterprise", false, [&](const Item& v) { enterprise = Id(v); }},
        {"region", false,
         [&](const Item& v) {
           // "3701" and a bare 3701 both arrive as the scalar text 3701.
           region = String(v);
           if (region.empty() || region.size() > 6 ||
               !std::all_of(region.begin(), region.end(),
                            [](char c) { return c >= '0' && c <= '9'; })) {
             Fail(v, "must be a prefix of 1..6 digits of a GB/T 2260 code such as \"3701\", got '" +
                         alarm::Echo(region) + "'");
           }
         }},
        {"enterprise_kind", false,
         [&](const Item& v) {
           const std::string name = String(v);
           kind = alarm::EnterpriseKindFromName(name);
           if (kind == alarm::EnterpriseKind::kUnspecified) {
             Fail(v, "must be one of hazardous_chemical, coal_mine, tailings, other, got '" +
                         alarm::Echo(name) + "'");
           }
         }},
    };
    Section(item, keys);

    std::string scopes;
    for (auto [given, name] :
         {std::pair{!enterprise.empty(), "enterprise"}, std::pair{!region.empty(), "region"},
          std::pair{kind != alarm::EnterpriseKind::kUnspecified, "enterprise_kind"}}) {
      if (given) scopes += (scopes.empty() ? "" : " and ") + std::string(name);
    }
    if (!sensor.empty()) {
      if (!quantity.empty() || !scopes.empty()) {
        Fail(item, "sensor selects one sensor and excludes quantity, enterprise, region and " +
                       std::string("enterprise_kind"));
      }
    } else if (quantity.empty()) {
      Fail(item, scopes.empty()
                     ? "select needs sensor, or quantity with one of enterprise, region, "
                       "enterprise_kind"
                     : "quantity is required with " + scopes);
    } else if (scopes.empty()) {
      Fail(item, "quantity needs one of enterprise, region, enterprise_kind");
    } else if (scopes.find(" and ") != std::string::npos) {
      Fail(item, "give only one of enterprise, region, enterprise_kind, got " + scopes);
    }
    return alarm::Selector{
        .sensor_id = std::move(sensor),
        .quantity = std::move(quantity),
        .enterprise_id = std::move(enterprise),
        .region_prefix = std::move(region),
        .enterprise_kind = kind,
    };
  }

  // `strict_key` is "above" (high levels) or "below" (low levels): the
  // strict comparison, given instead of `value`.
  alarm::ThresholdLevel Level(const Item& item, std::string_view strict_key) const {
    double value = 0;
    alarm::Severity severity = alarm::Severity::kYellow;
    int given = 0;
    bool strict = false;
    const Key keys[] = {
        {"value", false,
         [&](const Item& v) {
           value = Number(v);
           ++given;
         }},
        {strict_key, false,
         [&](const Item& v) {
           value = Number(v);
           strict = true;
           ++given;
         }},
        {"severity", true, [&](const Item& v) { severity = Severity(v); }},
    };
    Section(item, keys);
    if (given != 1) {
      const bool high = strict_key == "above";
      Fail(item, std::string("give exactly one of value (alarm when reading ") +
                     (high ? ">=" : "<=") + " it) and " + std::string(strict_key) +
                     " (when reading " + (high ? ">" : "<") + " it)");
    }
    return alarm::ThresholdLevel{.value = value, .severity = severity, .strict = strict};
  }

  alarm::RateDirection Direction(const Item& item) const {
    const std::string text = item.value.Scalar();
    if (text == "either") return alarm::RateDirection::kEither;
    if (text == "rising") return alarm::RateDirection::kRising;
    if (text == "falling") return alarm::RateDirection::kFalling;
    Fail(item, "must be either, rising or falling, got '" + alarm::Echo(text) + "'");
  }

  alarm::RateOfChange Rate(const Item& item) const {
    double limit = 0;
    Millis window{0};
    alarm::Severity severity = alarm::Severity::kYellow;
    alarm::RateDirection direction = alarm::RateDirection::kEither;
    const Key keys[] = {
        {"limit", true,
         [&](const Item& v) {
           limit = Number(v);
           if (limit <= 0) Fail(v, "must be > 0, got '" + alarm::Echo(v.value.Scalar()) + "\'");
         }},
        {"window", true, [&](const Item& v) { window = Duration(v, Millis(1)); }},
        {"severity", true, [&](const Item& v) { severity = Severity(v); }},
        {"direction", false, [&](const Item& v) { direction = Direction(v); }},
    };
    Section(item, keys);
    return alarm::RateOfChange{
        .limit = limit, .window = window, .severity = severity, .direction = direction};
  }

  alarm::GatewayOfflineRule GatewayOffline(const Item& item) const {
    alarm::GatewayOfflineRule rule;
    if (std::optional<bool> on = Switch(item.value); on && !*on) return rule;
    Millis after{0};
    const Key keys[] = {
        {"after", true, [&](const Item& v) { after = Duration(v, Millis(1)); }},
        {"severity", false, [&](const Item& v) { rule.severity = Severity(v); }},
    };
    Section(item, keys);
    rule.after = after;
    return rule;
  }

  const std::string& source_;
  // Rule id -> line of its id, for duplicate ids.
  std::unordered_map<std::string, int> rule_lines_;
};

}  // namespace

alarm::Result<std::vector<alarm::Rule>> ParseRulesYaml(std::string_view text,
                                                       const std::string& source_name) {
  auto doc = ParseRulesDocument(text, source_name);
  if (!doc) return doc.error();
  return std::move(doc->rules);
}

alarm::Result<RulesDocument> ParseRulesDocument(std::string_view text,
                                                const std::string& source_name) {
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return Parser(source_name).Parse(root);
  } catch (const RulesError& e) {
    return Status::InvalidArgument(e.message);
  } catch (const YAML::Exception& e) {
    std::string where = source_name;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return Status::InvalidArgument(where + ": invalid YAML: " + e.msg);
  }
}

alarm::Result<RulesDocument> LoadRulesFile(const std::filesystem::path& path) {
  Result<std::string> text = ReadTextFile(path);
  if (!text) return text.error();
  return ParseRulesDocument(*text, path.string());
}

namespace {

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// ", direction: ..." for a rate rule that watches one direction only.
std::string DirectionYaml(alarm::RateDirection direction) {
  switch (direction) {
    case alarm::RateDirection::kRising:
      return ", direction: rising";
    case alarm::RateDirection::kFalling:
      return ", direction: falling";
    case alarm::RateDirection::kEither:
      break;
  }
  return "";
}

}  // namespace

std::string FormatRulesYaml(const RulesDocument& document) {
  std::string out;
  const alarm::GatewayOfflineRule& g = document.gateway_offline;
  if (g.after.count() > 0) {
    out += "gateway_offline: { after: " + FormatDuration(g.after) +
           ", severity: " + std::to_string(static_cast<int>(g.severity)) + " }\n";
  }
  out += document.rules.empty() ? "rules: []\n" : "rules:\n";
  for (const alarm::Rule& r : document.rules) {
    out += "  - id: " + Quoted(r.id) + "\n";
    const alarm::Selector& sel = r.selector;
    if (!sel.sensor_id.empty()) {
      out += "    select: { sensor: " + Quoted(sel.sensor_id) + " }\n";
    } else {
      out += "    select: { quantity: " + Quoted(sel.quantity);
      if (!sel.enterprise_id.empty()) out += ", enterprise: " + Quoted(sel.enterprise_id);
      if (!sel.region_prefix.empty()) out += ", region: " + Quoted(sel.region_prefix);
      if (sel.enterprise_kind != alarm::EnterpriseKind::kUnspecified) {
        out += ", enterprise_kind: " + std::string(alarm::EnterpriseKindName(sel.enterprise_kind));
      }
      out += " }\n";
    }
    if (r.hh || r.h || r.l || r.ll) {
      out += "    levels:\n";
      const std::pair<const char*, const std::optional<alarm::ThresholdLevel>*> levels[] = {
          {"hh", &r.hh}, {"h", &r.h}, {"l", &r.l}, {"ll", &r.ll}};
      for (const auto& [name, level] : levels) {
        if (!*level) continue;
        const bool high = name[0] == 'h';
        const char* compare = !(*level)->strict ? "value" : (high ? "above" : "below");
        out += std::string("      ") + name + ": { " + compare + ": " + Number((*level)->value) +
               ", severity: " + std::to_string(static_cast<int>((*level)->severity)) + " }\n";
      }
    }
    if (r.deadband != 0) out += "    deadband: " + Number(r.deadband) + "\n";
    if (r.restore_high) out += "    restore_high: " + Number(*r.restore_high) + "\n";
    if (r.restore_low) out += "    restore_low: " + Number(*r.restore_low) + "\n";
    if (r.on_delay.count() > 0) out += "    on_delay: " + FormatDuration(r.on_delay) + "\n";
    if (r.off_delay.count() > 0) out += "    off_delay: " + FormatDuration(r.off_delay) + "\n";
    if (r.rate) {
      out += "    rate_of_change: { limit: " + Number(r.rate->limit) +
             ", window: " + FormatDuration(r.rate->window) +
             ", severity: " + std::to_string(static_cast<int>(r.rate->severity)) +
             DirectionYaml(r.rate->direction) + " }\n";
    }
    if (r.no_data_intervals > 0) {
      out += "    no_data: { intervals: " + std::to_string(r.no_data_intervals) +
             ", severity: " + std::to_string(static_cast<int>(r.no_data_severity)) + " }\n";
    } else {
      out += "    no_data: off\n";
    }
    if (r.sensor_fault) {
      out += "    sensor_fault: { severity: " +
             std::to_string(static_cast<int>(r.sensor_fault_severity)) + " }\n";
    } else {
      out += "    sensor_fault: off\n";
    }
    if (r.stuck_after.count() > 0) {
      out += "    stuck_value: { after: " + FormatDuration(r.stuck_after) +
             ", severity: " + std::to_string(static_cast<int>(r.stuck_severity)) + " }\n";
    }
  }
  if (!document.rollups.empty()) out += "rollups:\n";
  for (const alarm::RollupRule& r : document.rollups) {
    out += "  - id: " + Quoted(r.id) + "\n";
    out += "    parent: " + std::string(alarm::RollupParentName(r.parent)) + "\n";
    out += "    from: " + std::string(alarm::RollupChildrenName(r.children)) + "\n";
    std::vector<std::string> select;
    auto list = [](const auto& values, auto name) {
      std::string text = "[";
      for (const auto& v : values) text += (text.size() > 1 ? ", " : "") + name(v);
      return text + "]";
    };
    if (!r.facility_kinds.empty()) {
      select.push_back("facility_kind: " + list(r.facility_kinds, [](alarm::FacilityKind k) {
                         return std::string(alarm::FacilityKindName(k));
                       }));
    }
    if (!r.facility_ids.empty()) {
      select.push_back("facility: " + list(r.facility_ids, Quoted));
    }
    if (!r.enterprise_kinds.empty()) {
      select.push_back("enterprise_kind: " + list(r.enterprise_kinds, [](alarm::EnterpriseKind k) {
                         return std::string(alarm::EnterpriseKindName(k));
                       }));
    }
    if (!select.empty()) {
      out += "    select: { ";
      for (size_t i = 0; i < select.size(); ++i) out += (i > 0 ? ", " : "") + select[i];
      out += " }\n";
    }
    out += "    when:\n";
    for (const alarm::RollupCondition& c : r.when) {
      out += "      - { count: " + std::to_string(c.count) +
             ", level: " + std::to_string(static_cast<int>(c.level)) +
             ", raise: " + std::to_string(static_cast<int>(c.raise)) + " }\n";
    }
  }
  return out;
}

RulesDocument MergeRules(RulesDocument base, const RulesDocument& overlay,
                         bool overlay_sets_gateway) {
  for (const alarm::Rule& rule : overlay.rules) {
    auto it = std::find_if(base.rules.begin(), base.rules.end(),
                           [&](const alarm::Rule& r) { return r.id == rule.id; });
    if (it != base.rules.end()) {
      *it = rule;
    } else {
      base.rules.push_back(rule);
    }
  }
  for (const alarm::RollupRule& rollup : overlay.rollups) {
    auto it = std::find_if(base.rollups.begin(), base.rollups.end(),
                           [&](const alarm::RollupRule& r) { return r.id == rollup.id; });
    if (it != base.rollups.end()) {
      *it = rollup;
    } else {
      base.rollups.push_back(rollup);
    }
  }
  if (overlay_sets_gateway) base.gateway_offline = overlay.gateway_offline;
  return base;
}

bool SetsGatewayOffline(std::string_view text) {
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return root.IsMap() && root["gateway_offline"].IsDefined();
  } catch (const YAML::Exception&) {
    return false;
  }
}

}  // namespace vigil::server
