// Helpers shared by the simulator's tests: a small province and scenarios
// that inject every event kind.
#pragma once

#include <chrono>
#include <cstdint>

#include "bench/sim/province.h"
#include "bench/sim/scenario.h"

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

}  // namespace vigil::sim::testing
