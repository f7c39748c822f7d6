#include "server/api/ingest_submit.h"

#include <algorithm>
#include <utility>

namespace vigil::server {
namespace {

alarm::TimeWindow WindowNow(const ServerOptions& options) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return alarm::AcceptedWindow(now.count(), options.limits);
}

// A submitted batch whose answer is a callback.
class CallbackPending final : public IngestPending {
 public:
  CallbackPending(IngestCounters* counters, PreparedBatch prepared,
                  std::chrono::steady_clock::time_point received, IngestProtocol protocol,
                  IngestDone done)
      : IngestPending(counters, std::move(prepared), received, protocol), done_(std::move(done)) {}

  void Done(Outcome outcome, const alarm::Status& error) override {
    if (CompleteAck(outcome)) {
      done_(&ack(), alarm::Status::Ok());
    } else {
      done_(nullptr, error);
    }
    delete this;
  }

 private:
  IngestDone done_;
};

// What refuses a batch whole before it is read: draining, failed storage,
// the memory cap, an unregistered gateway. Ok with *gateway set otherwise.
alarm::Status Admit(const IngestContext& ctx, const alarm::Registry& registry,
                    std::string_view gateway_id, const alarm::Gateway** gateway) {
  if (ctx.draining->load(std::memory_order_acquire)) {
    return alarm::Status::Unavailable("server is shutting down; resend unacked batches later");
  }
  if (!ctx.writer->healthy()) {
    return alarm::Status::Unavailable("storage failed: " + ctx.writer->sticky_error().message());
  }
  if (ctx.counters->buffered_bytes.load(std::memory_order_relaxed) >
      static_cast<int64_t>(ctx.options.max_buffered_bytes)) {
    ctx.counters->batches_refused_overload.fetch_add(1, std::memory_order_relaxed);
    return alarm::Status::ResourceExhausted(
        "server is overloaded (ingest.max_buffered_bytes reached); resend unacked batches "
        "after a backoff");
  }
  *gateway = registry.FindGateway(gateway_id);
  if (*gateway == nullptr) {
    return alarm::Status::PermissionDenied("gateway '" + alarm::Echo(gateway_id) +
                                           "' is not in the registry");
  }
  return alarm::Status::Ok();
}

// Sensor numbers are this node's own: a log other nodes apply names sensors by id.
bool ByNumber(const IngestContext& ctx) {
  return ctx.options.ingest_log.backend != IngestLogOptions::Backend::kJetStream;
}

}  // namespace

alarm::Status PrepareIngest(const IngestContext& ctx, RegistryView* registry,
                            const v1::IngestBatch& batch, storage::IngestRecordBuilder* builder,
                            PreparedBatch* prepared) {
  const alarm::Registry& reg = registry->Get();
  const alarm::Gateway* gateway = nullptr;
  if (alarm::Status st = Admit(ctx, reg, batch.gateway_id(), &gateway); !st.ok()) return st;
  return PrepareBatch(batch, reg, *gateway, WindowNow(ctx.options), ctx.options.limits,
                      ctx.shard_count, builder, prepared, ByNumber(ctx));
}

alarm::Status PrepareIngest(const IngestContext& ctx, RegistryView* registry,
                            const SeriesBatch& batch, storage::IngestRecordBuilder* builder,
                            PreparedBatch* prepared) {
  const alarm::Registry& reg = registry->Get();
  const alarm::Gateway* gateway = nullptr;
  if (alarm::Status st = Admit(ctx, reg, batch.gateway_id, &gateway); !st.ok()) return st;
  return PrepareSeries(batch, reg, *gateway, WindowNow(ctx.options), ctx.options.limits,
                       ctx.shard_count, builder, prepared, ByNumber(ctx));
}

uint64_t ReadingsIn(const v1::IngestBatch& batch) {
  uint64_t n = 0;
  for (const v1::Series& s : batch.series()) {
    n += static_cast<uint64_t>(std::max(s.timestamps_ms_size(), s.values_size()));
  }
  return n;
}

IngestPending::IngestPending(IngestCounters* counters, PreparedBatch prepared,
                             std::chrono::steady_clock::time_point received,
                             IngestProtocol protocol)
    : counters_(counters),
      protocol_(&counters->by_protocol[static_cast<size_t>(protocol)]),
      prepared_(std::move(prepared)),
      received_(received) {
  record = std::move(prepared_.record);
  received_at = received;
  buffered = &counters_->buffered_bytes;
  buffered_bytes = static_cast<int64_t>(record.capacity());
  buffered->fetch_add(buffered_bytes, std::memory_order_relaxed);
}

IngestPending::~IngestPending() {
  if (buffered_bytes != 0) buffered->fetch_sub(buffered_bytes, std::memory_order_relaxed);
}

bool IngestPending::CompleteAck(Outcome outcome) {
  v1::IngestAck& ack = prepared_.ack;
  if (outcome != Outcome::kFailed) {
    counters_->durable_latency.Record(std::chrono::steady_clock::now() - received_);
  }
  switch (outcome) {
    case Outcome::kStored:
      for (size_t i = 0; i < prepared_.rejected_by_reason.size(); ++i) {
        if (prepared_.rejected_by_reason[i] == 0) continue;
        counters_->rejected_by_reason[i].fetch_add(prepared_.rejected_by_reason[i],
                                                   std::memory_order_relaxed);
      }
      ack.set_stored_readings(prepared_.accepted_readings);
      counters_->batches_stored.fetch_add(1, std::memory_order_relaxed);
      counters_->readings_stored.fetch_add(prepared_.accepted_readings, std::memory_order_relaxed);
      counters_->readings_rejected.fetch_add(ack.rejected_readings(), std::memory_order_relaxed);
      protocol_->batches_stored.fetch_add(1, std::memory_order_relaxed);
      protocol_->readings_stored.fetch_add(prepared_.accepted_readings, std::memory_order_relaxed);
      protocol_->readings_rejected.fetch_add(ack.rejected_readings(), std::memory_order_relaxed);
      return true;
    case Outcome::kDuplicate:
      // Stored earlier; its rejections were reported then.
      ack.clear_rejections();
      ack.set_rejected_readings(0);
      ack.set_stored_readings(0);
      ack.set_duplicate(true);
      counters_->batches_duplicate.fetch_add(1, std::memory_order_relaxed);
      protocol_->batches_duplicate.fetch_add(1, std::memory_order_relaxed);
      return true;
    case Outcome::kFailed:
      protocol_->batches_failed.fetch_add(1, std::memory_order_relaxed);
      return false;
  }
  return false;
}

bool SubmitPrepared(const IngestContext& ctx, PreparedBatch prepared, std::string writer_key,
                    storage::Watermark watermark, std::chrono::steady_clock::time_point received,
                    IngestProtocol protocol, IngestDone done) {
  auto* pending =
      new CallbackPending(ctx.counters, std::move(prepared), received, protocol, std::move(done));
  pending->gateway_id = std::move(writer_key);
  pending->watermark = watermark;
  if (!ctx.writer->Submit(pending)) {
    delete pending;
    return false;
  }
  return true;
}

}  // namespace vigil::server
