// vigil.v1.RulesBacktest (proto/vigil/v1/backtest.proto): a rule backtest
// against the stored history (BacktestDesk), run on a thread of its own
// ("vigil-backtest"), never on a gRPC, shard or blocking-pool thread, so a
// long replay holds up neither queries nor ingest. One backtest at a time: a
// second call while one runs is refused (RESOURCE_EXHAUSTED). Admin role only.
// Thread-safety: gRPC calls Run on its threads; the running flag is atomic,
// the thread handle is guarded by a mutex.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "alarm/thread_annotations.h"
#include "server/api/access.h"
#include "server/api/backtest_desk.h"
#include "server/pipeline/registry_holder.h"
#include "storage/mutex.h"
#include "vigil/v1/backtest.grpc.pb.h"

namespace vigil::server {

class BacktestService final : public v1::RulesBacktest::CallbackService {
 public:
  // Pointers outlive the service; the shards and stores stay up until Stop()
  // returned.
  BacktestService(const AccessControl* access, const RegistryHolder* registry,
                  storage::ChunkStore* chunks, storage::JournalStore* journal, ShardSet* shards);
  ~BacktestService() override;  // Stop()s

  // Makes a running backtest end (CANCELLED) and joins its thread. Call before
  // the shards stop. Idempotent.
  void Stop();

  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context,
                                const v1::BacktestRequest* request,
                                v1::BacktestReport* response) override;

 private:
  const AccessControl* access_;
  const RegistryHolder* registry_;
  BacktestDesk desk_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  storage::Mutex mu_;
  std::thread thread_ VIGIL_GUARDED_BY(mu_);
};

}  // namespace vigil::server
