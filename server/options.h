// Everything vigild can be configured with: one YAML file plus a few flags.
// Plain values, filled once at start-up (config.h) and then read-only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "alarm/validation.h"

namespace vigil::server {

enum class Durability {
  // An ack means the batch is in the RocksDB WAL (written, not fsynced):
  // survives a crash of the process, not a power loss.
  kWal,
  // An ack means the WAL was fsynced (group-committed): survives power loss.
  kFsync,
};

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// What a token's holder may do with alarms. Each includes the one before.
enum class Role {
  kViewer,    // subscribe, list, look up and query alarms of its region
  kOperator,  // also acknowledge, shelve and unshelve them
  kAdmin,     // also registry and rules changes (enforced with the security issue)
};

// A bearer token a command center calls with, stored as its SHA-256 (the
// token itself is never in the config nor in a log).
struct AccessToken {
  std::string name;  // for logs, e.g. "jinan-city-center"
  std::array<uint8_t, 32> sha256{};
  std::string region_prefix;  // "" national, "37" a province, "370105" a county
  Role role = Role::kViewer;

  bool operator==(const AccessToken&) const = default;
};

struct ServerOptions {
  // gRPC listen address, host:port. Port 0 picks a free port (printed at start).
  // YAML server.listen, flag --listen. Default: 127.0.0.1:7070.
  std::string listen = "127.0.0.1:7070";
  // Prometheus /metrics HTTP address, host:port; "" disables it. Port 0
  // picks a free port (printed at start). YAML server.metrics_listen.
  // Default: 127.0.0.1:9464 (loopback only).
  std::string metrics_listen = "127.0.0.1:9464";
  // How long SIGTERM waits for streams to drain before cancelling them.
  // YAML server.shutdown_grace. Default: 10s.
  std::chrono::milliseconds shutdown_grace = std::chrono::seconds(10);
  // Evaluator/storage shards (threads). 0 = one per CPU core.
  // YAML server.shards. Default: 0.
  uint32_t shards = 0;
  // YAML server.log_level: debug | info | warn | error. Default: info.
  LogLevel log_level = LogLevel::kInfo;

  // RocksDB folder; created if missing. YAML storage.data_dir, flag --data-dir.
  // A relative path is relative to the working directory. Default: ./vigil-data.
  std::filesystem::path data_dir = "vigil-data";
  // YAML storage.durability: wal | fsync. Default: wal.
  Durability durability = Durability::kWal;
  // Readings per compressed chunk before a sensor's head is sealed.
  // YAML storage.chunk_max_readings. Default: 480.
  uint32_t chunk_max_readings = 480;
  // Below this much free space on the data folder's filesystem, ingest is
  // refused with RESOURCE_EXHAUSTED (nothing stored) and health turns
  // NOT_SERVING, until space is freed; keeps RocksDB itself from running out.
  // YAML storage.min_free_space. Default: 64MiB (production config: 1GiB). 0 disables.
  uint32_t min_free_bytes = 64u << 20;
  // How often heads older than one interval are sealed and the ingest log
  // truncated; bounds restart replay. YAML storage.checkpoint_interval. Default: 60s.
  std::chrono::milliseconds checkpoint_interval = std::chrono::seconds(60);

  // Limits and time window for readings. YAML ingest.max_future_skew,
  // storage.raw_retention, ingest.max_series_per_batch, ingest.max_readings_per_batch.
  // limits.raw_retention is also how long raw readings are kept (and read).
  alarm::IngestLimits limits;
  // How long 5-minute statistics (rollups) are kept. YAML storage.stats_retention.
  // Default: 1095d (3 years; AQ 6201 asks for at least one).
  std::chrono::milliseconds stats_retention = std::chrono::hours(24 * 1095);
  // How long alarm journal records are kept (their expiry comes with the
  // alarm journal). YAML storage.journal_retention. Default: 1095d (3 years;
  // AQ 6201 asks for at least one).
  std::chrono::milliseconds journal_retention = std::chrono::hours(24 * 1095);
  // Largest gRPC message accepted, in bytes. YAML ingest.max_message_bytes.
  // Default: 16 MiB.
  uint32_t max_message_bytes = 16u << 20;
  // Bytes of accepted batches held in memory between being read and being
  // in the shards' heads. Above it, a stream that sends one more batch gets
  // RESOURCE_EXHAUSTED (counted) and resends after a backoff; bounds memory
  // under overload. YAML ingest.max_buffered_bytes. Default: 512 MiB.
  uint32_t max_buffered_bytes = 512u << 20;
  // Ingest streams open at once; one more gets RESOURCE_EXHAUSTED.
  // YAML ingest.max_concurrent_streams. Default: 1024.
  uint32_t max_concurrent_streams = 1024;
  // Batches a stream may have read but not yet acked; then reading pauses and
  // HTTP/2 flow control pushes back. YAML ingest.stream_window. Default: 8.
  uint32_t stream_window = 8;

  // Alarm rules YAML file (format: deploy/rules.yaml). A relative path is
  // relative to the config file's folder. YAML rules_file. Default: empty (no
  // rules: nothing raises alarms).
  std::filesystem::path rules_file;

  // Registry YAML file. A relative path is relative to the config file's
  // folder. YAML registry_file. Default: empty (registry only from the database).
  std::filesystem::path registry_file;

  // Longest an operator may shelve an alarm for. YAML alarms.max_shelve.
  // Default: 8h.
  std::chrono::milliseconds max_shelve = std::chrono::hours(8);
  // A subscriber stream that had nothing to send for this long gets a
  // heartbeat. YAML alarms.heartbeat_interval. Default: 5s.
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(5);

  // Journal entries kept in memory for subscribers; one that falls further
  // behind reads from the journal on disk. YAML alarms.memory_events.
  // Default: 65536.
  uint32_t feed_memory_events = 65536;

  // Bearer tokens of command centers. Empty: no authentication, every caller
  // is a national admin (for loopback development only). YAML auth.tokens.
  // Default: empty.
  std::vector<AccessToken> tokens;
};

}  // namespace vigil::server
