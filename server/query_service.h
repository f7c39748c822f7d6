// vigil.v1.Query: reads stored readings back. A read first takes a copy of
// the sensor's open head from its shard (through the shard's queue), then
// reads the sealed chunks from RocksDB on the blocking-work pool, never on a
// gRPC thread, and merges the two.
#pragma once

#include <functional>

#include "server/registry_holder.h"
#include "server/shard.h"
#include "storage/store.h"
#include "vigil/v1/query.grpc.pb.h"

namespace vigil::server {

// Runs a task that may block (RocksDB reads) off the gRPC threads.
using BlockingExecutor = std::function<void(std::function<void()>)>;

// Most readings one ReadRaw answer carries.
inline constexpr uint32_t kMaxReadRawLimit = 100'000;

class QueryService final : public v1::Query::CallbackService {
 public:
  // Every pointer must outlive the service and its RPCs.
  QueryService(RegistryHolder* registry, ShardSet* shards, storage::Store* store,
               BlockingExecutor blocking);

  grpc::ServerUnaryReactor* ReadRaw(grpc::CallbackServerContext* context,
                                    const v1::ReadRawRequest* request,
                                    v1::ReadRawResponse* response) override;

 private:
  RegistryHolder* registry_;
  ShardSet* shards_;
  storage::Store* store_;
  BlockingExecutor blocking_;
};

}  // namespace vigil::server
