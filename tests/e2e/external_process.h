// E2E helpers for third-party servers the tests run next to vigild (Debian's
// prometheus-alertmanager and prometheus): a child process with its output
// in a log file, a free loopback port, and a small HTTP/1.0 client.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::e2e {

class ExternalProcess {
 public:
  // Starts argv[0] (an absolute path) with `argv`, stdin from /dev/null and
  // stdout + stderr appended to `log_path`. It dies with the test process.
  // Throws std::runtime_error when it cannot be started.
  ExternalProcess(std::vector<std::string> argv, std::filesystem::path log_path);
  // SIGTERM, up to 10 s for it to exit, then SIGKILL; reaped.
  ~ExternalProcess();
  ExternalProcess(const ExternalProcess&) = delete;
  ExternalProcess& operator=(const ExternalProcess&) = delete;

  // True while it has not exited.
  bool running();
  // Everything it printed so far.
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::filesystem::path log_path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound, read back, closed).
int FreePort();

struct HttpResponse {
  int status = 0;  // 0 when there was no answer
  std::string body;
  std::string error;  // why there was no answer
};
// One HTTP/1.0 request to `address` (host:port, IPv4), read to the end.
// Never throws; bounded by `timeout` per socket operation.
HttpResponse HttpRequest(const std::string& method, const std::string& address,
                         const std::string& target, const std::string& body = "",
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Percent-encodes everything but unreserved characters (RFC 3986), for queries.
std::string UrlEncode(std::string_view text);

}  // namespace vigil::e2e
