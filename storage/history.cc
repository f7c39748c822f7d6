#include "storage/history.h"

#include <algorithm>
#include <limits>

namespace vigil::storage {
namespace {

using alarm::Reading;
using alarm::Status;
using alarm::TimestampMs;

constexpr TimestampMs kSecond = 1000;
constexpr TimestampMs kMinute = 60 * kSecond;
constexpr TimestampMs kHour = 60 * kMinute;
constexpr TimestampMs kDay = 24 * kHour;
constexpr TimestampMs kRoundSteps[] = {1,
                                       2,
                                       5,
                                       10,
                                       20,
                                       50,
                                       100,
                                       200,
                                       500,
                                       kSecond,
                                       2 * kSecond,
                                       5 * kSecond,
                                       10 * kSecond,
                                       15 * kSecond,
                                       30 * kSecond,
                                       kMinute,
                                       2 * kMinute,
                                       5 * kMinute,
                                       10 * kMinute,
                                       15 * kMinute,
                                       30 * kMinute,
                                       kHour,
                                       2 * kHour,
                                       3 * kHour,
                                       6 * kHour,
                                       12 * kHour,
                                       kDay};
constexpr TimestampMs kMaxStep = TimestampMs{1} << 62;

TimestampMs SaturatingAdd(TimestampMs a, TimestampMs b) {
  TimestampMs out = 0;
  return __builtin_add_overflow(a, b, &out) ? std::numeric_limits<TimestampMs>::max() : out;
}

// The first bucket boundary at or after t.
TimestampMs RollupBoundaryAtOrAfter(TimestampMs t) {
  const TimestampMs bucket = RollupBucket(t);
  return bucket == t ? t : SaturatingAdd(bucket, kRollupStep.count());
}

}  // namespace

void MergeReadings(std::span<const Reading> chunked, std::span<const Reading> head,
                   std::vector<Reading>* out) {
  out->reserve(out->size() + chunked.size() + head.size());
  size_t i = 0;
  for (const Reading& h : head) {
    for (; i < chunked.size() && chunked[i].at < h.at; ++i) out->push_back(chunked[i]);
    if (i < chunked.size() && chunked[i].at == h.at) ++i;
    out->push_back(h);
  }
  out->insert(out->end(), chunked.begin() + static_cast<ptrdiff_t>(i), chunked.end());
}

TimestampMs ChooseStep(TimestampMs from, TimestampMs to, uint32_t max_points, TimestampMs origin) {
  auto fits = [&](TimestampMs step) {
    return StepCount(StepGrid{.origin = origin, .step = step}, from, to) <= max_points;
  };
  for (TimestampMs step : kRoundSteps) {
    if (fits(step)) return step;
  }
  const auto range = static_cast<uint64_t>(to) - static_cast<uint64_t>(from);
  const uint64_t per_point = range / std::max<uint32_t>(max_points, 1);
  TimestampMs step =
      per_point >= static_cast<uint64_t>(kMaxStep)
          ? kMaxStep
          : std::max<TimestampMs>(kDay, static_cast<TimestampMs>(per_point) / kDay * kDay);
  while (step < kMaxStep && !fits(step)) step = std::min(kMaxStep, step + kDay);
  return step;
}

Status ReadDownsampled(ChunkStore& store, const ReadSnapshot* snapshot,
                       const DownsampleRequest& request, std::span<const Reading> head,
                       std::vector<Step>* out) {
  const TimestampMs from = request.from;
  const TimestampMs to = request.to;
  if (from >= to) return Status::Ok();
  const TimestampMs raw_horizon = store.Horizon(DataClass::kRaw);
  const bool rollups = AlignsWithRollups(request.grid);
  if (!rollups && from < raw_horizon) {
    return Status::InvalidArgument(
        "the range starts before the raw retention horizon (" + std::to_string(raw_horizon) +
        " ms): only 5-minute statistics are kept there, so the step must be a multiple of 5 "
        "minutes aligned to a multiple of 5 minutes");
  }
  // The open head's readings that count.
  const TimestampMs visible_from = std::max(from, raw_horizon);
  auto by_time = [](const Reading& r, TimestampMs t) { return r.at < t; };
  const auto head_begin = std::lower_bound(head.begin(), head.end(), visible_from, by_time);
  const auto head_end = std::lower_bound(head_begin, head.end(), to, by_time);
  const std::span<const Reading> in_head(head_begin, head_end);

  // Whole sealed buckets [rollup_from, rollup_to) come from the rollups; the
  // partial buckets at the edges and everything from the head's first bucket
  // on, from raw readings.
  TimestampMs rollup_from = to;
  TimestampMs rollup_to = to;
  if (rollups) {
    rollup_from = std::min(RollupBoundaryAtOrAfter(from), to);
    rollup_to = RollupBucket(to);
    if (!in_head.empty()) rollup_to = std::min(rollup_to, RollupBucket(in_head.front().at));
    rollup_to = std::max(rollup_to, rollup_from);
  }
  std::vector<Reading> chunked;
  Status s = store.ReadChunksAt(snapshot, request.sensor_id, from, rollup_from,
                                ChunkStore::kAllReadings, &chunked);
  if (s.ok() && rollup_to < to) {
    s = store.ReadChunksAt(snapshot, request.sensor_id, rollup_to, to, ChunkStore::kAllReadings,
                           &chunked);
  }
  if (!s.ok()) return s;
  std::vector<Reading> raw;
  if (in_head.empty()) {
    raw.swap(chunked);
  } else {
    MergeReadings(chunked, in_head, &raw);
  }

  StepAccumulator steps(request.grid, out);
  size_t i = 0;
  for (; i < raw.size() && raw[i].at < rollup_from; ++i) steps.Add(raw[i]);
  if (rollup_from < rollup_to) {
    std::vector<Step> buckets;
    s = store.ReadRollups(snapshot, request.sensor_id, rollup_from, rollup_to, &buckets);
    if (!s.ok()) return s;
    for (const Step& bucket : buckets) steps.AddBucket(bucket);
  }
  for (; i < raw.size(); ++i) steps.Add(raw[i]);
  steps.Finish();
  return Status::Ok();
}

}  // namespace vigil::storage
