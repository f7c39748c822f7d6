#include "server/api/reading_desk.h"

#include <algorithm>
#include <utility>

namespace vigil::server {
namespace {

using alarm::Status;
using alarm::TimestampMs;

// Longest step accepted: 100 years.
constexpr TimestampMs kMaxStepMs = TimestampMs{36'500} * 24 * 3600 * 1000;

}  // namespace

alarm::Status ReadingDesk::CheckRange(const CallerScope& caller, const std::string& sensor_id,
                                      TimestampMs from, TimestampMs to) const {
  const std::shared_ptr<const alarm::Registry> registry = registry_->Get();
  const alarm::Sensor* sensor = registry->FindSensor(sensor_id);
  if (sensor == nullptr) {
    return Status::NotFound("sensor '" + alarm::Echo(sensor_id) + "' is not in the registry");
  }
  // The region of the sensor's enterprise ("" when unknown: national callers only).
  const alarm::Enterprise* e = registry->FindEnterprise(sensor->enterprise_id);
  const std::string region = e == nullptr ? std::string() : e->region_code;
  if (!caller.Covers(region)) {
    return access_->Deny("sensor '" + sensor->id + "' is in region " + region +
                         ", outside the region '" + caller.region_prefix + "' of '" + caller.name +
                         "'");
  }
  if (from >= to) return Status::InvalidArgument("from_ms must be before to_ms");
  return Status::Ok();
}

void ReadingDesk::ReadRaw(const CallerScope& caller, const std::string& sensor_id,
                          TimestampMs from_ms, TimestampMs to, uint32_t limit,
                          std::function<void(alarm::Result<RawReadings>)> done) const {
  if (Status s = CheckRange(caller, sensor_id, from_ms, to); !s.ok()) return done(s);
  if (limit == 0 || limit > kMaxReadRawLimit) limit = kMaxReadRawLimit;
  const TimestampMs from = std::max(from_ms, store_->Horizon(storage::DataClass::kRaw));
  if (from >= to) return done(RawReadings{});  // all before the raw retention horizon
  storage::ChunkStore* store = store_;
  BlockingExecutor blocking = blocking_;
  ReadHeadWithSnapshot(*shards_, sensor_id, from, to,
                       [=, done = std::move(done)](HeadRead head) mutable {
                         blocking([=, done = std::move(done), head = std::move(head)] {
                           if (!head.status.ok()) return done(head.status);
                           std::vector<alarm::Reading> chunked;
                           Status st = store->ReadChunksAt(head.snapshot.get(), sensor_id, from, to,
                                                           size_t{limit} + 1, &chunked);
                           if (!st.ok()) return done(st);
                           RawReadings out;
                           storage::MergeReadings(chunked, head.readings, &out.readings);
                           if (out.readings.size() > limit) {
                             out.truncated = true;
                             out.next_from = out.readings[limit].at;
                             out.readings.resize(limit);
                           }
                           done(std::move(out));
                         });
                       });
}

void ReadingDesk::ReadDownsampled(
    const CallerScope& caller, const std::string& sensor_id, TimestampMs from, TimestampMs to,
    TimestampMs step_ms, TimestampMs origin_ms, uint32_t max_points,
    std::function<void(alarm::Result<DownsampledReadings>)> done) const {
  if (Status s = CheckRange(caller, sensor_id, from, to); !s.ok()) return done(s);
  if (step_ms < 0 || step_ms > kMaxStepMs) {
    return done(
        Status::InvalidArgument("step_ms must be 0 (chosen from max_points) or 1 ms .. 100 years"));
  }
  if (max_points == 0) max_points = kDefaultMaxPoints;
  const storage::StepGrid grid{
      .origin = origin_ms,
      .step = step_ms != 0 ? step_ms : storage::ChooseStep(from, to, max_points, origin_ms)};
  if (const uint64_t steps = storage::StepCount(grid, from, to); steps > kMaxDownsampledSteps) {
    return done(Status::InvalidArgument("the range spans " + std::to_string(steps) + " steps of " +
                                        std::to_string(grid.step) + " ms, over the maximum of " +
                                        std::to_string(kMaxDownsampledSteps) +
                                        ": use a larger step or a shorter range"));
  }
  storage::ChunkStore* store = store_;
  BlockingExecutor blocking = blocking_;
  ReadHeadWithSnapshot(*shards_, sensor_id, from, to,
                       [=, done = std::move(done)](HeadRead head) mutable {
                         blocking([=, done = std::move(done), head = std::move(head)] {
                           if (!head.status.ok()) return done(head.status);
                           DownsampledReadings out;
                           out.grid = grid;
                           const Status st = storage::ReadDownsampled(
                               *store, head.snapshot.get(),
                               storage::DownsampleRequest{
                                   .sensor_id = sensor_id, .from = from, .to = to, .grid = grid},
                               head.readings, &out.steps);
                           if (!st.ok()) return done(st);
                           done(std::move(out));
                         });
                       });
}

}  // namespace vigil::server
