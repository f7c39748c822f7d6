#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "server/config/config.h"

namespace vigil::server {
namespace {

using namespace std::chrono_literals;

// A blocking client socket with a receive timeout.
class Client {
 public:
  explicit Client(const std::string& address) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~Client() { close(fd_); }

  void Send(const std::string& data) {
    REQUIRE(send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
  }
  // Reads one response (headers and Content-Length body); "" when the
  // server closed the connection first.
  std::string Response() {
    std::string out;
    char buf[4096];
    while (true) {
      const size_t end = out.find("\r\n\r\n");
      if (end != std::string::npos) {
        const size_t cl = out.find("Content-Length: ");
        const size_t length = cl == std::string::npos ? 0 : std::stoul(out.substr(cl + 16));
        if (out.size() >= end + 4 + length) return out;
      }
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  // True when the server has closed the connection (read returns 0).
  bool Closed() {
    char c;
    return recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
};

std::string Post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + extra + "\r\n" + body;
}

TEST_CASE("HttpServer routes, keeps connections alive, and replies from any thread",
          "[http][server]") {
  HttpServer server({.listen = "127.0.0.1:0",
                     .max_body_bytes = 1024,
                     .max_connections = 16,
                     .read_timeout = 500ms,
                     .threads = 1});
  server.Route("POST", "/echo", [](HttpRequest& request, HttpReply reply) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = request.body + "|" + request.Param("q").value_or("-");
    // Answered later from another thread, as the storage writer does.
    std::thread([reply, r]() mutable { reply(std::move(r)); }).detach();
  });
  REQUIRE(server.Start().ok());

  Client c(server.address());
  c.Send(Post("/echo?q=a%20b+c", "one"));
  std::string r = c.Response();
  CHECK(r.starts_with("HTTP/1.1 200"));
  CHECK(r.ends_with("one|a b c"));
  c.Send(Post("/echo", "two"));  // the same connection
  CHECK(c.Response().ends_with("two|-"));
  c.Send(Post("/nowhere", ""));
  CHECK(c.Response().starts_with("HTTP/1.1 404"));
  c.Send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  r = c.Response();
  CHECK(r.starts_with("HTTP/1.1 405"));
  CHECK(r.find("Allow: POST") != std::string::npos);
  // Answers by route and status class (vigil_console_requests_total).
  const auto count = [&server](const std::string& route, unsigned status_class) {
    for (const HttpServer::RouteCount& rc : server.RequestCounts()) {
      if (rc.route == route && rc.status_class == status_class) return rc.count;
    }
    return uint64_t{0};
  };
  CHECK(count("/echo", 2) == 2);
  CHECK(count("/echo", 4) == 1);     // the 405
  CHECK(count("other", 4) == 1);     // /nowhere's 404
  CHECK(count("/nowhere", 4) == 0);  // no label per unknown path

  SECTION("a body over the limit is refused from its Content-Length") {
    Client big(server.address());
    big.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    CHECK(big.Response().starts_with("HTTP/1.1 413"));
    CHECK(big.Closed());
  }
  SECTION("headers over 16 KiB get 431") {
    Client big(server.address());
    big.Send("POST /echo HTTP/1.1\r\nX-Big: " + std::string(20'000, 'a') + "\r\n\r\n");
    const std::string response = big.Response();
    INFO(response);
    CHECK(response.starts_with("HTTP/1.1 431"));
  }
  SECTION("garbage gets 400 and the connection is closed") {
    Client bad(server.address());
    bad.Send("\x16\x03\x01\x02 hello\r\n\r\n");
    CHECK(bad.Response().starts_with("HTTP/1.1 400"));
    CHECK(bad.Closed());
  }
  SECTION("a client that stops sending is dropped after read_timeout") {
    Client slow(server.address());
    slow.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    const auto start = std::chrono::steady_clock::now();
    CHECK(slow.Closed());
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }
  server.Stop();
}

TEST_CASE("HttpServer answers a connection beyond max_connections 503", "[http][server]") {
  HttpServer server({.listen = "127.0.0.1:0", .max_connections = 1});
  server.Route("POST", "/echo", [](HttpRequest& request, const HttpReply& reply) {
    reply(HttpResponse{
        .status = 200, .content_type = "text/plain", .body = request.body, .headers = {}});
  });
  REQUIRE(server.Start().ok());
  Client first(server.address());
  first.Send(Post("/echo", "1"));
  CHECK(first.Response().starts_with("HTTP/1.1 200"));
  Client second(server.address());
  const std::string refused = second.Response();
  CHECK(refused.starts_with("HTTP/1.1 503"));
  CHECK(refused.find("Retry-After: 1") != std::string::npos);
  CHECK(server.connections_refused() == 1);
  // The first is still served.
  first.Send(Post("/echo", "2"));
  CHECK(first.Response().ends_with("2"));
}

TEST_CASE("http config: defaults off, keys checked, non-loopback needs allow_plaintext",
          "[http][config]") {
  auto defaults = ParseConfigText("", "test.yaml", "");
  REQUIRE(defaults);
  CHECK(defaults->http.listen.empty());
  auto on = ParseConfigText(
      "http:\n  listen: 127.0.0.1:8080\n  max_body_bytes: 1MiB\n  threads: 2\n"
      "  line_protocol: { sensor_id: \"{site}.{field}\", max_fields_per_line: 50 }\n",
      "test.yaml", "");
  REQUIRE(on);
  CHECK(on->http.listen == "127.0.0.1:8080");
  CHECK(on->http.max_body_bytes == 1u << 20);
  CHECK(on->http.threads == 2);
  CHECK(on->http.sensor_id_template == "{site}.{field}");
  CHECK(on->http.max_fields_per_line == 50);
  CHECK(CheckListenerSecurity(*on).ok());
  // The effective config parses back to itself.
  auto again = ParseConfigText(FormatEffectiveConfig(*on), "effective.yaml", "");
  REQUIRE(again);
  CHECK(again->http == on->http);

  auto bad = ParseConfigText("http: { line_protocol: { sensor_id: \"{site\" } }\n", "t.yaml", "");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message().find("http.line_protocol.sensor_id") != std::string::npos);
  CHECK_FALSE(ParseConfigText("http: { listen: nowhere }\n", "t.yaml", ""));
  CHECK_FALSE(ParseConfigText("http: { lisen: 127.0.0.1:1 }\n", "t.yaml", ""));

  auto open = ParseConfigText("http: { listen: 0.0.0.0:8080 }\n", "t.yaml", "");
  REQUIRE(open);
  CHECK_FALSE(CheckListenerSecurity(*open).ok());
  open->allow_plaintext = true;
  CHECK(CheckListenerSecurity(*open).ok());
}

}  // namespace
}  // namespace vigil::server
