// End-to-end, operations: alarms forwarded to a real Alertmanager (Debian's
// prometheus-alertmanager), a real Prometheus scraping vigild, gRPC server
// reflection, the liveness health name and JSON logs. The tests that need a
// Debian binary WARN and return when it is not installed.
#include <grpcpp/generic/generic_stub.h>

#include <algorithm>
#include <atomic>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/external_process.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;
using boost::property_tree::ptree;
using Clock = std::chrono::steady_clock;

constexpr char kAlertmanager[] = "/usr/bin/prometheus-alertmanager";
constexpr char kPrometheus[] = "/usr/bin/prometheus";

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
gateways:
  - { id: gw-1, enterprise: e-1 }
)";

constexpr char kRules[] = R"(rules:
  - id: tank-temperature
    select: { sensor: s-1 }
    levels:
      h: { value: 50, severity: 2 }
    sensor_fault: off
    no_data: off
)";

std::optional<ptree> ParseJson(const std::string& text) {
  try {
    std::istringstream in(text);
    ptree tree;
    boost::property_tree::read_json(in, tree);
    return tree;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Polls `probe` every 100 ms until it returns true or `timeout` passes.
template <class Probe>
bool PollUntil(std::chrono::milliseconds timeout, Probe probe) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (probe()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

// A gateway's numbered batches of one reading of s-1.
class Gateway {
 public:
  explicit Gateway(VigildProcess* vigild) : vigild_(vigild) {}
  void Send(double value) {
    v1::IngestBatch batch;
    batch.set_gateway_id("gw-1");
    batch.set_epoch(1);
    batch.set_sequence(++sequence_);
    v1::Series* series = batch.add_series();
    series->set_sensor_id("s-1");
    last_ = std::max(NowMs(), last_ + 1);
    series->add_timestamps_ms(last_);
    series->add_values(value);
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::IngestAck ack;
    const grpc::Status s = vigild_->ingest().Write(&context, batch, &ack);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(ack.stored_readings() == 1);
  }

 private:
  VigildProcess* vigild_;
  uint64_t sequence_ = 0;
  int64_t last_ = 0;
};

// The VigilAlarm alerts Alertmanager lists (active ones: resolved alerts are
// not listed).
std::vector<ptree> VigilAlerts(const std::string& address) {
  const HttpResponse r = HttpRequest("GET", address, "/api/v2/alerts");
  std::vector<ptree> alerts;
  if (r.status != 200) return alerts;
  auto tree = ParseJson(r.body);
  if (!tree) return alerts;
  for (const auto& [key, alert] : *tree) {
    if (alert.get<std::string>("labels.alertname", "") == "VigilAlarm") alerts.push_back(alert);
  }
  return alerts;
}

double MetricSample(const std::string& metrics_address, const std::string& series) {
  const HttpResponse r = HttpRequest("GET", metrics_address, "/metrics");
  const std::string key = "\n" + series + " ";
  const size_t at = ("\n" + r.body).find(key);
  if (at == std::string::npos) return -1;
  return std::stod(r.body.substr(at + key.size() - 1));
}

TEST_CASE("Alarms reach a real Alertmanager as alerts and resolve there when they clear",
          "[e2e][ops][alertmanager]") {
  if (!std::filesystem::exists(kAlertmanager)) {
    WARN("skipped: " << kAlertmanager << " missing (Debian package prometheus-alertmanager)");
    return;
  }
  testing::TempDir dir;
  std::ofstream(dir / "alertmanager.yml") << "route: { receiver: blackhole, group_wait: 1s }\n"
                                             "receivers: [ { name: blackhole } ]\n";
  std::filesystem::create_directory(dir / "am-data");
  const std::string am_address = "127.0.0.1:" + std::to_string(FreePort());
  ExternalProcess am(
      {kAlertmanager, "--config.file=" + (dir / "alertmanager.yml").string(),
       "--storage.path=" + (dir / "am-data").string(), "--web.listen-address=" + am_address,
       "--cluster.listen-address=", "--log.level=warn"},
      dir / "alertmanager.log");
  const bool ready =
      PollUntil(20s, [&] { return HttpRequest("GET", am_address, "/-/ready").status == 200; });
  INFO("alertmanager log:\n" << am.Log());
  REQUIRE(ready);

  std::ofstream(dir / "rules.yaml") << kRules;
  VigildProcess vigild({.config_yaml = "rules_file: " + (dir / "rules.yaml").string() +
                                       "\nalertmanager:\n  url: http://" + am_address +
                                       "\n  resend_interval: 1s\n  timeout: 2s\n",
                        .registry_yaml = kRegistry});
  vigild.Start();
  Gateway gateway(&vigild);
  gateway.Send(20);
  gateway.Send(61.5);  // over h (50): a severity-2 threshold alarm

  std::vector<ptree> alerts;
  REQUIRE(PollUntil(20s, [&] {
    alerts = VigilAlerts(am_address);
    return !alerts.empty();
  }));
  REQUIRE(alerts.size() == 1);
  const ptree& alert = alerts[0];
  CHECK(alert.get<std::string>("labels.alarm") == "threshold");
  CHECK(alert.get<std::string>("labels.severity") == "2");
  CHECK(alert.get<std::string>("labels.severity_name") == "orange");
  CHECK(alert.get<std::string>("labels.region") == "370105");
  CHECK(alert.get<std::string>("labels.province") == "37");
  CHECK(alert.get<std::string>("labels.enterprise") == "e-1");
  CHECK(alert.get<std::string>("labels.sensor") == "s-1");
  CHECK(alert.get<std::string>("labels.rule") == "tank-temperature");
  CHECK(alert.get<std::string>("annotations.value") == "61.5");
  CHECK(alert.get<std::string>("annotations.threshold") == "50");
  CHECK(alert.get<std::string>("annotations.state") == "active_unacked");
  CHECK_FALSE(alert.get<std::string>("annotations.alarm_id").empty());
  CHECK(alert.get<std::string>("status.state") == "active");
  // The alarm-load KPIs counted the raise for province 37.
  CHECK(PollUntil(10s, [&] {
    return MetricSample(vigild.metrics_address(), R"(vigil_alarm_kpi_raised_10m{province="37"})") ==
           1;
  }));

  // Still there after resends (every 1 s: a few more successful POSTs), then
  // resolved once it clears.
  const std::string ok = R"(vigil_alertmanager_posts_total{result="ok"})";
  CHECK(PollUntil(20s, [&] { return MetricSample(vigild.metrics_address(), ok) >= 3; }));
  CHECK(VigilAlerts(am_address).size() == 1);
  gateway.Send(20);
  CHECK(PollUntil(20s, [&] { return VigilAlerts(am_address).empty(); }));
  CHECK(PollUntil(10s, [&] {
    return MetricSample(vigild.metrics_address(), "vigil_alertmanager_alerts_firing") == 0;
  }));
}

TEST_CASE("An unreachable Alertmanager is counted and never holds up ingest or alarms",
          "[e2e][ops][alertmanager]") {
  testing::TempDir dir;
  std::ofstream(dir / "rules.yaml") << kRules;
  // A port nobody listens on: every POST fails at once (connection refused).
  VigildProcess vigild(
      {.config_yaml = "rules_file: " + (dir / "rules.yaml").string() +
                      "\nalertmanager:\n  url: http://127.0.0.1:" + std::to_string(FreePort()) +
                      "\n  resend_interval: 1s\n  timeout: 1s\n",
       .registry_yaml = kRegistry});
  vigild.Start();
  Gateway gateway(&vigild);
  gateway.Send(61.5);
  const std::string errors = R"(vigil_alertmanager_posts_total{result="error"})";
  CHECK(PollUntil(20s, [&] { return MetricSample(vigild.metrics_address(), errors) >= 2; }));
  CHECK(PollUntil(10s, [&] {
    return MetricSample(vigild.metrics_address(), R"(vigil_alarms_open{severity="2"})") == 1;
  }));
  CHECK(MetricSample(vigild.metrics_address(), "vigil_alertmanager_alerts_pending") == 0);
  gateway.Send(20);
  // The resolution waits for Alertmanager: pending.
  CHECK(PollUntil(10s, [&] {
    return MetricSample(vigild.metrics_address(), "vigil_alertmanager_alerts_pending") == 1;
  }));
  // Logged, at most once a minute.
  const std::string output = vigild.Output();
  const size_t first = output.find("event=alertmanager_post_failed");
  CHECK(first != std::string::npos);
  CHECK(output.find("event=alertmanager_post_failed", first + 1) == std::string::npos);
}

TEST_CASE("A real Prometheus scrapes vigild and sees readings flow", "[e2e][ops][prometheus]") {
  if (!std::filesystem::exists(kPrometheus)) {
    WARN("skipped: " << kPrometheus << " missing (Debian package prometheus)");
    return;
  }
  VigildProcess vigild({.config_yaml = "", .registry_yaml = kRegistry});
  vigild.Start();
  REQUIRE_FALSE(vigild.metrics_address().empty());

  testing::TempDir dir;
  std::ofstream(dir / "prometheus.yml")
      << "global: { scrape_interval: 1s, evaluation_interval: 1s }\n"
      << "rule_files: [\"" << VIGIL_SOURCE_DIR << "/deploy/prometheus/vigil_alerts.yml\"]\n"
      << "scrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: [\""
      << vigild.metrics_address() << "\"]\n";
  const std::string address = "127.0.0.1:" + std::to_string(FreePort());
  ExternalProcess prometheus({kPrometheus, "--config.file=" + (dir / "prometheus.yml").string(),
                              "--storage.tsdb.path=" + (dir / "tsdb").string(),
                              "--web.listen-address=" + address, "--log.level=warn"},
                             dir / "prometheus.log");

  // Readings flow while Prometheus starts and scrapes.
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    Gateway gateway(&vigild);
    while (!stop.load()) {
      gateway.Send(20);
      std::this_thread::sleep_for(50ms);
    }
  });
  const std::string query =
      "/api/v1/query?query=" + UrlEncode("rate(vigil_readings_ingested_total[10s])");
  double rate = 0;
  std::string last_body;
  const bool seen = PollUntil(25s, [&] {
    const HttpResponse r = HttpRequest("GET", address, query);
    last_body = r.body;
    auto tree = ParseJson(r.body);
    if (r.status != 200 || !tree || tree->get<std::string>("status", "") != "success") return false;
    for (const auto& [k, sample] : tree->get_child("data.result")) {
      const ptree& value = sample.get_child("value");
      if (value.size() == 2) rate = std::stod(std::next(value.begin())->second.data());
    }
    return rate > 0;
  });
  stop = true;
  sender.join();
  INFO("last answer: " << last_body << "\nprometheus log:\n" << prometheus.Log());
  CHECK(seen);
  CHECK(rate > 0);
  // The shipped alert rules loaded into it.
  const HttpResponse rules = HttpRequest("GET", address, "/api/v1/rules");
  CHECK(rules.status == 200);
  CHECK(rules.body.find("\"VigilDown\"") != std::string::npos);
  CHECK(rules.body.find("\"VigilAlertmanagerPostsFailing\"") != std::string::npos);
}

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with
// list_services: the raw response bytes (service names appear verbatim).
grpc::Status ListServices(const std::shared_ptr<grpc::Channel>& channel, std::string* response) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  SetDeadline(&context, 10s);
  grpc::CompletionQueue queue;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&] { queue.Next(&tag, &ok); };
  call->StartCall(reinterpret_cast<void*>(1));
  step();
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited.
  grpc::Slice request_slice(std::string("\x3a\x00", 2));
  call->Write(grpc::ByteBuffer(&request_slice, 1), reinterpret_cast<void*>(2));
  step();
  call->WritesDone(reinterpret_cast<void*>(3));
  step();
  grpc::ByteBuffer buffer;
  call->Read(&buffer, reinterpret_cast<void*>(4));
  step();
  if (ok) {
    std::vector<grpc::Slice> slices;
    (void)buffer.Dump(&slices);
    for (const grpc::Slice& s : slices) {
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step();
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return status;
}

TEST_CASE("Reflection lists the vigil.v1 services when on, liveness, JSON logs", "[e2e][ops]") {
  SECTION("on, with JSON logs") {
    VigildProcess vigild({.config_yaml = "server:\n  reflection: true\n  log_format: json\n",
                          .registry_yaml = kRegistry});
    vigild.Start();
    std::string services;
    const grpc::Status s = ListServices(vigild.channel(), &services);
    INFO(s.error_message());
    REQUIRE(s.ok());
    for (const char* name : {"vigil.v1.Ingest", "vigil.v1.Query", "vigil.v1.Alarms",
                             "vigil.v1.RulesAdmin", "grpc.health.v1.Health"}) {
      CAPTURE(name);
      CHECK(services.find(name) != std::string::npos);
    }
    bool serving = false;
    REQUIRE(HealthCheck(vigild.channel(), &serving, "vigil.v1.Liveness").ok());
    CHECK(serving);

    // Every log line is a JSON object with ts, level and event.
    REQUIRE(vigild.Terminate().ExitedWith(0));
    std::istringstream lines(vigild.Output());
    int json_lines = 0;
    bool saw_serving = false;
    for (std::string line; std::getline(lines, line);) {
      CHECK(line.rfind("ts=", 0) == std::string::npos);
      if (line.empty() || line[0] != '{') continue;  // the effective config, harness notes
      auto tree = ParseJson(line);
      CAPTURE(line);
      REQUIRE(tree.has_value());
      CHECK_FALSE(tree->get<std::string>("ts", "").empty());
      CHECK_FALSE(tree->get<std::string>("level", "").empty());
      saw_serving = saw_serving || tree->get<std::string>("event", "") == "serving";
      ++json_lines;
    }
    CHECK(json_lines >= 3);
    CHECK(saw_serving);
  }
  SECTION("off by default") {
    VigildProcess vigild({.config_yaml = "", .registry_yaml = kRegistry});
    vigild.Start();
    std::string services;
    CHECK(ListServices(vigild.channel(), &services).error_code() ==
          grpc::StatusCode::UNIMPLEMENTED);
    bool serving = false;
    REQUIRE(HealthCheck(vigild.channel(), &serving, "vigil.v1.Liveness").ok());
    CHECK(serving);
  }
}

TEST_CASE(
    "Health: SERVING once replayed, on SIGTERM NOT_SERVING while still taking batches for "
    "drain_delay, then a clean exit",
    "[e2e][ops][health]") {
  VigildProcess vigild({.config_yaml = "server:\n  drain_delay: 3s\n", .registry_yaml = kRegistry});
  vigild.Start();
  Gateway gateway(&vigild);
  gateway.Send(20.0);
  REQUIRE(vigild.Terminate().ExitedWith(0));

  // Start-up: the port opens only after the ingest log is replayed, SERVING.
  vigild.Restart();
  const std::string started = vigild.Output();
  const size_t replayed = started.rfind("ingest_log_replayed");
  const size_t listening = started.rfind("vigild listening grpc=");
  REQUIRE(replayed != std::string::npos);
  REQUIRE(listening != std::string::npos);
  CHECK(replayed < listening);
  const char* const services[] = {"", "vigil.v1.Ingest", "vigil.v1.Alarms", "vigil.v1.Query"};
  for (const char* service : services) {
    CAPTURE(service);
    bool serving = false;
    REQUIRE(HealthCheck(vigild.channel(), &serving, service).ok());
    CHECK(serving);
  }

  // SIGTERM: health turns NOT_SERVING at once (bounded poll: 2 s) ...
  const auto signalled = Clock::now();
  REQUIRE(kill(vigild.pid(), SIGTERM) == 0);
  bool serving = true;
  while (serving && Clock::now() - signalled < 2s) {
    REQUIRE(HealthCheck(vigild.channel(), &serving).ok());
    if (serving) std::this_thread::sleep_for(20ms);
  }
  CHECK_FALSE(serving);
  for (const char* service : services) {
    CAPTURE(service);
    REQUIRE(HealthCheck(vigild.channel(), &serving, service).ok());
    CHECK_FALSE(serving);
  }
  // ... while the process is alive and still stores what gateways send.
  REQUIRE(HealthCheck(vigild.channel(), &serving, "vigil.v1.Liveness").ok());
  CHECK(serving);
  gateway.Send(21.0);
  CHECK(Clock::now() - signalled < 3s);  // all of this inside the drain delay
  REQUIRE(vigild.Terminate().ExitedWith(0));
  CHECK(vigild.Output().find("drain_delay") != std::string::npos);

  // What was acked during the delay is stored.
  vigild.Restart();
  grpc::ClientContext context;
  v1::ReadLatestRequest request;
  request.add_sensor_ids("s-1");
  v1::ReadLatestResponse latest;
  REQUIRE(vigild.query().ReadLatest(&context, request, &latest).ok());
  REQUIRE(latest.values_size() == 1);
  CHECK(latest.values(0).value() == 21.0);
  REQUIRE(vigild.Terminate().ExitedWith(0));
}

TEST_CASE("vigild's threads carry names that tell the writer, shards and journal apart",
          "[e2e][ops]") {
  VigildProcess vigild({.config_yaml = "server:\n  shards: 3\n", .registry_yaml = kRegistry});
  vigild.Start();
  // The named threads of server/server.h's list (vigil-alertmgr only runs
  // with alertmanager.url set), each as many times as vigild starts it.
  const std::map<std::string, size_t> expected = {
      {"vigil-writer", 1},  {"vigil-journal", 1}, {"vigil-shard-0", 1},  {"vigil-shard-1", 1},
      {"vigil-shard-2", 1}, {"vigil-fanout", 2},  {"vigil-liveness", 1}, {"vigil-kpi", 1}};
  // A thread names itself once it first runs; on a loaded machine that can come after health
  // says SERVING, so look again (bounded) until every expected name is there.
  std::multiset<std::string> names;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    names.clear();
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(vigild.pid()) + "/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      names.insert(name);
    }
    const bool all_named = std::all_of(expected.begin(), expected.end(), [&](const auto& e) {
      return names.count(e.first) >= e.second;
    });
    if (all_named || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CAPTURE(names);
  for (const auto& [name, count] : expected) {
    CAPTURE(name);
    CHECK(names.count(name) == count);
  }
  CHECK(names.count("vigil-shard-3") == 0);
  REQUIRE(vigild.Terminate().ExitedWith(0));
}

}  // namespace
}  // namespace vigil::e2e
