// Helpers shared by the bench executables (vigil-load, vigil-sim): numbers in
// text, wall-clock time, and figures printed as `name value unit` lines. The
// command lines themselves: bench/common/flags.h.
// Header-only, stateless; any thread may call them.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

namespace vigil::bench {

// The whole of `text` as a number.
template <class T>
bool ParseNumber(std::string_view text, T* out) {
  auto [rest, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && rest == text.data() + text.size();
}

// Wall-clock time, ms since the Unix epoch.
inline int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The p-quantile (0 <= p <= 1, nearest rank) of `sorted`, ascending; 0 when empty.
template <class T>
T Quantile(const std::vector<T>& sorted, double p) {
  if (sorted.empty()) return T{};
  const auto index = static_cast<size_t>(std::llround(p * static_cast<double>(sorted.size() - 1)));
  return sorted[std::min(index, sorted.size() - 1)];
}

inline void PrintFigure(const char* name, double value, const char* unit, int decimals = 2) {
  std::printf("%s %.*f %s\n", name, decimals, value, unit);
}
inline void PrintCount(const char* name, uint64_t value, const char* unit) {
  std::printf("%s %" PRIu64 " %s\n", name, value, unit);
}

}  // namespace vigil::bench
