// Operations: JSON log lines, the liveness watch and the config keys of
// logs, reflection and the Alertmanager.
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>

#include "server/config/config.h"
#include "server/log/json_text.h"
#include "server/log/log.h"
#include "server/ops/liveness.h"

namespace vigil::server {
namespace {

using namespace std::chrono_literals;

boost::property_tree::ptree ParseJson(const std::string& text) {
  std::istringstream in(text);
  boost::property_tree::ptree tree;
  boost::property_tree::read_json(in, tree);
  return tree;
}

const std::chrono::system_clock::time_point kNow{1'717'243'200'123ms};

TEST_CASE("JSON log lines are one object with ts, level, event and the fields", "[server][log]") {
  const std::string line = FormatLogLine(LogFormat::kJson, LogLevel::kWarn, "alarm",
                                         {{"seq", uint64_t{42}},
                                          {"value", 61.5},
                                          {"nan", std::nan("")},
                                          {"sensor", "tank \"A\"\\7\nline\t\x01"},
                                          {"region", std::string("370105")}},
                                         kNow);
  REQUIRE(line.back() == '\n');
  REQUIRE(std::count(line.begin(), line.end(), '\n') == 1);
  const auto tree = ParseJson(line);
  CHECK(tree.get<std::string>("ts") == "2024-06-01T12:00:00.123Z");
  CHECK(tree.get<std::string>("level") == "warn");
  CHECK(tree.get<std::string>("event") == "alarm");
  CHECK(tree.get<uint64_t>("seq") == 42);
  CHECK(tree.get<double>("value") == 61.5);
  CHECK(tree.get<std::string>("nan") == "nan");  // not a JSON number: a string
  CHECK(tree.get<std::string>("sensor") == "tank \"A\"\\7\nline\t\x01");
  CHECK(tree.get<std::string>("region") == "370105");
  // Numbers are JSON numbers, text is a string.
  CHECK(line.find("\"seq\":42,") != std::string::npos);
  CHECK(line.find("\"region\":\"370105\"") != std::string::npos);
}

TEST_CASE("Text log lines keep the key=value form", "[server][log]") {
  CHECK(FormatLogLine(LogFormat::kText, LogLevel::kInfo, "serving",
                      {{"grpc", "127.0.0.1:7070"}, {"note", "two words"}}, kNow) ==
        "ts=2024-06-01T12:00:00.123Z level=info event=serving grpc=127.0.0.1:7070 "
        "note=\"two words\"\n");
}

TEST_CASE("FormatRfc3339Ms writes UTC with milliseconds", "[server][log]") {
  CHECK(FormatRfc3339Ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatRfc3339Ms(1'717'243'200'123) == "2024-06-01T12:00:00.123Z");
  CHECK(FormatRfc3339Ms(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("Liveness turns NOT_SERVING when the control loop stops beating", "[server][liveness]") {
  using Clock = LivenessWatch::Clock;
  const Clock::time_point t0{};
  CHECK(LivenessWatch::Alive(t0, t0 + 60s, 60s));
  CHECK_FALSE(LivenessWatch::Alive(t0, t0 + 60s + 1ms, 60s));

  std::mutex mu;
  std::vector<bool> seen;
  auto last = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen;
  };
  LivenessWatch watch(
      50ms,
      [&](bool alive) {
        std::lock_guard<std::mutex> lock(mu);
        seen.push_back(alive);
      },
      5ms);
  CHECK(last() == std::vector<bool>{true});
  // No beats: stalled within a bounded wait.
  const auto deadline = Clock::now() + 5s;
  while (last().size() < 2 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  REQUIRE(last() == std::vector<bool>{true, false});
  watch.Beat();
  while (last().size() < 3 && Clock::now() < deadline + 5s) {
    std::this_thread::sleep_for(5ms);
    watch.Beat();
  }
  CHECK(last() == std::vector<bool>{true, false, true});
}

TEST_CASE("Config: log_format, reflection and alertmanager", "[server][config]") {
  auto parse = [](const std::string& yaml) { return ParseConfigText(yaml, "vigil.yaml", ""); };
  SECTION("defaults: text logs, no reflection, no Alertmanager") {
    auto o = parse("");
    REQUIRE(o.has_value());
    CHECK(o->log_format == LogFormat::kText);
    CHECK_FALSE(o->reflection);
    CHECK(o->alertmanager == AlertmanagerOptions{});
    CHECK(o->alertmanager.resend_interval == 1min);
    CHECK(o->alertmanager.timeout == 5s);
  }
  SECTION("every key, and back through FormatEffectiveConfig") {
    auto o = parse(
        "server:\n  log_format: json\n  reflection: true\n"
        "alertmanager:\n  url: https://127.0.0.1:9093/am\n  resend_interval: 30s\n"
        "  timeout: 2s\n  ca_file: /etc/vigil/am-ca.crt\n"
        "  generator_url: https://console.example/alarms/{alarm_id}\n");
    REQUIRE(o.has_value());
    CHECK(o->log_format == LogFormat::kJson);
    CHECK(o->reflection);
    CHECK(o->alertmanager ==
          AlertmanagerOptions{.url = "https://127.0.0.1:9093/am",
                              .resend_interval = 30s,
                              .timeout = 2s,
                              .ca_file = "/etc/vigil/am-ca.crt",
                              .generator_url = "https://console.example/alarms/{alarm_id}"});
    const std::string text = FormatEffectiveConfig(*o);
    CHECK_THAT(text, Catch::Contains("  log_format: json\n"));
    auto back = parse(text);
    REQUIRE(back.has_value());
    CHECK(back->log_format == LogFormat::kJson);
    CHECK(back->reflection);
    CHECK(back->alertmanager == o->alertmanager);
  }
  SECTION("errors name the key") {
    auto error = [&](const std::string& yaml) {
      auto o = parse(yaml);
      REQUIRE_FALSE(o.has_value());
      return o.error().message();
    };
    CHECK_THAT(error("server:\n  log_format: xml\n"),
               Catch::Contains("server.log_format: must be 'text' or 'json', got 'xml'"));
    CHECK_THAT(error("server:\n  reflection: yes\n"),
               Catch::Contains("server.reflection: must be true or false"));
    CHECK_THAT(error("alertmanager:\n  url: ftp://am:9093\n"),
               Catch::Contains("alertmanager.url: must be http[s]://host:port[/path] (scheme"));
    CHECK_THAT(error("alertmanager:\n  generator_url: console/alarms\n"),
               Catch::Contains("alertmanager.generator_url: must be an http:// or https:// URL"));
    CHECK_THAT(error("alertmanager:\n  resend_interval: 500ms\n"),
               Catch::Contains("alertmanager.resend_interval: must be at least 1s"));
  }
}

}  // namespace
}  // namespace vigil::server
