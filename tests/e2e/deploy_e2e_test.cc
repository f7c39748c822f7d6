// End-to-end: what a deployment relies on. `--check-config` reads and
// resolves the rules file, a bad rules file stops start-up with exit 2 (the
// systemd unit's RestartPreventExitStatus), a server without rules says so
// (log and /metrics), rule reloads are counted, and health answers for every
// service (the Kubernetes probes and load balancers ask by name).
#include <signal.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/e2e/external_process.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"
#include "vigil/v1/admin.grpc.pb.h"
#include "vigil/v1/rules.grpc.pb.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-jinan, name: Jinan Plant, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: t-jn, enterprise: e-jinan, quantity: temperature, unit: degC }
gateways:
  - { id: gw-jn, enterprise: e-jinan }
)";

constexpr char kGoodRules[] = R"(rules:
  - id: temperature-high
    select: { sensor: t-jn }
    levels:
      h: { value: 50, severity: 2 }
)";

// Severity 9 on line 5, column 33.
constexpr char kSeverityNine[] = R"(rules:
  - id: temperature-high
    select: { sensor: t-jn }
    levels:
      h: { value: 50, severity: 9 }
)";

constexpr char kUnknownSensor[] = R"(rules:
  - id: pressure-high
    select: { sensor: p-nowhere }
    levels:
      h: { value: 5, severity: 2 }
)";

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A config folder: vigil.yaml naming registry.yaml and (unless `rules` is
// null) rules.yaml, both next to it.
class ConfigDir {
 public:
  explicit ConfigDir(const char* rules, bool write_rules_file = true) {
    std::ofstream(dir_ / "registry.yaml") << kRegistry;
    if (rules != nullptr && write_rules_file) std::ofstream(dir_ / "rules.yaml") << rules;
    std::ofstream(dir_ / "vigil.yaml") << "server:\n  metrics_listen: \"\"\n"
                                       << "registry_file: registry.yaml\n"
                                       << (rules != nullptr ? "rules_file: rules.yaml\n" : "");
  }
  std::string config() const { return (dir_ / "vigil.yaml").string(); }
  std::string rules() const { return (dir_ / "rules.yaml").string(); }
  std::string data() const { return (dir_ / "data").string(); }

 private:
  testing::TempDir dir_;
};

RunResult CheckConfig(const ConfigDir& dir) {
  return RunVigild({"--config", dir.config(), "--check-config"});
}

// Starts vigild on `dir` with a free port; for configs that must fail early.
RunResult StartVigild(const ConfigDir& dir) {
  return RunVigild({"--config", dir.config(), "--listen", "127.0.0.1:0", "--data-dir", dir.data()},
                   20s);
}

TEST_CASE("vigild --check-config reads the rules file and resolves it against the registry file",
          "[e2e][deploy]") {
  SECTION("a good rules file: exit 0, the counts printed") {
    ConfigDir dir(kGoodRules);
    const RunResult r = CheckConfig(dir);
    INFO(r.output);
    CHECK(r.status.ExitedWith(0));
    CHECK(Has(r.output, "# rules: 1 (" + dir.rules() +
                            "), checked against registry: 1 enterprises, 1 sensors, 1 gateways"));
    CHECK(Has(r.output, "configuration ok"));
  }
  SECTION("severity 9: exit 2 naming file, line, column and field") {
    ConfigDir dir(kSeverityNine);
    const RunResult r = CheckConfig(dir);
    INFO(r.output);
    CHECK(r.status.ExitedWith(2));
    CHECK(Has(r.output, "vigild: bad configuration: rules_file: " + dir.rules() +
                            ":5:33: rules[0] (temperature-high).levels.h.severity: must be 1 "
                            "(red) .. 4 (blue), got 9"));
    CHECK_FALSE(Has(r.output, "configuration ok"));
  }
  SECTION("a rules file that does not exist: exit 2 naming it") {
    ConfigDir dir(kGoodRules, /*write_rules_file=*/false);
    const RunResult r = CheckConfig(dir);
    INFO(r.output);
    CHECK(r.status.ExitedWith(2));
    CHECK(Has(r.output, "vigild: bad configuration: rules_file: " + dir.rules() +
                            ": cannot open: No such file or directory"));
  }
  SECTION("a rule naming a sensor the registry file lacks: exit 2") {
    ConfigDir dir(kUnknownSensor);
    const RunResult r = CheckConfig(dir);
    INFO(r.output);
    CHECK(r.status.ExitedWith(2));
    CHECK(Has(r.output,
              "vigild: bad configuration: rules_file: " + dir.rules() + " against registry_file "));
    CHECK(Has(r.output, "p-nowhere"));
  }
  SECTION("no rules_file: exit 0 with a warning that nothing raises alarms") {
    ConfigDir dir(nullptr);
    const RunResult r = CheckConfig(dir);
    INFO(r.output);
    CHECK(r.status.ExitedWith(0));
    CHECK(Has(r.output, "# rules: 0 (no rules_file"));
    CHECK(Has(r.output, "vigild: warning: no alarm rules"));
  }
}

TEST_CASE("A bad rules file stops start-up with exit 2, which systemd does not restart",
          "[e2e][deploy]") {
  SECTION("severity 9") {
    ConfigDir dir(kSeverityNine);
    const RunResult r = StartVigild(dir);
    INFO(r.output);
    CHECK(r.status.ExitedWith(2));
    CHECK(Has(r.output, "levels.h.severity: must be 1 (red) .. 4 (blue), got 9"));
  }
  SECTION("missing") {
    ConfigDir dir(kGoodRules, /*write_rules_file=*/false);
    const RunResult r = StartVigild(dir);
    INFO(r.output);
    CHECK(r.status.ExitedWith(2));
    CHECK(Has(r.output, "rules_file: " + dir.rules() + ": cannot open"));
  }
  SECTION("a rule naming an unknown sensor (resolved by the server)") {
    ConfigDir dir(kUnknownSensor);
    const RunResult r = StartVigild(dir);
    INFO(r.output);
    CHECK(r.status.ExitedWith(2));
    CHECK(Has(r.output, "vigild: cannot start: "));
    CHECK(Has(r.output, "p-nowhere"));
  }
}

// Polls /metrics until `series` has `value` (bounded: 10 s).
bool MetricReaches(const VigildProcess& vigild, const std::string& series, double value) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = HttpGetMetrics(vigild.metrics_address());
    if (Has(text, series + " ") && Sample(text, series) == value) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST_CASE("A server without rules warns at start and on reload and exports vigil_rules_loaded 0",
          "[e2e][deploy]") {
  VigildProcess vigild(
      {.config_yaml = "server:\n  metrics_listen: \"127.0.0.1:0\"\n", .registry_yaml = kRegistry});
  vigild.Start();
  CHECK(Has(vigild.Output(), "level=warn event=no_alarm_rules rules=0"));
  CHECK(MetricReaches(vigild, "vigil_rules_loaded", 0));
  CHECK(MetricReaches(vigild, "vigil_registry_entries{kind=\"sensor\"}", 1));
  REQUIRE(kill(vigild.pid(), SIGHUP) == 0);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (Count(vigild.Output(), "event=no_alarm_rules") < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  INFO(vigild.Output());
  CHECK(Count(vigild.Output(), "event=no_alarm_rules") >= 2);
}

TEST_CASE("vigil_rules_loaded counts the rules in force, reloads are counted by result",
          "[e2e][deploy]") {
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << kGoodRules;
  VigildProcess vigild({.config_yaml = "server:\n  metrics_listen: \"127.0.0.1:0\"\n"
                                       "rules_file: " +
                                       (dir / "rules.yaml").string() + "\n",
                        .registry_yaml = kRegistry});
  vigild.Start();
  CHECK_FALSE(Has(vigild.Output(), "event=no_alarm_rules"));
  CHECK(MetricReaches(vigild, "vigil_rules_loaded", 1));
  CHECK(MetricReaches(vigild, "vigil_rules_reloads_total{result=\"ok\"}", 0));

  REQUIRE(kill(vigild.pid(), SIGHUP) == 0);
  CHECK(MetricReaches(vigild, "vigil_rules_reloads_total{result=\"ok\"}", 1));
  std::ofstream(dir / "rules.yaml", std::ios::trunc) << kSeverityNine;
  REQUIRE(kill(vigild.pid(), SIGHUP) == 0);
  CHECK(MetricReaches(vigild, "vigil_rules_reloads_total{result=\"error\"}", 1));
  // The rules in force stay.
  CHECK(MetricReaches(vigild, "vigil_rules_loaded", 1));
}

TEST_CASE("Health answers SERVING for every vigil.v1 service", "[e2e][deploy]") {
  VigildProcess vigild({.config_yaml = "", .registry_yaml = kRegistry});
  vigild.Start();
  // One message of each .proto file leads to the file and its services, so a
  // service added to a proto is asked for without editing this test.
  const google::protobuf::FileDescriptor* files[] = {v1::CreateBackupRequest::descriptor()->file(),
                                                     v1::AlarmEvent::descriptor()->file(),
                                                     v1::IngestBatch::descriptor()->file(),
                                                     v1::ReadRawRequest::descriptor()->file(),
                                                     v1::Registry::descriptor()->file(),
                                                     v1::GetRulesRequest::descriptor()->file()};
  size_t services = 0;
  for (const google::protobuf::FileDescriptor* file : files) {
    for (int i = 0; i < file->service_count(); ++i) {
      const std::string name = file->service(i)->full_name();
      bool serving = false;
      const grpc::Status status = HealthCheck(vigild.channel(), &serving, name);
      INFO(name << ": " << status.error_code() << " " << status.error_message());
      CHECK(status.ok());
      CHECK(serving);
      ++services;
    }
  }
  CHECK(services >= 6);

  // vigilctl health, as the Kubernetes exec probes run it: exit 0 only while SERVING.
  CtlResult probe = RunVigilctl({"--server", vigild.address(), "health"});
  CHECK(probe.code == 0);
  CHECK(probe.output == "SERVING\n");
  probe = RunVigilctl({"--server", vigild.address(), "health", "--service", "vigil.v1.Liveness"});
  CHECK(probe.code == 0);
  CHECK(probe.output == "SERVING\n");
  probe = RunVigilctl({"--server", vigild.address(), "health", "--service", "vigil.v1.Nothing"});
  INFO(probe.output);
  CHECK(probe.code == 3);  // NOT_FOUND: no such service
}

// Runs `command` in `dir` with sh; true on exit 0.
bool Shell(const std::filesystem::path& dir, const std::string& command) {
  return std::system(
             ("cd '" + dir.string() + "' && (" + command + ") >> shell.log 2>&1").c_str()) == 0;
}

// NAME.crt + NAME.key: a CA; SERVER.crt + SERVER.key signed by it for 127.0.0.1.
bool MakeCaAndServer(const std::filesystem::path& dir, const std::string& ca,
                     const std::string& server) {
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::ofstream(dir / (server + ".ext")) << "subjectAltName=IP:127.0.0.1\n"
                                            "extendedKeyUsage=serverAuth\n";
  return Shell(dir, "openssl req -x509 " + key + " -keyout " + ca + ".key -out " + ca +
                        ".crt -days 2 -subj /CN=" + ca) &&
         Shell(dir, "openssl req -new " + key + " -keyout " + server + ".key -out " + server +
                        ".csr -subj /CN=alertmanager && openssl x509 -req -in " + server +
                        ".csr -CA " + ca + ".crt -CAkey " + ca + ".key -CAcreateserial -out " +
                        server + ".crt -days 2 -extfile " + server + ".ext");
}

// Polls /metrics until `series` reaches at least `at_least` (bounded: 20 s).
bool MetricAtLeast(const VigildProcess& vigild, const std::string& series, double at_least) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = HttpGetMetrics(vigild.metrics_address());
    if (Has(text, series + " ") && Sample(text, series) >= at_least) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

void RaiseAlarm(VigildProcess& vigild) {
  v1::IngestBatch batch;
  batch.set_gateway_id("gw-jn");
  batch.set_epoch(1);
  batch.set_sequence(1);
  v1::Series* series = batch.add_series();
  series->set_sensor_id("t-jn");
  series->add_timestamps_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  series->add_values(61.5);  // over h (50)
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::IngestAck ack;
  const grpc::Status s = vigild.ingest().Write(&context, batch, &ack);
  INFO(s.error_message());
  REQUIRE(s.ok());
}

TEST_CASE("Alarms reach an Alertmanager over https, verified against alertmanager.ca_file",
          "[e2e][deploy][alertmanager]") {
  constexpr char kAlertmanager[] = "/usr/bin/prometheus-alertmanager";
  if (!std::filesystem::exists(kAlertmanager)) {
    WARN("skipped: " << kAlertmanager << " missing (Debian package prometheus-alertmanager)");
    return;
  }
  testing::TempDir dir;
  REQUIRE(MakeCaAndServer(dir.path(), "ca", "am"));
  REQUIRE(MakeCaAndServer(dir.path(), "other-ca", "unused"));
  std::ofstream(dir / "alertmanager.yml") << "route: { receiver: blackhole, group_wait: 1s }\n"
                                             "receivers: [ { name: blackhole } ]\n";
  std::ofstream(dir / "web.yml") << "tls_server_config:\n  cert_file: " << (dir / "am.crt").string()
                                 << "\n  key_file: " << (dir / "am.key").string() << "\n";
  std::filesystem::create_directory(dir / "am-data");
  const std::string am_address = "127.0.0.1:" + std::to_string(FreePort());
  ExternalProcess am(
      {kAlertmanager, "--config.file=" + (dir / "alertmanager.yml").string(),
       "--web.config.file=" + (dir / "web.yml").string(),
       "--storage.path=" + (dir / "am-data").string(), "--web.listen-address=" + am_address,
       "--cluster.listen-address=", "--log.level=warn"},
      dir / "alertmanager.log");
  // Plain HTTP to a TLS listener gets an answer (400) once it listens.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (HttpRequest("GET", am_address, "/-/ready").status == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  INFO("alertmanager log:\n" << am.Log());
  REQUIRE(HttpRequest("GET", am_address, "/-/ready").status != 0);

  std::ofstream(dir / "rules.yaml") << kGoodRules;
  auto config = [&](const std::string& ca) {
    return "server:\n  metrics_listen: \"127.0.0.1:0\"\nrules_file: " +
           (dir / "rules.yaml").string() + "\nalertmanager:\n  url: https://" + am_address +
           "\n  ca_file: " + (dir / ca).string() +
           "\n  generator_url: https://console.example/alarms/{alarm_id}"
           "\n  resend_interval: 1s\n  timeout: 2s\n";
  };
  const std::string ok = R"(vigil_alertmanager_posts_total{result="ok"})";
  const std::string error = R"(vigil_alertmanager_posts_total{result="error"})";

  SECTION("the right CA: the alerts (with their generatorURL) are accepted") {
    VigildProcess vigild({.config_yaml = config("ca.crt"), .registry_yaml = kRegistry});
    vigild.Start();
    RaiseAlarm(vigild);
    INFO(vigild.Output());
    CHECK(MetricAtLeast(vigild, ok, 2));
    CHECK(MetricReaches(vigild, error, 0));
  }
  SECTION("another CA: the handshake fails, counted as errors, nothing sent") {
    VigildProcess vigild({.config_yaml = config("other-ca.crt"), .registry_yaml = kRegistry});
    vigild.Start();
    RaiseAlarm(vigild);
    CHECK(MetricAtLeast(vigild, error, 1));
    CHECK(MetricReaches(vigild, ok, 0));
    INFO(vigild.Output());
    CHECK(Has(vigild.Output(), "tls handshake"));
  }
}

// Output and exit code of `command` (bounded by timeout(1) at 30 s).
CtlResult RunCommand(const std::string& command) {
  CtlResult result;
  FILE* pipe = popen(("timeout 30 " + command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string ReadSource(const std::string& path) {
  std::ifstream in(std::string(VIGIL_SOURCE_DIR) + "/" + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_CASE("README's five minutes: one reading from the example gateway raises an alarm, acked",
          "[e2e][deploy]") {
  // The sample registry and rules, as ./deploy/run-local.sh runs them.
  VigildProcess vigild(
      {.config_yaml = "rules_file: " + std::string(VIGIL_SOURCE_DIR) + "/deploy/rules.yaml\n",
       .registry_yaml = ReadSource("deploy/registry.yaml")});
  vigild.Start();
  const CtlResult sent =
      RunCommand(std::string(SEND_READING_PATH) + " --server " + vigild.address() +
                 " gw-370883-001 s-370883-001-ch4-wf3101 1.8");
  INFO(sent.output);
  REQUIRE(sent.code == 0);
  CHECK(sent.output == "stored=1 rejected=0\n");

  CtlResult list;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    list = RunVigilctl({"--server", vigild.address(), "alarms", "list"});
  } while (!Has(list.output, "sensor=s-370883-001-ch4-wf3101") &&
           std::chrono::steady_clock::now() < deadline);
  INFO(list.output);
  REQUIRE(Has(list.output, "sensor=s-370883-001-ch4-wf3101"));
  CHECK(Has(list.output, "threshold red active_unacked"));  // 1.8 >= HH 1.5
  const size_t at = list.output.find("alarm=") + 6;
  const std::string id = list.output.substr(at, list.output.find(' ', at) - at);
  const CtlResult ack = RunVigilctl({"--server", vigild.address(), "alarms", "ack", id});
  INFO(ack.output);
  CHECK(ack.code == 0);
  CHECK(Has(ack.output, " acknowledged red active_acked alarm=" + id));
}

TEST_CASE("vigilctl rules get, check and apply a rules file, registry get, --version",
          "[e2e][deploy][vigilctl]") {
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << kGoodRules;
  std::ofstream(dir / "bad.yaml") << kSeverityNine;
  std::ofstream(dir / "unknown.yaml") << kUnknownSensor;
  std::ofstream(dir / "more.yaml") << "rules:\n  - id: temperature-low\n"
                                      "    select: { quantity: temperature, enterprise: e-jinan }\n"
                                      "    levels:\n      l: { value: -10, severity: 3 }\n";
  VigildProcess vigild({.config_yaml = "rules_file: " + (dir / "rules.yaml").string() + "\n",
                        .registry_yaml = kRegistry});
  vigild.Start();
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", vigild.address()});
    return RunVigilctl(args);
  };
  CtlResult r = ctl({"rules", "get"});
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(Has(r.output, "temperature-high"));

  const std::string bad = (dir / "bad.yaml").string();
  r = ctl({"rules", "check", bad});
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(Has(r.output, bad + ":5:33: rules[0] (temperature-high).levels.h.severity: must be 1"));
  r = ctl({"rules", "check", (dir / "unknown.yaml").string()});
  CHECK(r.code == 1);
  CHECK(Has(r.output, "p-nowhere"));

  // check changes nothing; apply does.
  const std::string more = (dir / "more.yaml").string();
  r = ctl({"rules", "check", more});
  CHECK(r.code == 0);
  CHECK(r.output == more + ": ok, 2 rules would be in force (nothing changed)\n");
  CHECK_FALSE(Has(ctl({"rules", "get"}).output, "temperature-low"));
  r = ctl({"rules", "apply", more});
  CHECK(r.code == 0);
  CHECK(r.output == more + ": ok, 2 rules in force\n");
  CHECK(Has(ctl({"rules", "get"}).output, "temperature-low"));

  CHECK(ctl({"rules", "frobnicate"}).code == 2);
  CHECK(ctl({"rules", "apply"}).code == 2);
  r = ctl({"registry", "get"});
  CHECK(r.code == 0);
  CHECK(Has(r.output, "  - id: t-jn"));
  r = RunVigilctl({"--version"});
  CHECK(r.code == 0);
  CHECK(r.output.starts_with("vigilctl "));
}

TEST_CASE("vigilctl registry check and apply a registry file, validated whole",
          "[e2e][deploy][vigilctl]") {
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << kGoodRules;
  // A second plant: upserted next to e-jinan, which the file need not repeat.
  std::ofstream(dir / "more.yaml")
      << "enterprises:\n"
         "  - { id: e-zibo, name: Zibo Ammonia Storage, kind: hazardous_chemical, "
         "region_code: \"370305\" }\n"
         "sensors:\n"
         "  - { id: p-zb, enterprise: e-zibo, quantity: pressure, unit: MPa }\n"
         "gateways:\n"
         "  - { id: gw-zb, enterprise: e-zibo }\n";
  // Line 4: a range whose low is above its high.
  std::ofstream(dir / "bad.yaml")
      << "enterprises:\n"
         "  - { id: e-zibo, kind: hazardous_chemical, region_code: \"370305\" }\n"
         "sensors:\n"
         "  - { id: p-zb, enterprise: e-zibo, quantity: pressure, unit: MPa, range: [5, 1] }\n";
  // Valid YAML, but its sensor's enterprise is in neither the file nor the registry.
  std::ofstream(dir / "orphan.yaml")
      << "sensors:\n  - { id: p-x, enterprise: e-nowhere, quantity: pressure, unit: MPa }\n";
  std::ofstream(dir / "empty.yaml");
  VigildProcess vigild({.config_yaml = "rules_file: " + (dir / "rules.yaml").string() + "\n",
                        .registry_yaml = kRegistry});
  vigild.Start();
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", vigild.address()});
    return RunVigilctl(args);
  };

  const std::string bad = (dir / "bad.yaml").string();
  CtlResult r = ctl({"registry", "check", bad});
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(Has(r.output, "registry check failed: INVALID_ARGUMENT"));
  CHECK(Has(r.output, bad + ":4:75: sensors[0].range: low must be below high"));
  CHECK(Has(r.output, "sensors[0].range"));
  r = ctl({"registry", "apply", (dir / "orphan.yaml").string()});
  CHECK(r.code == 1);
  CHECK(Has(r.output, "e-nowhere"));

  // check changes nothing; apply does, and readers see the new plant at once.
  const std::string more = (dir / "more.yaml").string();
  r = ctl({"registry", "check", more});
  CHECK(r.code == 0);
  CHECK(r.output == more +
                        ": ok, 2 enterprises, 2 sensors, 2 gateways would be in the registry "
                        "(nothing changed)\n");
  CHECK_FALSE(Has(ctl({"registry", "get"}).output, "p-zb"));
  CHECK(ctl({"latest", "p-zb"}).code == 3);
  r = ctl({"registry", "apply", more});
  CHECK(r.code == 0);
  CHECK(r.output == more + ": ok, 2 enterprises, 2 sensors, 2 gateways in the registry\n");
  r = ctl({"registry"});
  CHECK(Has(r.output, "  - id: p-zb\n"));
  CHECK(Has(r.output, "  - id: t-jn\n"));
  r = ctl({"latest", "p-zb"});
  CHECK(r.code == 0);
  CHECK(r.output.starts_with("# enterprise e-zibo (Zibo Ammonia Storage)\nsensor "));

  CHECK(ctl({"registry", "apply"}).code == 2);
  CHECK(ctl({"registry", "apply", (dir / "none.yaml").string()}).code == 2);
  CHECK(ctl({"registry", "check", (dir / "empty.yaml").string()}).code == 2);
  CHECK(ctl({"registry", "frobnicate"}).code == 2);
  CHECK(ctl({"registry", "get", more}).code == 2);
  CHECK(Has(ctl({"registry", "--help"}).output, "check FILE"));
}

TEST_CASE("vigilctl readings: local time with its offset by default, --utc, --from/--to",
          "[e2e][deploy][vigilctl]") {
  VigildProcess vigild({.config_yaml = "", .registry_yaml = kRegistry});
  vigild.Start();
  const CtlResult sent = RunCommand(std::string(SEND_READING_PATH) + " --server " +
                                    vigild.address() + " gw-jn t-jn 21.5");
  REQUIRE(sent.code == 0);
  // TZ=CST-8: eight hours east of UTC, no time zone database needed.
  const std::string ctl =
      "env TZ=CST-8 " + std::string(VIGILCTL_PATH) + " --server " + vigild.address() + " ";
  CtlResult r = RunCommand(ctl + "readings t-jn --since 1h");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(Has(r.output, "+08:00  21.5"));
  r = RunCommand(ctl + "readings t-jn --since 1h --utc");
  CHECK(r.code == 0);
  CHECK(Has(r.output, "Z  21.5"));
  CHECK_FALSE(Has(r.output, "+08:00"));
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  r = RunCommand(ctl + "readings t-jn --from " + std::to_string(now - 600'000) + " --to " +
                 std::to_string(now + 60'000));
  CHECK(r.code == 0);
  CHECK(Has(r.output, "21.5"));
  r = RunCommand(ctl + "readings t-jn --from " + std::to_string(now + 60'000));
  CHECK(r.code == 2);  // after now
  r = RunCommand(ctl + "readings t-jn --from yesterday");
  CHECK(r.code == 2);
  CHECK(Has(r.output, "--from: expected a time like 2025-12-31T18:00:00Z"));
  CHECK(RunCommand(ctl + "readings t-jn --from 0 --since 1h").code == 2);
}

TEST_CASE("An alarm no reading raised shows null, not INT64_MIN or 0, in vigilctl --json",
          "[e2e][deploy][vigilctl]") {
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << "gateway_offline: { after: 2s, severity: 2 }\nrules: []\n";
  VigildProcess vigild({.config_yaml = "rules_file: " + (dir / "rules.yaml").string() + "\n",
                        .registry_yaml = kRegistry});
  vigild.Start();
  // gw-jn never reports: two seconds after start it is offline.
  CtlResult list;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  do {
    list = RunVigilctl({"--server", vigild.address(), "alarms", "list", "--json"});
  } while (!Has(list.output, "\"gateway_offline\"") &&
           std::chrono::steady_clock::now() < deadline &&
           (std::this_thread::sleep_for(100ms), true));
  INFO(list.output);
  REQUIRE(Has(list.output, "\"kind\":\"gateway_offline\""));
  CHECK(Has(list.output, "\"trigger_value\":null,\"trigger_reading_at_ms\":null"));
  CHECK_FALSE(Has(list.output, "-9223372036854775808"));
}

}  // namespace
}  // namespace vigil::e2e
