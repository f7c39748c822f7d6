#include "storage/step_stats.h"

#include <bit>
#include <cstring>
#include <limits>

#include "storage/keys.h"

namespace vigil::storage {
namespace {

constexpr uint8_t kStatsVersion = 1;
constexpr size_t kStatsBytes = 1 + 6 * 8;

void PutDouble(std::string* out, double v) { PutBigEndian64(out, std::bit_cast<uint64_t>(v)); }
double GetDouble(const char* p) { return std::bit_cast<double>(GetBigEndian64(p)); }

// t - start of its step, in [0, step). REQUIRES: step > 0.
alarm::TimestampMs OffsetInStep(const StepGrid& grid, alarm::TimestampMs t) {
  alarm::TimestampMs r = (t % grid.step - grid.origin % grid.step) % grid.step;
  if (r < 0) r += grid.step;
  return r;
}

}  // namespace

void StepStats::Merge(const StepStats& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  if (other.min < min) min = other.min;
  if (other.max > max) max = other.max;
  sum += other.sum;
  count += other.count;
  if (other.last_at >= last_at) {
    last_at = other.last_at;
    last = other.last;
  }
}

std::string EncodeStepStats(const StepStats& stats) {
  std::string out;
  out.reserve(kStatsBytes);
  out.push_back(static_cast<char>(kStatsVersion));
  PutBigEndian64(&out, stats.count);
  PutDouble(&out, stats.min);
  PutDouble(&out, stats.max);
  PutDouble(&out, stats.sum);
  PutOrderedInt64(&out, stats.last_at);
  PutDouble(&out, stats.last);
  return out;
}

std::optional<StepStats> DecodeStepStats(std::string_view value) {
  if (value.size() != kStatsBytes || static_cast<uint8_t>(value[0]) != kStatsVersion) {
    return std::nullopt;
  }
  const char* p = value.data() + 1;
  StepStats stats;
  stats.count = GetBigEndian64(p);
  stats.min = GetDouble(p + 8);
  stats.max = GetDouble(p + 16);
  stats.sum = GetDouble(p + 24);
  stats.last_at = GetOrderedInt64(p + 32);
  stats.last = GetDouble(p + 40);
  return stats;
}

alarm::TimestampMs StepStart(const StepGrid& grid, alarm::TimestampMs t) {
  alarm::TimestampMs start = 0;
  if (__builtin_sub_overflow(t, OffsetInStep(grid, t), &start)) {
    return std::numeric_limits<alarm::TimestampMs>::min();
  }
  return start;
}

uint64_t StepCount(const StepGrid& grid, alarm::TimestampMs from, alarm::TimestampMs to) {
  if (from >= to) return 0;
  const auto step = static_cast<uint64_t>(grid.step);
  // Unsigned arithmetic: the true distance between the two step starts is a
  // multiple of step below 2^64 for any range shorter than 2^63 ms.
  const uint64_t span = static_cast<uint64_t>(to - 1) - static_cast<uint64_t>(from) +
                        static_cast<uint64_t>(OffsetInStep(grid, from)) -
                        static_cast<uint64_t>(OffsetInStep(grid, to - 1));
  return span / step + 1;
}

bool AlignsWithRollups(const StepGrid& grid) {
  constexpr alarm::TimestampMs kBucket = kRollupStep.count();
  return grid.step % kBucket == 0 && grid.origin % kBucket == 0;
}

}  // namespace vigil::storage
