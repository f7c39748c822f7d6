// vigil.v1.PlannedWorkService: operators open, list and close planned-work
// windows (planned_work.proto). Opening and closing go into the ingest log as
// control records, through AlarmDesk like acknowledgements, so every shard
// (and every node of a cluster) applies them in log order and a restart
// replays them; the call is answered once the window's journal entry is
// durable. Listing asks shard 0, which holds every window. Reactions run on
// gRPC threads and never block; region and role are checked per call.
#pragma once

#include <chrono>
#include <string>

#include "server/api/access.h"
#include "server/api/alarm_desk.h"
#include "server/pipeline/shard.h"
#include "vigil/v1/planned_work.grpc.pb.h"

namespace vigil::server {

class PlannedWorkService final : public v1::PlannedWorkService::CallbackService {
 public:
  // `desk` carries access, registry, feed and writer; `shards` must outlive
  // the service and every RPC it started.
  PlannedWorkService(AlarmDesk desk, ShardSet* shards, std::chrono::milliseconds max_duration);

  grpc::ServerUnaryReactor* Open(grpc::CallbackServerContext* context,
                                 const v1::OpenPlannedWorkRequest* request,
                                 v1::OpenPlannedWorkResponse* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListPlannedWorkRequest* request,
                                 v1::ListPlannedWorkResponse* response) override;
  grpc::ServerUnaryReactor* Close(grpc::CallbackServerContext* context,
                                  const v1::ClosePlannedWorkRequest* request,
                                  v1::ClosePlannedWorkResponse* response) override;

 private:
  // The window `request` describes, checked against the registry and
  // `caller`'s region; `now` bounds its start.
  alarm::Result<alarm::PlannedWork> CheckOpen(const CallerScope& caller,
                                              const v1::OpenPlannedWorkRequest& request,
                                              alarm::TimestampMs now) const;

  const AlarmDesk desk_;
  ShardSet* shards_;
  const std::chrono::milliseconds max_duration_;
};

}  // namespace vigil::server
