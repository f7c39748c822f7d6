#include "alarm/rule_set.h"

#include <string>
#include <utility>

namespace vigil::alarm {
namespace {

using Index = std::unordered_map<std::string, uint32_t>;

std::string Key(std::string_view quantity, std::string_view scope) {
  std::string key(quantity);
  key.push_back('\0');
  key.append(scope);
  return key;
}

// Inserts `key` -> `index`; a second rule with the same key is a tie.
Status Insert(Index& index, std::string key, uint32_t rule, const std::vector<Rule>& rules,
              std::string_view what) {
  auto [it, inserted] = index.emplace(std::move(key), rule);
  if (!inserted) {
    return Status::InvalidArgument("rules '" + rules[it->second].id + "' and '" + rules[rule].id +
                                   "' both select " + std::string(what) +
                                   ": make one more specific or merge them");
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<const RuleSet>> RuleSet::Build(std::vector<Rule> rules,
                                                      std::shared_ptr<const Registry> registry,
                                                      GatewayOfflineRule gateway_offline,
                                                      std::vector<RollupRule> rollups) {
  if (registry == nullptr) return Status::InvalidArgument("rule set: registry is null");
  if (Status s = gateway_offline.Validate(); !s.ok()) return s;
  std::unordered_map<std::string_view, size_t> rollup_ids;
  for (const RollupRule& rollup : rollups) {
    if (Status s = rollup.Validate(); !s.ok()) return s;
    if (!rollup_ids.emplace(rollup.id, 0).second) {
      return Status::InvalidArgument("rollup '" + rollup.id + "': duplicate rollup id");
    }
    for (const std::string& facility : rollup.facility_ids) {
      if (registry->FindFacility(facility) == nullptr) {
        return Status::InvalidArgument("rollup '" + rollup.id + "': select.facility '" +
                                       Echo(facility) + "' is not a registered facility");
      }
    }
  }
  Index by_id, by_sensor, by_enterprise, by_region, by_kind;
  for (uint32_t i = 0; i < rules.size(); ++i) {
    const Rule& rule = rules[i];
    if (Status s = rule.Validate(); !s.ok()) return s;
    if (auto [it, inserted] = by_id.emplace(rule.id, i); !inserted) {
      return Status::InvalidArgument("rule '" + rule.id + "': duplicate rule id");
    }
    const Selector& sel = rule.selector;
    Status s;
    if (!sel.sensor_id.empty()) {
      if (registry->FindSensor(sel.sensor_id) == nullptr) {
        return Status::InvalidArgument("rule '" + rule.id + "': selector.sensor_id '" +
                                       sel.sensor_id + "' is not a registered sensor");
      }
      s = Insert(by_sensor, sel.sensor_id, i, rules, "sensor '" + sel.sensor_id + "'");
    } else if (!sel.enterprise_id.empty()) {
      if (registry->FindEnterprise(sel.enterprise_id) == nullptr) {
        return Status::InvalidArgument("rule '" + rule.id + "': selector.enterprise_id '" +
                                       sel.enterprise_id + "' is not a registered enterprise");
      }
      s = Insert(by_enterprise, Key(sel.quantity, sel.enterprise_id), i, rules,
                 "quantity '" + Echo(sel.quantity) + "' in enterprise '" + sel.enterprise_id + "'");
    } else if (!sel.region_prefix.empty()) {
      s = Insert(by_region, Key(sel.quantity, sel.region_prefix), i, rules,
                 "quantity '" + Echo(sel.quantity) + "' in region '" + sel.region_prefix + "'");
    } else {
      s = Insert(by_kind, Key(sel.quantity, EnterpriseKindName(sel.enterprise_kind)), i, rules,
                 "quantity '" + Echo(sel.quantity) + "' in enterprise kind '" +
                     std::string(EnterpriseKindName(sel.enterprise_kind)) + "'");
    }
    if (!s.ok()) return s;
  }

  std::shared_ptr<RuleSet> set(new RuleSet());
  set->rules_ = std::move(rules);
  set->gateway_offline_ = gateway_offline;
  set->rollups_ = std::move(rollups);
  set->registry_ = std::move(registry);
  const auto& sensors = set->registry_->entries().sensors;
  set->effective_.reserve(sensors.size());
  auto find = [](const Index& index, const std::string& key) -> const uint32_t* {
    auto it = index.find(key);
    return it == index.end() ? nullptr : &it->second;
  };
  std::string key;
  for (const Sensor& sensor : sensors) {
    const uint32_t* rule = find(by_sensor, sensor.id);
    const Enterprise* ent = set->registry_->FindEnterprise(sensor.enterprise_id);
    if (rule == nullptr && ent != nullptr) {
      rule = find(by_enterprise, Key(sensor.quantity, ent->id));
      // Longest region prefix first.
      for (size_t len = ent->region_code.size(); rule == nullptr && len > 0; --len) {
        rule = find(by_region,
                    Key(sensor.quantity, std::string_view(ent->region_code).substr(0, len)));
      }
      if (rule == nullptr) {
        rule = find(by_kind, Key(sensor.quantity, EnterpriseKindName(ent->kind)));
      }
    }
    if (rule != nullptr) set->effective_.emplace(sensor.id, *rule);
  }
  return std::shared_ptr<const RuleSet>(std::move(set));
}

const Rule* RuleSet::ForSensor(std::string_view sensor_id) const {
  auto it = effective_.find(sensor_id);
  return it == effective_.end() ? nullptr : &rules_[it->second];
}

}  // namespace vigil::alarm
