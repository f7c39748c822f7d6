// The web console's parts that need no vigild: streamed responses of the
// HttpServer (what the alarm stream rides on), the JSON of alarms and
// events, the filter from query parameters, error mapping, and the console
// config section. The API itself is tested end to end in
// tests/e2e/console/console_api_test.py.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "server/config/config.h"
#include "server/http/console_json.h"
#include "server/http/http_server.h"

namespace vigil::server {
namespace {

using namespace std::chrono_literals;

int Connect(const std::string& address) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// Reads until `text` has arrived (or the peer closed / 10 s passed).
std::string ReadUntil(int fd, std::string* got, const std::string& text) {
  char buf[4096];
  while (got->find(text) == std::string::npos) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got->append(buf, static_cast<size_t>(n));
  }
  return *got;
}

template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 500 && !pred(); ++i) std::this_thread::sleep_for(10ms);
  return pred();
}

TEST_CASE(
    "A streamed response is written as it comes and tells its producer when the client leaves",
    "[http][console][stream]") {
  HttpServer server({.listen = "127.0.0.1:0",
                     .max_body_bytes = 1024,
                     .max_connections = 4,
                     .read_timeout = 2s,
                     .threads = 1});
  std::shared_ptr<HttpStream> open;
  std::atomic<bool> opened{false};
  std::atomic<int> closed{0};
  std::atomic<int> drained{0};
  std::string last_event_id;
  server.RouteStream("GET", "/events", [&](HttpRequest& request, HttpReply, HttpStreamStart start) {
    last_event_id = std::string(request.Header("last-event-id"));
    HttpResponse r;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-store");
    auto callbacks = std::make_shared<HttpStreamCallbacks>();
    callbacks->open = [&](std::shared_ptr<HttpStream> stream) {
      open = std::move(stream);
      opened = true;
    };
    callbacks->drained = [&] { ++drained; };
    callbacks->closed = [&] { ++closed; };
    start(std::move(r), std::move(callbacks));
  });
  REQUIRE(server.Start().ok());

  const int fd = Connect(server.address());
  const std::string request =
      "GET /events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 41\r\nAccept: text/event-stream\r\n\r\n";
  REQUIRE(send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string got;
  ReadUntil(fd, &got, "\r\n\r\n");
  CHECK(got.starts_with("HTTP/1.1 200"));
  CHECK(got.find("Content-Type: text/event-stream") != std::string::npos);
  CHECK(got.find("Cache-Control: no-store") != std::string::npos);
  CHECK(got.find("Content-Length") == std::string::npos);  // the body lasts until closed
  REQUIRE(Eventually([&] { return opened.load(); }));
  CHECK(last_event_id == "41");

  // Written from another thread, arriving in order.
  std::thread writer([&] {
    CHECK(open->Write("id: 42\ndata: {}\n\n"));
    CHECK(open->Write("id: 43\ndata: {}\n\n"));
  });
  writer.join();
  ReadUntil(fd, &got, "id: 43");
  CHECK(got.find("id: 42\ndata: {}\n\nid: 43\ndata: {}\n\n") != std::string::npos);
  CHECK(Eventually([&] { return drained.load() >= 1; }));
  CHECK(closed == 0);

  // The client leaves: the producer hears of it, and writes fail from then on.
  close(fd);
  REQUIRE(Eventually([&] { return closed.load() == 1; }));
  CHECK(Eventually([&] { return !open->Write("id: 44\n\n"); }));
  server.Stop();
  CHECK(closed == 1);
}

TEST_CASE("A stream still open when the server goes is closed for its producer",
          "[http][console][stream]") {
  auto owned = std::make_unique<HttpServer>(HttpServerOptions{.listen = "127.0.0.1:0",
                                                              .max_body_bytes = 1024,
                                                              .max_connections = 4,
                                                              .read_timeout = 2s,
                                                              .threads = 1});
  HttpServer& server = *owned;
  std::atomic<bool> opened{false};
  std::atomic<int> closed{0};
  server.RouteStream("GET", "/events", [&](HttpRequest&, HttpReply, HttpStreamStart start) {
    auto callbacks = std::make_shared<HttpStreamCallbacks>();
    callbacks->open = [&](std::shared_ptr<HttpStream>) { opened = true; };
    callbacks->closed = [&] { ++closed; };
    start(HttpResponse{}, std::move(callbacks));
  });
  REQUIRE(server.Start().ok());
  const int fd = Connect(server.address());
  const std::string request = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(send(fd, request.data(), request.size(), MSG_NOSIGNAL) > 0);
  REQUIRE(Eventually([&] { return opened.load(); }));
  server.Stop();
  owned.reset();
  CHECK(closed == 1);
  close(fd);
}

alarm::JournalEntry Entry() {
  alarm::JournalEntry e;
  e.seq = 7;
  e.alarm_id = 5;
  e.enterprise_id = "e-1";
  e.region_code = "370105";
  e.enterprise_kind = alarm::EnterpriseKind::kHazardousChemical;
  e.peak_severity = alarm::Severity::kRed;
  e.event.kind = alarm::EventKind::kAcknowledged;
  e.event.actor = "jinan-op";
  e.event.comment = "on it";
  e.event.at = 1000;
  e.event.value = 85.5;
  e.event.reading_at = 990;
  alarm::ActiveAlarm& a = e.event.record;
  a.source_id = "s-1";
  a.rule_id = "temperature-high";
  a.state = alarm::AlarmState::kActiveAcked;
  a.severity = alarm::Severity::kRed;
  a.level = alarm::Level::kHH;
  a.threshold = 80;
  a.trigger_value = 85.5;
  a.trigger_reading_at = 990;
  a.raised_at = 995;
  a.changed_at = 1000;
  return e;
}

TEST_CASE("Alarms and events as JSON: names beside numbers, the registry's names and units",
          "[http][console][json]") {
  alarm::RegistryEntries entries;
  alarm::Enterprise& e = entries.enterprises.emplace_back();
  e.id = "e-1";
  e.name = "Plant One";
  e.kind = alarm::EnterpriseKind::kHazardousChemical;
  e.region_code = "370105";
  alarm::Sensor& s = entries.sensors.emplace_back();
  s.id = "s-1";
  s.enterprise_id = "e-1";
  s.quantity = "temperature";
  s.unit = "degC";
  auto registry = alarm::Registry::Build(std::move(entries));
  REQUIRE(registry);
  const nlohmann::json event = EventJson(Entry(), registry->get());
  CHECK(event["seq"] == 7);
  CHECK(event["kind"] == "acknowledged");
  CHECK(event["actor"] == "jinan-op");
  CHECK(event["comment"] == "on it");
  CHECK(event["value"] == 85.5);
  const nlohmann::json& alarm = event["alarm"];
  CHECK(alarm["alarm_id"] == 5);
  CHECK(alarm["severity"] == 1);
  CHECK(alarm["severity_name"] == "red");
  CHECK(alarm["state"] == "active_acked");
  CHECK(alarm["level"] == "HH");
  CHECK(alarm["kind"] == "threshold");
  CHECK(alarm["enterprise_name"] == "Plant One");
  CHECK(alarm["enterprise_kind"] == "hazardous_chemical");
  CHECK(alarm["sensor_unit"] == "degC");
  CHECK(alarm["sensor_quantity"] == "temperature");
  CHECK(alarm["threshold"] == 80);
  CHECK(alarm["sensor_id"] == "s-1");
  // Without a registry: ids only.
  CHECK_FALSE(AlarmJson(Entry(), nullptr).contains("enterprise_name"));
}

TEST_CASE("The alarm filter from query parameters", "[http][console][json]") {
  std::map<std::string, std::string> params;
  auto param = [&](std::string_view name) -> std::optional<std::string> {
    auto it = params.find(std::string(name));
    if (it == params.end()) return std::nullopt;
    return it->second;
  };
  auto none = FilterFromParams(param);
  REQUIRE(none);
  CHECK(none->region_prefix.empty());
  CHECK(none->min_severity == alarm::Severity::kBlue);

  params = {{"region", "3701"},
            {"min_severity", "2"},
            {"enterprise_kind", "coal_mine,tailings"},
            {"enterprise", "e-1,e-2"}};
  auto some = FilterFromParams(param);
  REQUIRE(some);
  CHECK(some->region_prefix == "3701");
  CHECK(some->min_severity == alarm::Severity::kOrange);
  CHECK(some->enterprise_kinds ==
        std::vector{alarm::EnterpriseKind::kCoalMine, alarm::EnterpriseKind::kTailings});
  CHECK(some->enterprise_ids == std::vector<std::string>{"e-1", "e-2"});

  for (const auto& [key, value] :
       std::map<std::string, std::string>{{"region", "37a"},
                                          {"min_severity", "5"},
                                          {"min_severity", "x"},
                                          {"enterprise_kind", "volcano"}}) {
    params = {{key, value}};
    auto bad = FilterFromParams(param);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == alarm::Status::Code::kInvalidArgument);
    CHECK(bad.error().message().find(key) != std::string::npos);
  }
}

TEST_CASE("Refusals are JSON with the gRPC code's name and the HTTP status", "[http][console]") {
  CHECK(HttpStatusFor(alarm::Status::Code::kUnauthenticated) == 401);
  CHECK(HttpStatusFor(alarm::Status::Code::kPermissionDenied) == 403);
  CHECK(HttpStatusFor(alarm::Status::Code::kNotFound) == 404);
  CHECK(HttpStatusFor(alarm::Status::Code::kInvalidArgument) == 400);
  CHECK(HttpStatusFor(alarm::Status::Code::kUnavailable) == 503);
  const auto body =
      nlohmann::json::parse(ErrorJson(alarm::Status::PermissionDenied("a \"viewer\"\n\xff")));
  CHECK(body["code"] == "PERMISSION_DENIED");
  CHECK(body["error"].get<std::string>().starts_with("a \"viewer\"\n"));
}

TEST_CASE("console config: off by default, checked, non-loopback needs allow_plaintext",
          "[http][console][config]") {
  auto defaults = ParseConfigText("", "test.yaml", "");
  REQUIRE(defaults);
  CHECK_FALSE(defaults->console.enabled);
  CHECK(defaults->console.listen == "127.0.0.1:8088");
  CHECK(CheckListenerSecurity(*defaults).ok());

  auto on = ParseConfigText(
      "console:\n  enabled: true\n  listen: 127.0.0.1:0\n  assets_dir: page\n"
      "  max_connections: 8\n",
      "test.yaml", "/etc/vigil");
  REQUIRE(on);
  CHECK(on->console.enabled);
  CHECK(on->console.listen == "127.0.0.1:0");
  CHECK(on->console.assets_dir == "/etc/vigil/page");  // relative to the config's folder
  CHECK(ConsoleAssetsDir(on->console) == "/etc/vigil/page");
  CHECK(on->console.max_connections == 8);
  auto again = ParseConfigText(FormatEffectiveConfig(*on), "effective.yaml", "");
  REQUIRE(again);
  CHECK(again->console == on->console);
  CHECK_FALSE(ConsoleAssetsDir(defaults->console).empty());  // the installed tree

  CHECK_FALSE(ParseConfigText("console: { listen: nowhere }\n", "t.yaml", ""));
  CHECK_FALSE(ParseConfigText("console: { enabld: true }\n", "t.yaml", ""));
  CHECK_FALSE(ParseConfigText("console: { enabled: maybe }\n", "t.yaml", ""));
  auto open = ParseConfigText("console: { enabled: true, listen: 0.0.0.0:8088 }\n", "t.yaml", "");
  REQUIRE(open);
  CHECK_FALSE(CheckListenerSecurity(*open).ok());
  open->allow_plaintext = true;
  CHECK(CheckListenerSecurity(*open).ok());
  // With server.tls on, the console (and http.listen) speak HTTPS: any address.
  open->allow_plaintext = false;
  open->http.listen = "0.0.0.0:8080";
  CHECK_FALSE(CheckListenerSecurity(*open).ok());
  open->tls.enabled = true;
  CHECK(CheckListenerSecurity(*open).ok());
}

}  // namespace
}  // namespace vigil::server
