// vigild's start-up configuration: command-line flags, the YAML config file
// (see deploy/vigil.yaml) and the effective config printed by --check-config.
// Free functions on plain values; none keeps state, so any thread may call
// them. Used at start-up and by --check-config, never on the data path.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "alarm/status.h"
#include "alarm/time_text.h"
#include "server/config/options.h"

namespace vigil::server {

// What was given on the command line. Fields left unset keep the config
// file's value (or the default).
struct CommandLine {
  // --config FILE. Empty: no file, built-in defaults.
  std::filesystem::path config_file;
  // --listen HOST:PORT; overrides server.listen. Already checked to be host:port.
  std::optional<std::string> listen;
  // --metrics-listen HOST:PORT; overrides server.metrics_listen.
  std::optional<std::string> metrics_listen;
  // --http-listen HOST:PORT; overrides http.listen ("" turns it off).
  std::optional<std::string> http_listen;
  // --data-dir DIR; overrides storage.data_dir.
  std::optional<std::filesystem::path> data_dir;
  // --check-config: validate config and registry, print the effective config, exit.
  bool check_config = false;
  // --version.
  bool version = false;
  // --help or -h.
  bool help = false;
};

// Parses argv[1..argc). Accepts "--flag VALUE" and "--flag=VALUE"; a flag
// given twice keeps the last value. A value may not be empty, and in the
// separate form may not start with '-' (use --flag=VALUE for such a value).
// Errors (kInvalidArgument): unknown flag, missing or empty value, a value
// given to a switch (--help=x), a stray positional argument, --listen not
// host:port.
alarm::Result<CommandLine> ParseCommandLine(int argc, const char* const* argv);

// The --help text: usage line and every flag, one per line.
std::string UsageText();

// Parses the YAML config text `yaml`. Keys left out keep their ServerOptions
// default; an empty document gives all defaults. A relative registry_file is
// resolved against `base_dir` (base_dir / registry_file); other paths are kept
// as written. Errors (kInvalidArgument) read
// "<source_name>:<line>:<column>: <key path>: <reason>", e.g.
// "vigil.yaml:7:15: storage.durability: must be 'wal' or 'fsync', got 'sometimes'",
// and report the first problem found: YAML syntax, unknown or duplicate key,
// wrong type, bad duration or size, value out of range.
alarm::Result<ServerOptions> ParseConfigText(std::string_view yaml, const std::string& source_name,
                                             const std::filesystem::path& base_dir);

// Reads `path` and parses it with ParseConfigText (source name = `path` as
// given, base_dir = its folder). Errors: kIOError naming the path when the
// file cannot be read; otherwise those of ParseConfigText.
alarm::Result<ServerOptions> LoadConfigFile(const std::filesystem::path& path);

// Copies the flags that were given into *options: flags win over the file.
void ApplyCommandLine(const CommandLine& cmd, ServerOptions* options);

// `options` as a YAML config listing every key, durations in the largest
// exact unit ("90d", "1m"), max_message_bytes in the largest exact binary unit
// ("16MiB"). ParseConfigText of the result with an empty base_dir (or with any
// base_dir when registry_file is absolute or empty) equals `options`.
std::string FormatEffectiveConfig(const ServerOptions& options);

// Whether the host of `listen` (host:port) is a loopback address: localhost,
// 127.0.0.0/8 or [::1].
bool IsLoopbackListen(std::string_view listen);

// The folder the console's page is read from: console.assets_dir, or the
// installed tree (<prefix>/share/vigil/console) when that is "".
std::filesystem::path ConsoleAssetsDir(const ConsoleOptions& console);

// The transport policy, checked after the flags are applied: with TLS off,
// plaintext is refused on a non-loopback listen address unless
// server.allow_plaintext is true (kInvalidArgument naming the keys).
alarm::Status CheckListenerSecurity(const ServerOptions& options);

// Durations in config, registry and rules files: alarm/time_text.h, the one
// parser vigilctl and the bench tools use too.
using alarm::FormatDuration;
using alarm::ParseDuration;

}  // namespace vigil::server
