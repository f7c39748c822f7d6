#include "server/api/limits.h"

#include <algorithm>
#include <cmath>

namespace vigil::server {
namespace {

// Takes one slot of `count` if fewer than `limit` are taken.
bool TakeSlot(std::atomic<uint32_t>& count, uint32_t limit) {
  uint32_t current = count.load(std::memory_order_relaxed);
  do {
    if (current >= limit) return false;
  } while (!count.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

}  // namespace

std::shared_ptr<IdentityLimiter::Identity> IdentityLimiter::Get(const std::string& name) {
  storage::MutexLock lock(&mu_);
  std::shared_ptr<Identity>& identity = identities_[name];
  if (identity == nullptr) identity = std::make_shared<Identity>();
  return identity;
}

bool IdentityLimiter::AcquireStream(Identity& identity) {
  if (TakeSlot(identity.streams, options_.streams_per_identity)) return true;
  streams_refused_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void IdentityLimiter::ReleaseStream(Identity& identity) {
  identity.streams.fetch_sub(1, std::memory_order_relaxed);
}

bool IdentityLimiter::AcquireSubscription(Identity& identity) {
  if (TakeSlot(identity.subscriptions, options_.subscriptions_per_identity)) return true;
  subscriptions_refused_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void IdentityLimiter::ReleaseSubscription(Identity& identity) {
  identity.subscriptions.fetch_sub(1, std::memory_order_relaxed);
}

std::chrono::nanoseconds IdentityLimiter::TakeReadings(Identity& identity, uint64_t readings,
                                                       std::chrono::steady_clock::time_point now) {
  constexpr int64_t kSecond = 1'000'000'000;
  const int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const uint64_t rate = std::max<uint32_t>(options_.readings_per_second, 1);
  // The time `readings` take at the rate, capped at a day (far beyond any
  // deadline a gateway sets) so the sum cannot overflow; a double holds
  // whole nanoseconds exactly up to 104 days.
  constexpr double kMaxCost = 86'400.0 * 1e9;
  const int64_t cost = static_cast<int64_t>(std::min(
      std::ceil(static_cast<double>(readings) * 1e9 / static_cast<double>(rate)), kMaxCost));
  int64_t tat = identity.theoretical_arrival_ns.load(std::memory_order_relaxed);
  int64_t next = 0;
  do {
    next = std::max(tat, now_ns) + cost;
  } while (
      !identity.theoretical_arrival_ns.compare_exchange_weak(tat, next, std::memory_order_relaxed));
  // A burst of one second's worth passes at once.
  const int64_t wait = next - now_ns - kSecond;
  if (wait <= 0) return std::chrono::nanoseconds(0);
  throttled_.fetch_add(1, std::memory_order_relaxed);
  throttled_ns_.fetch_add(static_cast<uint64_t>(wait), std::memory_order_relaxed);
  return std::chrono::nanoseconds(wait);
}

IdentityLimiter::Stats IdentityLimiter::stats() const {
  return Stats{.streams_refused = streams_refused_.load(std::memory_order_relaxed),
               .subscriptions_refused = subscriptions_refused_.load(std::memory_order_relaxed),
               .throttled = throttled_.load(std::memory_order_relaxed),
               .throttled_seconds =
                   static_cast<double>(throttled_ns_.load(std::memory_order_relaxed)) * 1e-9};
}

}  // namespace vigil::server
