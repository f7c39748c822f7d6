#include "server/api/query_service.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/api/grpc_status.h"
#include "storage/history.h"

namespace vigil::server {
namespace {

using alarm::TimestampMs;

// The region of `sensor`'s enterprise ("" when unknown: covered by national callers only).
std::string_view RegionOf(const alarm::Registry& registry, const alarm::Sensor& sensor) {
  const alarm::Enterprise* e = registry.FindEnterprise(sensor.enterprise_id);
  return e == nullptr ? std::string_view() : std::string_view(e->region_code);
}

// PERMISSION_DENIED (counted) when `caller` may not read `sensor`.
std::optional<grpc::Status> CheckRegion(const AccessControl& access, const CallerScope& caller,
                                        const alarm::Registry& registry,
                                        const alarm::Sensor& sensor) {
  const std::string_view region = RegionOf(registry, sensor);
  if (caller.Covers(region)) return std::nullopt;
  return ToGrpc(access.Deny("sensor '" + sensor.id + "' is in region " + std::string(region) +
                            ", outside the region '" + caller.region_prefix + "' of '" +
                            caller.name + "'"));
}

v1::LatestValue::Alarm::Level LevelToProto(alarm::Level level) {
  switch (level) {
    case alarm::Level::kH:
      return v1::LatestValue::Alarm::LEVEL_H;
    case alarm::Level::kHH:
      return v1::LatestValue::Alarm::LEVEL_HH;
    case alarm::Level::kL:
      return v1::LatestValue::Alarm::LEVEL_L;
    case alarm::Level::kLL:
      return v1::LatestValue::Alarm::LEVEL_LL;
    case alarm::Level::kNone:
      break;
  }
  return v1::LatestValue::Alarm::LEVEL_NONE;
}

void LatestToProto(std::string_view sensor_id, const SensorLatest& latest, v1::LatestValue* out) {
  out->set_sensor_id(std::string(sensor_id));
  if (latest.reading) {
    out->set_has_reading(true);
    out->set_at_ms(latest.reading->at);
    out->set_value(latest.reading->value);
    out->set_quality(latest.reading->quality);
  }
  for (const alarm::ActiveAlarm& a : latest.alarms) {
    v1::LatestValue::Alarm* alarm = out->add_alarms();
    // Kinds and states share the domain's stable numbers (alarm/event.h);
    // anything else (kClosed) is unspecified.
    using Alarm = v1::LatestValue::Alarm;
    const int kind = static_cast<int>(a.alarm);
    const int state = static_cast<int>(a.state);
    alarm->set_kind(Alarm::Kind_IsValid(kind) ? static_cast<Alarm::Kind>(kind)
                                              : Alarm::KIND_UNSPECIFIED);
    alarm->set_state(Alarm::State_IsValid(state) ? static_cast<Alarm::State>(state)
                                                 : Alarm::STATE_UNSPECIFIED);
    alarm->set_severity(static_cast<uint32_t>(a.severity));
    alarm->set_level(LevelToProto(a.level));
    alarm->set_rule_id(a.rule_id);
    alarm->set_raised_at_ms(a.raised_at);
    alarm->set_changed_at_ms(a.changed_at);
    alarm->set_trigger_value(a.trigger_value);
  }
}

// The sensor's quantity and unit, its enterprise and that one's name.
void AddRegistryNames(const alarm::Registry& registry, std::string_view sensor_id,
                      v1::LatestValue* value) {
  const alarm::Sensor* sensor = registry.FindSensor(sensor_id);
  if (sensor == nullptr) return;
  value->set_quantity(sensor->quantity);
  value->set_unit(sensor->unit);
  value->set_enterprise_id(sensor->enterprise_id);
  if (const alarm::Enterprise* e = registry.FindEnterprise(sensor->enterprise_id)) {
    value->set_enterprise_name(e->name);
  }
}

// One ReadLatest in flight: the shards fill `results` (each its own
// entries), the last to answer finishes it.
struct LatestCall {
  grpc::ServerUnaryReactor* reactor = nullptr;
  v1::ReadLatestResponse* response = nullptr;
  std::shared_ptr<const alarm::Registry> registry;  // keeps `ids` alive
  std::vector<std::string_view> ids;                // into the registry or the request
  std::vector<SensorLatest> results;
  std::atomic<uint32_t> pending{0};

  void Finish() {
    response->mutable_values()->Reserve(static_cast<int>(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) {
      v1::LatestValue* value = response->add_values();
      LatestToProto(ids[i], results[i], value);
      AddRegistryNames(*registry, ids[i], value);
    }
    reactor->Finish(grpc::Status::OK);
  }
};

}  // namespace

QueryService::QueryService(RegistryHolder* registry, ShardSet* shards, storage::ChunkStore* store,
                           BlockingExecutor blocking, const AccessControl* access)
    : registry_(registry),
      shards_(shards),
      store_(store),
      blocking_(blocking),
      access_(access),
      readings_(registry, shards, store, std::move(blocking), access) {}

grpc::ServerUnaryReactor* QueryService::ReadRaw(grpc::CallbackServerContext* context,
                                                const v1::ReadRawRequest* request,
                                                v1::ReadRawResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = access_->Require(*context, Role::kViewer, "query readings");
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  response->set_sensor_id(request->sensor_id());
  readings_.ReadRaw(*caller, request->sensor_id(), request->from_ms(), request->to_ms(),
                    request->limit(), [reactor, response](alarm::Result<RawReadings> raw) {
                      if (!raw) {
                        reactor->Finish(ToGrpc(raw.error()));
                        return;
                      }
                      const int n = static_cast<int>(raw->readings.size());
                      if (raw->truncated) {
                        response->set_truncated(true);
                        response->set_next_from_ms(raw->next_from);
                      }
                      response->mutable_timestamps_ms()->Reserve(n);
                      response->mutable_values()->Reserve(n);
                      response->mutable_quality()->Reserve(n);
                      for (const alarm::Reading& r : raw->readings) {
                        response->add_timestamps_ms(r.at);
                        response->add_values(r.value);
                        response->add_quality(r.quality);
                      }
                      reactor->Finish(grpc::Status::OK);
                    });
  return reactor;
}

grpc::ServerUnaryReactor* QueryService::ReadDownsampled(grpc::CallbackServerContext* context,
                                                        const v1::ReadDownsampledRequest* request,
                                                        v1::ReadDownsampledResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = access_->Require(*context, Role::kViewer, "query readings");
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  response->set_sensor_id(request->sensor_id());
  readings_.ReadDownsampled(*caller, request->sensor_id(), request->from_ms(), request->to_ms(),
                            request->step_ms(), request->origin_ms(), request->max_points(),
                            [reactor, response](alarm::Result<DownsampledReadings> down) {
                              if (!down) {
                                reactor->Finish(ToGrpc(down.error()));
                                return;
                              }
                              response->set_step_ms(down->grid.step);
                              response->set_origin_ms(down->grid.origin);
                              const int n = static_cast<int>(down->steps.size());
                              response->mutable_start_ms()->Reserve(n);
                              response->mutable_count()->Reserve(n);
                              response->mutable_min()->Reserve(n);
                              response->mutable_max()->Reserve(n);
                              response->mutable_avg()->Reserve(n);
                              response->mutable_last()->Reserve(n);
                              response->mutable_last_ms()->Reserve(n);
                              for (const storage::Step& step : down->steps) {
                                response->add_start_ms(step.start);
                                response->add_count(step.stats.count);
                                response->add_min(step.stats.min);
                                response->add_max(step.stats.max);
                                response->add_avg(step.stats.avg());
                                response->add_last(step.stats.last);
                                response->add_last_ms(step.stats.last_at);
                              }
                              reactor->Finish(grpc::Status::OK);
                            });
  return reactor;
}

grpc::ServerUnaryReactor* QueryService::ReadLatest(grpc::CallbackServerContext* context,
                                                   const v1::ReadLatestRequest* request,
                                                   v1::ReadLatestResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = access_->Require(*context, Role::kViewer, "query readings");
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  auto call = std::make_shared<LatestCall>();
  call->reactor = reactor;
  call->response = response;
  call->registry = registry_->Get();
  const alarm::Registry& registry = *call->registry;
  const bool by_enterprise = !request->enterprise_id().empty();
  if (by_enterprise == (request->sensor_ids_size() > 0)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "give either enterprise_id or sensor_ids, not both"));
    return reactor;
  }
  if (request->sensor_ids_size() > kMaxLatestSensors) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     "at most " + std::to_string(kMaxLatestSensors) + " sensor_ids per request"));
    return reactor;
  }
  if (by_enterprise) {
    const alarm::Enterprise* enterprise = registry.FindEnterprise(request->enterprise_id());
    if (enterprise == nullptr) {
      reactor->Finish(grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          "enterprise '" + alarm::Echo(request->enterprise_id()) + "' is not in the registry"));
      return reactor;
    }
    if (!caller->Covers(enterprise->region_code)) {
      reactor->Finish(ToGrpc(access_->Deny("enterprise '" + enterprise->id + "' is in region " +
                                           enterprise->region_code + ", outside the region '" +
                                           caller->region_prefix + "' of '" + caller->name + "'")));
      return reactor;
    }
    for (const alarm::Sensor* sensor : registry.SensorsOf(request->enterprise_id())) {
      call->ids.push_back(sensor->id);
    }
  } else {
    for (const std::string& id : request->sensor_ids()) {
      const alarm::Sensor* sensor = registry.FindSensor(id);
      if (sensor == nullptr) {
        reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                     "sensor '" + alarm::Echo(id) + "' is not in the registry"));
        return reactor;
      }
      if (auto denied = CheckRegion(*access_, *caller, registry, *sensor)) {
        reactor->Finish(*denied);
        return reactor;
      }
      call->ids.push_back(id);
    }
  }
  if (call->ids.empty()) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  call->results.resize(call->ids.size());
  // Per shard: its sensors and their places in the answer.
  const uint32_t shard_count = shards_->count();
  std::vector<std::vector<std::string_view>> ids(shard_count);
  std::vector<std::vector<size_t>> places(shard_count);
  for (size_t i = 0; i < call->ids.size(); ++i) {
    const uint32_t shard = ShardFor(call->ids[i], shard_count);
    ids[shard].push_back(call->ids[i]);
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
    std::vector<std::vector<std::pair<std::string, std::optional<alarm::Reading>>>> seeds(
        shards->count());
    for (size_t i = 0; i < call->ids.size(); ++i) {
      SensorLatest& latest = call->results[i];
      if (latest.seeded) continue;
      auto stored = store->ReadLatest(call->ids[i]);
      if (!stored) {
        call->reactor->Finish(ToGrpc(stored.error()));
        return;
      }
      if (*stored && (!latest.reading || (*stored)->at > latest.reading->at)) {
        latest.reading = *stored;
      }
      seeds[ShardFor(call->ids[i], shards->count())].emplace_back(call->ids[i], *stored);
    }
    for (uint32_t shard = 0; shard < seeds.size(); ++shard) {
      if (!seeds[shard].empty()) SeedLatest(*shards, shard, std::move(seeds[shard]));
    }
    call->Finish();
  };
  for (uint32_t shard = 0; shard < shard_count; ++shard) {
    if (ids[shard].empty()) continue;
    server::ReadLatest(*shards_, shard, std::move(ids[shard]),
                       [call, places = std::move(places[shard]), blocking,
                        seed_then_finish](std::vector<SensorLatest> results) {
                         for (size_t i = 0; i < results.size(); ++i) {
                           call->results[places[i]] = std::move(results[i]);
                         }
                         if (call->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
                         const bool all_seeded =
                             std::all_of(call->results.begin(), call->results.end(),
                                         [](const SensorLatest& l) { return l.seeded; });
                         if (all_seeded) {
                           call->Finish();  // memory only: cheap enough for the shard thread
                         } else {
                           blocking(seed_then_finish);
                         }
                       });
  }
  return reactor;
}

}  // namespace vigil::server
