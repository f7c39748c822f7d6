// Helpers shared by the bench executables (vigil-load, vigil-sim): flag
// values, wall-clock time, and figures printed as `name value unit` lines.
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

// "20s", "1500ms", "1m" (or "1min"), "2h"; a plain number is seconds.
inline std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  double number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [rest, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || number < 0) return std::nullopt;
  std::string_view unit(rest, static_cast<size_t>(end - rest));
  double scale = 1000;  // plain number: seconds
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s" || unit.empty()) {
    scale = 1000;
  } else if (unit == "m" || unit == "min") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else if (unit == "d") {
    scale = 86'400'000;
  } else {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(number * scale)));
}

// Splits flag argv[*i] into its name and value: `--name=value`, or `--name
// value` (then *i moves past the value). False when the value is missing.
inline bool FlagValue(int argc, char** argv, int* i, std::string_view* name,
                      std::string_view* value) {
  const std::string_view arg = argv[*i];
  if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
    *name = arg.substr(0, eq);
    *value = arg.substr(eq + 1);
    return true;
  }
  *name = arg;
  if (*i + 1 >= argc) return false;
  *value = argv[++*i];
  return true;
}

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
