#include "server/api/planned_work_service.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

#include "alarm/time_text.h"
#include "server/api/grpc_status.h"
#include "server/api/proto_convert.h"

namespace vigil::server {
namespace {

using alarm::Status;

constexpr size_t kMaxReasonBytes = 1024;
constexpr size_t kMaxOwnerBytes = 128;
constexpr size_t kMaxSensors = 10'000;
constexpr std::chrono::milliseconds kMaxStartAhead = std::chrono::days(30);

alarm::TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "pw-" and 12 hex digits: unique enough among the windows open at once
// (the engine refuses a duplicate id, and the operator retries).
std::string NewWorkId() {
  thread_local std::mt19937_64 random(std::random_device{}());
  char id[20];
  std::snprintf(id, sizeof id, "pw-%012llx",
                static_cast<unsigned long long>(random() & 0xffff'ffff'ffffULL));
  return id;
}

}  // namespace

PlannedWorkService::PlannedWorkService(AlarmDesk desk, ShardSet* shards,
                                       std::chrono::milliseconds max_duration)
    : desk_(std::move(desk)), shards_(shards), max_duration_(max_duration) {}

alarm::Result<alarm::PlannedWork> PlannedWorkService::CheckOpen(
    const CallerScope& caller, const v1::OpenPlannedWorkRequest& request,
    alarm::TimestampMs now) const {
  const std::shared_ptr<const alarm::Registry> registry = desk_.registry().Get();
  const alarm::Enterprise* enterprise = registry->FindEnterprise(request.enterprise_id());
  if (enterprise == nullptr) {
    return Status::InvalidArgument("unknown enterprise '" + alarm::Echo(request.enterprise_id()) +
                                   "'");
  }
  if (!caller.Covers(enterprise->region_code)) {
    return desk_.access().Deny("enterprise '" + enterprise->id +
                               "' is outside this caller's region '" + caller.region_prefix + "'");
  }
  if (request.reason().empty() || request.reason().size() > kMaxReasonBytes) {
    return Status::InvalidArgument("reason is required, at most 1024 bytes");
  }
  if (request.owner().empty() || request.owner().size() > kMaxOwnerBytes) {
    return Status::InvalidArgument("owner is required, at most 128 bytes");
  }
  if (request.duration_ms() < 1 || request.duration_ms() > max_duration_.count()) {
    return Status::InvalidArgument(
        "the duration must be 1ms.." + alarm::FormatDuration(max_duration_) +
        " (alarms.max_planned_work), got " +
        alarm::FormatDuration(std::chrono::milliseconds(request.duration_ms())));
  }
  if (request.start_ms() > now + kMaxStartAhead.count()) {
    return Status::InvalidArgument("start_ms is more than 30 days ahead");
  }
  if (request.sensor_ids_size() > static_cast<int>(kMaxSensors)) {
    return Status::InvalidArgument("at most 10000 sensors per window");
  }
  alarm::PlannedWork work{.id = NewWorkId(),
                          .enterprise_id = enterprise->id,
                          .sensor_ids = {},
                          .start = std::max<alarm::TimestampMs>(request.start_ms(), 0),
                          .end = 0,
                          .reason = request.reason(),
                          .owner = request.owner(),
                          .opened_by = caller.name};
  for (const std::string& id : request.sensor_ids()) {
    const alarm::Sensor* sensor = registry->FindSensor(id);
    if (sensor == nullptr || sensor->enterprise_id != enterprise->id) {
      return Status::InvalidArgument("sensor '" + alarm::Echo(id) + "' is not a sensor of '" +
                                     enterprise->id + "'");
    }
    if (std::find(work.sensor_ids.begin(), work.sensor_ids.end(), id) == work.sensor_ids.end()) {
      work.sensor_ids.push_back(id);
    }
  }
  return work;
}

grpc::ServerUnaryReactor* PlannedWorkService::Open(grpc::CallbackServerContext* context,
                                                   const v1::OpenPlannedWorkRequest* request,
                                                   v1::OpenPlannedWorkResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = desk_.access().Require(*context, Role::kOperator, "open planned work");
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  const alarm::TimestampMs now = WallMs();
  auto work = CheckOpen(*caller, *request, now);
  if (!work) {
    reactor->Finish(ToGrpc(work.error()));
    return reactor;
  }
  PlannedWorkToProto(*work, response->mutable_work());
  storage::ControlRecord record;
  record.kind = storage::ControlKind::kPlannedWorkOpen;
  record.shelve_for_ms = request->duration_ms();
  record.actor = caller->name;
  record.planned = std::move(*work);
  desk_.Submit(std::move(record), [reactor, response, duration = request->duration_ms()](
                                      Status status, std::optional<alarm::JournalEntry> event) {
    if (!status.ok()) {
      reactor->Finish(ToGrpc(status));
      return;
    }
    if (event) {
      // The start as the log decided it (now: the commit time).
      response->mutable_work()->set_start_ms(event->event.record.raised_at);
      response->mutable_work()->set_end_ms(event->event.record.raised_at + duration);
      AlarmEventToProto(*event, response->mutable_event(), nullptr);
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PlannedWorkService::List(grpc::CallbackServerContext* context,
                                                   const v1::ListPlannedWorkRequest* request,
                                                   v1::ListPlannedWorkResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = desk_.access().Require(*context, Role::kViewer, "list planned work");
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  ReadPlannedWork(*shards_,
                  [this, reactor, response, scope = std::move(*caller),
                   enterprise_id = request->enterprise_id()](std::vector<alarm::PlannedWork> open) {
                    const std::shared_ptr<const alarm::Registry> registry = desk_.registry().Get();
                    for (const alarm::PlannedWork& work : open) {
                      if (!enterprise_id.empty() && work.enterprise_id != enterprise_id) continue;
                      const alarm::Enterprise* e = registry->FindEnterprise(work.enterprise_id);
                      // A window of an enterprise since removed: national callers see it.
                      if (!scope.Covers(e != nullptr ? e->region_code : std::string())) continue;
                      PlannedWorkToProto(work, response->add_work());
                    }
                    reactor->Finish(grpc::Status::OK);
                  });
  return reactor;
}

grpc::ServerUnaryReactor* PlannedWorkService::Close(grpc::CallbackServerContext* context,
                                                    const v1::ClosePlannedWorkRequest* request,
                                                    v1::ClosePlannedWorkResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = desk_.access().Require(*context, Role::kOperator, "close planned work");
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  if (request->comment().size() > kMaxReasonBytes) {
    reactor->Finish(ToGrpc(Status::InvalidArgument("comment is longer than 1024 bytes")));
    return reactor;
  }
  // Which enterprise (and so region) the window is of: from shard 0, which
  // holds every window; then into the log like any operator action.
  ReadPlannedWork(*shards_, [this, reactor, response, scope = std::move(*caller),
                             id = request->id(),
                             comment = request->comment()](std::vector<alarm::PlannedWork> open) {
    auto it = std::find_if(open.begin(), open.end(),
                           [&](const alarm::PlannedWork& work) { return work.id == id; });
    const std::shared_ptr<const alarm::Registry> registry = desk_.registry().Get();
    const alarm::Enterprise* e =
        it == open.end() ? nullptr : registry->FindEnterprise(it->enterprise_id);
    const bool covered = it != open.end() && scope.Covers(e != nullptr ? e->region_code : "");
    if (it != open.end() && !covered) (void)desk_.access().Deny("planned work of another region");
    if (!covered) {
      reactor->Finish(ToGrpc(Status::NotFound("no open planned work '" + alarm::Echo(id) + "'")));
      return;
    }
    storage::ControlRecord record;
    record.kind = storage::ControlKind::kPlannedWorkClose;
    record.actor = scope.name;
    record.text = comment;
    record.planned.id = id;
    desk_.Submit(std::move(record),
                 [reactor, response](Status status, std::optional<alarm::JournalEntry> event) {
                   if (!status.ok()) {
                     reactor->Finish(ToGrpc(status));
                     return;
                   }
                   if (event) AlarmEventToProto(*event, response->mutable_event(), nullptr);
                   reactor->Finish(grpc::Status::OK);
                 });
  });
  return reactor;
}

}  // namespace vigil::server
