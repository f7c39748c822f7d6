// Console: the web console for command centers, served by an HttpServer of
// its own (console.listen): the page's files, an HTTP/JSON alarm API and a
// Server-Sent Events alarm stream (docs/console.md). Every API call carries
// `Authorization: Bearer <token>` and is checked by AccessControl and the
// AlarmDesk exactly as the gRPC Alarms service is: the same regions, roles,
// limits and audit names. The stream sends the journal seq as each event's
// SSE id, so a client that reconnects with Last-Event-ID resumes with no gap
// and no duplicate (snapshot first without one).
// Thread-safety: Register before the server starts; handlers run on
// vigil-http threads, stream pumps also on the feed's waker threads and the
// blocking pool; nothing blocks a vigil-http thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alarm/rule_set.h"
#include "alarm/status.h"
#include "server/api/alarm_desk.h"
#include "server/api/limits.h"
#include "server/api/reading_desk.h"
#include "server/http/http_server.h"

namespace vigil::server {

// A region's alarm-load KPIs as /metrics has them (ops/alarm_kpi.h):
// raised in the last 10 minutes, chattering points, standing (stale) and
// shelved open alarms.
struct ConsoleKpi {
  std::string region;  // "37", "3701" or "370105"
  uint64_t raised = 0;
  uint64_t chattering = 0;
  uint64_t stale = 0;
  uint64_t shelved = 0;
};

struct ConsolePageOptions {
  // index.html, console.js, console.css (read at Register).
  std::filesystem::path assets_dir;
  // dygraph.min.js; a missing file only leaves the trend plot out.
  std::filesystem::path dygraphs_dir;
  // An idle stream sends a heartbeat event this often (driven by the feed's
  // WakeAll, see AlarmService::Heartbeat).
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(5);
  // Bounds each identity's open streams together with its gRPC
  // subscriptions (limits.subscriptions_per_identity); null: no limit
  // (authentication off). Must outlive the console's streams.
  IdentityLimiter* limiter = nullptr;
  // The KPIs now of the regions a caller with `region_prefix` sees: every
  // province for "" (national), else that one region; any thread. Null: no
  // KPI view.
  std::function<std::vector<ConsoleKpi>(const std::string& region_prefix)> kpis;
  // The alarm rules in force now, for the trend's level lines; any thread.
  // Null (or returning null): no levels.
  std::function<std::shared_ptr<const alarm::RuleSet>()> rules;
};

// What /metrics reads of the console (vigil_console_*). Relaxed atomics.
struct ConsoleStats {
  std::atomic<uint64_t> streams_open{0};     // alarm streams (SSE) open now
  std::atomic<uint64_t> events_sent{0};      // alarm events written to streams
  std::atomic<uint64_t> signin_failures{0};  // sign-ins refused 401 (bad, unknown, expired token)
};

class Console {
 public:
  // `*desk` and `*readings` must outlive the console and every stream it
  // opened (vigild stops the console's listener before the feed and the
  // store).
  Console(ConsolePageOptions options, const AlarmDesk* desk, const ReadingDesk* readings);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Reads the page's files and adds the routes. kInvalidArgument when
  // assets_dir lacks one of the files (named).
  alarm::Status Register(HttpServer* server);

  // Streams open now (for tests and /metrics).
  uint64_t open_streams() const;
  // For /metrics; any thread.
  const ConsoleStats& stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace vigil::server
