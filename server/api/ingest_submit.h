// The part of ingest that every protocol shares once it holds a decoded
// v1::IngestBatch and a checked caller: refusal while draining, after a
// storage failure or over the memory cap, validation into an ingest record
// (batch_prep.h), submission to the StorageWriter, and the ack once the batch
// is durable, with the ingest counters bumped once per batch. gRPC's
// Ingest.Write and Ingest.Stream (ingest_service.cc) and the HTTP ingest
// handlers (server/http/) call it. No gRPC, no Asio. Thread-safe: any thread
// may call these functions with its own RegistryView and builder.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "alarm/status.h"
#include "server/api/batch_prep.h"
#include "server/config/options.h"
#include "server/pipeline/ingest_counters.h"
#include "server/pipeline/registry_holder.h"
#include "server/pipeline/storage_writer.h"
#include "vigil/v1/ingest.pb.h"

namespace vigil::server {

class AccessControl;
class IdentityLimiter;

// What the ingest paths share; every pointer outlives every batch in flight.
struct IngestContext {
  const ServerOptions& options;
  RegistryHolder* registry;
  StorageWriter* writer;
  IngestCounters* counters;
  const std::atomic<bool>* draining;
  const AccessControl* access;
  IdentityLimiter* limiter;  // null: no per-identity limits
  uint32_t shard_count;      // ingest records are split for this many shards
};

// Validates `batch` into *prepared. Errors refuse the whole batch, nothing
// stored: kUnavailable (draining, storage failed), kResourceExhausted
// (ingest.max_buffered_bytes reached; counted), kPermissionDenied (the
// gateway is not in the registry), kInvalidArgument (sequence 0).
// REQUIRES: CheckGatewayId(batch.gateway_id()) is ok.
alarm::Status PrepareIngest(const IngestContext& ctx, RegistryView* registry,
                            const v1::IngestBatch& batch, storage::IngestRecordBuilder* builder,
                            PreparedBatch* prepared);

// The same for a batch as views (line protocol). REQUIRES:
// CheckGatewayId(batch.gateway_id) is ok.
alarm::Status PrepareIngest(const IngestContext& ctx, RegistryView* registry,
                            const SeriesBatch& batch, storage::IngestRecordBuilder* builder,
                            PreparedBatch* prepared);

// Readings a batch carries, valid or not (what the rate limit counts).
uint64_t ReadingsIn(const v1::IngestBatch& batch);

// One batch on its way to the writer, counted in ingest.max_buffered_bytes
// until its record is freed. CompleteAck turns the writer's outcome into the
// ack and bumps the counters; subclasses answer their client in Done().
class IngestPending : public PendingBatch {
 public:
  IngestPending(IngestCounters* counters, PreparedBatch prepared,
                std::chrono::steady_clock::time_point received, IngestProtocol protocol);
  ~IngestPending() override;

  // Completes ack() for `outcome` (a duplicate is acked with nothing stored
  // and no rejections); false when the batch failed.
  bool CompleteAck(Outcome outcome);

  v1::IngestAck& ack() { return prepared_.ack; }

 private:
  IngestCounters* counters_;
  ProtocolCounters* protocol_;
  PreparedBatch prepared_;
  std::chrono::steady_clock::time_point received_;
};

// Called once when a submitted batch is durable (ack set, error ok) or has
// failed (ack null, error says why: kUnavailable, kResourceExhausted,
// kFailedPrecondition, kAborted). Runs on the writer thread or the ingest
// log's completion thread: must not block.
using IngestDone = std::function<void(const v1::IngestAck* ack, const alarm::Status& error)>;

// Queues `prepared` for the writer under the dedupe key `writer_key` (the
// gateway id for batches numbered by the gateway) at `watermark`; `done`
// hears the outcome; `protocol` says which per-protocol counters it bumps. False when the writer's
// queue is full or it is stopping: nothing queued, `done` never called.
bool SubmitPrepared(const IngestContext& ctx, PreparedBatch prepared, std::string writer_key,
                    storage::Watermark watermark, std::chrono::steady_clock::time_point received,
                    IngestProtocol protocol, IngestDone done);

}  // namespace vigil::server
