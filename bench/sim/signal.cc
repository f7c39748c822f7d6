#include "bench/sim/signal.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace vigil::sim {
namespace {

constexpr double kDayMs = 86'400'000.0;
constexpr double kHourMs = 3'600'000.0;
constexpr int64_t kLocalOffsetMs = int64_t{8} * 3'600'000;  // China Standard Time, UTC+8

// Floor division for negative times too.
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

uint64_t Mix(uint64_t seed, uint64_t key) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (key + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double UnitNoise(uint64_t seed, uint64_t key) {
  return static_cast<double>(Mix(seed, key) >> 11) * 0x1.0p-52 - 1.0;
}

double Draws::Uniform(double low, double high) {
  return low + (high - low) * (static_cast<double>(Next() >> 11) * 0x1.0p-53);
}

double BaselineValue(const SignalModel& m, TimestampMs t, TimestampMs origin) {
  double v = m.base;
  if (m.daily_amplitude != 0) {
    const double local_hour =
        static_cast<double>((t + kLocalOffsetMs) % static_cast<int64_t>(kDayMs)) / kHourMs;
    v += m.daily_amplitude * std::cos(2 * std::numbers::pi * (local_hour - m.daily_peak_hour) / 24);
  }
  if (m.wander_amplitude != 0) {
    // Value noise: random knots every wander_period, cosine-interpolated.
    const int64_t period = m.wander_period.count();
    const int64_t knot = FloorDiv(t, period);
    const double frac = static_cast<double>(t - knot * period) / static_cast<double>(period);
    const double a = UnitNoise(m.seed, static_cast<uint64_t>(knot));
    const double b = UnitNoise(m.seed, static_cast<uint64_t>(knot + 1));
    const double w = (1 - std::cos(std::numbers::pi * frac)) / 2;
    v += m.wander_amplitude * (a + (b - a) * w);
  }
  if (m.noise_amplitude != 0) {
    v += m.noise_amplitude * UnitNoise(m.seed ^ 0x5bd1e995ULL, static_cast<uint64_t>(t));
  }
  v += m.drift_per_day * static_cast<double>(t - origin) / kDayMs;
  return std::clamp(v, m.normal_low, m.normal_high);
}

double RoundTo(double v, double resolution) {
  const double r = std::nearbyint(v / resolution) * resolution;
  // Print-friendly: strip the binary noise of the multiplication (0.30000000000000004).
  const double digits = std::max(0.0, -std::floor(std::log10(resolution)));
  const double scale = std::pow(10.0, digits);
  return std::nearbyint(r * scale) / scale;
}

}  // namespace vigil::sim
