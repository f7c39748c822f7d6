#include "server/ops/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <system_error>

namespace vigil::server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

ClientMetric Value(MetricType type, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

void AddSingle(std::vector<MetricFamily>* out, std::string name, std::string help, MetricType type,
               double value) {
  MetricFamily family = Family(std::move(name), std::move(help), type);
  family.metric.push_back(Value(type, value));
  out->push_back(std::move(family));
}

// A counter split by result: `ok`, and `failed_label` for the rest.
void AddByResult(std::vector<MetricFamily>* out, std::string name, std::string help, double ok,
                 const char* failed_label, double failed) {
  constexpr auto kCounter = MetricType::Counter;
  MetricFamily family = Family(std::move(name), std::move(help), kCounter);
  family.metric.push_back(Value(kCounter, ok, {{"result", "ok"}}));
  family.metric.push_back(Value(kCounter, failed, {{"result", failed_label}}));
  out->push_back(std::move(family));
}

MetricFamily HistogramFamily(std::string name, std::string help, const LatencyHistogram& h) {
  MetricFamily family = Family(std::move(name), std::move(help), MetricType::Histogram);
  ClientMetric m;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    cumulative += h.bucket(i);
    m.histogram.bucket.push_back({cumulative, LatencyHistogram::kBounds[i]});
  }
  cumulative += h.bucket(LatencyHistogram::kBounds.size());
  m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = h.sum_seconds();
  family.metric.push_back(std::move(m));
  return family;
}

double Load(const std::atomic<uint64_t>& v) {
  return static_cast<double>(v.load(std::memory_order_relaxed));
}

// The standard process_* metrics from /proc/self (prometheus-cpp has none).
void AddProcessMetrics(std::vector<MetricFamily>* out) {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  uint64_t resident = 0;
  if (statm >> pages >> resident) {
    AddSingle(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
              MetricType::Gauge,
              static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  }
  // getrusage: user + system CPU of every thread of the process.
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    auto seconds = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
    };
    AddSingle(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
              MetricType::Counter, seconds(usage.ru_utime) + seconds(usage.ru_stime));
  }
  std::error_code ec;
  size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    AddSingle(out, "process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
              static_cast<double>(fds));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    AddSingle(out, "process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
              static_cast<double>(limit.rlim_cur));
  }
}

// Alarm-load KPIs per province and the Alertmanager forwarder.
void AddOperationsMetrics(std::vector<MetricFamily>* out, const MetricsSources& s) {
  constexpr auto kCounter = MetricType::Counter;
  constexpr auto kGauge = MetricType::Gauge;
  if (s.kpi != nullptr) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    MetricFamily raised = Family("vigil_alarm_kpi_raised_10m",
                                 "Alarms raised in the last 10 minutes (sliding window, 10 s "
                                 "steps), by province.",
                                 kGauge);
    MetricFamily chattering =
        Family("vigil_alarm_kpi_chattering",
               "Alarm points raised at least 3 times within the last minute, by province.", kGauge);
    MetricFamily stale = Family("vigil_alarm_kpi_stale",
                                "Open alarms active for more than 24 hours, by province.", kGauge);
    MetricFamily shelved =
        Family("vigil_alarm_kpi_shelved", "Open alarms that are shelved, by province.", kGauge);
    MetricFamily planned = Family("vigil_alarm_kpi_planned_raised_10m",
                                  "Alarms raised under planned work in the last 10 minutes "
                                  "(not in vigil_alarm_kpi_raised_10m), by province.",
                                  kGauge);
    for (const AlarmKpi::Province& p : s.kpi->Snapshot(now)) {
      const std::vector<ClientMetric::Label> labels = {{"province", p.province}};
      raised.metric.push_back(Value(kGauge, static_cast<double>(p.raised), labels));
      chattering.metric.push_back(Value(kGauge, static_cast<double>(p.chattering), labels));
      stale.metric.push_back(Value(kGauge, static_cast<double>(p.stale), labels));
      shelved.metric.push_back(Value(kGauge, static_cast<double>(p.shelved), labels));
      planned.metric.push_back(Value(kGauge, static_cast<double>(p.planned_raised), labels));
    }
    for (MetricFamily* f : {&raised, &chattering, &stale, &shelved, &planned}) {
      out->push_back(std::move(*f));
    }
  }
  if (s.alertmanager != nullptr) {
    const AlertmanagerForwarder::Stats st = s.alertmanager->stats();
    MetricFamily posts =
        Family("vigil_alertmanager_posts_total",
               "POSTs of alerts to the Alertmanager, by result (ok; rejected: answered 4xx; "
               "error: no answer, timeout or 5xx).",
               kCounter);
    posts.metric.push_back(Value(kCounter, static_cast<double>(st.posts_ok), {{"result", "ok"}}));
    posts.metric.push_back(
        Value(kCounter, static_cast<double>(st.posts_rejected), {{"result", "rejected"}}));
    posts.metric.push_back(
        Value(kCounter, static_cast<double>(st.posts_error), {{"result", "error"}}));
    out->push_back(std::move(posts));
    AddSingle(out, "vigil_alertmanager_alerts_firing",
              "Alarms firing as alerts in the Alertmanager, as last sent.", kGauge,
              static_cast<double>(st.firing));
    AddSingle(out, "vigil_alertmanager_alerts_pending",
              "Alert changes (firing or resolved) not yet delivered to the Alertmanager.", kGauge,
              static_cast<double>(st.pending));
    AddSingle(out, "vigil_alertmanager_last_success_timestamp_seconds",
              "Unix time of the last successful POST to the Alertmanager; 0 before one.", kGauge,
              static_cast<double>(st.last_success_ms) / 1000.0);
  }
}

// The configuration in force: rules, registry, TLS certificate.
// The web console (docs/console.md#metrics): answers by route and status
// class, open alarm streams, events sent on them, refused sign-ins.
void AddConsoleMetrics(std::vector<MetricFamily>* out, const Console& console,
                       const HttpServer& listener) {
  constexpr auto kCounter = MetricType::Counter;
  MetricFamily requests = Family("vigil_console_requests_total",
                                 "Console HTTP answers, by route (the path; \"other\" for an "
                                 "unknown one) and status class (2xx, 4xx, ...).",
                                 kCounter);
  for (const HttpServer::RouteCount& c : listener.RequestCounts()) {
    requests.metric.push_back(
        Value(kCounter, static_cast<double>(c.count),
              {{"route", c.route}, {"code", std::to_string(c.status_class) + "xx"}}));
  }
  out->push_back(std::move(requests));
  const ConsoleStats& stats = console.stats();
  AddSingle(out, "vigil_console_streams_open", "Console alarm streams (Server-Sent Events) open.",
            MetricType::Gauge, Load(stats.streams_open));
  AddSingle(out, "vigil_console_events_sent_total",
            "Alarm events written to console alarm streams.", kCounter, Load(stats.events_sent));
  AddSingle(out, "vigil_console_signin_failures_total",
            "Console sign-ins refused: no, unknown or expired token (401).", kCounter,
            Load(stats.signin_failures));
}

// The HTTPS listeners (server.tls on): handshakes refused and certificates
// reloaded, by listener.
void AddHttpsMetrics(std::vector<MetricFamily>* out,
                     std::initializer_list<std::pair<const char*, const HttpServer*>> listeners) {
  constexpr auto kCounter = MetricType::Counter;
  MetricFamily failed = Family("vigil_https_handshake_failures_total",
                               "Connections to an HTTPS listener that failed the TLS handshake "
                               "or spoke plain HTTP, by listener (http, console).",
                               kCounter);
  MetricFamily reloads =
      Family("vigil_https_certificate_reloads_total",
             "Changed server.tls files taken by an HTTPS listener, by listener.", kCounter);
  for (const auto& [name, listener] : listeners) {
    if (listener == nullptr || !listener->tls()) continue;
    failed.metric.push_back(
        Value(kCounter, static_cast<double>(listener->handshakes_failed()), {{"listener", name}}));
    reloads.metric.push_back(Value(kCounter, static_cast<double>(listener->certificate_reloads()),
                                   {{"listener", name}}));
  }
  if (failed.metric.empty()) return;
  out->push_back(std::move(failed));
  out->push_back(std::move(reloads));
}

void AddMqttMetrics(std::vector<MetricFamily>* out, const MqttStats& m) {
  constexpr auto kCounter = MetricType::Counter;
  AddSingle(out, "vigil_mqtt_connected",
            "1 while vigild is connected to the MQTT broker and subscribed, else 0.",
            MetricType::Gauge, m.connected.load(std::memory_order_relaxed) ? 1 : 0);
  AddByResult(out, "vigil_mqtt_connects_total",
              "Connection attempts to the MQTT broker, by result.", Load(m.connects), "failed",
              Load(m.connect_failures));
  AddSingle(out, "vigil_mqtt_connection_losses_total",
            "Established MQTT connections that were lost.", kCounter, Load(m.connection_losses));
  MetricFamily messages = Family("vigil_mqtt_messages_total",
                                 "MQTT messages acknowledged to the broker, by outcome: stored, "
                                 "duplicate, or dropped (could never be stored).",
                                 kCounter);
  messages.metric.push_back(Value(kCounter, Load(m.messages_stored), {{"outcome", "stored"}}));
  messages.metric.push_back(
      Value(kCounter, Load(m.messages_duplicate), {{"outcome", "duplicate"}}));
  messages.metric.push_back(Value(kCounter, Load(m.messages_dropped), {{"outcome", "dropped"}}));
  out->push_back(std::move(messages));
  AddSingle(out, "vigil_mqtt_store_retries_total",
            "Attempts to store an MQTT message refused for now (storage unavailable, "
            "overloaded), kept unacknowledged and tried again.",
            kCounter, Load(m.retries));
  AddByResult(out, "vigil_mqtt_acks_total",
              "Answers published to gateways' ack topics (mqtt.ack_suffix), by result: ok "
              "(handed to the client at QoS 1), failed (not sent).",
              Load(m.acks_published), "failed", Load(m.acks_failed));
}

void AddControlMetrics(std::vector<MetricFamily>* out, const ControlStats& c) {
  constexpr auto kGauge = MetricType::Gauge;
  AddSingle(out, "vigil_rules_loaded",
            "Alarm rules in force; 0 means no reading raises an alarm (alert VigilNoAlarmRules).",
            kGauge, Load(c.rules_loaded));
  AddByResult(out, "vigil_rules_reloads_total",
              "Re-reads of rules_file on SIGHUP, by result (ok, error: the rules in force were "
              "kept).",
              Load(c.rules_reloads_ok), "error", Load(c.rules_reloads_failed));
  MetricFamily registry =
      Family("vigil_registry_entries", "Registry entries in force, by kind.", kGauge);
  registry.metric.push_back(Value(kGauge, Load(c.enterprises), {{"kind", "enterprise"}}));
  registry.metric.push_back(Value(kGauge, Load(c.sensors), {{"kind", "sensor"}}));
  registry.metric.push_back(Value(kGauge, Load(c.gateways), {{"kind", "gateway"}}));
  out->push_back(std::move(registry));
  AddSingle(out, "vigil_tls_certificate_not_after_seconds",
            "Unix time the gRPC listener's certificate (server.tls.cert_file) expires, as last "
            "read (start, SIGHUP, every checkpoint interval); 0 with TLS off or an unreadable "
            "file.",
            kGauge, static_cast<double>(c.tls_not_after_s.load(std::memory_order_relaxed)));
}

class Collector final : public prometheus::Collectable {
 public:
  explicit Collector(MetricsSources sources) : s_(std::move(sources)) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    constexpr auto kCounter = MetricType::Counter;
    constexpr auto kGauge = MetricType::Gauge;
    {
      MetricFamily info = Family("vigil_build_info", "Vigil version; always 1.", kGauge);
      info.metric.push_back(Value(kGauge, 1, {{"version", s_.version}}));
      out.push_back(std::move(info));
    }
    if (s_.control != nullptr) AddControlMetrics(&out, *s_.control);
    const IngestCounters& c = *s_.ingest;
    AddSingle(&out, "vigil_readings_ingested_total", "Readings durably stored.", kCounter,
              Load(c.readings_stored));
    AddSingle(&out, "vigil_batches_ingested_total", "Gateway batches durably stored.", kCounter,
              Load(c.batches_stored));
    AddSingle(&out, "vigil_batches_duplicate_total",
              "Batches at or below their gateway's watermark, acked without storing.", kCounter,
              Load(c.batches_duplicate));
    {
      MetricFamily rejected = Family("vigil_readings_rejected_total",
                                     "Readings not stored, by reject reason.", kCounter);
      for (uint8_t r = 1; r < kRejectReasonSlots; ++r) {
        const auto reason = static_cast<alarm::RejectReason>(r);
        rejected.metric.push_back(
            Value(kCounter, Load(c.rejected_by_reason[r]),
                  {{"reason", std::string(alarm::RejectReasonName(reason))}}));
      }
      out.push_back(std::move(rejected));
    }
    {
      MetricFamily batches = Family("vigil_ingest_protocol_batches_total",
                                    "Ingest batches answered, by protocol (grpc, http_json, "
                                    "line_protocol, mqtt) and outcome (stored, duplicate, failed).",
                                    kCounter);
      MetricFamily readings = Family("vigil_ingest_protocol_readings_total",
                                     "Readings of answered batches, by protocol and outcome "
                                     "(stored, rejected).",
                                     kCounter);
      for (size_t p = 0; p < kIngestProtocols; ++p) {
        const ProtocolCounters& pc = c.by_protocol[p];
        const std::string name = IngestProtocolName(static_cast<IngestProtocol>(p));
        batches.metric.push_back(
            Value(kCounter, Load(pc.batches_stored), {{"protocol", name}, {"outcome", "stored"}}));
        batches.metric.push_back(Value(kCounter, Load(pc.batches_duplicate),
                                       {{"protocol", name}, {"outcome", "duplicate"}}));
        batches.metric.push_back(
            Value(kCounter, Load(pc.batches_failed), {{"protocol", name}, {"outcome", "failed"}}));
        readings.metric.push_back(
            Value(kCounter, Load(pc.readings_stored), {{"protocol", name}, {"outcome", "stored"}}));
        readings.metric.push_back(Value(kCounter, Load(pc.readings_rejected),
                                        {{"protocol", name}, {"outcome", "rejected"}}));
      }
      out.push_back(std::move(batches));
      out.push_back(std::move(readings));
    }
    if (s_.http != nullptr) {
      // The statuses an integrator meets (docs/http-ingest.md), always
      // present; any other 4xx/5xx once it happened.
      MetricFamily refusals =
          Family("vigil_http_refusals_total",
                 "HTTP requests answered with a 4xx or 5xx status, by status.", kCounter);
      for (unsigned status = 400; status < 600; ++status) {
        const uint64_t n = s_.http->refusals(status);
        const bool usual = status == 400 || status == 401 || status == 403 || status == 404 ||
                           status == 409 || status == 413 || status == 429 || status == 503;
        if (n == 0 && !usual) continue;
        refusals.metric.push_back(
            Value(kCounter, static_cast<double>(n), {{"status", std::to_string(status)}}));
      }
      out.push_back(std::move(refusals));
    }
    if (s_.console != nullptr && s_.console_http != nullptr) {
      AddConsoleMetrics(&out, *s_.console, *s_.console_http);
    }
    AddHttpsMetrics(&out, {{"http", s_.http}, {"console", s_.console_http}});
    out.push_back(HistogramFamily("vigil_ingest_durable_latency_seconds",
                                  "Time from reading a batch off the network to it being durable.",
                                  c.durable_latency));
    AddSingle(&out, "vigil_ingest_streams_open", "Gateway ingest streams open now.", kGauge,
              static_cast<double>(c.streams_open.load(std::memory_order_relaxed)));
    AddSingle(&out, "vigil_ingest_buffered_bytes",
              "Accepted batch bytes held between read and the shards' heads.", kGauge,
              static_cast<double>(c.buffered_bytes.load(std::memory_order_relaxed)));
    AddSingle(&out, "vigil_ingest_refused_overload_total",
              "Batches refused with RESOURCE_EXHAUSTED because ingest.max_buffered_bytes was "
              "reached.",
              kCounter, Load(c.batches_refused_overload));
    if (s_.mqtt != nullptr) AddMqttMetrics(&out, *s_.mqtt);
    if (s_.access != nullptr) {
      MetricFamily auth = Family("vigil_auth_refusals_total",
                                 "Calls refused by access control: unauthenticated (no, unknown "
                                 "or expired token, no client certificate) or permission_denied "
                                 "(outside the caller's region, role or gateway).",
                                 kCounter);
      auth.metric.push_back(Value(kCounter, static_cast<double>(s_.access->unauthenticated()),
                                  {{"code", "unauthenticated"}}));
      auth.metric.push_back(Value(kCounter, static_cast<double>(s_.access->permission_denied()),
                                  {{"code", "permission_denied"}}));
      out.push_back(std::move(auth));
    }
    if (s_.limiter != nullptr) {
      const IdentityLimiter::Stats st = s_.limiter->stats();
      MetricFamily refusals = Family("vigil_limit_refusals_total",
                                     "RESOURCE_EXHAUSTED answers of the per-identity limits "
                                     "(limits.streams_per_identity, "
                                     "limits.subscriptions_per_identity).",
                                     kCounter);
      refusals.metric.push_back(
          Value(kCounter, static_cast<double>(st.streams_refused), {{"limit", "streams"}}));
      refusals.metric.push_back(Value(kCounter, static_cast<double>(st.subscriptions_refused),
                                      {{"limit", "subscriptions"}}));
      out.push_back(std::move(refusals));
      AddSingle(&out, "vigil_ingest_throttled_batches_total",
                "Batches after which an identity over limits.readings_per_second was paused.",
                kCounter, static_cast<double>(st.throttled));
      AddSingle(&out, "vigil_ingest_throttled_seconds_total",
                "Total pause imposed on identities over limits.readings_per_second.", kCounter,
                st.throttled_seconds);
    }
    if (s_.shared_log != nullptr) {
      AddSingle(&out, "vigil_cluster_log_connected",
                "1 while the connection to the shared ingest log (NATS) is up.", kGauge,
                s_.shared_log->connected() ? 1 : 0);
      AddSingle(&out, "vigil_cluster_log_reconnects_total",
                "Times the connection to NATS was lost and made again (to the same server or "
                "another: a failover).",
                kCounter, static_cast<double>(s_.shared_log->reconnects()));
    }
    if (s_.applier != nullptr) {
      const ApplierCounters& a = *s_.applier;
      AddSingle(&out, "vigil_cluster_applied_entries_total",
                "Ingest log entries (every node's) this node applied to its shards.", kCounter,
                static_cast<double>(a.entries.load(std::memory_order_relaxed)));
      AddSingle(&out, "vigil_cluster_apply_duplicates_total",
                "Batches dropped when applied: at or below their gateway's applied watermark "
                "(stored twice, through two nodes or after a lost acknowledgement).",
                kCounter, static_cast<double>(a.duplicates.load(std::memory_order_relaxed)));
      AddSingle(&out, "vigil_cluster_ticks_dropped_total",
                "Alarm-clock ticks not applied: their second was already ticked by another node.",
                kCounter, static_cast<double>(a.ticks_dropped.load(std::memory_order_relaxed)));
      AddSingle(&out, "vigil_cluster_applied_stream_seq",
                "The ingest stream's sequence of the last message this node applied (alike "
                "at every node once caught up).",
                kGauge,
                static_cast<double>(a.applied_position.load(std::memory_order_relaxed) >> 16));
      AddSingle(&out, "vigil_cluster_apply_lag_messages",
                "Messages stored in the ingest stream after the last one this node applied.",
                kGauge, static_cast<double>(a.pending.load(std::memory_order_relaxed)));
      AddSingle(&out, "vigil_cluster_following",
                "1 while this node follows the ingest stream; 0 while following fails.", kGauge,
                a.following.load(std::memory_order_relaxed) ? 1 : 0);
      AddSingle(&out, "vigil_cluster_follow_failures_total",
                "Times following the ingest stream failed (retried every second).", kCounter,
                static_cast<double>(a.follow_failures.load(std::memory_order_relaxed)));
      AddSingle(&out, "vigil_cluster_rules_not_applied_total",
                "Rules changes from the ingest stream this node could not put in force (they do "
                "not fit its registry: give every node the same registry).",
                kCounter, static_cast<double>(a.rules_not_applied.load(std::memory_order_relaxed)));
      AddSingle(&out, "vigil_cluster_registry_not_applied_total",
                "Registry changes from the ingest stream this node could not apply (it logs "
                "replicated_registry_not_applied with the reason).",
                kCounter,
                static_cast<double>(a.registry_not_applied.load(std::memory_order_relaxed)));
      AddSingle(&out, "vigil_cluster_other_shard_count",
                "The server.shards of another node when it differs from this node's (0: all "
                "alike). Nodes with different shard counts number their alarm journals "
                "differently: a command center cannot resume by seq across them.",
                kGauge, static_cast<double>(a.other_shard_count.load(std::memory_order_relaxed)));
      AddSingle(&out, "vigil_cluster_retention_gap",
                "1 when the stream's retention dropped entries this node never applied: it does "
                "not serve; restore its data folder from a peer's backup.",
                kGauge, a.gap.load(std::memory_order_relaxed) ? 1 : 0);
    }
    AddSingle(&out, "vigil_writer_queue_batches", "Batches waiting for the storage writer.", kGauge,
              static_cast<double>(s_.writer->queued()));
    AddSingle(&out, "vigil_writer_queue_capacity_batches", "Capacity of the writer queue.", kGauge,
              static_cast<double>(StorageWriter::kQueueCapacity));
    AddSingle(&out, "vigil_writer_groups_in_flight",
              "Groups of batches appended to the ingest log and not yet acknowledged "
              "(ingest_log.groups_in_flight bounds them on a cluster).",
              kGauge, static_cast<double>(s_.writer->groups_in_flight()));
    out.push_back(HistogramFamily(
        "vigil_writer_append_latency_seconds",
        "From a group's append to the ingest log to its acknowledgement: the RocksDB write "
        "(and fsync), or on a cluster the JetStream publish acknowledged by the stream's quorum.",
        s_.writer->append_latency()));
    AddSingle(&out, "vigil_storage_failed",
              "1 while storage writes fail (disk full, I/O error): ingest is refused with "
              "UNAVAILABLE; retried every second.",
              kGauge, s_.writer->healthy() ? 0 : 1);
    AddSingle(&out, "vigil_storage_disk_full",
              "1 while ingest is refused for lack of disk space: free space below "
              "storage.min_free_space, or a write failed with 'no space left on device'.",
              kGauge,
              s_.writer->low_space() ||
                      (!s_.writer->healthy() &&
                       s_.writer->sticky_error().code() == alarm::Status::Code::kResourceExhausted)
                  ? 1
                  : 0);
    AddSingle(&out, "vigil_storage_failures_total", "Storage write failures.", kCounter,
              static_cast<double>(s_.writer->failures()));
    AddSingle(&out, "vigil_storage_recoveries_total",
              "Times storage writes resumed by themselves after a failure.", kCounter,
              static_cast<double>(s_.writer->recoveries()));
    AddSingle(&out, "vigil_ingest_epoch_behind_total",
              "Batches refused (FAILED_PRECONDITION) because their epoch is below the gateway's "
              "stored watermark: a gateway whose clock or epoch store was reset.",
              kCounter, static_cast<double>(s_.writer->epoch_refusals()));
    AddSingle(&out, "vigil_ingest_gaps_opened_total",
              "Times a batch of a gateway failed (disk nearly full, storage error) so that the "
              "gateway's later batches wait for its resend.",
              kCounter, static_cast<double>(s_.writer->gaps_opened()));
    AddSingle(&out, "vigil_ingest_after_gap_total",
              "Batches refused (ABORTED) because an earlier batch of their gateway failed and was "
              "not resent yet.",
              kCounter, static_cast<double>(s_.writer->gap_refusals()));
    {
      MetricFamily tasks = Family("vigil_shard_queue_tasks", "Tasks queued per shard.", kGauge);
      MetricFamily full = Family("vigil_shard_queue_full_total",
                                 "Posts that found a shard queue full and waited.", kCounter);
      MetricFamily checkpoint =
          Family("vigil_shard_checkpoint_seconds",
                 "How long the last checkpoint held each shard's thread (sealing heads, "
                 "snapshotting and encoding alarm state); its readings waited that long.",
                 kGauge);
      for (uint32_t i = 0; i < s_.shards->count(); ++i) {
        const ShardSet::QueueStats q = s_.shards->queue_stats(i);
        tasks.metric.push_back(
            Value(kGauge, static_cast<double>(q.tasks), {{"shard", std::to_string(i)}}));
        full.metric.push_back(
            Value(kCounter, static_cast<double>(q.full_events), {{"shard", std::to_string(i)}}));
        checkpoint.metric.push_back(Value(kGauge, static_cast<double>(q.last_checkpoint_ns) / 1e9,
                                          {{"shard", std::to_string(i)}}));
      }
      out.push_back(std::move(tasks));
      out.push_back(std::move(full));
      out.push_back(std::move(checkpoint));
    }
    {
      const JournalCounters& jc = s_.journal->counters();
      MetricFamily events =
          Family("vigil_alarm_events_total",
                 "Alarm transitions journaled, by event and alarm kind.", kCounter);
      for (uint8_t e = 1; e <= alarm::kMaxEventKind; ++e) {
        for (uint8_t a = 1; a <= alarm::kMaxAlarmKind; ++a) {
          events.metric.push_back(Value(
              kCounter, Load(jc.events[e][a]),
              {{"event", std::string(alarm::EventKindName(static_cast<alarm::EventKind>(e)))},
               {"alarm", std::string(alarm::AlarmKindName(static_cast<alarm::AlarmKind>(a)))}}));
        }
      }
      out.push_back(std::move(events));
      const AlarmFeed::OpenCounts counts = s_.feed->Counts();
      MetricFamily open =
          Family("vigil_alarms_open",
                 "Open alarms (active, or cleared and not yet acknowledged), by severity.", kGauge);
      for (uint8_t sev = 1; sev <= 4; ++sev) {
        open.metric.push_back(Value(kGauge, static_cast<double>(counts.by_severity[sev]),
                                    {{"severity", std::to_string(sev)}}));
      }
      out.push_back(std::move(open));
      // With the registry's gateway count (vigil_registry_entries) this gives
      // the gateways online; only with a gateway_offline rule in force.
      AddSingle(&out, "vigil_gateways_offline",
                "Gateways with an active gateway-offline alarm (silent past the rules' "
                "gateway_offline.after); 0 without that rule.",
                kGauge, static_cast<double>(counts.gateways_offline));
      AddSingle(&out, "vigil_alarms_unacknowledged",
                "Open alarms no operator has acknowledged yet.", kGauge,
                static_cast<double>(counts.unacked));
      AddSingle(&out, "vigil_alarms_shelved", "Open alarms whose alarm point is shelved.", kGauge,
                static_cast<double>(counts.shelved));
      AddSingle(&out, "vigil_alarms_planned",
                "Open alarms raised under planned work (state planned; not in vigil_alarms_open).",
                kGauge, static_cast<double>(counts.planned));
      AddSingle(&out, "vigil_alarm_journal_last_sequence",
                "Journal sequence of the newest alarm event.", kGauge,
                static_cast<double>(s_.feed->last_seq()));
      AddSingle(&out, "vigil_alarm_journal_queue_items",
                "Evaluated batches and snapshots waiting for the alarm journal.", kGauge,
                static_cast<double>(s_.journal->queued()));
      AddSingle(&out, "vigil_alarm_journal_write_failures_total",
                "Alarm journal writes that failed (retried every second).", kCounter,
                Load(jc.write_failures));
      AddSingle(&out, "vigil_alarm_journal_failed",
                "1 while alarm journal writes fail: alarm events wait (none is published before "
                "it is durable) and health is NOT_SERVING; retried every second.",
                kGauge, s_.journal->healthy() ? 0 : 1);
      const AlarmService::SubscriberStats subs = s_.alarms->subscriber_stats();
      AddSingle(&out, "vigil_alarm_subscribers", "Alarm streams open (command centers).", kGauge,
                static_cast<double>(subs.subscribers));
      AddSingle(&out, "vigil_alarm_subscriber_max_lag_events",
                "Journal entries between the newest and the slowest subscriber's position.", kGauge,
                static_cast<double>(subs.max_lag));
      AddSingle(&out, "vigil_alarm_subscriber_journal_reads_total",
                "Catch-up reads of slow subscribers served from the journal on disk.", kCounter,
                static_cast<double>(subs.from_journal_total));
      AddSingle(&out, "vigil_late_readings_total",
                "Readings older than their sensor's newest: stored, not evaluated for alarms.",
                kCounter, static_cast<double>(s_.shards->late_readings()));
      out.push_back(HistogramFamily(
          "vigil_alarm_journal_latency_seconds",
          "Time from reading a batch off the network to journaling the alarm events it caused.",
          jc.latency));
      out.push_back(HistogramFamily(
          "vigil_alarm_delivery_latency_seconds",
          "Time from journaling a live alarm event to writing it to a subscriber's stream, "
          "per event and subscriber.",
          s_.alarms->delivery_latency()));
    }
    AddSingle(&out, "vigil_shard_queue_capacity_tasks", "Capacity of each shard queue.", kGauge,
              static_cast<double>(ShardSet::kQueueCapacity));
    AddSingle(&out, "vigil_readings_in_heads",
              "Readings held in open per-sensor heads, not yet in chunks.", kGauge,
              static_cast<double>(s_.shards->readings_in_heads()));

    const storage::StoreStats stats = s_.store->GetStats();
    AddSingle(&out, "vigil_wal_dropped_bytes_at_start",
              "Bytes of torn or corrupt write-ahead log skipped when the database opened.", kGauge,
              static_cast<double>(stats.wal_bytes_dropped_at_open));
    AddSingle(&out, "vigil_chunk_readings_written_total",
              "Readings written into chunks since start.", kCounter,
              static_cast<double>(stats.chunk_readings_written));
    AddSingle(&out, "vigil_chunk_readings_repeated_total",
              "Readings not written into chunks since start because the same reading was stored "
              "already (a replay after a crash sealing again what was sealed before it).",
              kCounter, static_cast<double>(stats.chunk_readings_repeated));
    AddSingle(&out, "vigil_rocksdb_memtable_bytes", "RocksDB memtables, all column families.",
              kGauge, static_cast<double>(stats.memtable_bytes));
    AddSingle(&out, "vigil_rocksdb_pending_compaction_bytes",
              "RocksDB estimate of bytes compaction still has to rewrite.", kGauge,
              static_cast<double>(stats.pending_compaction_bytes));
    AddSingle(&out, "vigil_rocksdb_sst_bytes", "RocksDB live SST files.", kGauge,
              static_cast<double>(stats.sst_bytes));
    AddSingle(&out, "vigil_rocksdb_wal_bytes", "RocksDB live write-ahead log files.", kGauge,
              static_cast<double>(stats.wal_bytes));

    AddSingle(&out, "vigil_rocksdb_write_stopped",
              "1 while RocksDB has stopped writes (compaction or flush behind).", kGauge,
              stats.writes_stopped ? 1 : 0);
    AddSingle(&out, "vigil_rocksdb_delayed_write_rate_bytes",
              "Rate RocksDB throttles writes to while delaying them; 0 when not delayed.", kGauge,
              static_cast<double>(stats.delayed_write_rate));
    AddProcessMetrics(&out);
    AddOperationsMetrics(&out, s_);

    std::error_code ec;
    const std::filesystem::space_info space = std::filesystem::space(s_.data_dir, ec);
    if (!ec) {
      AddSingle(&out, "vigil_data_dir_free_bytes",
                "Bytes available to vigild on the data folder's filesystem.", kGauge,
                static_cast<double>(space.available));
      AddSingle(&out, "vigil_data_dir_size_bytes", "Size of the data folder's filesystem.", kGauge,
                static_cast<double>(space.capacity));
    }
    return out;
  }

 private:
  MetricsSources s_;
};

}  // namespace

class MetricsExporter::Impl {
 public:
  // Declared before the exposer, so destroyed after it: the exposer's
  // threads stop serving (joined) before the sources they read go away.
  std::shared_ptr<Collector> collector;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::string address;
};

alarm::Result<std::unique_ptr<MetricsExporter>> MetricsExporter::Start(const std::string& listen,
                                                                       MetricsSources sources) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->exposer = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return alarm::Status::Unavailable("cannot serve /metrics on " + listen + ": " + e.what());
  }
  impl->collector = std::make_shared<Collector>(std::move(sources));
  impl->exposer->RegisterCollectable(impl->collector);
  const std::vector<int> ports = impl->exposer->GetListeningPorts();
  const std::string host = listen.substr(0, listen.rfind(':'));
  impl->address = host + ":" + (ports.empty() ? std::string("?") : std::to_string(ports[0]));
  return std::unique_ptr<MetricsExporter>(new MetricsExporter(std::move(impl)));
}

MetricsExporter::MetricsExporter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsExporter::~MetricsExporter() = default;

const std::string& MetricsExporter::address() const { return impl_->address; }

}  // namespace vigil::server
