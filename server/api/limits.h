// IdentityLimiter: limits per caller identity (a token's name, or a gateway
// certificate's): ingest streams and alarm subscriptions open at once, and a
// readings rate. The rate is a GCRA (generic cell rate algorithm) on one
// atomic per identity: a batch never waits for a lock, and an identity over
// its rate is told how long to pause instead of having anything dropped.
// Thread-safe: the identity table takes a mutex once per RPC (not per batch).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "alarm/thread_annotations.h"
#include "server/config/options.h"
#include "storage/mutex.h"

namespace vigil::server {

class IdentityLimiter {
 public:
  // One identity's counts. Owned by the limiter; handed out shared so that an
  // RPC keeps it for its lifetime.
  struct Identity {
    std::atomic<uint32_t> streams{0};
    std::atomic<uint32_t> subscriptions{0};
    // GCRA: the time (steady clock, ns) at which the identity's readings so
    // far would have been sent at exactly the allowed rate.
    std::atomic<int64_t> theoretical_arrival_ns{0};
  };

  explicit IdentityLimiter(const IdentityLimitOptions& options) : options_(options) {}

  // The counts of identity `name`, created on first use. Identities are few
  // (configured tokens, certificates of the configured CA) and kept.
  std::shared_ptr<Identity> Get(const std::string& name);

  // Takes an ingest-stream (subscription) slot; false, counted, when the
  // identity has its limit open already. Release each slot taken once.
  bool AcquireStream(Identity& identity);
  void ReleaseStream(Identity& identity);
  bool AcquireSubscription(Identity& identity);
  void ReleaseSubscription(Identity& identity);

  // Accounts `readings` sent at `now`; returns how long the sender must pause
  // to stay within readings_per_second (zero within the rate and its burst
  // of one second's worth). Counted when non-zero.
  std::chrono::nanoseconds TakeReadings(Identity& identity, uint64_t readings,
                                        std::chrono::steady_clock::time_point now);

  const IdentityLimitOptions& options() const { return options_; }

  // For /metrics.
  struct Stats {
    uint64_t streams_refused = 0;
    uint64_t subscriptions_refused = 0;
    uint64_t throttled = 0;        // batches that had to wait
    double throttled_seconds = 0;  // total of those waits
  };
  Stats stats() const;

 private:
  const IdentityLimitOptions options_;
  storage::Mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Identity>> identities_ VIGIL_GUARDED_BY(mu_);
  std::atomic<uint64_t> streams_refused_{0};
  std::atomic<uint64_t> subscriptions_refused_{0};
  std::atomic<uint64_t> throttled_{0};
  std::atomic<uint64_t> throttled_ns_{0};
};

}  // namespace vigil::server
