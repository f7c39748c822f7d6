// Forwarding alarms to a Prometheus Alertmanager (v2 API), so that the
// on-call routing, grouping, silences and receivers an ops team already runs
// for its infrastructure also carry the sites' alarms.
//
// Every open alarm that is active and not shelved is one alert (labels
// alertname=VigilAlarm, alarm, severity, severity_name, region, province,
// enterprise, enterprise_kind, sensor or gateway, rule; annotations alarm_id,
// state, level, value (left out when no reading raised it: no data, gateway
// offline), threshold, summary; startsAt = raised; generatorURL when
// alertmanager.generator_url is set). Firing alerts
// are sent when they change and again every resend_interval, with endsAt four
// intervals ahead, as Prometheus does: if vigild goes away, Alertmanager
// resolves them by itself. An alarm that clears, closes or is shelved is sent
// once more with endsAt = when that happened (resolved); an escalation
// changes the severity label, so the old alert is resolved and a new one
// fires. A failed POST is counted, logged (at most once a minute) and retried
// at the next resend; the resolutions it carried are kept for that.
//
// Thread-safety: AlertBook is single-threaded. AlertmanagerForwarder runs
// one thread of its own that follows the AlarmFeed (FeedFollower) and does
// the HTTP; nothing on the journal or ingest path ever waits for it. Its
// stats() may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "alarm/journal.h"
#include "alarm/status.h"
#include "server/config/http_url.h"
#include "server/config/options.h"
#include "server/pipeline/alarm_feed.h"

namespace vigil::server {

// One Alertmanager alert. Labels and annotations sorted by name.
struct Alert {
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> annotations;
  alarm::TimestampMs starts_at = 0;
  // 0 while firing (EncodeAlerts puts endsAt ahead); else when it ended.
  alarm::TimestampMs ends_at = 0;
  std::string generator_url;  // "" = none sent
  bool operator==(const Alert&) const = default;
};

// The alert of `entry`'s alarm when it should fire: active and not shelved.
// `generator_url`: alertmanager.generator_url, "{alarm_id}" not yet replaced.
std::optional<Alert> AlertFor(const alarm::JournalEntry& entry,
                              std::string_view generator_url = {});

// The JSON array POSTed to /api/v2/alerts. Firing alerts get
// endsAt = now + firing_ttl.
std::string EncodeAlerts(const std::vector<Alert>& alerts, alarm::TimestampMs now,
                         std::chrono::milliseconds firing_ttl);

// What Alertmanager has been told, and what it must be told next.
class AlertBook {
 public:
  // `generator_url`: alertmanager.generator_url for every alert ("" = none).
  explicit AlertBook(std::string generator_url = {}) : generator_url_(std::move(generator_url)) {}

  // Start over from the open alarms: alerts that no longer fire are resolved
  // at `now`.
  void Reset(const std::vector<alarm::JournalEntry>& open, alarm::TimestampMs now);
  // One journal entry, in seq order.
  void Apply(const alarm::JournalEntry& entry);
  // What to POST: the alerts that changed since the last Take (firing and
  // resolved), or with `all`, the resolved ones plus every firing alert.
  std::vector<Alert> Take(bool all);
  // The POST of `alerts` failed: keep their resolutions for the next Take
  // (firing alerts go out with the next resend anyway). Bounded: the oldest
  // beyond kMaxPendingResolved are dropped (Alertmanager resolves those by
  // their endsAt).
  void Retry(std::vector<Alert> alerts);

  size_t firing() const { return firing_.size(); }
  size_t pending() const { return pending_.size(); }

  static constexpr size_t kMaxPendingResolved = 100000;

 private:
  void Set(uint64_t alarm_id, std::optional<Alert> next, alarm::TimestampMs at);

  std::string generator_url_;
  std::map<uint64_t, Alert> firing_;  // by alarm_id
  std::vector<Alert> pending_;        // changed since the last Take, in order
};

class AlertmanagerForwarder {
 public:
  // Starts the thread. `*feed` must outlive the forwarder. Errors:
  // kInvalidArgument for a bad options.url.
  static alarm::Result<std::unique_ptr<AlertmanagerForwarder>> Start(
      const AlertmanagerOptions& options, AlarmFeed* feed);
  ~AlertmanagerForwarder();  // Stop()s
  AlertmanagerForwarder(const AlertmanagerForwarder&) = delete;
  AlertmanagerForwarder& operator=(const AlertmanagerForwarder&) = delete;

  // Joins the thread (a POST in flight ends within the timeout). Alerts stay
  // firing in Alertmanager until their endsAt. Idempotent.
  void Stop();

  // For /metrics.
  struct Stats {
    uint64_t posts_ok = 0;
    uint64_t posts_rejected = 0;  // answered 4xx: Alertmanager refused the alerts
    uint64_t posts_error = 0;     // no answer, timeout, or 5xx
    uint64_t firing = 0;          // alerts firing as last sent
    uint64_t pending = 0;         // changes waiting to be sent
    int64_t last_success_ms = 0;  // Unix ms of the last successful POST; 0 never
  };
  Stats stats() const;

 private:
  class Impl;
  explicit AlertmanagerForwarder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::server
