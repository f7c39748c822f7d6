// Helpers shared by the simulator's tests: a small province and scenarios
// that inject every event kind.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

#include "alarm/rule_set.h"
#include "bench/sim/province.h"
#include "bench/sim/scenario.h"
#include "server/config/registry_yaml.h"
#include "server/config/rules_yaml.h"

namespace vigil::sim::testing {

// 2025-11-24 16:00 UTC, midnight in China.
inline constexpr TimestampMs kStart = 1'764'000'000'000;

// One enterprise of each kind, per repetition.
inline Province SmallProvince(uint64_t seed = 7, uint32_t enterprises = 3) {
  return BuildProvince(ProvinceOptions{.seed = seed, .enterprises = enterprises});
}

// A day in real time with every event kind each enterprise can have.
inline ScenarioOptions EveryEventOptions() {
  ScenarioOptions options;
  options.start_ms = kStart;
  options.duration = std::chrono::hours(24);
  options.events_per_enterprise = 7;
  return options;
}

// The province's generated registry and rules (the gateway rule included),
// read by vigild's own parsers and resolved into the RuleSet vigild would run.
inline std::shared_ptr<const alarm::RuleSet> ServerRules(const Province& p) {
  auto entries = server::ParseRegistryYaml(RegistryYaml(p), "registry.yaml");
  REQUIRE(entries.has_value());
  auto registry = alarm::Registry::Build(std::move(*entries));
  REQUIRE(registry.has_value());
  auto rules = server::ParseRulesDocument(RulesYaml(p), "rules.yaml");
  REQUIRE(rules.has_value());
  CHECK(rules->gateway_offline.after == p.options.gateway_offline_after);
  auto set = alarm::RuleSet::Build(std::move(rules->rules), *registry, rules->gateway_offline);
  REQUIRE(set.has_value());
  return *set;
}

}  // namespace vigil::sim::testing
