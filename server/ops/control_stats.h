// ControlStats: what the control thread knows about the configuration in
// force (rules, registry, TLS certificate), for /metrics. Written by the
// control thread (and start-up) with relaxed stores, read at scrape time:
// each value is independent, so no ordering between them is promised.
#pragma once

#include <atomic>
#include <cstdint>

namespace vigil::server {

struct ControlStats {
  // Rules in force (0: nothing raises threshold alarms).
  std::atomic<uint64_t> rules_loaded{0};
  // SIGHUP re-reads of the rules file, by outcome.
  std::atomic<uint64_t> rules_reloads_ok{0};
  std::atomic<uint64_t> rules_reloads_failed{0};
  // Registry entries in force.
  std::atomic<uint64_t> enterprises{0};
  std::atomic<uint64_t> sensors{0};
  std::atomic<uint64_t> gateways{0};
  // The listener certificate's notAfter (Unix seconds) as last checked; 0
  // when TLS is off or the files did not check.
  std::atomic<int64_t> tls_not_after_s{0};
};

}  // namespace vigil::server
