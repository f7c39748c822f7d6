// Signals: counter-based randomness and the normal reading of a sensor as a
// pure function of time, so any reading can be computed on its own, in any
// order, by any thread, and is the same for the same seed.
#pragma once

#include <cstdint>

#include "bench/sim/province.h"

namespace vigil::sim {

// A 64-bit hash of (seed, key) (SplitMix64's finalizer): the building block
// of every random choice in the simulator.
uint64_t Mix(uint64_t seed, uint64_t key);

// Uniform in [-1, 1), from Mix(seed, key).
double UnitNoise(uint64_t seed, uint64_t key);

// Sequential draws from one seed, for building a province or planning events.
class Draws {
 public:
  explicit Draws(uint64_t seed) : seed_(seed) {}
  uint64_t Next() { return Mix(seed_, counter_++); }
  // Uniform in [low, high).
  double Uniform(double low, double high);
  // Uniform in [0, n). REQUIRES: n > 0.
  uint32_t Index(uint32_t n) { return static_cast<uint32_t>(Next() % n); }

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
};

// The sensor's normal value at `t` (before rounding): base, daily cycle, wander,
// noise and drift since `origin`, clamped to [normal_low, normal_high].
double BaselineValue(const SignalModel& model, TimestampMs t, TimestampMs origin);

// `v` rounded to a multiple of `resolution` (> 0), as an instrument reports it.
double RoundTo(double v, double resolution);

}  // namespace vigil::sim
