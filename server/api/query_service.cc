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

}  // namespace

QueryService::QueryService(RegistryHolder* registry, ShardSet* shards, storage::ChunkStore* store,
                           BlockingExecutor blocking, const AccessControl* access)
    : access_(access), readings_(registry, shards, store, std::move(blocking), access) {}

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
  if (request->sensor_ids_size() > kMaxLatestSensors) {  // before copying them
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     "at most " + std::to_string(kMaxLatestSensors) + " sensor_ids per request"));
    return reactor;
  }
  const std::vector<std::string> sensor_ids(request->sensor_ids().begin(),
                                            request->sensor_ids().end());
  readings_.ReadLatest(*caller, request->enterprise_id(), sensor_ids,
                       [reactor, response](alarm::Result<std::shared_ptr<LatestValues>> latest) {
                         if (!latest) {
                           reactor->Finish(ToGrpc(latest.error()));
                           return;
                         }
                         const LatestValues& values = **latest;
                         response->mutable_values()->Reserve(static_cast<int>(values.ids.size()));
                         for (size_t i = 0; i < values.ids.size(); ++i) {
                           v1::LatestValue* value = response->add_values();
                           LatestToProto(values.ids[i], values.results[i], value);
                           AddRegistryNames(*values.registry, values.ids[i], value);
                         }
                         reactor->Finish(grpc::Status::OK);
                       });
  return reactor;
}

}  // namespace vigil::server
