// vigil.v1.Query: reads stored readings back. A history read first takes the
// sensor's open head and a store snapshot on its shard (one queue hop), then
// reads chunks and 5-minute statistics at that snapshot on the blocking-work
// pool, never on a gRPC thread, and merges the two. Latest values come from
// the shards' memory (one task per shard involved), from the store only for
// a sensor whose latest the shard has not yet checked there since a restart.
// Thread-safety: gRPC calls the handlers on its threads; they only read the
// members, which are set at construction.
#pragma once

#include <functional>
#include <string>

#include "server/api/access.h"
#include "server/api/reading_desk.h"
#include "server/pipeline/registry_holder.h"
#include "server/pipeline/shard.h"
#include "storage/chunk_store.h"
#include "vigil/v1/query.grpc.pb.h"

namespace vigil::server {

// kMaxReadRawLimit, kMaxDownsampledSteps, kDefaultMaxPoints, kMaxLatestSensors:
// reading_desk.h.

class QueryService final : public v1::Query::CallbackService {
 public:
  // Every pointer must outlive the service and its RPCs. Every call needs
  // a viewer (or higher) identity whose region covers each sensor asked for.
  QueryService(RegistryHolder* registry, ShardSet* shards, storage::ChunkStore* store,
               BlockingExecutor blocking, const AccessControl* access);

  grpc::ServerUnaryReactor* ReadRaw(grpc::CallbackServerContext* context,
                                    const v1::ReadRawRequest* request,
                                    v1::ReadRawResponse* response) override;
  grpc::ServerUnaryReactor* ReadDownsampled(grpc::CallbackServerContext* context,
                                            const v1::ReadDownsampledRequest* request,
                                            v1::ReadDownsampledResponse* response) override;
  grpc::ServerUnaryReactor* ReadLatest(grpc::CallbackServerContext* context,
                                       const v1::ReadLatestRequest* request,
                                       v1::ReadLatestResponse* response) override;

 private:
  const AccessControl* access_;
  ReadingDesk readings_;  // ReadRaw and ReadDownsampled, shared with the HTTP console
};

}  // namespace vigil::server
