#include "server/api/reading_desk.h"

#include <algorithm>
#include <atomic>
#include <optional>
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

namespace {

// One latest-values read in flight: the shards fill `values->results` (each
// its own entries), the last to answer finishes it.
struct LatestCall {
  std::shared_ptr<LatestValues> values = std::make_shared<LatestValues>();
  std::function<void(alarm::Result<std::shared_ptr<LatestValues>>)> done;
  std::atomic<uint32_t> pending{0};
};

}  // namespace

void ReadingDesk::ReadLatest(
    const CallerScope& caller, const std::string& enterprise_id,
    const std::vector<std::string>& sensor_ids,
    std::function<void(alarm::Result<std::shared_ptr<LatestValues>>)> done) const {
  auto call = std::make_shared<LatestCall>();
  call->done = std::move(done);
  LatestValues& values = *call->values;
  values.registry = registry_->Get();
  const alarm::Registry& registry = *values.registry;
  const bool by_enterprise = !enterprise_id.empty();
  if (by_enterprise == !sensor_ids.empty()) {
    return call->done(Status::InvalidArgument("give either enterprise_id or sensor_ids, not both"));
  }
  if (sensor_ids.size() > size_t{kMaxLatestSensors}) {
    return call->done(Status::InvalidArgument("at most " + std::to_string(kMaxLatestSensors) +
                                              " sensor_ids per request"));
  }
  if (by_enterprise) {
    const alarm::Enterprise* enterprise = registry.FindEnterprise(enterprise_id);
    if (enterprise == nullptr) {
      return call->done(Status::NotFound("enterprise '" + alarm::Echo(enterprise_id) +
                                         "' is not in the registry"));
    }
    if (!caller.Covers(enterprise->region_code)) {
      return call->done(access_->Deny("enterprise '" + enterprise->id + "' is in region " +
                                      enterprise->region_code + ", outside the region '" +
                                      caller.region_prefix + "' of '" + caller.name + "'"));
    }
    for (const alarm::Sensor* sensor : registry.SensorsOf(enterprise_id)) {
      values.ids.push_back(sensor->id);
    }
  } else {
    for (const std::string& id : sensor_ids) {
      const alarm::Sensor* sensor = registry.FindSensor(id);
      if (sensor == nullptr) {
        return call->done(
            Status::NotFound("sensor '" + alarm::Echo(id) + "' is not in the registry"));
      }
      const alarm::Enterprise* e = registry.FindEnterprise(sensor->enterprise_id);
      const std::string region = e == nullptr ? std::string() : e->region_code;
      if (!caller.Covers(region)) {
        return call->done(access_->Deny("sensor '" + sensor->id + "' is in region " + region +
                                        ", outside the region '" + caller.region_prefix + "' of '" +
                                        caller.name + "'"));
      }
      values.ids.push_back(sensor->id);  // the registry's copy: lives with `values`
    }
  }
  if (values.ids.empty()) return call->done(call->values);
  values.results.resize(values.ids.size());
  // Per shard: its sensors and their places in the answer.
  const uint32_t shard_count = shards_->count();
  std::vector<std::vector<std::string_view>> ids(shard_count);
  std::vector<std::vector<size_t>> places(shard_count);
  for (size_t i = 0; i < values.ids.size(); ++i) {
    const uint32_t shard = ShardFor(values.ids[i], shard_count);
    ids[shard].push_back(values.ids[i]);
    places[shard].push_back(i);
  }
  call->pending.store(static_cast<uint32_t>(
      std::count_if(ids.begin(), ids.end(), [](const auto& v) { return !v.empty(); })));
  storage::ChunkStore* store = store_;
  ShardSet* shards = shards_;
  BlockingExecutor blocking = blocking_;
  // After a restart a sensor's newest reading may be in the store only: read
  // it once, then the shard keeps it current.
  auto seed_then_finish = [call, store, shards] {
    LatestValues& v = *call->values;
    std::vector<std::vector<std::pair<std::string, std::optional<alarm::Reading>>>> seeds(
        shards->count());
    for (size_t i = 0; i < v.ids.size(); ++i) {
      SensorLatest& latest = v.results[i];
      if (latest.seeded) continue;
      auto stored = store->ReadLatest(v.ids[i]);
      if (!stored) return call->done(stored.error());
      if (*stored && (!latest.reading || (*stored)->at > latest.reading->at)) {
        latest.reading = *stored;
      }
      seeds[ShardFor(v.ids[i], shards->count())].emplace_back(v.ids[i], *stored);
    }
    for (uint32_t shard = 0; shard < seeds.size(); ++shard) {
      if (!seeds[shard].empty()) SeedLatest(*shards, shard, std::move(seeds[shard]));
    }
    call->done(call->values);
  };
  for (uint32_t shard = 0; shard < shard_count; ++shard) {
    if (ids[shard].empty()) continue;
    server::ReadLatest(*shards_, shard, std::move(ids[shard]),
                       [call, places = std::move(places[shard]), blocking,
                        seed_then_finish](std::vector<SensorLatest> results) {
                         for (size_t i = 0; i < results.size(); ++i) {
                           call->values->results[places[i]] = std::move(results[i]);
                         }
                         if (call->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
                         const bool all_seeded =
                             std::all_of(call->values->results.begin(), call->values->results.end(),
                                         [](const SensorLatest& l) { return l.seeded; });
                         if (all_seeded) {
                           call->done(call->values);  // memory only: cheap on the shard thread
                         } else {
                           blocking(seed_then_finish);
                         }
                       });
  }
}

}  // namespace vigil::server
