// ReadingDesk: a sensor's stored readings as a command center may read them,
// whatever the transport -- the sensor and region checks, the raw retention
// horizon, the head read on the sensor's shard and the chunk read on the
// blocking pool. The gRPC Query service (ReadRaw, ReadDownsampled) and the
// HTTP console both call it. No gRPC here.
// Thread-safety: any thread; `done` runs on the blocking pool, or inline on
// an error found before any read.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "alarm/status.h"
#include "alarm/types.h"
#include "server/api/access.h"
#include "server/pipeline/registry_holder.h"
#include "server/pipeline/shard.h"
#include "storage/chunk_store.h"
#include "storage/history.h"

namespace vigil::server {

// Runs a task that may block (RocksDB reads) off the network threads.
using BlockingExecutor = std::function<void(std::function<void()>)>;

// Most readings one raw read returns.
inline constexpr uint32_t kMaxReadRawLimit = 100'000;
// Most steps a downsampled range may span, and max_points when 0.
inline constexpr uint64_t kMaxDownsampledSteps = 100'000;
inline constexpr uint32_t kDefaultMaxPoints = 1000;
// Most sensors one latest-values read may name.
inline constexpr int kMaxLatestSensors = 100'000;

struct RawReadings {
  std::vector<alarm::Reading> readings;  // time-ordered, at most the limit
  bool truncated = false;                // more in the range: next_from onwards
  alarm::TimestampMs next_from = 0;
};

struct DownsampledReadings {
  storage::StepGrid grid;
  std::vector<storage::Step> steps;  // steps with at least one reading, in time order
};

// The latest reading and open alarms of some sensors.
struct LatestValues {
  std::shared_ptr<const alarm::Registry> registry;  // the ids point into it
  std::vector<std::string_view> ids;                // the sensors, in the order asked
  std::vector<SensorLatest> results;                // parallel to ids
};

class ReadingDesk {
 public:
  // Every pointer must outlive the desk and every read it started.
  ReadingDesk(const RegistryHolder* registry, ShardSet* shards, storage::ChunkStore* store,
              BlockingExecutor blocking, const AccessControl* access)
      : registry_(registry),
        shards_(shards),
        store_(store),
        blocking_(std::move(blocking)),
        access_(access) {}

  // kNotFound for a sensor not in the registry, kPermissionDenied (counted)
  // for one outside the caller's region, kInvalidArgument unless from < to.
  alarm::Status CheckRange(const CallerScope& caller, const std::string& sensor_id,
                           alarm::TimestampMs from, alarm::TimestampMs to) const;

  // Readings of `sensor_id` in [from, to), at most `limit` (0 or past
  // kMaxReadRawLimit: that), clipped to the raw retention horizon. Errors:
  // CheckRange's; kUnavailable when the shard cannot read; the store's.
  void ReadRaw(const CallerScope& caller, const std::string& sensor_id, alarm::TimestampMs from,
               alarm::TimestampMs to, uint32_t limit,
               std::function<void(alarm::Result<RawReadings>)> done) const;

  // Steps of [from, to): `step_ms` (0: chosen so that at most `max_points`,
  // 0 = kDefaultMaxPoints, cover the range) on a grid aligned to `origin_ms`.
  // Errors: CheckRange's; kInvalidArgument for a step out of 0..100 years or
  // a range of more than kMaxDownsampledSteps steps; storage::ReadDownsampled's.
  void ReadDownsampled(const CallerScope& caller, const std::string& sensor_id,
                       alarm::TimestampMs from, alarm::TimestampMs to, alarm::TimestampMs step_ms,
                       alarm::TimestampMs origin_ms, uint32_t max_points,
                       std::function<void(alarm::Result<DownsampledReadings>)> done) const;

  // The latest reading and open alarms of every sensor of `enterprise_id`
  // (in registry order), or of `sensor_ids` (in that order): give one of
  // the two. From the shards' memory, and from the store (on the blocking
  // pool) for a sensor not seen since a restart. Errors: kInvalidArgument
  // for both or neither, or more than kMaxLatestSensors ids; kNotFound for an
  // unknown enterprise or sensor; kPermissionDenied (counted) outside the
  // caller's region; the store's. `done` runs on a shard thread or the
  // blocking pool.
  void ReadLatest(const CallerScope& caller, const std::string& enterprise_id,
                  const std::vector<std::string>& sensor_ids,
                  std::function<void(alarm::Result<std::shared_ptr<LatestValues>>)> done) const;

  const AccessControl& access() const { return *access_; }

 private:
  const RegistryHolder* registry_;
  ShardSet* shards_;
  storage::ChunkStore* store_;
  BlockingExecutor blocking_;
  const AccessControl* access_;
};

}  // namespace vigil::server
