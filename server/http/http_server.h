// HttpServer: vigild's HTTP/1.1 listener (Boost.Beast), shared by every
// HTTP surface (gateway ingest, the console): a handler is registered per
// method and path. Plain HTTP, or HTTPS with server.tls's certificate (re-read
// every refresh_interval, http_tls.h) and Strict-Transport-Security on every
// answer; a plain HTTP request to an HTTPS port gets a plain 400. It runs on its own io_context
// with `threads` threads named vigil-http, apart from the control thread's io_context, so that
// parsing and decompressing bodies never delays checkpoints, health or signals. Each connection is
// served in order (no pipelining): its next request is read once the handler has replied. Every
// read is bounded in time (read_timeout) and size (16 KiB of headers,
// max_body_bytes of body); connections beyond max_connections are answered
// 503 and closed. Malformed requests get a 4xx and the connection is closed;
// nothing a client sends ends the server.
// Thread-safety: Route() before Start(); Stop() from one thread; a reply may
// be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alarm/status.h"
#include "server/config/options.h"

namespace vigil::server {

struct HttpServerOptions {
  // host:port; port 0 picks a free one.
  std::string listen;
  // Largest request body accepted (as sent); a larger one gets 413.
  uint64_t max_body_bytes = 16u << 20;
  // Connections open at once; one more is answered 503 and closed.
  uint32_t max_connections = 256;
  // A request (and the wait for the next one on a kept-alive connection)
  // must arrive within this; writing a response too.
  std::chrono::milliseconds read_timeout = std::chrono::seconds(30);
  // Threads running the listener's io_context.
  uint32_t threads = 1;
  // HTTPS when enabled (server.tls's files); with client_ca_file, clients
  // are asked for a certificate, verified (and required with
  // require_client_cert), and its names reach handlers as
  // HttpRequest::cert_names. Off: plain HTTP.
  TlsOptions tls = {};
};

struct HttpRequest {
  std::string method;  // "POST"
  std::string path;    // the target up to '?'
  std::string query;   // after '?', as sent
  std::string authorization;
  std::string content_type;
  std::string content_encoding;
  std::string body;
  // The common name and subject alternative names of the client's verified
  // certificate (HTTPS with client_ca_file); empty without one.
  std::vector<std::string> cert_names;
  // Every header as sent (names as sent), for handlers that need more than
  // the fields above.
  std::vector<std::pair<std::string, std::string>> headers;

  // The URL-decoded value of query parameter `name`; nullopt when absent.
  std::optional<std::string> Param(std::string_view name) const;
  // The value of header `name` (case-insensitive); "" when absent.
  std::string_view Header(std::string_view name) const;
};

// The open body of a streamed response (Server-Sent Events), written until
// either side closes it. Thread-safe: any thread may Write and Close.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // Queues `data` for the client. False once the stream is closed (the
  // client left, the server is stopping, or more than 1 MiB was waiting to be
  // sent: a client that cannot keep up is closed and reconnects).
  virtual bool Write(std::string data) = 0;
  // Bytes queued and not yet written.
  virtual size_t buffered() const = 0;
  // Ends the response once what was written before has been sent.
  virtual void Close() = 0;
};

// Callbacks of a streamed response, set by the handler in its reply. Both run
// on a vigil-http thread and must not block.
struct HttpStreamCallbacks {
  // The header was sent: `stream` may be written from now on.
  std::function<void(std::shared_ptr<HttpStream> stream)> open;
  // Everything queued was written (pace the producer with it).
  std::function<void()> drained;
  // The stream ended, for whatever reason (at the latest when the HttpServer
  // is destroyed); runs once if `open` ran. Drop every reference to the
  // stream here.
  std::function<void()> closed;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
};

// Answers a request; call exactly once, from any thread. The request stays
// valid until then.
using HttpReply = std::function<void(HttpResponse)>;
// Runs on a vigil-http thread; must not block (hand long work elsewhere and
// reply from there).
using HttpHandler = std::function<void(HttpRequest& request, HttpReply reply)>;
// Starts a streamed response: sends `head`'s status and headers (its body is
// ignored; no Content-Length, the body lasts until either side closes and
// the connection is not reused), then calls `callbacks`. Call it, or the
// reply, exactly once, from any thread.
using HttpStreamStart =
    std::function<void(HttpResponse head, std::shared_ptr<HttpStreamCallbacks> callbacks)>;
// A handler that may answer with a stream (RouteStream); same thread rules
// as HttpHandler.
using HttpStreamHandler =
    std::function<void(HttpRequest& request, HttpReply reply, HttpStreamStart start)>;

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves `method` `path` (exact match) with `handler`. REQUIRES: before Start().
  void Route(std::string method, std::string path, HttpHandler handler);
  // The same for a handler that may stream its answer (Server-Sent Events).
  void RouteStream(std::string method, std::string path, HttpStreamHandler handler);

  // Binds and starts the threads. kUnavailable when the address cannot be
  // bound; kInvalidArgument when it is not host:port.
  alarm::Status Start();
  // The address actually bound ("127.0.0.1:43121").
  const std::string& address() const { return address_; }

  // Stops accepting, closes every connection and joins the threads. Replies
  // called after this are dropped. REQUIRES: no reply is called concurrently
  // with or after the destructor (vigild stops the storage writer, which
  // answers every batch in flight, before it).
  void Stop();

  // For /metrics and tests: connections refused at max_connections, and
  // requests answered with a 4xx for being malformed or too large.
  uint64_t connections_refused() const;
  uint64_t requests_malformed() const;
  // Responses answered with `status` (400..599; 0 for any other): every
  // refusal, from the listener's own (413, 431, 503 at max_connections) to
  // the handlers' (401, 403, 429, ...). Any thread.
  uint64_t refusals(unsigned status) const;

  // Whether the listener speaks HTTPS (options.tls.enabled).
  bool tls() const;
  // HTTPS: connections that failed the TLS handshake or sent plain HTTP.
  uint64_t handshakes_failed() const;
  // HTTPS: certificate changes taken since start.
  uint64_t certificate_reloads() const;

  // Answers by route (the registered path; "other" for a path none
  // serves) and status class (1..5 for 1xx..5xx); only non-zero counts.
  // A streamed response counts once, when its header is sent. Any thread.
  struct RouteCount {
    std::string route;
    unsigned status_class = 0;
    uint64_t count = 0;
  };
  std::vector<RouteCount> RequestCounts() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

// `text` with %XX and '+' decoded (application/x-www-form-urlencoded);
// invalid escapes are kept as they are.
std::string UrlDecode(std::string_view text);

}  // namespace vigil::server
