// /metrics: a prometheus-cpp Exposer on its own port, serving what the
// server already counts. Everything is read at scrape time from atomics and
// RocksDB properties, so the ingest path pays nothing for it. Metric names
// follow Prometheus conventions (vigil_ prefix, base units, _total counters)
// and never carry a per-sensor label.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "alarm/status.h"
#include "server/api/access.h"
#include "server/api/alarm_service.h"
#include "server/api/limits.h"
#include "server/http/console.h"
#include "server/http/http_server.h"
#include "server/mqtt/mqtt_stats.h"
#include "server/ops/alarm_kpi.h"
#include "server/ops/alertmanager.h"
#include "server/ops/control_stats.h"
#include "server/pipeline/alarm_feed.h"
#include "server/pipeline/alarm_journal.h"
#include "server/pipeline/ingest_counters.h"
#include "server/pipeline/shard.h"
#include "server/pipeline/storage_writer.h"
#include "server/pipeline/stream_applier.h"
#include "storage/store.h"

namespace vigil::server {

// What the collector reads; every pointer must outlive the MetricsExporter.
struct MetricsSources {
  const IngestCounters* ingest = nullptr;
  const StorageWriter* writer = nullptr;
  const ShardSet* shards = nullptr;
  const AlarmJournal* journal = nullptr;
  const AlarmFeed* feed = nullptr;
  const AlarmService* alarms = nullptr;
  storage::Store* store = nullptr;
  std::filesystem::path data_dir;
  std::string version;
  // Operations; null when off.
  const AlarmKpi* kpi = nullptr;
  const AlertmanagerForwarder* alertmanager = nullptr;
  // Security: refusals; null when off.
  const AccessControl* access = nullptr;
  const IdentityLimiter* limiter = nullptr;
  // Rules, registry and TLS certificate in force; null: not exported.
  const ControlStats* control = nullptr;
  // A shared ingest log (cluster) and its follower; null: not exported.
  const storage::SharedIngestLog* shared_log = nullptr;
  const ApplierCounters* applier = nullptr;
  // MQTT ingest; null when mqtt.broker is off.
  const MqttStats* mqtt = nullptr;
  // The HTTP listener; null when http.listen is off.
  const HttpServer* http = nullptr;
  // The web console and its listener; null when console.enabled is off.
  const HttpServer* console_http = nullptr;
  const Console* console = nullptr;
};

class MetricsExporter {
 public:
  // Listens on `listen` (host:port; port 0 picks one). Errors: kUnavailable
  // when the address cannot be bound.
  static alarm::Result<std::unique_ptr<MetricsExporter>> Start(const std::string& listen,
                                                               MetricsSources sources);
  ~MetricsExporter();

  // host:port actually bound.
  const std::string& address() const;

 private:
  class Impl;
  explicit MetricsExporter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::server
