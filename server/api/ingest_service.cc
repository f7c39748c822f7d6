#include "server/api/ingest_service.h"

#include <grpcpp/alarm.h>

#include <chrono>
#include <deque>
#include <memory>
#include <string_view>

#include "alarm/thread_annotations.h"
#include "server/api/batch_prep.h"
#include "server/api/grpc_status.h"
#include "server/api/ingest_submit.h"
#include "server/log/log.h"
#include "storage/mutex.h"

namespace vigil::server {
namespace {

// Validates a batch into *prepared; a batch-level error ends the RPC.
alarm::Status Prepare(const IngestService::Context& ctx, RegistryView* registry,
                      const v1::IngestBatch& batch, storage::IngestRecordBuilder* builder,
                      PreparedBatch* prepared) {
  return PrepareIngest(ctx, registry, batch, builder, prepared);
}

// Runs `f` on a gRPC executor thread after `delay` (f(false) when cancelled).
// The alarm frees itself: gRPC keeps its state alive until `f` returns.
void RunAfter(std::chrono::nanoseconds delay, std::function<void(bool)> f) {
  auto* alarm = new grpc::Alarm;
  alarm->Set(std::chrono::system_clock::now() +
                 std::chrono::duration_cast<std::chrono::system_clock::duration>(delay),
             [alarm, f = std::move(f)](bool ok) {
               f(ok);
               delete alarm;
             });
}

// The identity of an ingest call, or the status that refuses it: UNAUTHENTICATED
// without one, PERMISSION_DENIED for a caller that is no gateway.
alarm::Result<CallerScope> IngestCaller(const IngestService::Context& ctx,
                                        const grpc::ServerContextBase& context) {
  return ctx.access->Require(context, Role::kGateway, "send readings");
}

// PERMISSION_DENIED (counted) unless `caller` may write as `gateway_id`.
alarm::Status CheckGateway(const IngestService::Context& ctx, const CallerScope& caller,
                           const std::string& gateway_id) {
  if (caller.MayWriteAs(gateway_id)) return alarm::Status::Ok();
  return ctx.access->Deny("'" + caller.name + "' may not send batches of gateway '" +
                          alarm::Echo(gateway_id) + "'");
}

// Parses a raw request into *batch. When the bytes are no IngestBatch the
// message names the request: "batch N of the stream" for `stream_index` N,
// "the request" for 0 (a unary Write).
alarm::Status ParseBatch(grpc::ByteBuffer* bytes, uint64_t stream_index, v1::IngestBatch* batch) {
  const size_t size = bytes->Length();
  if (grpc::SerializationTraits<v1::IngestBatch>::Deserialize(bytes, batch).ok()) {
    return alarm::Status::Ok();
  }
  const std::string which = stream_index == 0
                                ? std::string("the request")
                                : "batch " + std::to_string(stream_index) + " of the stream";
  return alarm::Status::InvalidArgument(which + " (" + std::to_string(size) +
                                        " bytes) does not decode as a vigil.v1.IngestBatch");
}

// `ack` as a response message. It always serializes: it is far below 2 GB,
// and its strings are valid UTF-8 (echoes are cut at character boundaries).
void SerializeAck(const v1::IngestAck& ack, grpc::ByteBuffer* out) {
  out->Clear();  // gRPC's writer requires an empty buffer
  bool own_buffer = false;
  (void)grpc::SerializationTraits<v1::IngestAck>::Serialize(ack, out, &own_buffer);
}

// A unary Write: owns the parsed batch until the call is done.
class WriteCall final : public grpc::ServerUnaryReactor {
 public:
  v1::IngestBatch request;
  void OnDone() override { delete this; }
};

// A stream refused before it started.
class RefusedStream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit RefusedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

class IngestStream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // `identity`, when set, holds one of the caller's stream slots, released
  // when the stream is done.
  IngestStream(const IngestService::Context& ctx, CallerScope caller,
               std::shared_ptr<IdentityLimiter::Identity> identity)
      : ctx_(ctx),
        registry_(ctx.registry),
        caller_(std::move(caller)),
        identity_(std::move(identity)) {
    if (ctx_.counters->streams_open.fetch_add(1, std::memory_order_relaxed) >=
        ctx_.options.max_concurrent_streams) {
      Fail(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many concurrent ingest streams (ingest.max_concurrent_streams = " +
                            std::to_string(ctx_.options.max_concurrent_streams) + ")"));
      return;
    }
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the gateway half-closed, or the call is over
      storage::MutexLock lock(&mu_);
      read_closed_ = true;
      MaybeFinishLocked();
      return;
    }
    {
      // A batch read after an earlier one failed is not stored: it would land
      // after a gap the gateway has not resent yet. Unacked, it is resent.
      storage::MutexLock lock(&mu_);
      if (failed_) {
        MaybeFinishLocked();
        return;
      }
    }
    // Undecodable, the batch fails the stream like any invalid one: the
    // batches before it are still acked once stored, nothing after it is read.
    ++batches_read_;
    if (alarm::Status st = ParseBatch(&request_bytes_, batches_read_, &request_); !st.ok()) {
      Fail(ToGrpc(st));
      return;
    }
    if (alarm::Status st = CheckGatewayId(request_.gateway_id()); !st.ok()) {
      Fail(ToGrpc(st));
      return;
    }
    if (!gateway_id_.empty() && request_.gateway_id() != gateway_id_) {
      Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "gateway_id changed within the stream from '" + gateway_id_ + "' to '" +
                            alarm::Echo(request_.gateway_id()) + "'"));
      return;
    }
    if (gateway_id_.empty()) {
      if (alarm::Status st = CheckGateway(ctx_, caller_, request_.gateway_id()); !st.ok()) {
        Fail(ToGrpc(st));
        return;
      }
    }
    const auto received = std::chrono::steady_clock::now();
    const uint64_t readings = ReadingsIn(request_);
    PreparedBatch prepared;
    alarm::Status st = Prepare(ctx_, &registry_, request_, &builder_, &prepared);
    if (!st.ok()) {
      Fail(ToGrpc(st));
      return;
    }
    if (gateway_id_.empty()) gateway_id_ = request_.gateway_id();
    auto* pending = new StreamPending(this, ctx_.counters, std::move(prepared), received);
    pending->gateway_id = request_.gateway_id();
    pending->watermark = {request_.epoch(), request_.sequence()};
    {
      storage::MutexLock lock(&mu_);
      ++in_flight_;
    }
    if (!ctx_.writer->Submit(pending)) {
      delete pending;
      {
        storage::MutexLock lock(&mu_);
        --in_flight_;
      }
      Fail(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "ingest queue is full; resend unacked batches after a backoff"));
      return;
    }
    // Over its readings rate, the identity waits before its next batch is
    // read: HTTP/2 flow control then slows the gateway down.
    const std::chrono::nanoseconds pause =
        identity_ != nullptr ? ctx_.limiter->TakeReadings(*identity_, readings, received)
                             : std::chrono::nanoseconds(0);
    std::shared_ptr<grpc::Alarm> alarm;
    {
      storage::MutexLock lock(&mu_);
      if (pause.count() > 0 && !failed_) {
        throttled_ = true;
        alarm_pending_ = true;  // keeps the stream alive until OnThrottleDone
        alarm = throttle_alarm_ = std::make_shared<grpc::Alarm>();
      } else if (in_flight_ < ctx_.options.stream_window && !failed_) {
        StartRead(&request_bytes_);
      } else {
        read_paused_ = true;
      }
    }
    // Set outside mu_: an alarm already due may run its callback at once.
    if (alarm != nullptr) {
      alarm->Set(std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(pause),
                 [this](bool) { OnThrottleDone(); });
    }
  }

  void OnCancel() override {
    // A paused stream reads again at once, finds the call over and finishes
    // (also at shutdown, which cancels every call). The alarm is cancelled
    // outside mu_ (its callback takes it); the copy keeps it alive meanwhile.
    std::shared_ptr<grpc::Alarm> alarm;
    {
      storage::MutexLock lock(&mu_);
      if (alarm_pending_) alarm = throttle_alarm_;
    }
    if (alarm != nullptr) alarm->Cancel();
  }

  void OnWriteDone(bool ok) override {
    storage::MutexLock lock(&mu_);
    acks_.pop_front();
    if (!ok) {
      acks_.clear();
      writing_ = false;
      failed_ = true;  // the client is gone; nothing more can be said
      if (!finish_called_) {
        finish_called_ = true;
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "ack could not be written"));
      }
      return;
    }
    if (!acks_.empty()) {
      StartWriteLocked();
    } else {
      writing_ = false;
      MaybeFinishLocked();
    }
  }

  void OnDone() override {
    ctx_.counters->streams_open.fetch_sub(1, std::memory_order_relaxed);
    if (identity_ != nullptr) ctx_.limiter->ReleaseStream(*identity_);
    bool last;
    {
      storage::MutexLock lock(&mu_);
      done_ = true;
      last = in_flight_ == 0 && !alarm_pending_;
    }
    if (last) delete this;
  }

 private:
  class StreamPending final : public IngestPending {
   public:
    StreamPending(IngestStream* stream, IngestCounters* counters, PreparedBatch prepared,
                  std::chrono::steady_clock::time_point received)
        : IngestPending(counters, std::move(prepared), received, IngestProtocol::kGrpc),
          stream_(stream) {}
    void Done(Outcome outcome, const alarm::Status& error) override {
      IngestStream* stream = stream_;
      const bool ok = CompleteAck(outcome);
      stream->OnStored(ok ? &ack() : nullptr, error);
      delete this;
    }

   private:
    IngestStream* stream_;
  };

  // The pause of a throttled stream is over (or was cancelled): read on.
  void OnThrottleDone() {
    bool remove = false;
    {
      storage::MutexLock lock(&mu_);
      alarm_pending_ = false;
      throttled_ = false;
      if (done_) {
        remove = in_flight_ == 0;
      } else if (!failed_ && !read_closed_ && !finish_called_) {
        if (in_flight_ < ctx_.options.stream_window) {
          StartRead(&request_bytes_);
        } else {
          read_paused_ = true;
        }
      }
    }
    if (remove) delete this;
  }

  // Writer thread.
  void OnStored(v1::IngestAck* ack, const alarm::Status& error) {
    bool remove = false;
    {
      storage::MutexLock lock(&mu_);
      --in_flight_;
      if (done_) {
        remove = in_flight_ == 0 && !alarm_pending_;
      } else if (ack == nullptr) {
        FailLocked(ToGrpc(error));
      } else if (!finish_called_) {
        // Even after a failure, a stored batch's ack is still worth sending.
        acks_.emplace_back();
        acks_.back().Swap(ack);
        if (!writing_) {
          writing_ = true;
          StartWriteLocked();
        }
        if (read_paused_ && !throttled_ && in_flight_ < ctx_.options.stream_window &&
            !read_closed_ && !failed_) {
          read_paused_ = false;
          StartRead(&request_bytes_);
        }
        MaybeFinishLocked();
      }
    }
    if (remove) delete this;
  }

  // Writes acks_.front(), serialized into write_bytes_ (alive until OnWriteDone).
  void StartWriteLocked() VIGIL_REQUIRES(mu_) {
    SerializeAck(acks_.front(), &write_bytes_);
    StartWrite(&write_bytes_);
  }

  void Fail(grpc::Status status) VIGIL_EXCLUDES(mu_) {
    storage::MutexLock lock(&mu_);
    FailLocked(std::move(status));
  }

  // The first failure's status is the one the gateway hears. Every later
  // call still tries to finish: the last failed batch of a window is what
  // brings in_flight_ to 0, and a stream left unfinished would hold its slot
  // (and block Server::Shutdown) forever.
  void FailLocked(grpc::Status status) VIGIL_REQUIRES(mu_) {
    if (!failed_) {
      failed_ = true;
      fail_status_ = std::move(status);
    }
    MaybeFinishLocked();
  }

  void MaybeFinishLocked() VIGIL_REQUIRES(mu_) {
    if (finish_called_ || writing_) return;
    if (failed_ && in_flight_ == 0) {
      finish_called_ = true;
      Finish(fail_status_);
    } else if (read_closed_ && in_flight_ == 0 && acks_.empty()) {
      finish_called_ = true;
      Finish(grpc::Status::OK);
    }
  }

  const IngestService::Context& ctx_;
  RegistryView registry_;
  const CallerScope caller_;
  const std::shared_ptr<IdentityLimiter::Identity> identity_;  // null: no limits
  storage::IngestRecordBuilder builder_;
  grpc::ByteBuffer request_bytes_;  // owned by the read in progress
  v1::IngestBatch request_;         // request_bytes_ parsed; reaction thread only
  uint64_t batches_read_ = 0;       // reaction thread only
  std::string gateway_id_;          // reaction thread only

  storage::Mutex mu_;
  std::deque<v1::IngestAck> acks_ VIGIL_GUARDED_BY(mu_);  // front() is being written
  grpc::ByteBuffer write_bytes_ VIGIL_GUARDED_BY(mu_);    // acks_.front() serialized
  uint32_t in_flight_ VIGIL_GUARDED_BY(mu_) = 0;
  bool writing_ VIGIL_GUARDED_BY(mu_) = false;
  bool read_paused_ VIGIL_GUARDED_BY(mu_) = false;
  bool read_closed_ VIGIL_GUARDED_BY(mu_) = false;
  bool failed_ VIGIL_GUARDED_BY(mu_) = false;
  bool finish_called_ VIGIL_GUARDED_BY(mu_) = false;
  bool done_ VIGIL_GUARDED_BY(mu_) = false;
  bool throttled_ VIGIL_GUARDED_BY(mu_) = false;      // paused by the readings rate
  bool alarm_pending_ VIGIL_GUARDED_BY(mu_) = false;  // throttle_alarm_ not fired yet
  std::shared_ptr<grpc::Alarm> throttle_alarm_ VIGIL_GUARDED_BY(mu_);
  grpc::Status fail_status_ VIGIL_GUARDED_BY(mu_);
};

}  // namespace

IngestService::IngestService(const ServerOptions& options, RegistryHolder* registry,
                             StorageWriter* writer, const AccessControl* access,
                             IdentityLimiter* limiter, uint32_t shard_count)
    : context_{options, registry, writer, &counters_, &draining_, access, limiter, shard_count} {}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* IngestService::Stream(
    grpc::CallbackServerContext* context) {
  auto caller = IngestCaller(context_, *context);
  if (!caller) return new RefusedStream(ToGrpc(caller.error()));
  std::shared_ptr<IdentityLimiter::Identity> identity;
  if (context_.limiter != nullptr && !caller->anonymous) {
    identity = context_.limiter->Get(caller->name);
    if (!context_.limiter->AcquireStream(*identity)) {
      return new RefusedStream(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       "'" + caller->name + "' has " +
                           std::to_string(context_.limiter->options().streams_per_identity) +
                           " ingest streams open already (limits.streams_per_identity)"));
    }
  }
  return new IngestStream(context_, std::move(*caller), std::move(identity));
}

grpc::ServerUnaryReactor* IngestService::Write(grpc::CallbackServerContext* context,
                                               const grpc::ByteBuffer* request_bytes,
                                               grpc::ByteBuffer* response) {
  auto* reactor = new WriteCall;
  auto caller = IngestCaller(context_, *context);
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  // A copy shares the bytes (reference-counted slices); parsing consumes it.
  grpc::ByteBuffer bytes(*request_bytes);
  const v1::IngestBatch* request = &reactor->request;
  if (alarm::Status st = ParseBatch(&bytes, /*stream_index=*/0, &reactor->request); !st.ok()) {
    reactor->Finish(ToGrpc(st));
    return reactor;
  }
  if (alarm::Status st = CheckGatewayId(request->gateway_id()); !st.ok()) {
    reactor->Finish(ToGrpc(st));
    return reactor;
  }
  if (alarm::Status st = CheckGateway(context_, *caller, request->gateway_id()); !st.ok()) {
    reactor->Finish(ToGrpc(st));
    return reactor;
  }
  if (context_.limiter != nullptr && !caller->anonymous) {
    const std::chrono::nanoseconds pause =
        context_.limiter->TakeReadings(*context_.limiter->Get(caller->name), ReadingsIn(*request),
                                       std::chrono::steady_clock::now());
    if (pause.count() > 0) {
      // Over the readings rate: handled after the pause (the unary
      // counterpart of not reading a stream).
      RunAfter(pause,
               [this, reactor, request, response](bool) { WriteNow(reactor, request, response); });
      return reactor;
    }
  }
  WriteNow(reactor, request, response);
  return reactor;
}

void IngestService::WriteNow(grpc::ServerUnaryReactor* reactor, const v1::IngestBatch* request,
                             grpc::ByteBuffer* response) {
  const auto received = std::chrono::steady_clock::now();
  RegistryView registry(context_.registry);
  storage::IngestRecordBuilder builder;
  PreparedBatch prepared;
  alarm::Status st = Prepare(context_, &registry, *request, &builder, &prepared);
  if (!st.ok()) {
    reactor->Finish(ToGrpc(st));
    return;
  }
  const bool queued =
      SubmitPrepared(context_, std::move(prepared), request->gateway_id(),
                     {request->epoch(), request->sequence()}, received, IngestProtocol::kGrpc,
                     [reactor, response](const v1::IngestAck* ack, const alarm::Status& error) {
                       if (ack != nullptr) {
                         SerializeAck(*ack, response);
                         reactor->Finish(grpc::Status::OK);
                       } else {
                         reactor->Finish(ToGrpc(error));
                       }
                     });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "ingest queue is full; retry after a backoff"));
  }
}

grpc::ServerUnaryReactor* IngestService::GetWatermark(grpc::CallbackServerContext* context,
                                                      const v1::GetWatermarkRequest* request,
                                                      v1::GatewayWatermark* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = context_.access->Authenticate(*context);
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  const std::string& gateway_id = request->gateway_id();
  bool visible = caller->role == Role::kGateway ? caller->MayWriteAs(gateway_id) : true;
  std::string enterprise_id;
  if (visible) {
    // Anyone else sees the gateways of its region; one outside it is answered
    // as one that does not exist.
    RegistryView registry(context_.registry);
    const alarm::Registry& reg = registry.Get();
    const alarm::Gateway* gateway = reg.FindGateway(gateway_id);
    const alarm::Enterprise* enterprise =
        gateway != nullptr ? reg.FindEnterprise(gateway->enterprise_id) : nullptr;
    visible = enterprise != nullptr &&
              (caller->role == Role::kGateway || caller->Covers(enterprise->region_code));
    if (visible) enterprise_id = enterprise->id;
  }
  if (!visible) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "no gateway with this id in the registry of the caller's region"));
    return reactor;
  }
  auto mark = context_.writer->StoredWatermark(gateway_id);
  if (!mark) {
    reactor->Finish(ToGrpc(mark.error()));
    return reactor;
  }
  response->set_gateway_id(gateway_id);
  response->set_enterprise_id(std::move(enterprise_id));
  if (mark->has_value()) {
    response->set_stored(true);
    response->set_epoch((*mark)->epoch);
    response->set_sequence((*mark)->sequence);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace vigil::server
