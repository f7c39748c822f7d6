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

#include "server/api/access.h"
#include "server/api/ingest_submit.h"
#include "server/api/limits.h"
#include "server/config/options.h"
#include "server/pipeline/ingest_counters.h"
#include "server/pipeline/registry_holder.h"
#include "server/pipeline/storage_writer.h"
#include "vigil/v1/ingest.grpc.pb.h"

namespace vigil::server {

// Stream and Write are raw callback methods: gRPC hands over each message's
// bytes and the service parses the IngestBatch itself, so that an undecodable
// one is answered INVALID_ARGUMENT, naming its place in the stream, after the
// acks of the batches before it. (gRPC 1.51's own parsing ends a stream's
// reads as if the gateway had half-closed, so the stream ends OK and later
// batches vanish; a unary call gets UNIMPLEMENTED with no message.) Every
// other method of vigil.v1.Ingest is a plain callback method (GetWatermark):
// a further one goes into the innermost WithCallbackMethod_<Name><...>.
using IngestServiceBase =
    v1::Ingest::WithRawCallbackMethod_Stream<v1::Ingest::WithRawCallbackMethod_Write<
        v1::Ingest::WithCallbackMethod_GetWatermark<v1::Ingest::Service>>>;

class IngestService final : public IngestServiceBase {
 public:
  // Every pointer must outlive the service (and every RPC it started);
  // `limiter` may be null (no per-identity limits). Ingest records are split
  // for `shard_count` shards (ShardSet::count()).
  IngestService(const ServerOptions& options, RegistryHolder* registry, StorageWriter* writer,
                const AccessControl* access, IdentityLimiter* limiter, uint32_t shard_count);

  // Requests are serialized v1::IngestBatch, responses v1::IngestAck.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Write(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetWatermark(grpc::CallbackServerContext* context,
                                         const v1::GetWatermarkRequest* request,
                                         v1::GatewayWatermark* response) override;

  // New batches are refused with UNAVAILABLE from now on (shutdown).
  void StartDraining() { draining_.store(true, std::memory_order_release); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  const IngestCounters& counters() const { return counters_; }

  // What the shared ingest path (ingest_submit.h) needs: the HTTP ingest
  // handlers use the same counters, draining flag and limits.
  using Context = IngestContext;
  const Context& context() const { return context_; }

 private:
  // Write's work once the caller is checked (and any pause is over).
  void WriteNow(grpc::ServerUnaryReactor* reactor, const v1::IngestBatch* request,
                grpc::ByteBuffer* response);

  IngestCounters counters_;
  std::atomic<bool> draining_{false};
  Context context_;
};

}  // namespace vigil::server
