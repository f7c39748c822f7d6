// History reads: a sensor's readings merged from the store and its open head,
// and downsampled reads (per step count / min / max / avg / last) that use the
// 5-minute rollups where the steps allow and raw readings elsewhere.
// Thread-safety: pure functions over their arguments; the ChunkStore calls are
// thread-safe. StepAccumulator is a plain value owned by one caller.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "alarm/status.h"
#include "alarm/types.h"
#include "storage/chunk_store.h"
#include "storage/step_stats.h"

namespace vigil::storage {

// Appends to *out the union of two time-ordered lists, in time order, one
// reading per timestamp: on equal timestamps `head` (newer) wins.
void MergeReadings(std::span<const alarm::Reading> chunked, std::span<const alarm::Reading> head,
                   std::vector<alarm::Reading>* out);

// Folds readings and 5-minute statistics, fed in time order, into the steps
// of a grid: one Step per non-empty step, in time order.
class StepAccumulator {
 public:
  // *out must outlive the accumulator; steps are appended to it.
  StepAccumulator(StepGrid grid, std::vector<Step>* out) : grid_(grid), out_(out) {}
  // REQUIRES: at or after every reading and bucket added before.
  void Add(const alarm::Reading& reading) {
    Fold(reading.at, [&](StepStats& s) { s.Add(reading.at, reading.value); });
  }
  // A 5-minute bucket. REQUIRES: AlignsWithRollups(grid), time order as Add.
  void AddBucket(const Step& bucket) {
    Fold(bucket.start, [&](StepStats& s) { s.Merge(bucket.stats); });
  }
  // Appends the last open step. Call once, after the last Add.
  void Finish() {
    if (open_) out_->push_back(current_);
    open_ = false;
  }

 private:
  // Time-ordered input: a new step starts only past the current one's end,
  // so most readings cost a comparison, not StepStart's divisions.
  template <class F>
  void Fold(alarm::TimestampMs t, F&& add) {
    if (!open_ || t >= current_end_) {
      if (open_) out_->push_back(current_);
      current_ = Step{.start = StepStart(grid_, t), .stats = {}};
      if (__builtin_add_overflow(current_.start, grid_.step, &current_end_)) {
        current_end_ = std::numeric_limits<alarm::TimestampMs>::max();
      }
      open_ = true;
    }
    add(current_.stats);
  }

  StepGrid grid_;
  std::vector<Step>* out_;
  Step current_;
  alarm::TimestampMs current_end_ = 0;  // current_.start + step, saturated
  bool open_ = false;
};

// The smallest "round" step (1, 2, 5 ms ... 1 s, 2 s, 5 s, 10 s, 15 s, 30 s,
// 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, 1 d, then whole days) whose grid,
// aligned to `origin`, puts [from, to) in at most max_points steps. Steps of
// 5 minutes and more align with the rollups when origin is a multiple of 5
// minutes. REQUIRES: from < to, max_points >= 1.
alarm::TimestampMs ChooseStep(alarm::TimestampMs from, alarm::TimestampMs to, uint32_t max_points,
                              alarm::TimestampMs origin);

struct DownsampleRequest {
  std::string_view sensor_id;
  alarm::TimestampMs from = 0;  // [from, to)
  alarm::TimestampMs to = 0;
  StepGrid grid;
};

// Appends to *out the steps of `request` with at least one reading, in time
// order, as of `snapshot` (whose head readings are `head`: the sensor's open
// head, time-ordered, read together with the snapshot). Each step counts only
// readings inside [from, to). Where whole 5-minute buckets lie inside a step
// and inside [from, to) and are sealed, their rollups are used (when the grid
// aligns with them); elsewhere raw readings. Retention: readings before the
// raw horizon and buckets ending by the stats horizon do not count, so beyond
// the raw horizon a range edge inside a bucket drops that bucket's part.
// Errors: kInvalidArgument when the range starts before the raw horizon and
// the grid does not align with the rollups (those steps cannot be computed);
// the Store's read errors.
alarm::Status ReadDownsampled(ChunkStore& store, const ReadSnapshot* snapshot,
                              const DownsampleRequest& request,
                              std::span<const alarm::Reading> head, std::vector<Step>* out);

}  // namespace vigil::storage
