#include "server/config/registry_yaml.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/config/config.h"
#include "server/config/internal/yaml_item.h"
#include "server/config/text_input.h"

// Parsing stops at the first problem. Inside this file a problem is thrown as
// a RegistryError (start-up or control-thread reload, never the data path) and
// turned into a Status by ParseRegistryYaml, which never throws. yaml-cpp
// stays in this file.

namespace vigil::server {
namespace {

using alarm::Result;
using alarm::Status;

struct RegistryError {
  std::string message;
};

using Item = internal::YamlItem;
using internal::Describe;

struct Key {
  std::string_view name;
  bool required;
  std::function<void(const Item&)> parse;
};

// Where an id or a reference was written, for the cross-entry checks.
struct Written {
  std::string path;
  YAML::Mark mark;
};

bool IsRegionCode(std::string_view code) {
  return code.size() == 6 &&
         std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class Parser {
 public:
  explicit Parser(const std::string& source_name) : source_(source_name) {}

  alarm::RegistryEntries Parse(const YAML::Node& root) {
    if (root.IsNull()) return std::move(entries_);
    if (!root.IsMap()) {
      Fail(root.Mark(), "",
           "expected a mapping with enterprises, facilities, sensors and gateways");
    }
    const Key sections[] = {
        {"enterprises", false, [&](const Item& item) { List(item, &Parser::EnterpriseEntry); }},
        {"facilities", false, [&](const Item& item) { List(item, &Parser::FacilityEntry); }},
        {"sensors", false, [&](const Item& item) { List(item, &Parser::SensorEntry); }},
        {"gateways", false, [&](const Item& item) { List(item, &Parser::GatewayEntry); }},
    };
    Map(root, Item{"", root.Mark(), root}, sections);
    CheckIds();
    return std::move(entries_);
  }

 private:
  [[noreturn]] void Fail(const YAML::Mark& mark, std::string_view path,
                         std::string_view reason) const {
    throw RegistryError{internal::YamlErrorMessage(source_, mark, path, reason)};
  }
  [[noreturn]] void Fail(const Item& item, std::string_view reason) const {
    Fail(item.mark(), item.path, reason);
  }

  // Walks the mapping `where.value`, handing each key to its Key. Unknown,
  // duplicate and non-string keys fail, and so does a missing required key.
  void Map(const YAML::Node& node, const Item& where, std::span<const Key> keys) const {
    const auto child = [&where](std::string_view name) {
      return where.path.empty() ? std::string(name) : where.path + "." + std::string(name);
    };
    std::vector<std::string_view> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies: yaml-cpp's iterator hands out a temporary pair of node handles.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) Fail(key.Mark(), where.path, "keys must be plain strings");
      auto known = std::find_if(keys.begin(), keys.end(),
                                [&](const Key& k) { return k.name == key.Scalar(); });
      if (known == keys.end()) {
        std::string names;
        for (const Key& k : keys) names += (names.empty() ? "" : ", ") + std::string(k.name);
        Fail(key.Mark(), child(key.Scalar()), "unknown key (known: " + names + ")");
      }
      if (std::find(seen.begin(), seen.end(), known->name) != seen.end()) {
        Fail(key.Mark(), child(key.Scalar()), "key given twice");
      }
      seen.push_back(known->name);
      known->parse(Item{child(known->name), key.Mark(), value});
    }
    for (const Key& k : keys) {
      if (k.required && std::find(seen.begin(), seen.end(), k.name) == seen.end()) {
        Fail(where.mark(), child(k.name), "required key missing");
      }
    }
  }

  // A section: a list of entries, each a mapping parsed by `entry`.
  void List(const Item& item, void (Parser::*entry)(const Item&)) {
    if (item.value.IsNull()) return;
    if (!item.value.IsSequence()) {
      Fail(item, "expected a list of entries, got " + Describe(item.value));
    }
    size_t index = 0;
    for (const YAML::Node& node : item.value) {
      Item element{item.path + "[" + std::to_string(index++) + "]", node.Mark(), node};
      if (!node.IsMap()) Fail(element, "expected a mapping, got " + Describe(node));
      (this->*entry)(element);
    }
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

  // An enterprise reference; checked against the enterprises in CheckIds().
  std::string Reference(const Item& item) {
    std::string id = String(item);
    references_.emplace_back(id, Written{item.path, item.mark()});
    return id;
  }

  void EnterpriseEntry(const Item& item) {
    alarm::Enterprise& e = entries_.enterprises.emplace_back();
    const Key keys[] = {
        {"id", true,
         [&](const Item& v) {
           e.id = Id(v);
           AddId(enterprise_ids_, e.id, v, "enterprise");
         }},
        {"name", false, [&](const Item& v) { e.name = String(v); }},
        {"kind", true,
         [&](const Item& v) {
           const std::string kind = String(v);
           e.kind = alarm::EnterpriseKindFromName(kind);
           if (e.kind == alarm::EnterpriseKind::kUnspecified) {
             Fail(v, "must be one of hazardous_chemical, coal_mine, tailings, other, got '" +
                         alarm::Echo(kind) + "'");
           }
         }},
        {"region_code", true,
         [&](const Item& v) {
           // "370105" and a bare 370105 both arrive as the scalar text 370105.
           e.region_code = String(v);
           if (!IsRegionCode(e.region_code)) {
             Fail(v, "must be a 6-digit administrative division code such as \"370105\", got '" +
                         alarm::Echo(e.region_code) + "'");
           }
         }},
    };
    Map(item.value, item, keys);
  }

  void SensorEntry(const Item& item) {
    alarm::Sensor& s = entries_.sensors.emplace_back();
    const Key keys[] = {
        {"id", true,
         [&](const Item& v) {
           s.id = Id(v);
           AddId(sensor_ids_, s.id, v, "sensor");
         }},
        {"enterprise", true, [&](const Item& v) { s.enterprise_id = Reference(v); }},
        {"facility", false,
         [&](const Item& v) {
           s.facility_id = String(v);
           places_.push_back({entries_.sensors.size() - 1, Written{v.path, v.mark()}, false});
         }},
        {"item", false,
         [&](const Item& v) {
           s.item_id = String(v);
           places_.push_back({entries_.sensors.size() - 1, Written{v.path, v.mark()}, true});
         }},
        {"quantity", true, [&](const Item& v) { s.quantity = String(v); }},
        {"unit", true, [&](const Item& v) { s.unit = String(v); }},
        {"range", false, [&](const Item& v) { Range(v, &s); }},
        {"expected_interval", false,
         [&](const Item& v) {
           if (!v.value.IsScalar()) Fail(v, "expected a duration, got " + Describe(v.value));
           Result<std::chrono::milliseconds> interval = ParseDuration(v.value.Scalar());
           if (!interval) Fail(v, interval.error().message());
           if (*interval > alarm::kMaxExpectedInterval) {
             Fail(v, "must be at most " + FormatDuration(alarm::kMaxExpectedInterval) + ", got '" +
                         alarm::Echo(v.value.Scalar()) + "\'");
           }
           if (interval->count() == 0) {
             Fail(v, "must be positive; leave the key out when there is no expected interval");
           }
           s.expected_interval = *interval;
         }},
    };
    Map(item.value, item, keys);
  }

  void GatewayEntry(const Item& item) {
    alarm::Gateway& g = entries_.gateways.emplace_back();
    const Key keys[] = {
        {"id", true,
         [&](const Item& v) {
           g.id = Id(v);
           AddId(gateway_ids_, g.id, v, "gateway");
         }},
        {"enterprise", true, [&](const Item& v) { g.enterprise_id = Reference(v); }},
    };
    Map(item.value, item, keys);
  }

  void FacilityEntry(const Item& item) {
    alarm::Facility& f = entries_.facilities.emplace_back();
    const Key keys[] = {
        {"id", true,
         [&](const Item& v) {
           f.id = Id(v);
           AddId(place_ids_, f.id, v, "facility or item");
         }},
        {"enterprise", true, [&](const Item& v) { f.enterprise_id = Reference(v); }},
        {"kind", true,
         [&](const Item& v) {
           const std::string kind = String(v);
           f.kind = alarm::FacilityKindFromName(kind);
           if (f.kind == alarm::FacilityKind::kUnspecified) {
             Fail(v,
                  "must be one of major_hazard_source, tank_farm, tailings_reservoir, "
                  "working_face, other, got '" +
                      alarm::Echo(kind) + "'");
           }
         }},
        {"name", false, [&](const Item& v) { f.name = String(v); }},
        {"items", false,
         [&](const Item& v) {
           if (v.value.IsNull()) return;
           if (!v.value.IsSequence()) Fail(v, "expected a list of items, got " + Describe(v.value));
           size_t index = 0;
           for (const YAML::Node& node : v.value) {
             Item element{v.path + "[" + std::to_string(index++) + "]", node.Mark(), node};
             if (!node.IsMap()) Fail(element, "expected a mapping, got " + Describe(node));
             alarm::MonitoringItem& i = f.items.emplace_back();
             const Key item_keys[] = {
                 {"id", true,
                  [&](const Item& n) {
                    i.id = Id(n);
                    AddId(place_ids_, i.id, n, "facility or item");
                  }},
                 {"name", false, [&](const Item& n) { i.name = String(n); }},
             };
             Map(node, element, item_keys);
           }
         }},
    };
    Map(item.value, item, keys);
  }

  void Range(const Item& item, alarm::Sensor* sensor) const {
    const YAML::Node& node = item.value;
    if (!node.IsSequence() || node.size() != 2 || !node[0].IsScalar() || !node[1].IsScalar()) {
      Fail(item, "expected [low, high], got " + Describe(node));
    }
    double bounds[2] = {0, 0};
    for (size_t i = 0; i < 2; ++i) {
      const std::string& text = node[i].Scalar();
      std::optional<double> value = ParseNumber(text);
      if (!value || !std::isfinite(*value)) {
        Fail(node[i].Mark(), item.path,
             "expected [low, high] of finite numbers, got '" + alarm::Echo(text) + "'");
      }
      bounds[i] = *value;
    }
    if (!(bounds[0] < bounds[1])) {
      Fail(item,
           "low must be below high, got [" + node[0].Scalar() + ", " + node[1].Scalar() + "]");
    }
    sensor->range_low = bounds[0];
    sensor->range_high = bounds[1];
  }

  using IdIndex = std::unordered_map<std::string, Written>;

  void AddId(IdIndex& index, const std::string& id, const Item& item, std::string_view what) {
    auto [it, added] = index.emplace(id, Written{item.path, item.mark()});
    if (!added) {
      Fail(item, "duplicate " + std::string(what) + " id '" + id + "', first at line " +
                     std::to_string(it->second.mark.line + 1) + " (" + it->second.path + ")");
    }
  }

  // References can point forward (sensors may come before enterprises), so
  // they are checked once everything is read.
  void CheckIds() const {
    for (const auto& [id, written] : references_) {
      if (!enterprise_ids_.contains(id)) {
        Fail(written.mark, written.path, "unknown enterprise '" + alarm::Echo(id) + "'");
      }
    }
    for (const auto& [id, written] : place_ids_) {
      if (enterprise_ids_.contains(id)) {
        Fail(written.mark, written.path,
             "id '" + id + "' already names an enterprise (roll-up alarms are raised by id)");
      }
    }
    for (const Place& place : places_) {
      const alarm::Sensor& s = entries_.sensors[place.sensor];
      const alarm::Facility* facility = nullptr;
      for (const alarm::Facility& f : entries_.facilities) {
        if (f.id == s.facility_id) facility = &f;
      }
      if (!place.item) {
        if (facility == nullptr) {
          Fail(place.written.mark, place.written.path,
               "unknown facility '" + alarm::Echo(s.facility_id) + "'");
        }
        if (facility->enterprise_id != s.enterprise_id) {
          Fail(place.written.mark, place.written.path,
               "facility '" + facility->id + "' belongs to enterprise '" + facility->enterprise_id +
                   "', not the sensor's '" + s.enterprise_id + "'");
        }
        continue;
      }
      if (s.facility_id.empty()) {
        Fail(place.written.mark, place.written.path,
             "an item needs the sensor's facility (key `facility`)");
      }
      const bool found =
          facility != nullptr &&
          std::any_of(facility->items.begin(), facility->items.end(),
                      [&](const alarm::MonitoringItem& i) { return i.id == s.item_id; });
      if (!found) {
        Fail(place.written.mark, place.written.path,
             "facility '" + alarm::Echo(s.facility_id) + "' has no item '" +
                 alarm::Echo(s.item_id) + "'");
      }
    }
  }

  const std::string& source_;
  alarm::RegistryEntries entries_;
  IdIndex enterprise_ids_;
  IdIndex sensor_ids_;
  IdIndex gateway_ids_;
  IdIndex place_ids_;  // facilities and their items: one namespace
  std::vector<std::pair<std::string, Written>> references_;
  // A sensor's facility or item, checked once every facility is read.
  struct Place {
    size_t sensor;
    Written written;
    bool item;  // else its facility
  };
  std::vector<Place> places_;
};

}  // namespace

alarm::Result<alarm::RegistryEntries> ParseRegistryYaml(std::string_view text,
                                                        const std::string& source_name) {
  alarm::RegistryEntries entries;
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    entries = Parser(source_name).Parse(root);
  } catch (const RegistryError& e) {
    return Status::InvalidArgument(e.message);
  } catch (const YAML::Exception& e) {
    std::string where = source_name;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return Status::InvalidArgument(where + ": invalid YAML: " + e.msg);
  }
  // The checks above cover Build's; this keeps the two from drifting apart.
  auto built = alarm::Registry::Build(entries);
  if (!built) return Status::InvalidArgument(source_name + ": " + built.error().message());
  return entries;
}

alarm::Result<alarm::RegistryEntries> LoadRegistryFile(const std::filesystem::path& path) {
  Result<std::string> text = ReadTextFile(path);
  if (!text) return text.error();
  return ParseRegistryYaml(*text, path.string());
}

}  // namespace vigil::server
