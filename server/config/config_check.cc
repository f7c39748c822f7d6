#include "server/config/config_check.h"

#include <memory>
#include <utility>

#include "alarm/registry.h"
#include "alarm/rule_set.h"
#include "server/config/config.h"
#include "server/config/registry_yaml.h"
#include "server/config/rules_yaml.h"
#include "server/config/signing_key.h"
#include "server/config/text_input.h"

namespace vigil::server {

using alarm::Status;

namespace {

// "rules_file: <message>": the message names the path already; the key says
// which setting points at it.
Status Named(std::string_view key, const Status& s) {
  const std::string message = std::string(key) + ": " + s.message();
  return s.code() == Status::Code::kIOError ? Status::IOError(message)
                                            : Status::InvalidArgument(message);
}

}  // namespace

alarm::Result<ConfigFilesSummary> CheckConfigFiles(const ServerOptions& options,
                                                   bool against_registry) {
  ConfigFilesSummary summary;
  if (!options.alertmanager.ca_file.empty()) {
    auto ca = ReadTextFile(options.alertmanager.ca_file);
    if (!ca) return Named("alertmanager.ca_file", ca.error());
    if (ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Status::InvalidArgument(
          "alertmanager.ca_file: " + options.alertmanager.ca_file.string() +
          ": no PEM certificate in it");
    }
  }
  if (!options.journal.signing_key_file.empty()) {
    auto key = SigningKey::Load(options.journal.signing_key_file);
    if (!key) return Named("journal.signing_key_file", key.error());
  }
  // The NATS client reads these at start; a missing one should fail here.
  const std::pair<const char*, const std::filesystem::path*> nats_files[] = {
      {"ingest_log.nats_credentials_file", &options.ingest_log.nats_credentials_file},
      {"ingest_log.nats_tls_ca_file", &options.ingest_log.nats_tls_ca_file},
      {"ingest_log.nats_tls_cert_file", &options.ingest_log.nats_tls_cert_file},
      {"ingest_log.nats_tls_key_file", &options.ingest_log.nats_tls_key_file}};
  if (options.ingest_log.backend == IngestLogOptions::Backend::kJetStream) {
    for (const auto& [key, path] : nats_files) {
      if (path->empty()) continue;
      auto text = ReadTextFile(*path);
      if (!text) return Named(key, text.error());
    }
  }
  // The MQTT client reads these at start; a missing one should fail here.
  if (!options.mqtt.broker.empty()) {
    if (!options.mqtt.password_file.empty()) {
      auto text = ReadTextFile(options.mqtt.password_file);
      if (!text) return Named("mqtt.password_file", text.error());
      if (text->empty() || text->front() == '\n') {
        return Status::InvalidArgument(
            "mqtt.password_file: " + options.mqtt.password_file.string() +
            ": its first line (the password) is empty");
      }
    }
    if (!options.mqtt.ca_file.empty()) {
      auto ca = ReadTextFile(options.mqtt.ca_file);
      if (!ca) return Named("mqtt.ca_file", ca.error());
      if (ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        return Status::InvalidArgument("mqtt.ca_file: " + options.mqtt.ca_file.string() +
                                       ": no PEM certificate in it");
      }
    }
  }
  // The console's page: vigild reads these at start.
  if (options.console.enabled) {
    for (const char* name : {"index.html", "console.js", "console.css"}) {
      auto text = ReadTextFile(ConsoleAssetsDir(options.console) / name);
      if (!text) return Named("console.assets_dir", text.error());
    }
  }
  std::shared_ptr<const alarm::Registry> registry;
  if (!options.registry_file.empty()) {
    auto entries = LoadRegistryFile(options.registry_file);
    if (!entries) return Named("registry_file", entries.error());
    summary.enterprises = entries->enterprises.size();
    summary.sensors = entries->sensors.size();
    summary.gateways = entries->gateways.size();
    auto built = alarm::Registry::Build(std::move(*entries));
    if (!built) return Named("registry_file", built.error());
    registry = std::move(*built);
  }
  if (options.rules_file.empty()) return summary;
  auto rules = LoadRulesFile(options.rules_file);
  if (!rules) return Named("rules_file", rules.error());
  summary.rules = rules->rules.size();
  if (against_registry && registry != nullptr) {
    auto set = alarm::RuleSet::Build(std::move(rules->rules), registry, rules->gateway_offline,
                                     std::move(rules->rollups));
    if (!set) {
      return Status::InvalidArgument("rules_file: " + options.rules_file.string() +
                                     " against registry_file " + options.registry_file.string() +
                                     ": " + set.error().message());
    }
    summary.rules_checked_against_registry = true;
  }
  return summary;
}

std::string FormatConfigFilesSummary(const ServerOptions& options,
                                     const ConfigFilesSummary& summary) {
  std::string out = "rules: " + std::to_string(summary.rules);
  if (options.rules_file.empty()) {
    out += " (no rules_file: only rules stored through RulesAdmin)";
  } else {
    out += " (" + options.rules_file.string() + ")";
  }
  if (!options.registry_file.empty()) {
    out += summary.rules_checked_against_registry ? ", checked against registry: " : ", registry: ";
    out += std::to_string(summary.enterprises) + " enterprises, " +
           std::to_string(summary.sensors) + " sensors, " + std::to_string(summary.gateways) +
           " gateways (" + options.registry_file.string() + ")";
  }
  return out;
}

}  // namespace vigil::server
