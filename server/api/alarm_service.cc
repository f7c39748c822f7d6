#include "server/api/alarm_service.h"

#include <chrono>
#include <deque>
#include <optional>
#include <utility>

#include "alarm/thread_annotations.h"
#include "server/api/alarm_follower.h"
#include "server/api/grpc_status.h"
#include "server/api/proto_convert.h"
#include "server/config/config.h"
#include "server/log/log.h"
#include "server/pipeline/ingest_counters.h"
#include "storage/alarm_codec.h"
#include "storage/control_record.h"
#include "storage/mutex.h"

namespace vigil::server {
namespace {

using alarm::JournalEntry;
using alarm::Status;

// Snapshot parts and catch-up reads are bounded so that one subscriber never
// holds much memory or a pool thread for long.
constexpr int kSnapshotPart = 1000;
constexpr uint32_t kMaxHistory = 10'000;

alarm::TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct AlarmService::Context {
  const ServerOptions& options;
  const AccessControl* access;
  const RegistryHolder* registry;  // names in the alarms sent
  AlarmFeed* feed;
  storage::JournalStore* store;
  StorageWriter* writer;
  IdentityLimiter* limiter;  // null when authentication is off
  AlarmDesk desk;            // scoping, history and actions, shared with the HTTP console

  mutable storage::Mutex subs_mu;
  std::set<const std::atomic<uint64_t>*> cursors VIGIL_GUARDED_BY(subs_mu);
  std::atomic<uint64_t> from_journal{0};
  // Live events: published by the journal -> written to a subscriber's stream.
  LatencyHistogram delivery_latency;

  // A command center's identity (gateways may not watch alarms).
  alarm::Result<CallerScope> Caller(grpc::CallbackServerContext* context) const {
    return access->Require(*context, Role::kViewer, "watch or list alarms");
  }

  // The filter a caller gets: an empty region means "all I may see";
  // anything outside the caller's region is refused.
  alarm::Result<alarm::AlarmFilter> ScopedFilter(const CallerScope& caller,
                                                 const v1::AlarmFilter& proto) const {
    auto filter = AlarmFilterFromProto(proto);
    if (!filter) return filter.error();
    return desk.ScopedFilter(caller, std::move(*filter));
  }
};

// ---------------------------------------------------------------------------
// Subscribe.

// One subscriber stream, following the journal with an AlarmFollower. Its
// lock lives in `Shared`, which the feed holds weakly as a watcher, as do
// journal reads in flight, so a wake-up after the RPC ended finds
// `stream == nullptr` and does nothing.
class AlarmService::Subscription final : public grpc::ServerWriteReactor<v1::AlarmStreamMessage> {
 public:
  struct Shared final : AlarmFeed::Watcher {
    void Wake() override {
      storage::MutexLock lock(&mu);
      if (stream == nullptr) return;
      stream->shared_->mu.AssertHeld();  // the same mutex: stream->shared_ is this
      stream->PumpLocked();
    }
    bool Interested(const alarm::JournalEntry& entry) const override {
      return filter.Matches(entry);
    }
    alarm::AlarmFilter filter;  // immutable once watching
    storage::Mutex mu;
    Subscription* stream VIGIL_GUARDED_BY(mu) = nullptr;  // null once the RPC is done
  };

  // `identity`, when set, holds a subscription slot this stream releases.
  Subscription(Context* ctx, alarm::AlarmFilter filter,
               std::shared_ptr<IdentityLimiter::Identity> identity)
      : ctx_(ctx),
        identity_(std::move(identity)),
        shared_(std::make_shared<Shared>()),
        follower_(&ctx->desk, filter, Reenter(shared_), &ctx->from_journal),
        cursor_(follower_.cursor_ref()),
        registry_view_(ctx->registry) {
    shared_->stream = this;
    shared_->filter = std::move(filter);
    storage::MutexLock lock(&ctx_->subs_mu);
    ctx_->cursors.insert(cursor_);
  }

  // Queues the snapshot (no cursor) or checks the cursor, then starts.
  void Start(std::optional<uint64_t> after_seq) {
    storage::MutexLock lock(&shared_->mu);
    auto start = follower_.Start(after_seq);
    if (!start) {
      FinishLocked(grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                                "after_seq " + start.error().message() +
                                    "; resubscribe without after_seq to resynchronize"));
      return;
    }
    if (const std::optional<AlarmFeed::OpenView>& view = *start) {
      const alarm::Registry& registry = registry_view_.Get();
      size_t i = 0;
      do {
        v1::AlarmSnapshot* part = pending_.emplace_back().message.mutable_snapshot();
        part->set_seq(view->seq);
        for (int n = 0; n < kSnapshotPart && i < view->alarms.size(); ++n, ++i) {
          AlarmToProto(view->alarms[i], part->add_alarms(), &registry);
        }
        part->set_last(i == view->alarms.size());
      } while (i < view->alarms.size());
    }
    PumpLocked();
  }

  void OnWriteDone(bool ok) override {
    storage::MutexLock lock(&shared_->mu);
    writing_ = false;
    if (!pending_.empty()) {
      if (ok && pending_.front().published_at) {
        ctx_->delivery_latency.Record(std::chrono::steady_clock::now() -
                                      *pending_.front().published_at);
      }
      pending_.pop_front();
    }
    if (finished_) {
      if (deferred_finish_) {
        deferred_finish_ = false;
        Finish(finish_status_);
      }
      return;
    }
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "subscriber went away"));
      return;
    }
    PumpLocked();
  }

  void OnCancel() override {
    storage::MutexLock lock(&shared_->mu);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override {
    {
      storage::MutexLock lock(&shared_->mu);
      shared_->stream = nullptr;
    }
    {
      storage::MutexLock lock(&ctx_->subs_mu);
      ctx_->cursors.erase(cursor_);
    }
    if (identity_ != nullptr) ctx_->limiter->ReleaseSubscription(*identity_);
    delete this;
  }

 private:
  // A journal read's completion: back under the stream's lock, while the RPC
  // lasts, then on with the pump.
  static AlarmFollower::Reenter Reenter(const std::shared_ptr<Shared>& shared) {
    return [weak = std::weak_ptr<Shared>(shared)](std::function<void()> then) {
      std::shared_ptr<Shared> held = weak.lock();
      if (held == nullptr) return;
      storage::MutexLock lock(&held->mu);
      Subscription* stream = held->stream;
      if (stream == nullptr) return;
      stream->shared_->mu.AssertHeld();  // the same mutex: stream->shared_ is held
      then();
      stream->PumpLocked();
    };
  }

  // Writes what is pending, else fetches more: from the feed's memory, or
  // from the journal when the cursor left it.
  void PumpLocked() VIGIL_REQUIRES(shared_->mu) {
    if (finished_ || writing_ || follower_.loading()) return;
    if (pending_.empty()) Fill();
    if (finished_ || follower_.loading()) return;
    if (!pending_.empty()) {
      WriteLocked();
      return;
    }
    // Nothing new. An idle stream tells its client how far it is now and
    // then; it waits for the next publish (or heartbeat wake-up), and looks
    // again in case one slipped in before the watch was set.
    if (std::chrono::steady_clock::now() - last_write_ >= ctx_->options.heartbeat_interval) {
      v1::Heartbeat* hb = pending_.emplace_back().message.mutable_heartbeat();
      hb->set_seq(follower_.cursor());
      hb->set_journal_seq(ctx_->feed->last_seq());
      hb->set_server_time_ms(WallMs());
      WriteLocked();
      return;
    }
    ctx_->feed->Watch(shared_);
    Fill();
    if (!pending_.empty() && !finished_ && !follower_.loading()) WriteLocked();
  }

  // Queues the follower's next entries, if any; ends the stream when the
  // resume point is gone or the journal cannot be read.
  void Fill() VIGIL_REQUIRES(shared_->mu) {
    if (finished_) return;
    AlarmFollower::Batch batch;
    switch (follower_.Next(&batch)) {
      case AlarmFollower::Step::kEntries:
        Queue(batch);
        return;
      case AlarmFollower::Step::kCaughtUp:
      case AlarmFollower::Step::kLoading:
        return;
      case AlarmFollower::Step::kLost:
        FinishLocked(grpc::Status(
            grpc::StatusCode::OUT_OF_RANGE,
            follower_.lost_reason() + "; resubscribe without after_seq to resynchronize"));
        return;
      case AlarmFollower::Step::kFailed:
        LogError("alarm_stream_journal_read_failed", {{"error", follower_.error().ToString()}});
        FinishLocked(ToGrpc(follower_.error()));
        return;
    }
  }

  // `batch.published_at` (live events only) feeds the delivery latency
  // histogram.
  void Queue(const AlarmFollower::Batch& batch) VIGIL_REQUIRES(shared_->mu) {
    const alarm::Registry& registry = registry_view_.Get();
    for (size_t i = 0; i < batch.entries.size(); ++i) {
      Pending& p = pending_.emplace_back();
      AlarmEventToProto(batch.entries[i], p.message.mutable_event(), &registry);
      if (i < batch.published_at.size()) p.published_at = batch.published_at[i];
    }
  }

  void WriteLocked() VIGIL_REQUIRES(shared_->mu) {
    writing_ = true;
    last_write_ = std::chrono::steady_clock::now();
    StartWrite(&pending_.front().message);
  }

  // Finishes once: now, or after the write in flight (whose message must
  // stay alive until then).
  void FinishLocked(const grpc::Status& status) VIGIL_REQUIRES(shared_->mu) {
    if (finished_) return;
    finished_ = true;
    if (writing_) {
      pending_.resize(1);
      finish_status_ = status;
      deferred_finish_ = true;
      return;
    }
    pending_.clear();
    Finish(status);
  }

 private:
  Context* ctx_;
  std::shared_ptr<IdentityLimiter::Identity> identity_;
  std::shared_ptr<Shared> shared_;  // set once, by the constructor
  AlarmFollower follower_ VIGIL_GUARDED_BY(shared_->mu);
  // follower_'s cursor, an atomic the service's stats read under subs_mu.
  const std::atomic<uint64_t>* const cursor_;
  struct Pending {
    v1::AlarmStreamMessage message;
    // When the feed published it (live events only): delivery latency.
    std::optional<std::chrono::steady_clock::time_point> published_at;
  };
  // front() is being written when writing_
  std::deque<Pending> pending_ VIGIL_GUARDED_BY(shared_->mu);
  RegistryView registry_view_ VIGIL_GUARDED_BY(shared_->mu);
  bool writing_ VIGIL_GUARDED_BY(shared_->mu) = false;
  bool finished_ VIGIL_GUARDED_BY(shared_->mu) = false;
  bool deferred_finish_ VIGIL_GUARDED_BY(shared_->mu) = false;
  grpc::Status finish_status_ VIGIL_GUARDED_BY(shared_->mu);
  std::chrono::steady_clock::time_point last_write_ VIGIL_GUARDED_BY(shared_->mu) =
      std::chrono::steady_clock::now();
};

AlarmService::AlarmService(const ServerOptions& options, const AccessControl* access,
                           const RegistryHolder* registry, AlarmFeed* feed,
                           storage::JournalStore* store, StorageWriter* writer,
                           BlockingRunner blocking, IdentityLimiter* limiter)
    : ctx_(new Context{.options = options,
                       .access = access,
                       .registry = registry,
                       .feed = feed,
                       .store = store,
                       .writer = writer,
                       .limiter = limiter,
                       .desk = AlarmDesk(options.max_shelve, access, registry, feed, store, writer,
                                         std::move(blocking)),
                       .subs_mu = {},
                       .cursors = {},
                       .from_journal = {},
                       .delivery_latency = {}}) {}

AlarmService::~AlarmService() = default;

grpc::ServerWriteReactor<v1::AlarmStreamMessage>* AlarmService::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) {
  auto fail = [](grpc::Status status) {
    // A reactor that finishes at once.
    class Failed final : public grpc::ServerWriteReactor<v1::AlarmStreamMessage> {
     public:
      explicit Failed(grpc::Status status) { Finish(std::move(status)); }
      void OnDone() override { delete this; }
    };
    return new Failed(std::move(status));
  };
  auto caller = ctx_->Caller(context);
  if (!caller) return fail(ToGrpc(caller.error()));
  auto filter = ctx_->ScopedFilter(*caller, request->filter());
  if (!filter) return fail(ToGrpc(filter.error()));
  std::shared_ptr<IdentityLimiter::Identity> identity;
  if (ctx_->limiter != nullptr) {
    identity = ctx_->limiter->Get(caller->name);
    if (!ctx_->limiter->AcquireSubscription(*identity)) {
      return fail(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          "'" + caller->name + "' has " +
              std::to_string(ctx_->limiter->options().subscriptions_per_identity) +
              " alarm subscriptions open already (limits.subscriptions_per_identity)"));
    }
  }
  auto* stream = new Subscription(ctx_.get(), std::move(*filter), std::move(identity));
  stream->Start(request->has_after_seq() ? std::optional<uint64_t>(request->after_seq())
                                         : std::nullopt);
  return stream;
}

void AlarmService::Heartbeat() {
  // Idle subscribers are the feed's watchers; woken, each sends a heartbeat
  // when its last message is old enough.
  ctx_->feed->WakeAll();
}

AlarmService::SubscriberStats AlarmService::subscriber_stats() const {
  SubscriberStats stats;
  const uint64_t last = ctx_->feed->last_seq();
  storage::MutexLock lock(&ctx_->subs_mu);
  stats.subscribers = ctx_->cursors.size();
  for (const std::atomic<uint64_t>* cursor : ctx_->cursors) {
    const uint64_t c = cursor->load(std::memory_order_relaxed);
    if (last > c) stats.max_lag = std::max(stats.max_lag, last - c);
  }
  stats.from_journal_total = ctx_->from_journal.load(std::memory_order_relaxed);
  return stats;
}

const LatencyHistogram& AlarmService::delivery_latency() const { return ctx_->delivery_latency; }

// ---------------------------------------------------------------------------
// Reads.

grpc::ServerUnaryReactor* AlarmService::ListActive(grpc::CallbackServerContext* context,
                                                   const v1::ListActiveRequest* request,
                                                   v1::ListActiveResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = ctx_->Caller(context);
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  auto filter = ctx_->ScopedFilter(*caller, request->filter());
  if (!filter) {
    reactor->Finish(ToGrpc(filter.error()));
    return reactor;
  }
  AlarmFeed::OpenView view = ctx_->feed->Open(*filter);
  response->set_seq(view.seq);
  const std::shared_ptr<const alarm::Registry> registry = ctx_->registry->Get();
  for (const JournalEntry& e : view.alarms) AlarmToProto(e, response->add_alarms(), registry.get());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AlarmService::GetAlarm(grpc::CallbackServerContext* context,
                                                 const v1::GetAlarmRequest* request,
                                                 v1::GetAlarmResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = ctx_->Caller(context);
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  Context* ctx = ctx_.get();
  ctx_->desk.ReadAlarm(*caller, request->alarm_id(),
                       [ctx, reactor, response](alarm::Result<std::vector<JournalEntry>> history) {
                         if (!history) {
                           reactor->Finish(ToGrpc(history.error()));
                           return;
                         }
                         const std::shared_ptr<const alarm::Registry> registry =
                             ctx->registry->Get();
                         AlarmToProto(history->back(), response->mutable_alarm(), registry.get());
                         for (const JournalEntry& e : *history) {
                           AlarmEventToProto(e, response->add_history(), registry.get());
                         }
                         reactor->Finish(grpc::Status::OK);
                       });
  return reactor;
}

grpc::ServerUnaryReactor* AlarmService::History(grpc::CallbackServerContext* context,
                                                const v1::HistoryRequest* request,
                                                v1::HistoryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = ctx_->Caller(context);
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  auto filter = ctx_->ScopedFilter(*caller, request->filter());
  if (!filter) {
    reactor->Finish(ToGrpc(filter.error()));
    return reactor;
  }
  if (request->from_ms() >= request->to_ms()) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "from_ms must be before to_ms"));
    return reactor;
  }
  // Page token "<at_ms>:<seq>": the first event of the next page.
  alarm::TimestampMs from = request->from_ms();
  uint64_t from_seq = 0;
  if (!request->page_token().empty()) {
    const std::string& token = request->page_token();
    const size_t colon = token.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      from = std::stoll(token.substr(0, colon));
      from_seq = std::stoull(token.substr(colon + 1));
    } catch (const std::exception&) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page_token"));
      return reactor;
    }
    if (from < request->from_ms()) from = request->from_ms();
  }
  const uint32_t limit =
      request->limit() == 0 || request->limit() > kMaxHistory ? kMaxHistory : request->limit();
  Context* ctx = ctx_.get();
  ctx_->desk.blocking()([ctx, reactor, response, filter = std::move(*filter), from, from_seq,
                         to = request->to_ms(), limit] {
    const std::shared_ptr<const alarm::Registry> registry = ctx->registry->Get();
    Status error;
    uint32_t returned = 0;
    Status s = ctx->store->ScanJournalByTime(from, to, [&](uint64_t seq, alarm::TimestampMs at) {
      if (at == from && seq < from_seq) return true;
      if (returned == limit) {
        response->set_next_page_token(std::to_string(at) + ":" + std::to_string(seq));
        return false;
      }
      bool keep_going = true;
      Status read = ctx->store->ReadJournal(seq, [&](uint64_t got, std::string_view bytes) {
        if (got != seq) return false;  // expired meanwhile
        auto entry = storage::DecodeJournalEntry(bytes);
        if (!entry) {
          error = Status::Corruption("journal entry " + std::to_string(seq) + ": " +
                                     entry.error().message());
          keep_going = false;
          return false;
        }
        if (filter.Matches(*entry)) {
          AlarmEventToProto(*entry, response->add_events(), registry.get());
          ++returned;
        }
        return false;
      });
      if (!read.ok()) {
        error = read;
        return false;
      }
      return keep_going;
    });
    if (error.ok()) error = s;
    reactor->Finish(error.ok() ? grpc::Status::OK : ToGrpc(error));
  });
  return reactor;
}

// ---------------------------------------------------------------------------
// Operator actions.

// The common path of Acknowledge, Shelve and Unshelve: who, then the desk's
// checks and the ingest log. Returns the reactor.
static grpc::ServerUnaryReactor* Act(AlarmService::Context* ctx,
                                     grpc::CallbackServerContext* context, uint64_t alarm_id,
                                     const std::string& operator_id, storage::ControlRecord record,
                                     v1::AlarmActionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = ctx->Caller(context);
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  ctx->desk.Act(*caller, alarm_id, operator_id, std::move(record),
                [ctx, reactor, response](const Status& status, std::optional<JournalEntry> event) {
                  if (!status.ok()) {
                    reactor->Finish(ToGrpc(status));
                    return;
                  }
                  if (event) {
                    AlarmEventToProto(*event, response->mutable_event(),
                                      ctx->registry->Get().get());
                  }
                  reactor->Finish(grpc::Status::OK);
                });
  return reactor;
}

grpc::ServerUnaryReactor* AlarmService::Acknowledge(grpc::CallbackServerContext* context,
                                                    const v1::AcknowledgeRequest* request,
                                                    v1::AlarmActionResponse* response) {
  storage::ControlRecord record;
  record.kind = storage::ControlKind::kAcknowledge;
  record.text = request->comment();
  return Act(ctx_.get(), context, request->alarm_id(), request->operator_id(), std::move(record),
             response);
}

grpc::ServerUnaryReactor* AlarmService::Shelve(grpc::CallbackServerContext* context,
                                               const v1::ShelveRequest* request,
                                               v1::AlarmActionResponse* response) {
  if (Status check = ctx_->desk.CheckShelve(request->reason(), request->duration_ms());
      !check.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpc(check));
    return reactor;
  }
  storage::ControlRecord record;
  record.kind = storage::ControlKind::kShelve;
  record.shelve_for_ms = request->duration_ms();
  record.text = request->reason();
  return Act(ctx_.get(), context, request->alarm_id(), request->operator_id(), std::move(record),
             response);
}

grpc::ServerUnaryReactor* AlarmService::Unshelve(grpc::CallbackServerContext* context,
                                                 const v1::UnshelveRequest* request,
                                                 v1::AlarmActionResponse* response) {
  storage::ControlRecord record;
  record.kind = storage::ControlKind::kUnshelve;
  record.text = request->comment();
  return Act(ctx_.get(), context, request->alarm_id(), request->operator_id(), std::move(record),
             response);
}

}  // namespace vigil::server
