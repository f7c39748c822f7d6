#include "server/config/config.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "server/config/registry_yaml.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

using namespace std::chrono_literals;

// "" on success, else the error message: REQUIRE(ErrorOf(r) == "") prints it.
template <class T>
std::string ErrorOf(const alarm::Result<T>& result) {
  return result ? std::string() : result.error().message();
}

void CheckSameOptions(const ServerOptions& a, const ServerOptions& b) {
  CHECK(a.listen == b.listen);
  CHECK(a.metrics_listen == b.metrics_listen);
  CHECK(a.shutdown_grace == b.shutdown_grace);
  CHECK(a.drain_delay == b.drain_delay);
  CHECK(a.shards == b.shards);
  CHECK(a.log_level == b.log_level);
  CHECK(a.data_dir == b.data_dir);
  CHECK(a.durability == b.durability);
  CHECK(a.chunk_max_readings == b.chunk_max_readings);
  CHECK(a.checkpoint_interval == b.checkpoint_interval);
  CHECK(a.limits.max_future_skew == b.limits.max_future_skew);
  CHECK(a.limits.raw_retention == b.limits.raw_retention);
  CHECK(a.stats_retention == b.stats_retention);
  CHECK(a.journal_retention == b.journal_retention);
  CHECK(a.limits.max_series_per_batch == b.limits.max_series_per_batch);
  CHECK(a.limits.max_readings_per_batch == b.limits.max_readings_per_batch);
  CHECK(a.max_message_bytes == b.max_message_bytes);
  CHECK(a.max_buffered_bytes == b.max_buffered_bytes);
  CHECK(a.max_concurrent_streams == b.max_concurrent_streams);
  CHECK(a.stream_window == b.stream_window);
  CHECK(a.registry_file == b.registry_file);
  CHECK(a.rules_file == b.rules_file);
  CHECK(a.journal.signing_key_file == b.journal.signing_key_file);
  CHECK(a.journal.export_max_bytes == b.journal.export_max_bytes);
}

alarm::Result<ServerOptions> Parse(const std::string& yaml) {
  return ParseConfigText(yaml, "vigil.yaml", "");
}

// The message of a config that must fail.
std::string ParseError(const std::string& yaml) {
  alarm::Result<ServerOptions> result = Parse(yaml);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code() == alarm::Status::Code::kInvalidArgument);
  return result.error().message();
}

alarm::Result<CommandLine> ParseArgs(std::vector<const char*> args) {
  args.insert(args.begin(), "vigild");
  return ParseCommandLine(static_cast<int>(args.size()), args.data());
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  REQUIRE(out.good());
}

constexpr const char* kEveryKey = R"(server:
  listen: "0.0.0.0:9000"
  metrics_listen: "0.0.0.0:9100"
  shutdown_grace: 250ms
  drain_delay: 3s
  shards: 4
  log_level: debug
storage:
  data_dir: /var/lib/vigil
  durability: fsync
  chunk_max_readings: 1024
  checkpoint_interval: 5m
  raw_retention: 30d
  stats_retention: 400d
  journal_retention: 2000d
ingest:
  max_future_skew: 2h
  max_series_per_batch: 500
  max_readings_per_batch: 7000
  max_message_bytes: 512KiB
  max_buffered_bytes: 64MiB
  max_concurrent_streams: 64
  stream_window: 16
registry_file: /etc/vigil/registry.yaml
rules_file: /etc/vigil/rules.yaml
journal:
  signing_key_file: /etc/vigil/journal-signing.pem
  export_max_bytes: 16MiB
)";

TEST_CASE("Config with no keys gives every default", "[server][config]") {
  const ServerOptions defaults;
  for (const char* text : {"", "# nothing set\n", "server:\nstorage:\ningest:\n"}) {
    CAPTURE(text);
    alarm::Result<ServerOptions> result = Parse(text);
    REQUIRE(ErrorOf(result) == "");
    CheckSameOptions(*result, defaults);
  }
}

TEST_CASE("Config parses every key", "[server][config]") {
  alarm::Result<ServerOptions> result = Parse(kEveryKey);
  REQUIRE(ErrorOf(result) == "");
  const ServerOptions& o = *result;
  CHECK(o.listen == "0.0.0.0:9000");
  CHECK(o.metrics_listen == "0.0.0.0:9100");
  CHECK(o.shutdown_grace == 250ms);
  CHECK(o.drain_delay == 3s);
  CHECK(o.shards == 4);
  CHECK(o.log_level == LogLevel::kDebug);
  CHECK(o.data_dir == "/var/lib/vigil");
  CHECK(o.durability == Durability::kFsync);
  CHECK(o.chunk_max_readings == 1024);
  CHECK(o.checkpoint_interval == 5min);
  CHECK(o.limits.raw_retention == 24h * 30);
  CHECK(o.stats_retention == 24h * 400);
  CHECK(o.journal_retention == 24h * 2000);
  CHECK(o.limits.max_future_skew == 2h);
  CHECK(o.limits.max_series_per_batch == 500);
  CHECK(o.limits.max_readings_per_batch == 7000);
  CHECK(o.max_message_bytes == 512u * 1024);
  CHECK(o.max_buffered_bytes == 64u << 20);
  CHECK(o.max_concurrent_streams == 64);
  CHECK(o.stream_window == 16);
  CHECK(o.registry_file == "/etc/vigil/registry.yaml");
  CHECK(o.rules_file == "/etc/vigil/rules.yaml");
  CHECK(o.journal.signing_key_file == "/etc/vigil/journal-signing.pem");
  CHECK(o.journal.export_max_bytes == 16u << 20);

  SECTION("sizes may be plain byte counts") {
    alarm::Result<ServerOptions> plain = Parse("ingest:\n  max_message_bytes: 2048\n");
    REQUIRE(ErrorOf(plain) == "");
    CHECK(plain->max_message_bytes == 2048);
  }
  SECTION("listen accepts a bracketed IPv6 host and port 0") {
    alarm::Result<ServerOptions> v6 = Parse("server:\n  listen: \"[::1]:0\"\n");
    REQUIRE(ErrorOf(v6) == "");
    CHECK(v6->listen == "[::1]:0");
  }
}

TEST_CASE("Config errors name source, line, column and key", "[server][config]") {
  SECTION("bad YAML syntax") {
    CHECK(ParseError("server:\n  listen: [a, b\n") ==
          "vigil.yaml:3:1: invalid YAML: end of sequence flow not found");
  }
  SECTION("unknown key, with a hint") {
    CHECK(ParseError("server:\n  lisen: \"1.2.3.4:5\"\n") ==
          "vigil.yaml:2:3: server.lisen: unknown key (did you mean 'listen'?)");
    CHECK(ParseError("registry_file: r.yaml\nfoo: 1\n") == "vigil.yaml:2:1: foo: unknown key");
  }
  SECTION("key given twice") {
    CHECK(ParseError("server:\n  shards: 1\n  shards: 2\n") ==
          "vigil.yaml:3:3: server.shards: key given twice");
  }
  SECTION("wrong type") {
    CHECK(ParseError("server:\n  shards: four\n") ==
          "vigil.yaml:2:11: server.shards: expected an integer, got 'four'");
    CHECK(ParseError("storage: fast\n") ==
          "vigil.yaml:1:10: storage: expected a mapping, got 'fast'");
    CHECK(ParseError("server:\n  listen: [a]\n") ==
          "vigil.yaml:2:11: server.listen: expected a string, got a list");
    CHECK(ParseError("? [a]\n: b\n") == "vigil.yaml:1:3: keys must be plain strings");
    CHECK(ParseError("- a\n") ==
          "vigil.yaml:1:1: expected a mapping of config keys at the top level");
  }
  SECTION("empty value points at the key") {
    CHECK(ParseError("server:\n  shards:\n  log_level: info\n") ==
          "vigil.yaml:2:3: server.shards: expected an integer, got nothing");
  }
  SECTION("bad duration") {
    CHECK(ParseError("server:\n  shutdown_grace: 10 seconds\n") ==
          "vigil.yaml:2:19: server.shutdown_grace: expected a duration like 250ms, 10s, 5m, 2h "
          "or 90d, got '10 seconds'");
    CHECK(ParseError("ingest:\n  max_future_skew: 300\n") ==
          "vigil.yaml:2:20: ingest.max_future_skew: expected a duration like 250ms, 10s, 5m, 2h "
          "or 90d, got '300'");
  }
  SECTION("bad size") {
    CHECK(ParseError("ingest:\n  max_message_bytes: 16MB\n") ==
          "vigil.yaml:2:22: ingest.max_message_bytes: expected a size in bytes like 1048576, "
          "512KiB or 16MiB, got '16MB'");
  }
  SECTION("out of range") {
    CHECK(ParseError("ingest:\n  stream_window: 0\n") ==
          "vigil.yaml:2:18: ingest.stream_window: must be between 1 and 1024, got '0'");
    CHECK(ParseError("ingest:\n  stream_window: 1025\n") ==
          "vigil.yaml:2:18: ingest.stream_window: must be between 1 and 1024, got '1025'");
    CHECK(ParseError("server:\n  shards: 257\n") ==
          "vigil.yaml:2:11: server.shards: must be between 0 and 256, got '257'");
    CHECK(ParseError("server:\n  shards: -1\n") ==
          "vigil.yaml:2:11: server.shards: must be between 0 and 256, got '-1'");
    CHECK(ParseError("storage:\n  chunk_max_readings: 15\n") ==
          "vigil.yaml:2:23: storage.chunk_max_readings: must be between 16 and 65535, got '15'");
    CHECK(ParseError("storage:\n  checkpoint_interval: 999ms\n") ==
          "vigil.yaml:2:24: storage.checkpoint_interval: must be at least 1s, got '999ms'");
    CHECK(ParseError("storage:\n  raw_retention: 0d\n") ==
          "vigil.yaml:2:18: storage.raw_retention: must be positive, got '0d'");
    CHECK(ParseError("storage:\n  stats_retention: 0s\n") ==
          "vigil.yaml:2:20: storage.stats_retention: must be positive, got '0s'");
    CHECK(ParseError("storage:\n  journal_retention: 1y\n") ==
          "vigil.yaml:2:22: storage.journal_retention: expected a duration like 250ms, 10s, 5m, "
          "2h or 90d, got '1y'");
    CHECK(ParseError("ingest:\n  max_future_skew: 36501d\n") ==
          "vigil.yaml:2:20: ingest.max_future_skew: must be at most 36500d, got '36501d'");
    CHECK(ParseError("ingest:\n  max_series_per_batch: 0\n") ==
          "vigil.yaml:2:25: ingest.max_series_per_batch: must be at least 1, got '0'");
    CHECK(ParseError("ingest:\n  max_readings_per_batch: 4294967296\n") ==
          "vigil.yaml:2:27: ingest.max_readings_per_batch: must be at least 1, got '4294967296'");
    CHECK(ParseError("ingest:\n  max_concurrent_streams: 0\n") ==
          "vigil.yaml:2:27: ingest.max_concurrent_streams: must be at least 1, got '0'");
    CHECK(ParseError("ingest:\n  max_message_bytes: 1023\n") ==
          "vigil.yaml:2:22: ingest.max_message_bytes: must be between 1KiB and 256MiB, got '1023'");
    CHECK(ParseError("ingest:\n  max_message_bytes: 257MiB\n") ==
          "vigil.yaml:2:22: ingest.max_message_bytes: must be between 1KiB and 256MiB, got "
          "'257MiB'");
  }
  SECTION("listen must be host:port") {
    for (const char* bad :
         {"localhost", ":7070", "localhost:", "host:70000", "::1:7070", "host:12ab"}) {
      CAPTURE(bad);
      CHECK_THAT(ParseError(std::string("server:\n  listen: \"") + bad + "\"\n"),
                 Catch::StartsWith("vigil.yaml:2:11: server.listen: "));
    }
  }
  SECTION("bad durability, as in the manual") {
    CHECK(ParseError("# Vigil\n"
                     "server:\n"
                     "  listen: \"127.0.0.1:7070\"\n"
                     "  shards: 2\n"
                     "storage:\n"
                     "  data_dir: /data\n"
                     "  durability: sometimes\n") ==
          "vigil.yaml:7:15: storage.durability: must be 'wal' or 'fsync', got 'sometimes'");
  }
  SECTION("bad log level, empty data_dir") {
    CHECK(ParseError("server:\n  log_level: loud\n") ==
          "vigil.yaml:2:14: server.log_level: must be one of debug, info, warn, error, got 'loud'");
    CHECK(ParseError("storage:\n  data_dir: \"\"\n") ==
          "vigil.yaml:2:13: storage.data_dir: must not be empty");
  }
}

TEST_CASE("ParseDuration takes an integer and a unit", "[server][config]") {
  CHECK(*ParseDuration("250ms") == 250ms);
  CHECK(*ParseDuration("10s") == 10s);
  CHECK(*ParseDuration("5m") == 5min);
  CHECK(*ParseDuration("2h") == 2h);
  CHECK(*ParseDuration("90d") == 24h * 90);
  CHECK(*ParseDuration("0s") == 0ms);
  for (const char* bad : {"", "10", "s", "-5s", "1.5s", "10 s", "10sec", "5M", " 5s", "+5s"}) {
    CAPTURE(bad);
    alarm::Result<std::chrono::milliseconds> result = ParseDuration(bad);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code() == alarm::Status::Code::kInvalidArgument);
  }
  CHECK(ErrorOf(ParseDuration("9999999999999999999d")) ==
        "duration '9999999999999999999d' is too large");
  CHECK(ErrorOf(ParseDuration("200000000000000d")) == "duration '200000000000000d' is too large");
}

TEST_CASE("FormatDuration uses the largest exact unit", "[server][config]") {
  CHECK(FormatDuration(24h * 90) == "90d");
  CHECK(FormatDuration(48h) == "2d");
  CHECK(FormatDuration(25h) == "25h");
  CHECK(FormatDuration(60s) == "1m");
  CHECK(FormatDuration(90s) == "90s");
  CHECK(FormatDuration(1500ms) == "1500ms");
  CHECK(FormatDuration(0ms) == "0s");
}

TEST_CASE("ParseCommandLine accepts both flag forms", "[server][config]") {
  SECTION("--flag VALUE") {
    alarm::Result<CommandLine> cmd = ParseArgs({"--config", "/etc/vigil/vigil.yaml", "--listen",
                                                "0.0.0.0:7070", "--data-dir", "/srv/vigil"});
    REQUIRE(ErrorOf(cmd) == "");
    CHECK(cmd->config_file == "/etc/vigil/vigil.yaml");
    CHECK(cmd->listen == "0.0.0.0:7070");
    CHECK(cmd->data_dir == std::filesystem::path("/srv/vigil"));
    CHECK_FALSE(cmd->check_config);
    CHECK_FALSE(cmd->version);
    CHECK_FALSE(cmd->help);
  }
  SECTION("--flag=VALUE and switches") {
    alarm::Result<CommandLine> cmd =
        ParseArgs({"--config=vigil.yaml", "--listen=[::1]:0", "--data-dir=d", "--check-config"});
    REQUIRE(ErrorOf(cmd) == "");
    CHECK(cmd->config_file == "vigil.yaml");
    CHECK(cmd->listen == "[::1]:0");
    CHECK(cmd->data_dir == std::filesystem::path("d"));
    CHECK(cmd->check_config);
  }
  SECTION("no flags") {
    alarm::Result<CommandLine> cmd = ParseArgs({});
    REQUIRE(ErrorOf(cmd) == "");
    CHECK(cmd->config_file.empty());
    CHECK_FALSE(cmd->listen.has_value());
    CHECK_FALSE(cmd->data_dir.has_value());
  }
  SECTION("help and version") {
    CHECK(ParseArgs({"-h"})->help);
    CHECK(ParseArgs({"--help"})->help);
    CHECK(ParseArgs({"--version"})->version);
  }
  SECTION("the last of a repeated flag wins") {
    CHECK(ParseArgs({"--listen", "a:1", "--listen=b:2"})->listen == "b:2");
  }
}

TEST_CASE("ParseCommandLine rejects bad arguments", "[server][config]") {
  CHECK(ErrorOf(ParseArgs({"--lisen", "a:1"})) ==
        "unknown flag '--lisen' (did you mean '--listen'?)");
  CHECK(ErrorOf(ParseArgs({"--frobnicate=1"})) == "unknown flag '--frobnicate'");
  CHECK(ErrorOf(ParseArgs({"-x"})) == "unknown flag '-x'");
  // The messages below are CLI11's.
  CHECK(ErrorOf(ParseArgs({"--config"})) == "--config: 1 required FILE missing");
  CHECK(ErrorOf(ParseArgs({"--listen", "--check-config"})) ==
        "--listen: missing value (got the flag '--check-config')");
  CHECK(ErrorOf(ParseArgs({"--config", "--data-dir=x"})) ==
        "--config: missing value (got the flag '--data-dir=x')");
  CHECK(ErrorOf(ParseArgs({"--data-dir="})) == "--data-dir: 1 required DIR missing");
  CHECK(ErrorOf(ParseArgs({"--help=yes"})) == "help was given a disallowed flag override");
  CHECK(ErrorOf(ParseArgs({"--check-config=no"})) ==
        "check-config was given a disallowed flag override");
  CHECK(ErrorOf(ParseArgs({"vigil.yaml"})) ==
        "unexpected argument 'vigil.yaml': vigild takes flags only");
  CHECK_THAT(ErrorOf(ParseArgs({"--listen", "7070"})),
             Catch::StartsWith("--listen: must be host:port"));
  CHECK(ParseArgs({"--config"}).error().code() == alarm::Status::Code::kInvalidArgument);
}

TEST_CASE("UsageText lists every flag", "[server][config]") {
  const std::string usage = UsageText();
  for (const char* flag :
       {"--config FILE", "--listen HOST:PORT", "--metrics-listen HOST:PORT", "--data-dir DIR",
        "--check-config", "--version", "-h,--help", "Exit codes:"}) {
    CAPTURE(flag);
    CHECK_THAT(usage, Catch::Contains(flag));
  }
}

TEST_CASE("Flags override the config file", "[server][config]") {
  alarm::Result<ServerOptions> options = Parse(kEveryKey);
  REQUIRE(ErrorOf(options) == "");

  SECTION("given flags win") {
    alarm::Result<CommandLine> cmd = ParseArgs({"--listen", "127.0.0.1:0", "--data-dir", "/tmp/v"});
    REQUIRE(ErrorOf(cmd) == "");
    ApplyCommandLine(*cmd, &*options);
    CHECK(options->listen == "127.0.0.1:0");
    CHECK(options->data_dir == "/tmp/v");
    CHECK(options->shards == 4);  // Untouched.
  }
  SECTION("absent flags keep the file's values") {
    alarm::Result<CommandLine> cmd = ParseArgs({"--check-config"});
    REQUIRE(ErrorOf(cmd) == "");
    ApplyCommandLine(*cmd, &*options);
    CHECK(options->listen == "0.0.0.0:9000");
    CHECK(options->data_dir == "/var/lib/vigil");
  }
}

TEST_CASE("FormatEffectiveConfig parses back to the same options", "[server][config]") {
  SECTION("defaults") {
    const ServerOptions defaults;
    const std::string text = FormatEffectiveConfig(defaults);
    CHECK_THAT(text, Catch::Contains("  checkpoint_interval: 1m\n"));
    CHECK_THAT(text, Catch::Contains("  raw_retention: 90d\n"));
    CHECK_THAT(text, Catch::Contains("  stats_retention: 1095d\n"));
    CHECK_THAT(text, Catch::Contains("  journal_retention: 1095d\n"));
    CHECK_THAT(text, Catch::Contains("  max_message_bytes: 16MiB\n"));
    CHECK_THAT(text, Catch::Contains("registry_file: \"\"\n"));
    alarm::Result<ServerOptions> back = Parse(text);
    REQUIRE(ErrorOf(back) == "");
    CheckSameOptions(*back, defaults);
  }
  SECTION("every key changed, awkward strings") {
    alarm::Result<ServerOptions> options = Parse(kEveryKey);
    REQUIRE(ErrorOf(options) == "");
    options->data_dir = "dir with \"quotes\", a \\ and: colon\t#";
    options->max_message_bytes = 1025;
    options->shutdown_grace = 1500ms;
    options->log_level = LogLevel::kWarn;
    alarm::Result<ServerOptions> back = Parse(FormatEffectiveConfig(*options));
    REQUIRE(ErrorOf(back) == "");
    CheckSameOptions(*back, *options);
    options->log_level = LogLevel::kError;
    back = Parse(FormatEffectiveConfig(*options));
    REQUIRE(ErrorOf(back) == "");
    CHECK(back->log_level == LogLevel::kError);
  }
}

TEST_CASE("registry_file is relative to the config file's folder", "[server][config]") {
  testing::TempDir dir;
  std::filesystem::create_directory(dir / "etc");

  SECTION("relative") {
    WriteFile(dir / "etc" / "vigil.yaml", "registry_file: plants/registry.yaml\n");
    alarm::Result<ServerOptions> options = LoadConfigFile(dir / "etc" / "vigil.yaml");
    REQUIRE(ErrorOf(options) == "");
    CHECK(options->registry_file == dir.path() / "etc" / "plants" / "registry.yaml");
  }
  SECTION("absolute stays as written") {
    WriteFile(dir / "etc" / "vigil.yaml", "registry_file: /opt/registry.yaml\n");
    alarm::Result<ServerOptions> options = LoadConfigFile(dir / "etc" / "vigil.yaml");
    REQUIRE(ErrorOf(options) == "");
    CHECK(options->registry_file == "/opt/registry.yaml");
  }
  SECTION("ParseConfigText uses base_dir") {
    alarm::Result<ServerOptions> options =
        ParseConfigText("registry_file: r.yaml\n", "x.yaml", "/etc/vigil");
    REQUIRE(ErrorOf(options) == "");
    CHECK(options->registry_file == "/etc/vigil/r.yaml");
  }
  SECTION("errors from a file carry its path") {
    const std::filesystem::path path = dir / "etc" / "vigil.yaml";
    WriteFile(path, "server:\n  shards: many\n");
    CHECK(ErrorOf(LoadConfigFile(path)) ==
          path.string() + ":2:11: server.shards: expected an integer, got 'many'");
  }
  SECTION("an unreadable file is an I/O error naming the path") {
    alarm::Result<ServerOptions> options = LoadConfigFile(dir / "missing.yaml");
    REQUIRE_FALSE(options.has_value());
    CHECK(options.error().code() == alarm::Status::Code::kIOError);
    CHECK_THAT(options.error().message(), Catch::StartsWith((dir / "missing.yaml").string()));
  }
}

TEST_CASE("Sample deploy/vigil.yaml holds every default and its registry parses",
          "[server][config]") {
  const std::filesystem::path deploy = std::filesystem::path(VIGIL_SOURCE_DIR) / "deploy";
  alarm::Result<ServerOptions> options = LoadConfigFile(deploy / "vigil.yaml");
  REQUIRE(ErrorOf(options) == "");

  ServerOptions expected;
  expected.registry_file = deploy / "registry.yaml";
  expected.rules_file = deploy / "rules.yaml";
  CHECK(options->data_dir.lexically_normal() == expected.data_dir);
  options->data_dir = expected.data_dir;  // The sample writes ./vigil-data.
  CheckSameOptions(*options, expected);

  alarm::Result<alarm::RegistryEntries> registry = LoadRegistryFile(options->registry_file);
  REQUIRE(ErrorOf(registry) == "");
  CHECK_FALSE(registry->enterprises.empty());
}

}  // namespace
}  // namespace vigil::server

namespace vigil::server {
namespace {

TEST_CASE("Config: TLS, plaintext policy, gateway tokens, expiry and limits", "[server][config]") {
  SECTION("tls off by default, a mapping turns it on with paths relative to the config") {
    CHECK_FALSE(ServerOptions{}.tls.enabled);
    alarm::Result<ServerOptions> o = ParseConfigText(R"(server:
  tls:
    cert_file: tls/server.crt
    key_file: /etc/vigil/server.key
    client_ca_file: tls/gateways-ca.crt
    require_client_cert: true
    refresh_interval: 2s
  allow_plaintext: true
limits:
  streams_per_identity: 3
  readings_per_second: 5000
  subscriptions_per_identity: 2
)",
                                                     "vigil.yaml", "/etc/vigil");
    REQUIRE(ErrorOf(o) == "");
    CHECK(o->tls.enabled);
    CHECK(o->tls.cert_file == "/etc/vigil/tls/server.crt");
    CHECK(o->tls.key_file == "/etc/vigil/server.key");
    CHECK(o->tls.client_ca_file == "/etc/vigil/tls/gateways-ca.crt");
    CHECK(o->tls.require_client_cert);
    CHECK(o->tls.refresh_interval == std::chrono::seconds(2));
    CHECK(o->allow_plaintext);
    CHECK(o->identity_limits.streams_per_identity == 3);
    CHECK(o->identity_limits.readings_per_second == 5000);
    CHECK(o->identity_limits.subscriptions_per_identity == 2);
    alarm::Result<ServerOptions> back = Parse(FormatEffectiveConfig(*o));
    REQUIRE(ErrorOf(back) == "");
    CHECK(back->tls == o->tls);
    CHECK(back->allow_plaintext == o->allow_plaintext);
    CHECK(back->identity_limits == o->identity_limits);
  }
  SECTION("tls: off is accepted; bad tls configs name the problem") {
    alarm::Result<ServerOptions> off = Parse("server:\n  tls: off\n");
    REQUIRE(ErrorOf(off) == "");
    CHECK_FALSE(off->tls.enabled);
    CHECK(ParseError("server:\n  tls: on\n")
              .ends_with("server.tls: must be 'off' or a mapping with cert_file and key_file, "
                         "got 'on'"));
    CHECK(ParseError("server:\n  tls:\n    cert_file: a.crt\n")
              .ends_with("server.tls: key_file is required"));
    CHECK(ParseError("server:\n  tls: { cert_file: a, key_file: b, require_client_cert: true }\n")
              .ends_with("server.tls: require_client_cert needs client_ca_file"));
    CHECK(ParseError("server:\n  tls: { cert_file: a, key_file: b, refresh_interval: 1500ms }\n")
              .ends_with("must be whole seconds, 1s .. 24h, got '1500ms'"));
  }
  SECTION("plaintext is refused on a non-loopback address unless allowed") {
    ServerOptions o;
    CHECK(CheckListenerSecurity(o).ok());  // 127.0.0.1:7070
    for (const char* loopback : {"localhost:1", "[::1]:7070", "127.1.2.3:0"}) {
      o.listen = loopback;
      CHECK(CheckListenerSecurity(o).ok());
    }
    for (const char* open : {"0.0.0.0:7070", "[::]:7070", "10.0.0.5:7070", "127.example:1"}) {
      o.listen = open;
      CAPTURE(open);
      CHECK(CheckListenerSecurity(o).code() == alarm::Status::Code::kInvalidArgument);
    }
    o.allow_plaintext = true;
    CHECK(CheckListenerSecurity(o).ok());
    o.allow_plaintext = false;
    o.tls.enabled = true;
    CHECK(CheckListenerSecurity(o).ok());
  }
  SECTION("gateway tokens are bound to a gateway, and tokens may expire") {
    alarm::Result<ServerOptions> o = Parse(R"(auth:
  tokens:
    - { name: gw-1, role: gateway, gateway: gw-1,
        sha256: 94beec19424be60cbfc16ea69f423ad548b050b894a35cb694f8cea5d2b27d0f }
    - { name: temp, role: viewer, region: "37", expires: 2030-01-02,
        sha256: 603084eb1c2adcf943ecb786943d038aebed40cd836e95cb3a3cc463d6b870a9 }
    - { name: until, role: admin, expires: "2030-01-02T03:04:05Z",
        sha256: fc401e057090bad46954b888bd3c5dce3592be70219472760854482c347185b7 }
)");
    REQUIRE(ErrorOf(o) == "");
    REQUIRE(o->tokens.size() == 3);
    CHECK(o->tokens[0].role == Role::kGateway);
    CHECK(o->tokens[0].gateway_id == "gw-1");
    CHECK(o->tokens[0].expires_at_ms == 0);
    CHECK(o->tokens[1].expires_at_ms == 1'893'542'400'000);
    CHECK(o->tokens[2].expires_at_ms == 1'893'553'445'000);
    alarm::Result<ServerOptions> back = Parse(FormatEffectiveConfig(*o));
    REQUIRE(ErrorOf(back) == "");
    CHECK(back->tokens == o->tokens);

    const std::string sha =
        "sha256: 94beec19424be60cbfc16ea69f423ad548b050b894a35cb694f8cea5d2b27d0f";
    CHECK(ParseError("auth:\n  tokens:\n    - { name: g, role: gateway, " + sha + " }\n")
              .ends_with("a gateway token needs 'gateway: <gateway id>'"));
    CHECK(ParseError("auth:\n  tokens:\n    - { name: g, role: gateway, gateway: x, region: "
                     "\"37\", " +
                     sha + " }\n")
              .ends_with("a gateway token has no region (its gateway's enterprise has one)"));
    CHECK(ParseError("auth:\n  tokens:\n    - { name: g, role: viewer, gateway: x, " + sha + " }\n")
              .ends_with("'gateway' is for role gateway only"));
    CHECK(ParseError("auth:\n  tokens:\n    - { name: g, expires: 2030-02-30, " + sha + " }\n")
              .ends_with("expires: no such date 2030-02-30 in '2030-02-30'"));
  }
}

}  // namespace
}  // namespace vigil::server

namespace vigil::server {
namespace {

TEST_CASE("Config: auth.tokens_file adds the tokens of a separate file, errors name that file",
          "[server][config]") {
  testing::TempDir dir;
  std::ofstream(dir / "tokens.yaml")
      << "- { name: national-ops, role: admin, region: \"\",\n"
         "    sha256: 94beec19424be60cbfc16ea69f423ad548b050b894a35cb694f8cea5d2b27d0f }\n";
  const std::string config =
      "auth:\n  tokens:\n    - { name: jinan, role: operator, region: \"3701\",\n"
      "        sha256: 603084eb1c2adcf943ecb786943d038aebed40cd836e95cb3a3cc463d6b870a9 }\n"
      "  tokens_file: tokens.yaml\n";
  auto o = ParseConfigText(config, "vigil.yaml", dir.path());
  REQUIRE(o.has_value());
  REQUIRE(o->tokens.size() == 2);
  CHECK(o->tokens[0].name == "jinan");
  CHECK(o->tokens[1].name == "national-ops");
  CHECK(o->tokens[1].role == Role::kAdmin);
  CHECK(o->tokens_file == dir / "tokens.yaml");

  SECTION("a bad entry: the tokens file's name, line and column") {
    std::ofstream(dir / "tokens.yaml", std::ios::trunc)
        << "- { name: a, role: admin, sha256: 94beec19424be60cbfc16ea69f423ad548b050b894a35cb694f"
           "8cea5d2b27d0f }\n- { name: b, role: boss, sha256: 00 }\n";
    auto bad = ParseConfigText(config, "vigil.yaml", dir.path());
    REQUIRE_FALSE(bad.has_value());
    CHECK_THAT(bad.error().message(), Catch::StartsWith((dir / "tokens.yaml").string() + ":2:") &&
                                          Catch::Contains("tokens[1]"));
  }
  SECTION("the same token in both places") {
    std::ofstream(dir / "tokens.yaml", std::ios::trunc)
        << "- { name: again, role: viewer, region: \"37\",\n"
           "    sha256: 603084eb1c2adcf943ecb786943d038aebed40cd836e95cb3a3cc463d6b870a9 }\n";
    auto twice = ParseConfigText(config, "vigil.yaml", dir.path());
    REQUIRE_FALSE(twice.has_value());
    CHECK_THAT(twice.error().message(), Catch::Contains("the same token twice"));
  }
  SECTION("a missing file names it") {
    std::filesystem::remove(dir / "tokens.yaml");
    auto missing = ParseConfigText(config, "vigil.yaml", dir.path());
    REQUIRE_FALSE(missing.has_value());
    CHECK_THAT(missing.error().message(),
               Catch::StartsWith("vigil.yaml:5:16: auth.tokens_file: ") &&
                   Catch::Contains("tokens.yaml: cannot open"));
  }
}

}  // namespace
}  // namespace vigil::server

namespace vigil::server {
namespace {

TEST_CASE("Config: ingest_log on JetStream, its checks and its effective config",
          "[server][config]") {
  using Backend = IngestLogOptions::Backend;
  alarm::Result<ServerOptions> options = Parse(
      "ingest_log:\n  backend: jetstream\n"
      "  nats_urls: [\"nats://10.0.0.1:4222\", \"tls://10.0.0.2:4222\"]\n"
      "  stream: PROVINCE_37\n  partition: 5\n  replicas: 3\n  append_timeout: 2500ms\n"
      "  groups_in_flight: 16\n  max_bytes: 100GiB\n  max_age: 7d\n");
  REQUIRE(options.has_value());
  CHECK(options->ingest_log.backend == Backend::kJetStream);
  CHECK(options->ingest_log.nats_urls ==
        std::vector<std::string>{"nats://10.0.0.1:4222", "tls://10.0.0.2:4222"});
  CHECK(options->ingest_log.stream == "PROVINCE_37");
  CHECK(options->ingest_log.partition == 5);
  CHECK(options->ingest_log.replicas == 3);
  CHECK(options->ingest_log.append_timeout == std::chrono::milliseconds(2500));
  CHECK(options->ingest_log.groups_in_flight == 16);
  CHECK(ServerOptions().ingest_log.groups_in_flight == 4);
  CHECK(options->ingest_log.max_bytes == int64_t{100} << 30);
  CHECK(options->ingest_log.max_age == std::chrono::hours(24 * 7));
  alarm::Result<ServerOptions> back = Parse(FormatEffectiveConfig(*options));
  REQUIRE(back.has_value());
  CHECK(back->ingest_log == options->ingest_log);
  CHECK(ServerOptions().ingest_log.backend == Backend::kRocksDb);

  auto error = [](const std::string& yaml) { return ErrorOf(Parse(yaml)); };
  CHECK_THAT(error("ingest_log: { backend: jetstream }\n"), Catch::Contains("nats_urls"));
  CHECK_THAT(error("ingest_log: { backend: kafka }\n"), Catch::Contains("rocksdb"));
  CHECK_THAT(error("ingest_log: { nats_urls: [\"http://x:1\"] }\n"), Catch::Contains("nats://"));
  CHECK_THAT(error("ingest_log: { stream: \"a.b\" }\n"), Catch::Contains("stream name"));
  CHECK_THAT(error("ingest_log: { replicas: 7 }\n"), Catch::Contains("replicas"));
  CHECK_THAT(error("ingest_log: { max_bytes: lots }\n"), Catch::Contains("size"));
  CHECK_THAT(error("ingest_log: { groups_in_flight: 0 }\n"), Catch::Contains("groups_in_flight"));
}

}  // namespace
}  // namespace vigil::server
