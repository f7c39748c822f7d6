#include "server/config/config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "alarm/journal.h"
#include "alarm/time_text.h"
#include "server/config/http_url.h"
#include "server/config/internal/yaml_item.h"
#include "server/config/text_input.h"

// Parsing stops at the first problem. Inside this file a problem is thrown as
// a ConfigError (start-up code, where STYLE 2.4 allows exceptions) and turned
// into a Status at the public functions, which never throw. yaml-cpp stays in
// this file.

namespace vigil::server {
namespace {

using alarm::Result;
using alarm::Status;

constexpr uint32_t kKiB = 1024;
constexpr uint32_t kMiB = 1024 * kKiB;
constexpr uint32_t kGiB = 1024 * kMiB;

// ---------------------------------------------------------------------------
// Small text helpers shared by flags and YAML.

std::optional<int64_t> ParseInt64(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

// The reason `text` is not "host:port", or nullopt when it is. host is a name,
// an IPv4 address or a bracketed IPv6 address; port is 0..65535.
std::optional<std::string> ListenError(std::string_view text) {
  const std::string expected =
      "must be host:port (e.g. 127.0.0.1:7070 or [::1]:7070), got '" + std::string(text) + "'";
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return expected;
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.empty() || port.empty() || port.size() > 5) return expected;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return expected;
  } else if (host.find_first_of(":[] \t") != std::string_view::npos) {
    return expected;
  }
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return expected;
  }
  if (*ParseInt64(port) > 65535) {
    return "port must be 0..65535, got '" + std::string(text) + "'";
  }
  return std::nullopt;
}

// Levenshtein distance, for "did you mean" hints on short keys and flags.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the closest candidate within 2 edits, else "".
std::string Suggestion(std::string_view given, std::span<const std::string_view> candidates) {
  std::string_view best;
  size_t best_distance = 3;
  for (std::string_view candidate : candidates) {
    const size_t distance = EditDistance(given, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best.empty() ? "" : " (did you mean '" + std::string(best) + "'?)";
}

std::string FormatByteSize(uint32_t bytes) {
  if (bytes != 0 && bytes % kGiB == 0) return std::to_string(bytes / kGiB) + "GiB";
  if (bytes != 0 && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + "MiB";
  if (bytes != 0 && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + "KiB";
  return std::to_string(bytes);
}

// A plain integer or "<integer>KiB|MiB|GiB"; nullopt when malformed or over
// 2^63 bytes.
std::optional<int64_t> ParseByteSize(std::string_view text) {
  int64_t factor = 1;
  for (auto [suffix, unit] :
       {std::pair<std::string_view, int64_t>{"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}}) {
    if (text.size() > suffix.size() && text.ends_with(suffix)) {
      text.remove_suffix(suffix.size());
      factor = unit;
      break;
    }
  }
  if (text.empty() || text.front() == '-' || text.front() == '+') return std::nullopt;
  std::optional<int64_t> count = ParseInt64(text);
  if (!count || *count > std::numeric_limits<int64_t>::max() / factor) return std::nullopt;
  return *count * factor;
}

bool ParseSha256Hex(std::string_view hex, std::array<uint8_t, 32>* out) {
  if (hex.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    uint8_t byte = 0;
    for (char c : hex.substr(2 * i, 2)) {
      byte = static_cast<uint8_t>(byte << 4);
      if (c >= '0' && c <= '9') {
        byte = static_cast<uint8_t>(byte | (c - '0'));
      } else if (c >= 'a' && c <= 'f') {
        byte = static_cast<uint8_t>(byte | (c - 'a' + 10));
      } else if (c >= 'A' && c <= 'F') {
        byte = static_cast<uint8_t>(byte | (c - 'A' + 10));
      } else {
        return false;
      }
    }
    (*out)[i] = byte;
  }
  return true;
}

std::string Sha256Hex(const std::array<uint8_t, 32>& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
    case Role::kGateway:
      return "gateway";
  }
  return "viewer";
}

// A YAML double-quoted scalar.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// ---------------------------------------------------------------------------
// YAML walking.

struct ConfigError {
  std::string message;
};

using Item = internal::YamlItem;
using internal::Describe;

class Parser {
 public:
  Parser(const std::string& source_name, const std::filesystem::path& base_dir)
      : source_(source_name), base_dir_(base_dir) {}

  ServerOptions Parse(const YAML::Node& root) {
    ServerOptions options;
    if (root.IsNull()) return options;  // Empty file or only comments.
    if (!root.IsMap()) Fail(root.Mark(), "", "expected a mapping of config keys at the top level");

    auto path_key = [&](const Item& item) {
      const std::filesystem::path file = String(item);
      return file.empty() || file.is_absolute() ? file : base_dir_ / file;
    };
    const Key tls_keys[] = {
        {"cert_file", [&](const Item& item) { options.tls.cert_file = path_key(item); }},
        {"key_file", [&](const Item& item) { options.tls.key_file = path_key(item); }},
        {"client_ca_file", [&](const Item& item) { options.tls.client_ca_file = path_key(item); }},
        {"require_client_cert",
         [&](const Item& item) { options.tls.require_client_cert = Bool(item); }},
        {"refresh_interval",
         [&](const Item& item) {
           const Millis interval = Duration(item, std::chrono::seconds(1));
           if (interval.count() % 1000 != 0 || interval > std::chrono::hours(24)) {
             Fail(item, "must be whole seconds, 1s .. 24h, got '" + item.value.Scalar() + "'");
           }
           options.tls.refresh_interval =
               std::chrono::duration_cast<std::chrono::seconds>(interval);
         }},
    };
    const Key server_keys[] = {
        {"listen",
         [&](const Item& item) {
           options.listen = String(item);
           if (auto error = ListenError(options.listen)) Fail(item, *error);
         }},
        {"metrics_listen",
         [&](const Item& item) {
           options.metrics_listen = String(item);
           if (options.metrics_listen.empty()) return;  // disabled
           if (auto error = ListenError(options.metrics_listen)) Fail(item, *error);
         }},
        {"shutdown_grace",
         [&](const Item& item) { options.shutdown_grace = Duration(item, Millis(0)); }},
        {"drain_delay", [&](const Item& item) { options.drain_delay = Duration(item, Millis(0)); }},
        {"shards", [&](const Item& item) { options.shards = Unsigned(item, 0, 256); }},
        {"log_level",
         [&](const Item& item) {
           const std::string level = String(item);
           if (level == "debug") {
             options.log_level = LogLevel::kDebug;
           } else if (level == "info") {
             options.log_level = LogLevel::kInfo;
           } else if (level == "warn") {
             options.log_level = LogLevel::kWarn;
           } else if (level == "error") {
             options.log_level = LogLevel::kError;
           } else {
             Fail(item, "must be one of debug, info, warn, error, got '" + level + "'");
           }
         }},
        // Operations.
        {"log_format",
         [&](const Item& item) {
           const std::string format = String(item);
           if (format == "text") {
             options.log_format = LogFormat::kText;
           } else if (format == "json") {
             options.log_format = LogFormat::kJson;
           } else {
             Fail(item, "must be 'text' or 'json', got '" + format + "'");
           }
         }},
        {"reflection", [&](const Item& item) { options.reflection = Bool(item); }},
        {"tls",
         [&](const Item& item) {
           options.tls = TlsOptions{};
           if (item.value.IsScalar()) {
             const std::string mode = item.value.Scalar();
             if (mode != "off" && mode != "false") {
               Fail(item,
                    "must be 'off' or a mapping with cert_file and key_file, got '" + mode + "'");
             }
             return;
           }
           if (!item.value.IsMap()) {
             Fail(item, "expected 'off' or a mapping, got " + Describe(item.value));
           }
           Map(item.value, item.path, tls_keys);
           options.tls.enabled = true;
           if (options.tls.cert_file.empty()) Fail(item, "cert_file is required");
           if (options.tls.key_file.empty()) Fail(item, "key_file is required");
           if (options.tls.require_client_cert && options.tls.client_ca_file.empty()) {
             Fail(item, "require_client_cert needs client_ca_file");
           }
         }},
        {"allow_plaintext", [&](const Item& item) { options.allow_plaintext = Bool(item); }},
    };
    const Key alertmanager_keys[] = {
        {"url",
         [&](const Item& item) {
           options.alertmanager.url = String(item);
           if (options.alertmanager.url.empty()) return;  // off
           if (auto url = ParseHttpUrl(options.alertmanager.url); !url) {
             Fail(item, url.error().message());
           }
         }},
        {"resend_interval",
         [&](const Item& item) {
           options.alertmanager.resend_interval = Duration(item, std::chrono::seconds(1));
         }},
        {"timeout",
         [&](const Item& item) {
           options.alertmanager.timeout = Duration(item, std::chrono::milliseconds(100));
         }},
        {"ca_file", [&](const Item& item) { options.alertmanager.ca_file = path_key(item); }},
        {"generator_url",
         [&](const Item& item) {
           options.alertmanager.generator_url = String(item);
           const std::string& url = options.alertmanager.generator_url;
           if (!url.empty() && !url.starts_with("http://") && !url.starts_with("https://")) {
             Fail(item, "must be an http:// or https:// URL, got '" + url + "'");
           }
         }},
    };
    auto string_list = [&](const Item& item) {
      std::vector<std::string> out;
      if (!item.value.IsSequence()) Fail(item, "expected a list, got " + Describe(item.value));
      for (size_t i = 0; i < item.value.size(); ++i) {
        out.push_back(String(
            Item{item.path + "[" + std::to_string(i) + "]", item.value[i].Mark(), item.value[i]}));
      }
      return out;
    };
    const Key ingest_log_keys[] = {
        {"backend",
         [&](const Item& item) {
           const std::string backend = String(item);
           if (backend == "rocksdb") {
             options.ingest_log.backend = IngestLogOptions::Backend::kRocksDb;
           } else if (backend == "jetstream") {
             options.ingest_log.backend = IngestLogOptions::Backend::kJetStream;
           } else {
             Fail(item, "must be 'rocksdb' or 'jetstream', got '" + backend + "'");
           }
         }},
        {"nats_urls",
         [&](const Item& item) {
           options.ingest_log.nats_urls = string_list(item);
           for (const std::string& url : options.ingest_log.nats_urls) {
             if (!url.starts_with("nats://") && !url.starts_with("tls://")) {
               Fail(item, "a NATS URL is nats://host:port or tls://host:port, got '" + url + "'");
             }
           }
         }},
        {"nats_credentials_file",
         [&](const Item& item) { options.ingest_log.nats_credentials_file = path_key(item); }},
        {"nats_tls_ca_file",
         [&](const Item& item) { options.ingest_log.nats_tls_ca_file = path_key(item); }},
        {"nats_tls_cert_file",
         [&](const Item& item) { options.ingest_log.nats_tls_cert_file = path_key(item); }},
        {"nats_tls_key_file",
         [&](const Item& item) { options.ingest_log.nats_tls_key_file = path_key(item); }},
        {"stream",
         [&](const Item& item) {
           options.ingest_log.stream = String(item);
           const std::string& name = options.ingest_log.stream;
           if (name.empty() || name.find_first_of(" .*>\t") != std::string::npos) {
             Fail(item, "a stream name is not empty and has no spaces, '.', '*' or '>'");
           }
         }},
        {"partition",
         [&](const Item& item) {
           options.ingest_log.partition = static_cast<uint32_t>(Unsigned(item, 0, 65535));
         }},
        {"replicas",
         [&](const Item& item) {
           options.ingest_log.replicas = static_cast<uint32_t>(Unsigned(item, 1, 5));
         }},
        {"append_timeout",
         [&](const Item& item) {
           options.ingest_log.append_timeout = Duration(item, std::chrono::milliseconds(100));
         }},
        {"groups_in_flight",
         [&](const Item& item) {
           options.ingest_log.groups_in_flight = static_cast<uint32_t>(Unsigned(item, 1, 256));
         }},
        {"max_bytes",
         [&](const Item& item) { options.ingest_log.max_bytes = LargeByteSize(item); }},
        {"max_age",
         [&](const Item& item) {
           options.ingest_log.max_age = std::chrono::duration_cast<std::chrono::seconds>(
               Duration(item, std::chrono::milliseconds(0)));
         }},
    };
    const Key storage_keys[] = {
        {"data_dir",
         [&](const Item& item) {
           const std::string dir = String(item);
           if (dir.empty()) Fail(item, "must not be empty");
           options.data_dir = dir;
         }},
        {"durability",
         [&](const Item& item) {
           const std::string durability = String(item);
           if (durability == "wal") {
             options.durability = Durability::kWal;
           } else if (durability == "fsync") {
             options.durability = Durability::kFsync;
           } else {
             Fail(item, "must be 'wal' or 'fsync', got '" + durability + "'");
           }
         }},
        {"chunk_max_readings",
         [&](const Item& item) { options.chunk_max_readings = Unsigned(item, 16, 65535); }},
        {"checkpoint_interval",
         [&](const Item& item) {
           options.checkpoint_interval = Duration(item, std::chrono::seconds(1));
         }},
        {"min_free_space",
         [&](const Item& item) { options.min_free_bytes = ByteSize(item, 0, 3 * kGiB); }},
        {"raw_retention",
         [&](const Item& item) { options.limits.raw_retention = Duration(item, Millis(1)); }},
        {"stats_retention",
         [&](const Item& item) { options.stats_retention = Duration(item, Millis(1)); }},
        {"journal_retention",
         [&](const Item& item) { options.journal_retention = Duration(item, Millis(1)); }},
    };
    const Key ingest_keys[] = {
        {"max_future_skew",
         [&](const Item& item) { options.limits.max_future_skew = Duration(item, Millis(1)); }},
        {"max_series_per_batch",
         [&](const Item& item) {
           options.limits.max_series_per_batch = Unsigned(item, 1, kMaxUint32);
         }},
        {"max_readings_per_batch",
         [&](const Item& item) {
           options.limits.max_readings_per_batch = Unsigned(item, 1, kMaxUint32);
         }},
        {"max_buffered_bytes",
         [&](const Item& item) {
           options.max_buffered_bytes = ByteSize(item, 16 * kMiB, 3 * kGiB);
         }},
        {"max_message_bytes",
         [&](const Item& item) { options.max_message_bytes = ByteSize(item, kKiB, 256 * kMiB); }},
        {"max_concurrent_streams",
         [&](const Item& item) { options.max_concurrent_streams = Unsigned(item, 1, kMaxUint32); }},
        {"stream_window",
         [&](const Item& item) { options.stream_window = Unsigned(item, 1, 1024); }},
    };
    const Key alarms_keys[] = {
        {"max_shelve",
         [&](const Item& item) { options.max_shelve = Duration(item, std::chrono::minutes(1)); }},
        {"max_planned_work",
         [&](const Item& item) {
           options.max_planned_work = Duration(item, std::chrono::minutes(1));
         }},
        {"planned_work_red_breaks_through",
         [&](const Item& item) { options.planned_red_breaks_through = Bool(item); }},
        {"heartbeat_interval",
         [&](const Item& item) {
           options.heartbeat_interval = Duration(item, std::chrono::milliseconds(100));
         }},
        {"memory_events",
         [&](const Item& item) { options.feed_memory_events = Unsigned(item, 16, 1u << 24); }},
    };
    AccessToken token;
    const Key token_keys[] = {
        {"name", [&](const Item& item) { token.name = String(item); }},
        {"sha256",
         [&](const Item& item) {
           if (!ParseSha256Hex(String(item), &token.sha256)) {
             Fail(item,
                  "must be 64 hex digits (the SHA-256 of the token; vigilctl hash-token "
                  "prints it)");
           }
         }},
        {"region",
         [&](const Item& item) {
           token.region_prefix = String(item);
           if (!alarm::IsRegionPrefix(token.region_prefix)) {
             Fail(item,
                  "must be 0..6 digits of a GB/T 2260 code, got '" + token.region_prefix + "'");
           }
         }},
        {"role",
         [&](const Item& item) {
           const std::string role = String(item);
           if (role == "viewer") {
             token.role = Role::kViewer;
           } else if (role == "operator") {
             token.role = Role::kOperator;
           } else if (role == "admin") {
             token.role = Role::kAdmin;
           } else if (role == "gateway") {
             token.role = Role::kGateway;
           } else {
             Fail(item, "must be one of viewer, operator, admin, gateway, got '" + role + "'");
           }
         }},
        {"gateway",
         [&](const Item& item) {
           token.gateway_id = String(item);
           if (token.gateway_id.empty()) Fail(item, "must not be empty");
         }},
        {"expires",
         [&](const Item& item) {
           const Result<int64_t> at = alarm::ParseTime(String(item));
           if (!at) Fail(item, at.error().message());
           token.expires_at_ms = *at;
         }},
    };
    // A list of tokens: auth.tokens, or the whole of auth.tokens_file.
    std::function<void(const Item&)> parse_tokens;
    const Key auth_keys[] = {
        {"tokens", [&](const Item& item) { parse_tokens(item); }},
        {"tokens_file",
         [&](const Item& item) {
           options.tokens_file = path_key(item);
           if (options.tokens_file.empty()) return;
           Result<std::string> text = ReadTextFile(options.tokens_file);
           if (!text) Fail(item, text.error().message());
           // Errors inside it name that file, its line and column.
           const std::string outer = std::exchange(source_, options.tokens_file.string());
           YAML::Node list;
           try {
             list = YAML::Load(*text);
           } catch (const YAML::Exception& e) {
             Fail(e.mark, "", "invalid YAML: " + e.msg);
           }
           parse_tokens(Item{"tokens", list.Mark(), list});
           source_ = outer;
         }},
    };
    parse_tokens = [&](const Item& item) {
      if (item.value.IsNull()) return;
      if (!item.value.IsSequence()) Fail(item, "expected a list, got " + Describe(item.value));
      for (size_t i = 0; i < item.value.size(); ++i) {
        const Item element{item.path + "[" + std::to_string(i) + "]", item.value[i].Mark(),
                           item.value[i]};
        if (!element.value.IsMap()) {
          Fail(element, "expected a mapping, got " + Describe(element.value));
        }
        token = AccessToken{};
        Map(element.value, element.path, token_keys);
        if (token.name.empty()) Fail(element, "name is required");
        if (token.sha256 == std::array<uint8_t, 32>{}) Fail(element, "sha256 is required");
        if (token.role == Role::kGateway) {
          if (token.gateway_id.empty()) {
            Fail(element, "a gateway token needs 'gateway: <gateway id>'");
          }
          if (!token.region_prefix.empty()) {
            Fail(element, "a gateway token has no region (its gateway's enterprise has one)");
          }
        } else if (!token.gateway_id.empty()) {
          Fail(element, "'gateway' is for role gateway only");
        }
        for (const AccessToken& other : options.tokens) {
          if (other.sha256 == token.sha256) Fail(element, "the same token twice");
        }
        options.tokens.push_back(token);
      }
    };
    const Key limits_keys[] = {
        {"streams_per_identity",
         [&](const Item& item) {
           options.identity_limits.streams_per_identity = Unsigned(item, 1, 1u << 20);
         }},
        {"readings_per_second",
         [&](const Item& item) {
           options.identity_limits.readings_per_second = Unsigned(item, 1, kMaxUint32);
         }},
        {"subscriptions_per_identity",
         [&](const Item& item) {
           options.identity_limits.subscriptions_per_identity = Unsigned(item, 1, 1u << 20);
         }},
    };
    const Key line_protocol_keys[] = {
        {"sensor_id",
         [&](const Item& item) {
           options.http.sensor_id_template = String(item);
           if (auto error = SensorTemplateError(options.http.sensor_id_template); !error.empty()) {
             Fail(item, error);
           }
         }},
        {"max_fields_per_line",
         [&](const Item& item) { options.http.max_fields_per_line = Unsigned(item, 1, 100'000); }},
    };
    const Key http_keys[] = {
        {"listen",
         [&](const Item& item) {
           options.http.listen = String(item);
           if (options.http.listen.empty()) return;  // off
           if (auto error = ListenError(options.http.listen)) Fail(item, *error);
         }},
        {"max_body_bytes",
         [&](const Item& item) { options.http.max_body_bytes = ByteSize(item, 1024, 1u << 30); }},
        {"max_decompressed_bytes",
         [&](const Item& item) {
           options.http.max_decompressed_bytes = ByteSize(item, 1024, 1u << 30);
         }},
        {"max_connections",
         [&](const Item& item) { options.http.max_connections = Unsigned(item, 1, 1u << 20); }},
        {"read_timeout",
         [&](const Item& item) { options.http.read_timeout = Duration(item, Millis(100)); }},
        {"threads", [&](const Item& item) { options.http.threads = Unsigned(item, 1, 64); }},
        {"line_protocol", [&](const Item& item) { Section(item, line_protocol_keys); }},
    };
    const Key journal_keys[] = {
        {"signing_key_file",
         [&](const Item& item) { options.journal.signing_key_file = path_key(item); }},
        {"export_max_bytes",
         [&](const Item& item) {
           options.journal.export_max_bytes = ByteSize(item, 64 * kKiB, 1u << 30);
         }},
    };
    const Key console_keys[] = {
        {"enabled", [&](const Item& item) { options.console.enabled = Bool(item); }},
        {"listen",
         [&](const Item& item) {
           options.console.listen = String(item);
           if (auto error = ListenError(options.console.listen)) Fail(item, *error);
         }},
        {"assets_dir", [&](const Item& item) { options.console.assets_dir = path_key(item); }},
        {"dygraphs_dir", [&](const Item& item) { options.console.dygraphs_dir = path_key(item); }},
        {"max_connections",
         [&](const Item& item) { options.console.max_connections = Unsigned(item, 1, 1u << 20); }},
    };
    const Key mqtt_keys[] = {
        {"broker",
         [&](const Item& item) {
           options.mqtt.broker = String(item);
           if (options.mqtt.broker.empty()) return;  // off
           if (auto error = MqttBrokerError(options.mqtt.broker); !error.empty()) {
             Fail(item, error);
           }
         }},
        {"client_id",
         [&](const Item& item) {
           options.mqtt.client_id = String(item);
           // MQTT 3.1.1 brokers must accept 1..23 characters; mosquitto takes more.
           if (options.mqtt.client_id.empty() || options.mqtt.client_id.size() > 256) {
             Fail(item, "must be 1 to 256 characters");
           }
         }},
        {"topic_prefix",
         [&](const Item& item) {
           options.mqtt.topic_prefix = String(item);
           const std::string& prefix = options.mqtt.topic_prefix;
           if (prefix.empty() || prefix.back() != '/' ||
               prefix.find_first_of("+#") != std::string::npos) {
             Fail(item, "must end with '/' and hold no wildcard (+ or #), e.g. 'vigil/ingest/'");
           }
         }},
        {"username", [&](const Item& item) { options.mqtt.username = String(item); }},
        {"password_file", [&](const Item& item) { options.mqtt.password_file = path_key(item); }},
        {"ca_file", [&](const Item& item) { options.mqtt.ca_file = path_key(item); }},
        {"keepalive",
         [&](const Item& item) {
           options.mqtt.keepalive = Duration(item, Millis(1000));
           if (options.mqtt.keepalive > std::chrono::hours(18)) Fail(item, "must be at most 18h");
         }},
        {"reconnect_min",
         [&](const Item& item) { options.mqtt.reconnect_min = Duration(item, Millis(10)); }},
        {"reconnect_max",
         [&](const Item& item) { options.mqtt.reconnect_max = Duration(item, Millis(10)); }},
        {"max_payload_bytes",
         [&](const Item& item) {
           options.mqtt.max_payload_bytes = ByteSize(item, 1024, 256u << 20);
         }},
        {"ack_suffix",
         [&](const Item& item) {
           options.mqtt.ack_suffix = String(item);
           const std::string& suffix = options.mqtt.ack_suffix;
           if (suffix.empty()) return;  // no answers
           if (suffix.size() < 2 || suffix.front() != '/' ||
               suffix.find_first_of("+#/", 1) != std::string::npos || suffix == "/pb") {
             Fail(item, "must be \"\" (no answers) or '/' and a name other than 'pb', e.g. '/ack'");
           }
         }},
    };
    const Key top_keys[] = {
        {"server", [&](const Item& item) { Section(item, server_keys); }},
        {"journal", [&](const Item& item) { Section(item, journal_keys); }},
        {"console", [&](const Item& item) { Section(item, console_keys); }},
        {"alarms", [&](const Item& item) { Section(item, alarms_keys); }},
        {"auth", [&](const Item& item) { Section(item, auth_keys); }},
        {"limits", [&](const Item& item) { Section(item, limits_keys); }},
        {"alertmanager", [&](const Item& item) { Section(item, alertmanager_keys); }},
        {"storage", [&](const Item& item) { Section(item, storage_keys); }},
        {"ingest_log",
         [&](const Item& item) {
           Section(item, ingest_log_keys);
           if (options.ingest_log.backend == IngestLogOptions::Backend::kJetStream &&
               options.ingest_log.nats_urls.empty()) {
             Fail(item, "backend jetstream needs nats_urls");
           }
           if (!options.ingest_log.nats_tls_cert_file.empty() &&
               options.ingest_log.nats_tls_key_file.empty()) {
             Fail(item, "nats_tls_cert_file needs nats_tls_key_file");
           }
         }},
        {"ingest", [&](const Item& item) { Section(item, ingest_keys); }},
        {"http", [&](const Item& item) { Section(item, http_keys); }},
        {"mqtt",
         [&](const Item& item) {
           Section(item, mqtt_keys);
           if (options.mqtt.reconnect_max < options.mqtt.reconnect_min) {
             Fail(item, "reconnect_max must not be below reconnect_min");
           }
         }},
        {"registry_file",
         [&](const Item& item) {
           const std::filesystem::path file = String(item);
           options.registry_file = file.empty() || file.is_absolute() ? file : base_dir_ / file;
         }},
        {"rules_file",
         [&](const Item& item) {
           const std::filesystem::path file = String(item);
           options.rules_file = file.empty() || file.is_absolute() ? file : base_dir_ / file;
         }},
    };
    Map(root, "", top_keys);
    return options;
  }

 private:
  using Millis = std::chrono::milliseconds;
  static constexpr int64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();
  // Keeps time arithmetic such as now + max_future_skew far from overflow.
  static constexpr Millis kMaxDuration = std::chrono::hours(24 * 36500);

  struct Key {
    std::string_view name;
    std::function<void(const Item&)> parse;
  };

  [[noreturn]] void Fail(const YAML::Mark& mark, std::string_view path,
                         std::string_view reason) const {
    throw ConfigError{internal::YamlErrorMessage(source_, mark, path, reason)};
  }
  [[noreturn]] void Fail(const Item& item, std::string_view reason) const {
    Fail(item.mark(), item.path, reason);
  }

  // Walks the mapping `node` (at `path`), handing each key to its Key.
  // Unknown, duplicate and non-string keys fail.
  void Map(const YAML::Node& node, const std::string& path, std::span<const Key> keys) const {
    std::vector<std::string_view> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies: yaml-cpp's iterator hands out a temporary pair of node handles.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) Fail(key.Mark(), path, "keys must be plain strings");
      const std::string child_path = path.empty() ? key.Scalar() : path + "." + key.Scalar();
      auto known = std::find_if(keys.begin(), keys.end(),
                                [&](const Key& k) { return k.name == key.Scalar(); });
      if (known == keys.end()) {
        std::vector<std::string_view> names;
        for (const Key& k : keys) names.push_back(k.name);
        Fail(key.Mark(), child_path, "unknown key" + Suggestion(key.Scalar(), names));
      }
      if (std::find(seen.begin(), seen.end(), known->name) != seen.end()) {
        Fail(key.Mark(), child_path, "key given twice");
      }
      seen.push_back(known->name);
      known->parse(Item{child_path, key.Mark(), value});
    }
  }

  // A nested section such as `server:`. Empty (all keys commented out) is fine.
  void Section(const Item& item, std::span<const Key> keys) const {
    if (item.value.IsNull()) return;
    if (!item.value.IsMap()) Fail(item, "expected a mapping, got " + Describe(item.value));
    Map(item.value, item.path, keys);
  }

  std::string String(const Item& item) const {
    if (!item.value.IsScalar()) Fail(item, "expected a string, got " + Describe(item.value));
    return item.value.Scalar();
  }

  bool Bool(const Item& item) const {
    const std::string text = String(item);
    if (text == "true") return true;
    if (text == "false") return false;
    Fail(item, "must be true or false, got '" + text + "'");
  }

  uint32_t Unsigned(const Item& item, int64_t min, int64_t max) const {
    if (!item.value.IsScalar()) Fail(item, "expected an integer, got " + Describe(item.value));
    std::optional<int64_t> value = ParseInt64(item.value.Scalar());
    if (!value) Fail(item, "expected an integer, got '" + item.value.Scalar() + "'");
    CheckRange(item, *value, min, max, std::to_string(min), std::to_string(max));
    return static_cast<uint32_t>(*value);
  }

  // A size in bytes, up to 2^63 (a stream's retention may pass 4 GiB).
  int64_t LargeByteSize(const Item& item) const {
    if (!item.value.IsScalar()) Fail(item, "expected a size, got " + Describe(item.value));
    std::optional<int64_t> value = ParseByteSize(item.value.Scalar());
    if (!value) {
      Fail(item, "expected a size in bytes like 1048576, 512KiB or 16MiB, got '" +
                     item.value.Scalar() + "'");
    }
    return *value;
  }

  uint32_t ByteSize(const Item& item, uint32_t min, uint32_t max) const {
    const int64_t value = LargeByteSize(item);
    CheckRange(item, value, min, max, FormatByteSize(min), FormatByteSize(max));
    return static_cast<uint32_t>(value);
  }

  void CheckRange(const Item& item, int64_t value, int64_t min, int64_t max,
                  const std::string& min_text, const std::string& max_text) const {
    if (value >= min && value <= max) return;
    const std::string got = ", got '" + item.value.Scalar() + "'";
    if (max == kMaxUint32) Fail(item, "must be at least " + min_text + got);
    Fail(item, "must be between " + min_text + " and " + max_text + got);
  }

  Millis Duration(const Item& item, Millis min) const {
    if (!item.value.IsScalar()) Fail(item, "expected a duration, got " + Describe(item.value));
    Result<Millis> value = alarm::ParseDuration(item.value.Scalar(), min, kMaxDuration);
    if (!value) Fail(item, value.error().message());
    return *value;
  }

  std::string source_;  // the file errors name; auth.tokens_file while in it
  const std::filesystem::path& base_dir_;
};

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

// ---------------------------------------------------------------------------
// Command line.

namespace {

constexpr std::string_view kFlags[] = {"--config",   "--listen",       "--metrics-listen",
                                       "--data-dir", "--check-config", "--version",
                                       "--help"};

// The command line as a CLI11 app writing into *cmd; UsageText prints its help.
// Unknown flags are let through (allow_extras) so that ParseCommandLine can
// name the nearest known one.
std::unique_ptr<CLI::App> MakeApp(CommandLine* cmd) {
  auto app = std::make_unique<CLI::App>("Vigil ingests plant sensor telemetry and raises alarms.",
                                        "vigild");
  app->allow_extras();
  app->option_defaults()->disable_flag_override()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);
  const auto non_empty = [](const std::string& value) {
    return value.empty() ? std::string("empty value") : std::string();
  };
  const auto listen = [](const std::string& value) { return ListenError(value).value_or(""); };
  // CLI11 takes the next word as the value even when it is a flag
  // ("--listen --check-config"): refuse a value that starts with "--" (a path
  // that does is written ./--x).
  const auto not_a_flag = [](const std::string& value) {
    return value.starts_with("--") ? "missing value (got the flag '" + value + "')" : std::string();
  };
  app->add_option_function<std::string>(
         "--config", [cmd](const std::string& v) { cmd->config_file = v; },
         "YAML config file (example: deploy/vigil.yaml); without it, built-in defaults")
      ->type_name("FILE")
      ->check(non_empty)
      ->check(not_a_flag);
  app->add_option_function<std::string>(
         "--listen", [cmd](const std::string& v) { cmd->listen = v; },
         "gRPC listen address; overrides server.listen")
      ->type_name("HOST:PORT")
      ->check(non_empty)
      ->check(not_a_flag)
      ->check(listen);
  app->add_option_function<std::string>(
         "--metrics-listen", [cmd](const std::string& v) { cmd->metrics_listen = v; },
         "Prometheus /metrics address; overrides server.metrics_listen")
      ->type_name("HOST:PORT")
      ->check(non_empty)
      ->check(not_a_flag)
      ->check(listen);
  app->add_option_function<std::string>(
         "--http-listen", [cmd](const std::string& v) { cmd->http_listen = v; },
         "HTTP ingest address (JSON and line protocol); overrides http.listen, \"\" = off")
      ->type_name("HOST:PORT")
      ->check(not_a_flag)
      ->check([listen](const std::string& v) { return v.empty() ? std::string() : listen(v); });
  app->add_option_function<std::string>(
         "--data-dir", [cmd](const std::string& v) { cmd->data_dir = v; },
         "database folder; overrides storage.data_dir")
      ->type_name("DIR")
      ->check(non_empty)
      ->check(not_a_flag);
  app->add_flag("--check-config", cmd->check_config,
                "validate the config, the registry file and the rules file (resolved against that "
                "registry), print the effective config and exit: 0 ok, 2 a problem (named on "
                "stderr)");
  app->set_version_flag("--version", "vigild", "print the version and exit");
  app->set_help_flag("-h,--help", "print this help and exit");
  app->footer(
      "Flags take their value as '--flag VALUE' or '--flag=VALUE'; flags win over the file.\n"
      "Exit codes: 0 clean stop, 1 failure while starting or running, 2 bad command line,\n"
      "configuration, rules or registry, 3 stopped because storage needs a restart to recover.");
  return app;
}

}  // namespace

alarm::Result<CommandLine> ParseCommandLine(int argc, const char* const* argv) {
  CommandLine cmd;
  std::unique_ptr<CLI::App> app = MakeApp(&cmd);
  try {
    app->parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    cmd.help = true;
    return cmd;
  } catch (const CLI::CallForVersion&) {
    cmd.version = true;
    return cmd;
  } catch (const CLI::ParseError& e) {
    return Status::InvalidArgument(e.what());
  }
  for (const std::string& arg : app->remaining()) {
    if (arg.starts_with("-") && arg != "-") {
      const std::string name = arg.substr(0, arg.find('='));
      return Status::InvalidArgument("unknown flag '" + name + "'" + Suggestion(name, kFlags));
    }
    return Status::InvalidArgument("unexpected argument '" + arg + "': vigild takes flags only");
  }
  return cmd;
}

std::string UsageText() {
  CommandLine unused;
  return MakeApp(&unused)->help();
}

// ---------------------------------------------------------------------------
// Config file.

alarm::Result<ServerOptions> ParseConfigText(std::string_view yaml, const std::string& source_name,
                                             const std::filesystem::path& base_dir) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    return Parser(source_name, base_dir).Parse(root);
  } catch (const ConfigError& e) {
    return Status::InvalidArgument(e.message);
  } catch (const YAML::Exception& e) {
    std::string where = source_name;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return Status::InvalidArgument(where + ": invalid YAML: " + e.msg);
  }
}

alarm::Result<ServerOptions> LoadConfigFile(const std::filesystem::path& path) {
  Result<std::string> text = ReadTextFile(path);
  if (!text) return text.error();
  return ParseConfigText(*text, path.string(), path.parent_path());
}

void ApplyCommandLine(const CommandLine& cmd, ServerOptions* options) {
  if (cmd.listen) options->listen = *cmd.listen;
  if (cmd.metrics_listen) options->metrics_listen = *cmd.metrics_listen;
  if (cmd.data_dir) options->data_dir = *cmd.data_dir;
  if (cmd.http_listen) options->http.listen = *cmd.http_listen;
}

std::string SensorTemplateError(std::string_view text) {
  if (text.empty()) return "must not be empty";
  size_t i = 0;
  while ((i = text.find('{', i)) != std::string_view::npos) {
    const size_t close = text.find('}', i);
    if (close == std::string_view::npos) return "'{' has no closing '}'";
    if (close == i + 1 || text.substr(i + 1, close - i - 1).find('{') != std::string_view::npos) {
      return "empty or nested placeholder; use {measurement}, {field} or {TAG}";
    }
    i = close + 1;
  }
  return "";
}

std::string MqttBrokerError(std::string_view url) {
  for (std::string_view scheme : {"tcp://", "ssl://", "mqtt://", "mqtts://"}) {
    if (!url.starts_with(scheme)) continue;
    const std::string_view rest = url.substr(scheme.size());
    const size_t colon = rest.rfind(':');
    if (rest.empty() || colon == 0 || colon == std::string_view::npos || colon + 1 == rest.size() ||
        rest.substr(colon + 1).find_first_not_of("0123456789") != std::string_view::npos ||
        rest.find('/') != std::string_view::npos) {
      return "a broker URL is tcp://host:port or ssl://host:port, got '" + std::string(url) + "'";
    }
    return "";
  }
  return "the scheme must be tcp://, ssl://, mqtt:// or mqtts://, got '" + std::string(url) + "'";
}

std::string FormatEffectiveConfig(const ServerOptions& options) {
  std::string out;
  auto line = [&out](std::string_view key, std::string_view value) {
    out += key;
    out += ": ";
    out += value;
    out += '\n';
  };
  out += "server:\n";
  line("  listen", Quote(options.listen));
  line("  metrics_listen", Quote(options.metrics_listen));
  line("  shutdown_grace", FormatDuration(options.shutdown_grace));
  line("  drain_delay", FormatDuration(options.drain_delay));
  line("  shards", std::to_string(options.shards));
  line("  log_level", LogLevelName(options.log_level));
  line("  log_format", options.log_format == LogFormat::kJson ? "json" : "text");
  line("  reflection", options.reflection ? "true" : "false");
  if (!options.tls.enabled) {
    line("  tls", "off");
  } else {
    out += "  tls:\n";
    line("    cert_file", Quote(options.tls.cert_file.string()));
    line("    key_file", Quote(options.tls.key_file.string()));
    line("    client_ca_file", Quote(options.tls.client_ca_file.string()));
    line("    require_client_cert", options.tls.require_client_cert ? "true" : "false");
    line("    refresh_interval",
         FormatDuration(
             std::chrono::duration_cast<std::chrono::milliseconds>(options.tls.refresh_interval)));
  }
  line("  allow_plaintext", options.allow_plaintext ? "true" : "false");
  out += "storage:\n";
  line("  data_dir", Quote(options.data_dir.string()));
  line("  durability", options.durability == Durability::kFsync ? "fsync" : "wal");
  line("  chunk_max_readings", std::to_string(options.chunk_max_readings));
  line("  checkpoint_interval", FormatDuration(options.checkpoint_interval));
  line("  min_free_space", FormatByteSize(options.min_free_bytes));
  line("  raw_retention", FormatDuration(options.limits.raw_retention));
  line("  stats_retention", FormatDuration(options.stats_retention));
  line("  journal_retention", FormatDuration(options.journal_retention));
  out += "ingest_log:\n";
  if (options.ingest_log.backend == IngestLogOptions::Backend::kRocksDb) {
    line("  backend", "rocksdb");
  } else {
    line("  backend", "jetstream");
    std::string urls = "[";
    for (const std::string& url : options.ingest_log.nats_urls) {
      urls += (urls.size() > 1 ? ", " : "") + Quote(url);
    }
    line("  nats_urls", urls + "]");
    line("  nats_credentials_file", Quote(options.ingest_log.nats_credentials_file.string()));
    line("  nats_tls_ca_file", Quote(options.ingest_log.nats_tls_ca_file.string()));
    line("  nats_tls_cert_file", Quote(options.ingest_log.nats_tls_cert_file.string()));
    line("  nats_tls_key_file", Quote(options.ingest_log.nats_tls_key_file.string()));
    line("  stream", Quote(options.ingest_log.stream));
    line("  partition", std::to_string(options.ingest_log.partition));
    line("  replicas", std::to_string(options.ingest_log.replicas));
    line("  append_timeout", FormatDuration(options.ingest_log.append_timeout));
    line("  groups_in_flight", std::to_string(options.ingest_log.groups_in_flight));
    line("  max_bytes", std::to_string(options.ingest_log.max_bytes));
    line("  max_age", FormatDuration(options.ingest_log.max_age));
  }
  out += "ingest:\n";
  line("  max_future_skew", FormatDuration(options.limits.max_future_skew));
  line("  max_series_per_batch", std::to_string(options.limits.max_series_per_batch));
  line("  max_readings_per_batch", std::to_string(options.limits.max_readings_per_batch));
  line("  max_message_bytes", FormatByteSize(options.max_message_bytes));
  line("  max_buffered_bytes", FormatByteSize(options.max_buffered_bytes));
  line("  max_concurrent_streams", std::to_string(options.max_concurrent_streams));
  line("  stream_window", std::to_string(options.stream_window));
  line("registry_file", Quote(options.registry_file.string()));
  line("rules_file", Quote(options.rules_file.string()));
  out += "alarms:\n";
  line("  max_shelve", FormatDuration(options.max_shelve));
  line("  max_planned_work", FormatDuration(options.max_planned_work));
  line("  planned_work_red_breaks_through", options.planned_red_breaks_through ? "true" : "false");
  line("  heartbeat_interval", FormatDuration(options.heartbeat_interval));
  line("  memory_events", std::to_string(options.feed_memory_events));
  out += "alertmanager:\n";
  line("  url", Quote(options.alertmanager.url));
  line("  resend_interval", FormatDuration(options.alertmanager.resend_interval));
  line("  timeout", FormatDuration(options.alertmanager.timeout));
  line("  ca_file", Quote(options.alertmanager.ca_file.string()));
  line("  generator_url", Quote(options.alertmanager.generator_url));
  out += "auth:\n";
  if (!options.tokens_file.empty()) {
    // Not a key here: its tokens are among those listed below.
    out += "  # tokens_file: " + Quote(options.tokens_file.string()) + " (listed below)\n";
  }
  if (options.tokens.empty()) {
    line("  tokens", "[]");
  } else {
    out += "  tokens:\n";
    for (const AccessToken& t : options.tokens) {
      line("    - name", Quote(t.name));
      line("      sha256", Quote(Sha256Hex(t.sha256)));
      if (t.role == Role::kGateway) {
        line("      gateway", Quote(t.gateway_id));
      } else {
        line("      region", Quote(t.region_prefix));
      }
      line("      role", RoleName(t.role));
      if (t.expires_at_ms != 0) line("      expires", Quote(alarm::FormatTimeUtc(t.expires_at_ms)));
    }
  }
  out += "http:\n";
  line("  listen", Quote(options.http.listen));
  line("  max_body_bytes", FormatByteSize(options.http.max_body_bytes));
  line("  max_decompressed_bytes", FormatByteSize(options.http.max_decompressed_bytes));
  line("  max_connections", std::to_string(options.http.max_connections));
  line("  read_timeout", FormatDuration(options.http.read_timeout));
  line("  threads", std::to_string(options.http.threads));
  out += "  line_protocol:\n";
  line("    sensor_id", Quote(options.http.sensor_id_template));
  line("    max_fields_per_line", std::to_string(options.http.max_fields_per_line));
  out += "journal:\n";
  line("  signing_key_file", Quote(options.journal.signing_key_file.string()));
  line("  export_max_bytes", FormatByteSize(options.journal.export_max_bytes));
  out += "console:\n";
  line("  enabled", options.console.enabled ? "true" : "false");
  line("  listen", Quote(options.console.listen));
  line("  assets_dir", Quote(ConsoleAssetsDir(options.console).string()));
  line("  dygraphs_dir", Quote(options.console.dygraphs_dir.string()));
  line("  max_connections", std::to_string(options.console.max_connections));
  out += "mqtt:\n";
  line("  broker", Quote(options.mqtt.broker));
  line("  client_id", Quote(options.mqtt.client_id));
  line("  topic_prefix", Quote(options.mqtt.topic_prefix));
  line("  username", Quote(options.mqtt.username));
  line("  password_file", Quote(options.mqtt.password_file.string()));
  line("  ca_file", Quote(options.mqtt.ca_file.string()));
  line("  keepalive", FormatDuration(options.mqtt.keepalive));
  line("  reconnect_min", FormatDuration(options.mqtt.reconnect_min));
  line("  reconnect_max", FormatDuration(options.mqtt.reconnect_max));
  line("  max_payload_bytes", FormatByteSize(options.mqtt.max_payload_bytes));
  line("  ack_suffix", Quote(options.mqtt.ack_suffix));
  out += "limits:\n";
  line("  streams_per_identity", std::to_string(options.identity_limits.streams_per_identity));
  line("  readings_per_second", std::to_string(options.identity_limits.readings_per_second));
  line("  subscriptions_per_identity",
       std::to_string(options.identity_limits.subscriptions_per_identity));
  return out;
}

bool IsLoopbackListen(std::string_view listen) {
  const size_t colon = listen.rfind(':');
  const std::string_view host = listen.substr(0, colon);
  if (host == "localhost" || host == "[::1]") return true;
  // 127.0.0.0/8, written as a dotted quad.
  if (!host.starts_with("127.")) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

std::filesystem::path ConsoleAssetsDir(const ConsoleOptions& console) {
  return console.assets_dir.empty() ? std::filesystem::path(VIGIL_CONSOLE_ASSETS_DIR)
                                    : console.assets_dir;
}

alarm::Status CheckListenerSecurity(const ServerOptions& options) {
  // With server.tls on, the HTTP listeners speak HTTPS with its certificate.
  if (!options.http.listen.empty() && !options.tls.enabled && !options.allow_plaintext &&
      !IsLoopbackListen(options.http.listen)) {
    return Status::InvalidArgument(
        "http.listen: plain HTTP (tokens in clear) on the non-loopback address '" +
        options.http.listen +
        "': configure server.tls (then it speaks HTTPS), or put it behind a TLS proxy and set "
        "server.allow_plaintext: true to accept it knowingly");
  }
  if (options.console.enabled && !options.tls.enabled && !options.allow_plaintext &&
      !IsLoopbackListen(options.console.listen)) {
    return Status::InvalidArgument(
        "console.listen: plain HTTP (tokens in clear) on the non-loopback address '" +
        options.console.listen +
        "': configure server.tls (then it speaks HTTPS), or put it behind a TLS proxy and set "
        "server.allow_plaintext: true to accept it knowingly");
  }
  if (options.tls.enabled || options.allow_plaintext || IsLoopbackListen(options.listen)) {
    return Status::Ok();
  }
  return Status::InvalidArgument(
      "server.listen: plaintext gRPC on the non-loopback address '" + options.listen +
      "': configure server.tls (cert_file, key_file), or set server.allow_plaintext: true to "
      "accept it knowingly");
}

}  // namespace vigil::server
