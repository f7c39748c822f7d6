// vigil.v1.Ingest: the gateway-facing service. Reactions run on gRPC threads
// and never block: a read batch is validated and handed to the StorageWriter;
// its ack is written when the writer reports it durable. Each stream reads at
// most `stream_window` batches ahead of its acks, so a slow store stops reads
// and HTTP/2 flow control pushes back on the gateway. Callers are checked
// (AccessControl): only a gateway identity, and only for its own gateway id;
// an identity over its readings rate (IdentityLimiter) is paused, not dropped.
#pragma once

#include <atomic>
#include <cstdint>

#include "server/access.h"
#include "server/ingest_counters.h"
#include "server/limits.h"
#include "server/options.h"
#include "server/registry_holder.h"
#include "server/storage_writer.h"
#include "vigil/v1/ingest.grpc.pb.h"

namespace vigil::server {

class IngestService final : public v1::Ingest::CallbackService {
 public:
  // Every pointer must outlive the service (and every RPC it started);
  // `limiter` may be null (no per-identity limits).
  IngestService(const ServerOptions& options, RegistryHolder* registry, StorageWriter* writer,
                const AccessControl* access, IdentityLimiter* limiter);

  grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck>* Stream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Write(grpc::CallbackServerContext* context,
                                  const v1::IngestBatch* request, v1::IngestAck* response) override;
  grpc::ServerUnaryReactor* GetWatermark(grpc::CallbackServerContext* context,
                                         const v1::GetWatermarkRequest* request,
                                         v1::GatewayWatermark* response) override;

  // New batches are refused with UNAVAILABLE from now on (shutdown).
  void StartDraining() { draining_.store(true, std::memory_order_release); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  const IngestCounters& counters() const { return counters_; }

  // Internal to ingest_service.cc.
  struct Context {
    const ServerOptions& options;
    RegistryHolder* registry;
    StorageWriter* writer;
    IngestCounters* counters;
    const std::atomic<bool>* draining;
    const AccessControl* access;
    IdentityLimiter* limiter;
  };

 private:
  // Write's work once the caller is checked (and any pause is over).
  void WriteNow(grpc::ServerUnaryReactor* reactor, const v1::IngestBatch* request,
                v1::IngestAck* response);

  IngestCounters counters_;
  std::atomic<bool> draining_{false};
  Context context_;
};

}  // namespace vigil::server
