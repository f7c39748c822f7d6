// Test helpers for history reads: a shard-like writer that feeds readings
// through a HeadSet into a Store while recording what the history must read
// as, and the brute-force step statistics to compare reads with.
#pragma once

#include <catch2/catch.hpp>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storage/head_set.h"
#include "storage/step_stats.h"
#include "storage/store.h"

namespace vigil::storage {

using alarm::Reading;
using alarm::TimestampMs;

inline constexpr TimestampMs kMinTime = std::numeric_limits<TimestampMs>::min();
inline constexpr TimestampMs kMaxTime = std::numeric_limits<TimestampMs>::max();

inline std::unique_ptr<Store> OpenStore(const std::filesystem::path& dir,
                                        RetentionOptions retention = {}) {
  StoreOptions options;
  options.dir = dir;
  options.write_buffer_bytes = size_t{1} << 20;
  options.retention = std::move(retention);
  auto store = Store::Open(options);
  REQUIRE(store.has_value());
  return std::move(*store);
}

// What a sensor's history must read as: time -> the last value written there.
using Truth = std::map<TimestampMs, double>;

// Feeds readings through a HeadSet (which seals chunks on size, span and out
// of order times) into the store, like a shard does, and records the truth.
class Writer {
 public:
  // first_chunk_id: as a restarted server, a later writer must number its
  // chunks above an earlier one's.
  Writer(Store* store, std::string sensor, uint64_t first_chunk_id = 1)
      : store_(store),
        sensor_(std::move(sensor)),
        heads_(HeadSetOptions{
            .max_readings_per_chunk = 32, .first_chunk_id = first_chunk_id, .chunk_id_stride = 1}) {
  }

  // Sealed chunks are written every `appends_per_write` appends, many in one
  // WriteChunks call, as a shard writes them once per drain.
  void Append(const std::vector<TimestampMs>& times, const std::vector<double>& values) {
    heads_.Append(sensor_, times, values, {}, ++log_seq_, &sealed_);
    for (size_t i = 0; i < times.size(); ++i) truth_[times[i]] = values[i];
    if (log_seq_ % appends_per_write_ == 0) Flush();
  }
  void SealAll() {
    heads_.SealAll(&sealed_);
    Flush();
  }
  // The head, after writing what was sealed.
  std::vector<Reading> Head() {
    Flush();
    std::vector<Reading> head;
    heads_.ReadHead(sensor_, kMinTime, kMaxTime, &head);
    return head;
  }
  void set_appends_per_write(uint64_t n) { appends_per_write_ = n; }
  const Truth& truth() const { return truth_; }
  HeadSet& heads() { return heads_; }

 private:
  void Flush() {
    REQUIRE(store_->WriteChunks(sealed_).ok());
    sealed_.clear();
  }

  Store* store_;
  std::string sensor_;
  HeadSet heads_;
  std::vector<SealedChunk> sealed_;
  uint64_t log_seq_ = 0;
  uint64_t appends_per_write_ = 1;
  Truth truth_;
};

// The steps of [from, to) on `grid`, computed one reading at a time.
inline std::vector<Step> BruteForce(const Truth& truth, TimestampMs from, TimestampMs to,
                                    StepGrid grid) {
  std::map<TimestampMs, StepStats> steps;
  for (auto it = truth.lower_bound(from); it != truth.end() && it->first < to; ++it) {
    steps[StepStart(grid, it->first)].Add(it->first, it->second);
  }
  std::vector<Step> out;
  for (const auto& [start, stats] : steps) out.push_back(Step{.start = start, .stats = stats});
  return out;
}

inline void CheckSameSteps(const std::vector<Step>& got, const std::vector<Step>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("step " << i << " at " << want[i].start);
    CHECK(got[i].start == want[i].start);
    CHECK(got[i].stats.count == want[i].stats.count);
    CHECK(got[i].stats.min == want[i].stats.min);
    CHECK(got[i].stats.max == want[i].stats.max);
    CHECK(got[i].stats.last_at == want[i].stats.last_at);
    CHECK(got[i].stats.last == want[i].stats.last);
    // Sums of parts add in another order than one pass: equal up to rounding.
    CHECK(got[i].stats.sum == Approx(want[i].stats.sum).epsilon(1e-12).margin(1e-9));
  }
}

}  // namespace vigil::storage
