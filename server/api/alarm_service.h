// vigil.v1.Alarms: what command centers watch and act on. Subscriptions are
// served from the AlarmFeed's memory while they keep up and from the alarm
// journal in RocksDB (on the blocking pool) when they fall behind; operator
// actions go into the ingest log like readings, so they reach the owning
// shard in order and replay alike, and are answered once journaled.
// Reactions run on gRPC threads and never block. Every call is checked
// against the caller's region and role (AccessControl).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "server/api/access.h"
#include "server/api/alarm_desk.h"
#include "server/api/limits.h"
#include "server/config/options.h"
#include "server/pipeline/alarm_feed.h"
#include "server/pipeline/ingest_counters.h"
#include "server/pipeline/registry_holder.h"
#include "server/pipeline/storage_writer.h"
#include "storage/journal_store.h"
#include "vigil/v1/alarms.grpc.pb.h"

namespace vigil::server {

class AlarmService final : public v1::Alarms::CallbackService {
 public:
  // Every pointer must outlive the service and every RPC it started.
  // `registry` names enterprises and sensors in the alarms sent.
  // `limiter` (null: no per-identity limits) bounds each identity's subscriptions.
  AlarmService(const ServerOptions& options, const AccessControl* access,
               const RegistryHolder* registry, AlarmFeed* feed, storage::JournalStore* store,
               StorageWriter* writer, BlockingRunner blocking, IdentityLimiter* limiter = nullptr);
  ~AlarmService() override;

  grpc::ServerWriteReactor<v1::AlarmStreamMessage>* Subscribe(
      grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* ListActive(grpc::CallbackServerContext* context,
                                       const v1::ListActiveRequest* request,
                                       v1::ListActiveResponse* response) override;
  grpc::ServerUnaryReactor* GetAlarm(grpc::CallbackServerContext* context,
                                     const v1::GetAlarmRequest* request,
                                     v1::GetAlarmResponse* response) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const v1::HistoryRequest* request,
                                    v1::HistoryResponse* response) override;
  grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context,
                                        const v1::AcknowledgeRequest* request,
                                        v1::AlarmActionResponse* response) override;
  grpc::ServerUnaryReactor* Shelve(grpc::CallbackServerContext* context,
                                   const v1::ShelveRequest* request,
                                   v1::AlarmActionResponse* response) override;
  grpc::ServerUnaryReactor* Unshelve(grpc::CallbackServerContext* context,
                                     const v1::UnshelveRequest* request,
                                     v1::AlarmActionResponse* response) override;

  // Control thread, every heartbeat_interval: idle subscribers send one.
  void Heartbeat();

  // For /metrics. Thread-safe.
  struct SubscriberStats {
    uint64_t subscribers = 0;
    uint64_t max_lag = 0;  // journal seqs between the newest entry and the slowest cursor
    uint64_t from_journal_total = 0;  // catch-up reads served from RocksDB
  };
  SubscriberStats subscriber_stats() const;
  // Live alarm events: published (durable in the journal) -> gRPC has
  // written it to a subscriber's stream, once per event per subscriber.
  // Catch-up reads from the journal are not included. Thread-safe.
  const LatencyHistogram& delivery_latency() const;

  // Internal to alarm_service.cc.
  class Subscription;
  struct Context;

 private:
  std::unique_ptr<Context> ctx_;
};

}  // namespace vigil::server
