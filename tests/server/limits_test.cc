// IdentityLimiter: slots per identity and the readings rate (GCRA).
#include "server/api/limits.h"

#include <catch2/catch.hpp>

namespace vigil::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST_CASE("Stream and subscription slots are per identity and come back", "[server][limits]") {
  IdentityLimiter limiter(
      {.streams_per_identity = 2, .readings_per_second = 1000, .subscriptions_per_identity = 1});
  auto a = limiter.Get("a");
  auto b = limiter.Get("b");
  CHECK(limiter.Get("a") == a);
  CHECK(limiter.AcquireStream(*a));
  CHECK(limiter.AcquireStream(*a));
  CHECK_FALSE(limiter.AcquireStream(*a));
  CHECK(limiter.AcquireStream(*b));  // another identity is not affected
  limiter.ReleaseStream(*a);
  CHECK(limiter.AcquireStream(*a));
  CHECK(limiter.AcquireSubscription(*a));
  CHECK_FALSE(limiter.AcquireSubscription(*a));
  limiter.ReleaseSubscription(*a);
  CHECK(limiter.AcquireSubscription(*a));
  CHECK(limiter.stats().streams_refused == 1);
  CHECK(limiter.stats().subscriptions_refused == 1);
}

TEST_CASE("Readings within the rate and a second's burst pass, more are paused, never dropped",
          "[server][limits]") {
  IdentityLimiter limiter(
      {.streams_per_identity = 8, .readings_per_second = 1000, .subscriptions_per_identity = 8});
  auto id = limiter.Get("gw");
  const auto t0 = std::chrono::steady_clock::time_point(seconds(100));
  // A second's worth at once: the burst.
  CHECK(limiter.TakeReadings(*id, 1000, t0) == nanoseconds(0));
  // 500 more at once: half a second too early.
  CHECK(limiter.TakeReadings(*id, 500, t0) == milliseconds(500));
  // After that pause, readings at the rate pass.
  CHECK(limiter.TakeReadings(*id, 100, t0 + milliseconds(600)) == nanoseconds(0));
  // Not waiting makes the debt grow.
  CHECK(limiter.TakeReadings(*id, 1000, t0 + milliseconds(600)) == seconds(1));
  // Idle for long: the bucket is full again, but not more than a burst.
  CHECK(limiter.TakeReadings(*id, 1000, t0 + seconds(60)) == nanoseconds(0));
  CHECK(limiter.TakeReadings(*id, 1, t0 + seconds(60)) > nanoseconds(0));
  const IdentityLimiter::Stats stats = limiter.stats();
  CHECK(stats.throttled == 3);
  CHECK(stats.throttled_seconds == Approx(1.501));
}

}  // namespace
}  // namespace vigil::server
