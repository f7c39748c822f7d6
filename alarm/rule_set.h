// RuleSet: an immutable, validated set of rules resolved against one Registry
// snapshot. Built once (on the control thread), then shared read-only by every
// shard as std::shared_ptr<const RuleSet>: any number of threads may read it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "alarm/registry.h"
#include "alarm/rollup.h"
#include "alarm/rule.h"
#include "alarm/status.h"

namespace vigil::alarm {

// Resolution: for each sensor of the registry the effective rule is the most
// specific one that selects it: a sensor rule, else a rule for its quantity in
// its enterprise, else in its region (the longest matching prefix), else for
// its enterprise kind. A per-sensor rule replaces the general one whole (no
// field merge). The map sensor -> rule is precomputed by Build.
class RuleSet {
 public:
  // Validates every rule (Rule::Validate) and resolves them. kInvalidArgument
  // on: an invalid rule, a duplicate rule id, a selector naming an unknown
  // sensor or enterprise, two rules with the same selector (a tie).
  // `gateway_offline` applies to every gateway (kInvalidArgument if invalid).
  // `rollups` (alarm/rollup.h) are validated (RollupRule::Validate, unique
  // ids, facility ids registered); they are evaluated by the journal, not
  // the shards' engines.
  static Result<std::shared_ptr<const RuleSet>> Build(std::vector<Rule> rules,
                                                      std::shared_ptr<const Registry> registry,
                                                      GatewayOfflineRule gateway_offline = {},
                                                      std::vector<RollupRule> rollups = {});

  // The effective rule of `sensor_id`, or nullptr when none applies or the
  // sensor is unknown. One hash lookup. Valid as long as this RuleSet.
  const Rule* ForSensor(std::string_view sensor_id) const;

  const std::vector<Rule>& rules() const { return rules_; }
  const GatewayOfflineRule& gateway_offline() const { return gateway_offline_; }
  // In the file's order: the first that selects a parent applies to it.
  const std::vector<RollupRule>& rollups() const { return rollups_; }
  const Registry& registry() const { return *registry_; }
  const std::shared_ptr<const Registry>& shared_registry() const { return registry_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  RuleSet() = default;

  std::vector<Rule> rules_;
  GatewayOfflineRule gateway_offline_;
  std::vector<RollupRule> rollups_;
  std::shared_ptr<const Registry> registry_;
  // Keys view into registry_ sensor ids; values index rules_.
  std::unordered_map<std::string_view, uint32_t, StringHash, std::equal_to<>> effective_;
};

}  // namespace vigil::alarm
