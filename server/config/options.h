// Everything vigild can be configured with: one YAML file plus a few flags.
// Plain values, filled once at start-up (config.h) and then read-only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
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

// How log lines are written: `ts=... level=... event=... k=v` or one JSON
// object per line.
enum class LogFormat { kText, kJson };

// Forwarding open alarms to a Prometheus Alertmanager (server/ops/alertmanager.h).
struct AlertmanagerOptions {
  // Base URL, http[s]://host:port[/path]: alerts are POSTed to
  // <url>/api/v2/alerts. "" turns forwarding off. YAML alertmanager.url.
  // Default: "".
  std::string url;
  // Every firing alert is sent again this often (Alertmanager resolves an
  // alert that is not refreshed), and a failed POST is retried this often.
  // YAML alertmanager.resend_interval. Default: 1m.
  std::chrono::milliseconds resend_interval = std::chrono::minutes(1);
  // Bound on one POST: connect, send and answer. YAML alertmanager.timeout.
  // Default: 5s.
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  // With an https url: the CA certificates (PEM) the Alertmanager's
  // certificate must chain to; its name must match the url's host. "" = the
  // system's CAs. Relative to the config file's folder.
  // YAML alertmanager.ca_file. Default: "".
  std::filesystem::path ca_file;
  // Each alert's generatorURL, the link Alertmanager shows back to its
  // source (e.g. a console's alarm page): "{alarm_id}" is replaced by the
  // alarm id. An http:// or https:// URL; "" sends none.
  // YAML alertmanager.generator_url. Default: "".
  std::string generator_url;

  bool operator==(const AlertmanagerOptions&) const = default;
};

// Where the ingest log lives (cluster/README.md). YAML ingest_log.
struct IngestLogOptions {
  enum class Backend {
    // The embedded default: the RocksDB store's own ingest log.
    kRocksDb,
    // A NATS JetStream stream (cluster/jetstream_ingest_log.h); chunks,
    // journal and registry stay in RocksDB, the checkpoint file goes to
    // <data_dir>/jetstream. An ack means the stream's quorum stored the batch.
    kJetStream,
  };
  // YAML ingest_log.backend: rocksdb | jetstream. Default: rocksdb.
  Backend backend = Backend::kRocksDb;
  // NATS server URLs; required for jetstream. YAML ingest_log.nats_urls. Default: none.
  std::vector<std::string> nats_urls;
  // NATS .creds file, TLS CA and client certificate/key; relative to the
  // config file's folder. YAML ingest_log.nats_credentials_file,
  // nats_tls_ca_file, nats_tls_cert_file, nats_tls_key_file. Default: none.
  std::filesystem::path nats_credentials_file;
  std::filesystem::path nats_tls_ca_file;
  std::filesystem::path nats_tls_cert_file;
  std::filesystem::path nats_tls_key_file;
  // Stream name; created when missing. YAML ingest_log.stream. Default: VIGIL_INGEST.
  std::string stream = "VIGIL_INGEST";
  // Subject "vigil.ingest.<partition>". YAML ingest_log.partition (0..65535). Default: 0.
  uint32_t partition = 0;
  // Replicas when the stream is created: 1 or 3. YAML ingest_log.replicas. Default: 1.
  uint32_t replicas = 1;
  // Longest wait for the stream's acknowledgement before a batch fails
  // (UNAVAILABLE). YAML ingest_log.append_timeout. Default: 5s.
  std::chrono::milliseconds append_timeout = std::chrono::seconds(5);
  // Groups of batches published and not yet acknowledged at once (the
  // storage writer's pipelining; a gateway's batches are never in two).
  // YAML ingest_log.groups_in_flight (1..256). Default: 4.
  uint32_t groups_in_flight = 4;
  // The stream's retention when this node creates it (an existing stream
  // keeps its own): most bytes and oldest message kept; 0 = no limit. A
  // node whose checkpoint falls behind what is kept must be restored from a
  // peer (docs/cluster.md). YAML ingest_log.max_bytes, ingest_log.max_age.
  // Default: 0, 0.
  int64_t max_bytes = 0;
  std::chrono::seconds max_age{0};

  bool operator==(const IngestLogOptions&) const = default;
};

// What a token's holder may do. kViewer < kOperator < kAdmin, each including
// the one before; kGateway is apart: it writes readings as one gateway and
// does nothing else.
enum class Role {
  kViewer,    // subscribe, list, look up alarms and query readings of its region
  kOperator,  // also acknowledge, shelve and unshelve them
  kAdmin,     // also the registry, the rules and backups (RegistryAdmin, RulesAdmin, Admin)
  kGateway,   // Ingest only, for the gateway it is bound to
};

// A bearer token, stored as its SHA-256 (the token itself is never in the
// config nor in a log): a command center's (bound to a region and a role) or
// a gateway's (role kGateway, bound to one gateway id).
struct AccessToken {
  std::string name;  // for logs, e.g. "jinan-city-center"
  std::array<uint8_t, 32> sha256{};
  std::string region_prefix;  // "" national, "37" a province, "370105" a county
  Role role = Role::kViewer;
  // Role kGateway only: the registry gateway id it writes as.
  std::string gateway_id;
  // Refused (UNAUTHENTICATED) from this time on, ms since the Unix epoch;
  // 0 = never. YAML `expires: 2025-12-31` or `2025-12-31T18:00:00Z`.
  int64_t expires_at_ms = 0;

  bool operator==(const AccessToken&) const = default;
};

// TLS on the gRPC listener (server/api/tls.h). The files are watched: replaced
// files are picked up by new connections within refresh_interval, without
// restarting vigild or dropping open streams.
struct TlsOptions {
  // YAML server.tls: `off`, or a mapping with the keys below. Default: off.
  bool enabled = false;
  // PEM certificate chain and private key of the server. Required when on.
  // YAML server.tls.cert_file, server.tls.key_file; relative to the config file.
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  // PEM CA bundle that signs gateways' client certificates (mutual TLS); a
  // client certificate it verifies identifies a gateway (server/api/access.h).
  // Empty: clients are not asked for certificates. YAML server.tls.client_ca_file.
  // Default: "".
  std::filesystem::path client_ca_file;
  // Refuse connections without a valid client certificate (every caller is
  // a gateway). YAML server.tls.require_client_cert. Default: false (centers
  // connect with TLS and a bearer token).
  bool require_client_cert = false;
  // How often the files are checked for changes. YAML server.tls.refresh_interval.
  // Default: 10s.
  std::chrono::seconds refresh_interval = std::chrono::seconds(10);

  bool operator==(const TlsOptions&) const = default;
};

// Limits per caller identity (a token, or a gateway's client certificate);
// only when authentication is on (tokens or client certificates configured).
// Refusals are counted in /metrics (vigil_limit_refusals_total).
struct IdentityLimitOptions {
  // Ingest streams one identity may have open; one more gets RESOURCE_EXHAUSTED.
  // YAML limits.streams_per_identity. Default: 8.
  uint32_t streams_per_identity = 8;
  // Readings per second one identity may send, over all its streams and
  // Writes (with a burst of one second's worth). Above it vigild delays
  // reading its next batch (a stream) or answering (Write): the gateway is
  // slowed down, nothing is dropped. YAML limits.readings_per_second.
  // Default: 200000.
  uint32_t readings_per_second = 200'000;
  // Alarm subscriptions (Alarms.Subscribe) one identity may have open; one
  // more gets RESOURCE_EXHAUSTED. YAML limits.subscriptions_per_identity.
  // Default: 16.
  uint32_t subscriptions_per_identity = 16;

  bool operator==(const IdentityLimitOptions&) const = default;
};

// The HTTP listener (server/http/): gateway ingest as JSON (POST
// /api/v1/ingest) and InfluxDB line protocol (POST /write, /api/v2/write);
// The alarm journal's signed exports (docs/journal-integrity.md).
struct JournalOptions {
  // PEM file holding the Ed25519 private key that signs journal exports
  // (`openssl genpkey -algorithm ed25519 -out journal-signing.pem`); read at
  // start, and checked by --check-config. Relative to the config file's
  // folder. YAML journal.signing_key_file. Default: "" (exports are refused).
  std::filesystem::path signing_key_file;
  // Largest export file one ExportJournal call builds; it is held in memory
  // to be signed (Ed25519 signs the whole message), so this bounds memory.
  // A larger range stops at an entry boundary. YAML journal.export_max_bytes.
  // Default: 128MiB (about 250,000 entries).
  uint32_t export_max_bytes = 128u << 20;
};

// docs/http-ingest.md. Off unless http.listen is set: a new network surface
// is opened knowingly, like server.metrics_listen. HTTPS with server.tls's
// files (and gateways' client certificates) when server.tls is on; else
// plain HTTP, so a non-loopback address needs server.allow_plaintext: true.
struct HttpOptions {
  // host:port; "" = off. Port 0 picks a free port (printed at start).
  // YAML http.listen, flag --http-listen. Default: "" (off).
  std::string listen;
  // Largest request body as sent; a larger one gets 413 before it is read.
  // YAML http.max_body_bytes. Default: 16MiB.
  uint32_t max_body_bytes = 16u << 20;
  // Largest body after gzip decompression; past it 413 (gzip bombs stop
  // there). YAML http.max_decompressed_bytes. Default: 64MiB.
  uint32_t max_decompressed_bytes = 64u << 20;
  // Connections open at once; one more is answered 503 and closed.
  // YAML http.max_connections. Default: 256.
  uint32_t max_connections = 256;
  // A request must arrive (and a kept-alive connection send its next one)
  // within this. YAML http.read_timeout. Default: 30s.
  std::chrono::milliseconds read_timeout = std::chrono::seconds(30);
  // Threads serving HTTP (named vigil-http). YAML http.threads. Default: 1.
  uint32_t threads = 1;
  // Registry sensor id of a line-protocol field: text with {measurement},
  // {field} and {TAG} (the value of tag TAG). Without {field} a line must
  // carry one field. YAML http.line_protocol.sensor_id. Default: "{measurement}".
  std::string sensor_id_template = "{measurement}";
  // Fields (and tags) one line may have; a line with more is rejected.
  // YAML http.line_protocol.max_fields_per_line. Default: 1000.
  uint32_t max_fields_per_line = 1000;

  bool operator==(const HttpOptions&) const = default;
};

// The web console for command centers (server/http/console.h,
// docs/console.md): the live alarm list, acknowledge and shelve, an alarm's
// detail, over an HTTP/JSON API and a Server-Sent Events stream with the
// same tokens, regions and roles as gRPC. A listener of its own, apart from
// the gateways' http.listen: it faces people, not field devices. Off by
// default. HTTPS with server.tls's certificate when server.tls is on (no
// client certificates asked); else plain HTTP, which, like http.listen,
// needs a loopback address or server.allow_plaintext.
struct ConsoleOptions {
  // YAML console.enabled. Default: false.
  bool enabled = false;
  // host:port; port 0 picks a free port (printed at start as console=).
  // YAML console.listen. Default: "127.0.0.1:8088".
  std::string listen = "127.0.0.1:8088";
  // The page's files (index.html, console.js, console.css); relative to
  // the config file's folder. YAML console.assets_dir. Default: "" = the
  // installed tree (<prefix>/share/vigil/console).
  std::filesystem::path assets_dir;
  // Folder holding dygraph.min.js (Debian's libjs-dygraphs), served as
  // /dygraph.min.js for the trend plot. YAML console.dygraphs_dir.
  // Default: "/usr/share/javascript/dygraphs".
  std::filesystem::path dygraphs_dir = "/usr/share/javascript/dygraphs";
  // Connections open at once (each open page keeps one for its stream).
  // YAML console.max_connections. Default: 256.
  uint32_t max_connections = 256;

  bool operator==(const ConsoleOptions&) const = default;
};

// Empty when `text` is a valid http.line_protocol.sensor_id template (every
// '{' closed by a '}' around a non-empty name); else why not.
std::string SensorTemplateError(std::string_view text);

// MQTT ingest (server/mqtt/, docs/mqtt-ingest.md): vigild is a client of an
// MQTT broker (mosquitto) and takes gateways' batches from its topics. Off
// unless mqtt.broker is set.
struct MqttOptions {
  // Broker URL: tcp://host:port, or ssl://host:port for TLS (mqtt:// and
  // mqtts:// are taken as their synonyms). YAML mqtt.broker. Default: "" (off).
  std::string broker;
  // The client id vigild connects with. Fixed, because the broker keeps a
  // session (subscriptions and unacknowledged QoS 1 messages) per client id:
  // clean session is off. Two vigilds must not share one. YAML
  // mqtt.client_id. Default: "vigild".
  std::string client_id = "vigild";
  // Gateways publish to <topic_prefix><gateway id> (a JSON batch) or
  // <topic_prefix><gateway id>/pb (a protobuf IngestBatch); vigild subscribes
  // to both with QoS 1. Must end with '/' and hold no wildcard. YAML
  // mqtt.topic_prefix. Default: "vigil/ingest/".
  std::string topic_prefix = "vigil/ingest/";
  // User name and a file holding the password (first line) for the broker;
  // relative to the config file's folder. YAML mqtt.username,
  // mqtt.password_file. Default: "" (none).
  std::string username;
  std::filesystem::path password_file;
  // CA certificates (PEM) the broker's certificate must chain to, for ssl://.
  // YAML mqtt.ca_file. Default: "" (the system's).
  std::filesystem::path ca_file;
  // MQTT keep-alive. YAML mqtt.keepalive. Default: 30s.
  std::chrono::milliseconds keepalive = std::chrono::seconds(30);
  // Reconnect backoff after a failed connect or a lost connection: doubles
  // from the first to the last. YAML mqtt.reconnect_min, mqtt.reconnect_max.
  // Default: 500ms, 30s.
  std::chrono::milliseconds reconnect_min = std::chrono::milliseconds(500);
  std::chrono::milliseconds reconnect_max = std::chrono::seconds(30);
  // Largest payload taken; a larger one is dropped (and counted). YAML
  // mqtt.max_payload_bytes. Default: 16MiB.
  uint32_t max_payload_bytes = 16u << 20;
  // Each message's answer is published (QoS 1, not retained) to
  // <topic_prefix><gateway id><ack_suffix>: the ack JSON of POST
  // /api/v1/ingest once durable, or {"error", "epoch", "sequence"} for a
  // message that can never be stored. "" = no answers. Starts with '/',
  // holds no wildcard and no other '/', and is not "/pb". YAML
  // mqtt.ack_suffix. Default: "/ack".
  std::string ack_suffix = "/ack";

  bool operator==(const MqttOptions&) const = default;
};

// Empty when `url` is a broker URL MqttOptions::broker accepts; else why not.
std::string MqttBrokerError(std::string_view url);

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
  // How long SIGTERM keeps serving with health NOT_SERVING before it starts
  // draining: time for load balancers that poll health to stop sending new
  // streams here. YAML server.drain_delay. Default: 0s.
  std::chrono::milliseconds drain_delay = std::chrono::milliseconds(0);
  // Evaluator/storage shards (threads). 0 = one per CPU core.
  // YAML server.shards. Default: 0.
  uint32_t shards = 0;
  // YAML server.log_level: debug | info | warn | error. Default: info.
  LogLevel log_level = LogLevel::kInfo;
  // TLS for the gRPC listener. YAML server.tls. Default: off.
  TlsOptions tls;
  // Serve plaintext gRPC on a non-loopback address (TLS off). Without it such
  // a config is refused at start. YAML server.allow_plaintext. Default: false.
  bool allow_plaintext = false;

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
  // Longest a planned-work window may last (PlannedWork.Open refuses a longer
  // one), and how long a sensor's calibration-flagged readings keep its
  // conditions planned. YAML alarms.max_planned_work. Default: 12h.
  std::chrono::milliseconds max_planned_work = std::chrono::hours(12);
  // A red (severity 1) condition under planned work is raised and
  // annunciated as a normal alarm. Every node of a cluster must agree (the
  // shards apply it as they replay the log). YAML
  // alarms.planned_work_red_breaks_through. Default: false.
  bool planned_red_breaks_through = false;
  // A subscriber stream that had nothing to send for this long gets a
  // heartbeat. YAML alarms.heartbeat_interval. Default: 5s.
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(5);

  // Journal entries kept in memory for subscribers; one that falls further
  // behind reads from the journal on disk. YAML alarms.memory_events.
  // Default: 65536.
  uint32_t feed_memory_events = 65536;

  // Bearer tokens of command centers and gateways. With neither tokens nor
  // client certificates (tls.client_ca_file): no authentication, every caller
  // is a national admin (for loopback development only). YAML auth.tokens.
  // Default: empty.
  std::vector<AccessToken> tokens;
  // A YAML file holding more tokens: a list of entries as in auth.tokens (so
  // they can live apart from the config, e.g. in a Kubernetes Secret); read
  // at start only. Relative to the config file's folder. YAML
  // auth.tokens_file. Default: "" (none).
  std::filesystem::path tokens_file;
  // YAML limits. Defaults as in IdentityLimitOptions.
  IdentityLimitOptions identity_limits;

  // ---- Operations (logs, reflection, Alertmanager) ----
  // YAML server.log_format: text | json. Default: text.
  LogFormat log_format = LogFormat::kText;
  // Serve gRPC server reflection (grpc.reflection.v1alpha) so that tools can
  // list and describe the vigil.v1 services. YAML server.reflection.
  // Default: false.
  bool reflection = false;
  // YAML alertmanager. Default: off.
  AlertmanagerOptions alertmanager;
  // YAML ingest_log. Default: the RocksDB store's log.
  IngestLogOptions ingest_log;
  // YAML http. Default: off.
  HttpOptions http;
  // YAML journal. Default: no signing key.
  JournalOptions journal;
  // YAML console. Default: off.
  ConsoleOptions console;
  // YAML mqtt. Default: off.
  MqttOptions mqtt;
};

}  // namespace vigil::server
