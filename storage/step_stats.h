// StepStats: count / min / max / sum / last of the readings in one time step,
// mergeable, so statistics of parts (chunks, 5-minute rollups) combine into
// statistics of the whole. Also the step grid arithmetic shared by rollups and
// downsampled reads. Thread-safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "alarm/types.h"

namespace vigil::storage {

// Storage format constant: rollups hold statistics per sensor per 5-minute
// bucket [k * 5 min, (k + 1) * 5 min) since the Unix epoch.
inline constexpr std::chrono::milliseconds kRollupStep = std::chrono::minutes(5);

struct StepStats {
  uint64_t count = 0;  // readings; the other fields are meaningless while 0
  double min = 0;
  double max = 0;
  double sum = 0;
  alarm::TimestampMs last_at = 0;  // time of the newest reading
  double last = 0;                 // its value

  // Adds one reading. Of equal times the one added later is `last`.
  void Add(alarm::TimestampMs at, double value) {
    if (count == 0) {
      min = max = value;
      last_at = at;
      last = value;
    } else {
      if (value < min) min = value;
      if (value > max) max = value;
      if (at >= last_at) {
        last_at = at;
        last = value;
      }
    }
    sum += value;
    ++count;
  }

  // Adds the readings `other` summarises, which were written after ours: of
  // equal last_at, other's last wins. Sums add in merge order, so an average
  // built from parts may differ from a one-pass average in the last bits.
  void Merge(const StepStats& other);

  double avg() const { return count == 0 ? 0 : sum / static_cast<double>(count); }

  bool operator==(const StepStats&) const = default;
};

// Statistics of the readings in one step (or 5-minute bucket).
struct Step {
  alarm::TimestampMs start = 0;  // the step's start on its grid
  StepStats stats;
  bool operator==(const Step&) const = default;
};

// Rollup value layout, version 1 (49 bytes, integers and doubles' bit
// patterns big-endian): u8 1 | u64 count | f64 min | f64 max | f64 sum
// | i64 last_at | f64 last.
std::string EncodeStepStats(const StepStats& stats);
// nullopt unless `value` is a well-formed version-1 encoding.
std::optional<StepStats> DecodeStepStats(std::string_view value);

// Steps [origin + k * step, origin + (k + 1) * step) for every integer k.
struct StepGrid {
  alarm::TimestampMs origin = 0;
  alarm::TimestampMs step = 1;  // REQUIRES: > 0
};

// Start of the step holding `t`; clamped to INT64_MIN when that start is not
// representable.
alarm::TimestampMs StepStart(const StepGrid& grid, alarm::TimestampMs t);
// Steps that overlap [from, to); 0 when from >= to.
uint64_t StepCount(const StepGrid& grid, alarm::TimestampMs from, alarm::TimestampMs to);
// Whether every step is a whole number of 5-minute rollup buckets.
bool AlignsWithRollups(const StepGrid& grid);

// The 5-minute bucket holding `t`.
inline alarm::TimestampMs RollupBucket(alarm::TimestampMs t) {
  return StepStart(StepGrid{.origin = 0, .step = kRollupStep.count()}, t);
}

}  // namespace vigil::storage
