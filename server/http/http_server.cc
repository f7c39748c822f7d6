#include "server/http/http_server.h"

// Before Asio: g++ 12 in C++20 needs <utility> ahead of asio's awaitable.hpp.
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <map>
#include <thread>
#include <type_traits>
#include <utility>

#include "server/http/http_tls.h"
#include "server/log/log.h"
#include "server/log/thread_name.h"

namespace vigil::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

constexpr uint32_t kHeaderLimit = 16 * 1024;
// The most a large body is read at a time (the buffer kept per connection).
constexpr size_t kBodyReadSize = 64 * 1024;

struct Routes {
  // (method, path) -> handler; and the paths known under any method (405).
  std::map<std::pair<std::string, std::string>, HttpHandler> handlers;
  std::map<std::pair<std::string, std::string>, HttpStreamHandler> streams;
};

// Answers of one route (or of none), by status class 1xx..5xx.
using StatusClassCounts = std::array<std::atomic<uint64_t>, 5>;

struct Shared {
  HttpServerOptions options;
  Routes routes;
  std::atomic<uint32_t> connections{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> malformed{0};
  // Responses with status 400..599, by status - 400 (vigil_http_refusals_total).
  std::array<std::atomic<uint64_t>, 200> refusals{};
  // Answers by route path (filled at Start, read-only after) and of no route.
  std::map<std::string, StatusClassCounts> by_route;
  StatusClassCounts unrouted{};
  // HTTPS: the certificate in force (null: plain HTTP), and connections that
  // failed their handshake or spoke plain HTTP to it.
  std::unique_ptr<HttpTlsContext> tls;
  std::atomic<uint64_t> handshakes_failed{0};
};

// One open connection, counted against max_connections until destroyed.
class ConnectionSlot {
 public:
  ConnectionSlot(Shared* shared, bool counted) : shared_(shared), counted_(counted) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept
      : shared_(other.shared_), counted_(std::exchange(other.counted_, false)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (counted_) shared_->connections.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  Shared* shared_;
  bool counted_;
};

// What a Session answers before (or instead of) reading requests.
enum class Greeting {
  kServe,
  kTooMany,        // 503: max_connections reached
  kHttpsRequired,  // 400: plain HTTP on an HTTPS port
};

std::string ErrorBody(std::string_view message) {
  std::string out = "{\"error\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  out += "\"}";
  return out;
}

// One connection. Stream is beast::tcp_stream (plain HTTP) or TlsStream
// (HTTPS: the handshake comes first, every answer carries HSTS).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;
  using std::enable_shared_from_this<Session<Stream>>::weak_from_this;

  // A reference to the session that, when the last copy goes on whatever
  // thread, hands the session's release to its executor.
  struct ExecutorRef {
    explicit ExecutorRef(std::shared_ptr<Session> s) : session(std::move(s)) {}
    ExecutorRef(const ExecutorRef&) = delete;
    ExecutorRef& operator=(const ExecutorRef&) = delete;
    ~ExecutorRef() {
      auto executor = session->stream_.get_executor();
      net::post(executor, [last = std::move(session)] {});
    }
    std::shared_ptr<Session> session;
  };

 public:
  // Plain HTTP.
  Session(beast::tcp_stream stream, beast::flat_buffer buffer, Shared* shared, ConnectionSlot slot,
          Greeting greeting) requires(!kTls)
      : stream_(std::move(stream)),
        shared_(shared),
        slot_(std::move(slot)),
        greeting_(greeting),
        buffer_(std::move(buffer)) {}
  // HTTPS with `context`; `buffer` holds what was read to detect TLS.
  Session(beast::tcp_stream stream, beast::flat_buffer buffer, Shared* shared, ConnectionSlot slot,
          Greeting greeting, std::shared_ptr<ssl::context> context) requires kTls
      : context_(std::move(context)),
        stream_(std::move(stream), *context_),
        shared_(shared),
        slot_(std::move(slot)),
        greeting_(greeting),
        buffer_(std::move(buffer)) {}

  ~Session() {
    // A stream cut short by Stop(): its producer still hears of it.
    NotifyStreamClosed();
  }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->Greet();
      }
    });
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void Handshake() requires kTls {
    Lowest().expires_after(shared_->options.read_timeout);
    stream_.async_handshake(ssl::stream_base::server, buffer_.data(),
                            [self = shared_from_this()](beast::error_code ec, size_t used) {
                              if (ec) {
                                self->shared_->handshakes_failed.fetch_add(
                                    1, std::memory_order_relaxed);
                                self->Lowest().close();
                                return;
                              }
                              self->buffer_.consume(used);
                              self->NotePeerCertificate();
                              self->Greet();
                            });
  }

  // A verified client certificate names its gateway (api/access.h).
  void NotePeerCertificate() requires kTls {
    SSL* native = stream_.native_handle();
    X509* cert = SSL_get1_peer_certificate(native);
    if (cert == nullptr) return;
    if (SSL_get_verify_result(native) == X509_V_OK) cert_names_ = CertificateNames(cert);
    X509_free(cert);
  }

  void Greet() {
    if (greeting_ == Greeting::kServe) {
      ReadHeader();
      return;
    }
    version_ = 11;
    HttpResponse r;
    if (greeting_ == Greeting::kTooMany) {
      r.status = 503;
      r.body = ErrorBody("too many connections (http.max_connections); retry later");
      r.headers.emplace_back("Retry-After", "1");
    } else {
      r.status = 400;
      r.body = ErrorBody("this port speaks HTTPS only (server.tls is on): use https://");
    }
    Send(std::move(r), /*close=*/true);
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(shared_->options.max_body_bytes);
    Lowest().expires_after(shared_->options.read_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) {
      ReadFailed(ec);
      return;
    }
    const auto& header = parser_->get();
    version_ = header.version();
    if (beast::iequals(header[bhttp::field::expect], "100-continue")) {
      // curl asks before sending a large body; say yes (the limits were
      // already checked against Content-Length by the parser).
      continue_.emplace(bhttp::status::continue_, header.version());
      bhttp::async_write(stream_, *continue_,
                         [self = shared_from_this()](beast::error_code ec2, size_t) {
                           if (ec2) return self->Close();
                           self->ReadBody();
                         });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    // Beast reads at most the buffer's free capacity (512 bytes at least)
    // and the parser empties the buffer into the body after each read: a
    // 450 KB body took ~900 reads and ~300 epoll waits. 64 KiB reads instead
    // (kept for the connection's next requests).
    if (parser_->content_length().value_or(0) > kHeaderLimit) buffer_.reserve(kBodyReadSize);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRequest(ec); });
  }

  void ReadFailed(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == ssl::error::stream_truncated) {
      Close();
      return;
    }
    shared_->malformed.fetch_add(1, std::memory_order_relaxed);
    HttpResponse r;
    if (ec == bhttp::error::body_limit) {
      r.status = 413;
      r.body = ErrorBody("the body is larger than http.max_body_bytes (" +
                         std::to_string(shared_->options.max_body_bytes) + " bytes)");
    } else if (ec == bhttp::error::header_limit) {
      r.status = 431;
      r.body = ErrorBody("the request headers are larger than 16 KiB");
    } else {
      r.status = 400;
      r.body = ErrorBody("malformed HTTP request: " + ec.message());
    }
    if (version_ == 0) version_ = 11;
    Send(std::move(r), /*close=*/true);
  }

  void OnRequest(beast::error_code ec) {
    if (ec) {
      ReadFailed(ec);
      return;
    }
    bhttp::request<bhttp::string_body> message = parser_->release();
    keep_alive_ = message.keep_alive();
    request_.method = std::string(message.method_string());
    const std::string_view target(message.target().data(), message.target().size());
    const size_t q = target.find('?');
    request_.path = std::string(target.substr(0, q));
    request_.query = q == std::string_view::npos ? "" : std::string(target.substr(q + 1));
    request_.authorization = std::string(message[bhttp::field::authorization]);
    request_.content_type = std::string(message[bhttp::field::content_type]);
    request_.content_encoding = std::string(message[bhttp::field::content_encoding]);
    request_.body = std::move(message.body());
    request_.cert_names = cert_names_;
    for (const auto& field : message) {
      request_.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    const auto counts = shared_->by_route.find(request_.path);
    counts_ = counts == shared_->by_route.end() ? &shared_->unrouted : &counts->second;

    auto it = shared_->routes.handlers.find({request_.method, request_.path});
    auto streamed = shared_->routes.streams.find({request_.method, request_.path});
    if (it == shared_->routes.handlers.end() && streamed == shared_->routes.streams.end()) {
      HttpResponse r;
      std::string allow;
      for (const auto& [key, handler] : shared_->routes.handlers) {
        if (key.second != request_.path) continue;
        if (!allow.empty()) allow += ", ";
        allow += key.first;
      }
      for (const auto& [key, handler] : shared_->routes.streams) {
        if (key.second != request_.path) continue;
        if (!allow.empty()) allow += ", ";
        allow += key.first;
      }
      if (allow.empty()) {
        r.status = 404;
        r.body = ErrorBody("no such path: " + request_.path.substr(0, 128));
      } else {
        r.status = 405;
        r.body = ErrorBody(request_.method.substr(0, 16) + " is not allowed here; use " + allow);
        r.headers.emplace_back("Allow", allow);
      }
      Send(std::move(r), !keep_alive_);
      return;
    }
    // No read timer while the handler works (storage answers every batch).
    Lowest().expires_never();
    // The handler may answer, and drop its callbacks, on any thread: `ref`
    // releases the session on its own executor, so the session (its socket
    // and timer) is never destroyed on a foreign thread while this one may
    // still touch them.
    auto ref = std::make_shared<ExecutorRef>(shared_from_this());
    HttpReply reply = [ref](HttpResponse response) {
      net::post(ref->session->stream_.get_executor(),
                [self = ref->session, response = std::move(response)]() mutable {
                  self->Send(std::move(response), !self->keep_alive_);
                });
    };
    if (streamed != shared_->routes.streams.end()) {
      streamed->second(request_, std::move(reply),
                       [ref](HttpResponse head, std::shared_ptr<HttpStreamCallbacks> callbacks) {
                         net::post(ref->session->stream_.get_executor(),
                                   [self = ref->session, head = std::move(head),
                                    callbacks = std::move(callbacks)]() mutable {
                                     self->StartStream(head, std::move(callbacks));
                                   });
                       });
      return;
    }
    it->second(request_, std::move(reply));
  }

  void Count(unsigned status) {
    if (status >= 400 && status < 600) {
      shared_->refusals[status - 400].fetch_add(1, std::memory_order_relaxed);
    }
    StatusClassCounts* counts = counts_ != nullptr ? counts_ : &shared_->unrouted;
    if (status >= 100 && status < 600) {
      (*counts)[status / 100 - 1].fetch_add(1, std::memory_order_relaxed);
    }
  }

  template <class Message>
  void SetCommonHeaders(Message& message) {
    message.set(bhttp::field::server, "vigild");
    // HTTPS only from now on, for a year: a browser that once reached the
    // console over TLS never falls back to plain HTTP on this host.
    if constexpr (kTls) message.set(bhttp::field::strict_transport_security, "max-age=31536000");
  }

  void Send(HttpResponse r, bool close) {
    Count(r.status);
    response_.emplace(static_cast<bhttp::status>(r.status), version_ == 0 ? 11 : version_);
    SetCommonHeaders(*response_);
    if (!r.body.empty() || r.status != 204) {
      response_->set(bhttp::field::content_type, r.content_type);
    }
    for (const auto& [name, value] : r.headers) response_->set(name, value);
    response_->body() = std::move(r.body);
    response_->keep_alive(!close);
    response_->prepare_payload();
    close_after_ = close;
    Lowest().expires_after(shared_->options.read_timeout);
    bhttp::async_write(
        stream_, *response_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWritten(ec); });
  }

  void OnWritten(beast::error_code ec) {
    response_.reset();
    request_ = HttpRequest{};
    counts_ = nullptr;
    if (ec || close_after_) {
      Close();
      return;
    }
    ReadHeader();
  }

  // Ends the connection gracefully: after our FIN (HTTPS: our close_notify),
  // what the client still sends is read and dropped (at most 1 s) before the
  // socket closes, since closing with unread input resets the connection and
  // the client could lose the error response it has not read yet.
  void Close() {
    Lowest().expires_after(std::chrono::seconds(1));
    if constexpr (kTls) {
      stream_.async_shutdown(
          [self = shared_from_this()](beast::error_code) { self->Lowest().close(); });
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      Drain();
    }
  }

  void Drain() {
    stream_.async_read_some(net::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) {
                                self->Lowest().close();
                                return;
                              }
                              self->Drain();
                            });
  }

  // ---- Streamed responses (HttpResponse::stream) ----
  // The header goes out without a length (the body ends when the connection
  // closes); then queued writes, one at a time, each bounded by
  // read_timeout; a read notices the client leaving.

  class Handle final : public HttpStream {
   public:
    explicit Handle(std::weak_ptr<Session> session) : session_(std::move(session)) {}
    bool Write(std::string data) override {
      if (closed_.load(std::memory_order_acquire)) return false;
      auto session = session_.lock();
      if (session == nullptr) return false;
      if (buffered_.fetch_add(data.size(), std::memory_order_relaxed) + data.size() >
          kMaxStreamBuffered) {
        Close();
        return false;
      }
      net::post(session->stream_.get_executor(), [session, data = std::move(data)]() mutable {
        session->QueueStream(std::move(data));
      });
      return true;
    }
    size_t buffered() const override { return buffered_.load(std::memory_order_relaxed); }
    void Close() override {
      if (closed_.exchange(true, std::memory_order_acq_rel)) return;
      if (auto session = session_.lock()) {
        net::post(session->stream_.get_executor(), [session] { session->FinishStream(); });
      }
    }
    std::weak_ptr<Session> session_;
    std::atomic<bool> closed_{false};
    std::atomic<size_t> buffered_{0};
  };
  static constexpr size_t kMaxStreamBuffered = 1u << 20;

  void StartStream(const HttpResponse& r, std::shared_ptr<HttpStreamCallbacks> callbacks) {
    Count(r.status);
    callbacks_ = std::move(callbacks);
    handle_ = std::make_shared<Handle>(weak_from_this());
    stream_header_.emplace(static_cast<bhttp::status>(r.status), version_ == 0 ? 11 : version_);
    SetCommonHeaders(*stream_header_);
    stream_header_->set(bhttp::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) stream_header_->set(name, value);
    stream_header_->keep_alive(false);
    stream_serializer_.emplace(*stream_header_);
    Lowest().expires_after(shared_->options.read_timeout);
    bhttp::async_write_header(stream_, *stream_serializer_,
                              [self = shared_from_this()](beast::error_code ec, size_t) {
                                if (ec) {
                                  self->EndStream();
                                  return;
                                }
                                self->Lowest().expires_never();
                                self->WatchPeer();
                                if (self->callbacks_->open) self->callbacks_->open(self->handle_);
                              });
  }

  // A client has nothing to say on a stream; a read ends when it leaves. Over
  // TLS the read goes through the TLS layer (it may carry alerts); plain, on
  // the bare socket, apart from the stream's write timer.
  void WatchPeer() {
    const auto on_read = [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->EndStream();
        return;
      }
      self->WatchPeer();
    };
    if constexpr (kTls) {
      stream_.async_read_some(net::buffer(drain_), on_read);
    } else {
      stream_.socket().async_read_some(net::buffer(drain_), on_read);
    }
  }

  void QueueStream(std::string data) {
    if (stream_ended_) return;
    stream_out_.push_back(std::move(data));
    if (!stream_writing_) WriteStream();
  }

  void WriteStream() {
    stream_writing_ = true;
    Lowest().expires_after(shared_->options.read_timeout);
    net::async_write(stream_, net::buffer(stream_out_.front()),
                     [self = shared_from_this()](beast::error_code ec, size_t n) {
                       self->stream_writing_ = false;
                       self->handle_->buffered_.fetch_sub(n, std::memory_order_relaxed);
                       if (ec || self->stream_ended_) {
                         self->EndStream();
                         return;
                       }
                       self->stream_out_.pop_front();
                       if (!self->stream_out_.empty()) {
                         self->WriteStream();
                         return;
                       }
                       if (self->finish_when_flushed_) {
                         self->EndStream();
                         return;
                       }
                       self->Lowest().expires_never();
                       if (self->callbacks_->drained) self->callbacks_->drained();
                     });
  }

  // The producer closed the stream: what it queued is still sent.
  void FinishStream() {
    if (stream_writing_ || !stream_out_.empty()) {
      finish_when_flushed_ = true;
      return;
    }
    EndStream();
  }

  // Ends a streamed response once: tells the producer, then closes.
  void EndStream() {
    if (stream_ended_) return;
    stream_ended_ = true;
    handle_->closed_.store(true, std::memory_order_release);
    NotifyStreamClosed();
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  void NotifyStreamClosed() {
    if (callbacks_ == nullptr) return;
    auto closed = std::move(callbacks_->closed);
    callbacks_->open = nullptr;
    callbacks_->drained = nullptr;
    if (closed) closed();
  }

  std::shared_ptr<ssl::context> context_;  // HTTPS: outlives stream_
  Stream stream_;
  Shared* shared_;
  ConnectionSlot slot_;
  const Greeting greeting_;
  beast::flat_buffer buffer_;  // unbounded: the parser enforces the limits
  std::array<char, 4096> drain_{};
  std::vector<std::string> cert_names_;  // of a verified client certificate
  StatusClassCounts* counts_ = nullptr;  // the current request's route
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  HttpRequest request_;
  std::shared_ptr<HttpStreamCallbacks> callbacks_;  // set once streaming
  std::shared_ptr<Handle> handle_;
  std::optional<bhttp::response<bhttp::empty_body>> stream_header_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> stream_serializer_;
  std::deque<std::string> stream_out_;
  bool stream_writing_ = false;
  bool stream_ended_ = false;
  bool finish_when_flushed_ = false;
  unsigned version_ = 0;
  bool keep_alive_ = false;
  bool close_after_ = false;
};

// An HTTPS port's first read: a TLS ClientHello goes on to a TLS session, a
// plain HTTP request gets a plain 400 saying to use https:// (rather than a
// connection reset the user cannot read), anything else is closed.
class TlsDetector : public std::enable_shared_from_this<TlsDetector> {
 public:
  TlsDetector(tcp::socket socket, Shared* shared, ConnectionSlot slot, Greeting greeting)
      : stream_(std::move(socket)), shared_(shared), slot_(std::move(slot)), greeting_(greeting) {}

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->stream_.expires_after(self->shared_->options.read_timeout);
      beast::async_detect_ssl(self->stream_, self->buffer_, [self](beast::error_code ec, bool tls) {
        self->OnDetected(ec, tls);
      });
    });
  }

 private:
  void OnDetected(beast::error_code ec, bool tls) {
    if (ec) {
      stream_.close();
      return;
    }
    if (tls) {
      std::make_shared<Session<TlsStream>>(std::move(stream_), std::move(buffer_), shared_,
                                           std::move(slot_), greeting_, shared_->tls->Current())
          ->Start();
      return;
    }
    shared_->handshakes_failed.fetch_add(1, std::memory_order_relaxed);
    std::make_shared<Session<beast::tcp_stream>>(std::move(stream_), std::move(buffer_), shared_,
                                                 std::move(slot_), Greeting::kHttpsRequired)
        ->Start();
  }

  beast::tcp_stream stream_;
  Shared* shared_;
  ConnectionSlot slot_;
  const Greeting greeting_;
  beast::flat_buffer buffer_;
};

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(HttpServerOptions options) { shared_.options = std::move(options); }

  alarm::Status Start(std::string* address) {
    if (shared_.options.tls.enabled) {
      auto tls = HttpTlsContext::Load(shared_.options.tls);
      if (!tls) return tls.error();
      shared_.tls = std::move(*tls);
    }
    for (const auto& [key, handler] : shared_.routes.handlers) shared_.by_route[key.second];
    for (const auto& [key, handler] : shared_.routes.streams) shared_.by_route[key.second];
    const std::string& listen = shared_.options.listen;
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return alarm::Status::InvalidArgument("http.listen '" + listen + "' is not host:port");
    }
    std::string host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host == "localhost") host = "127.0.0.1";
    beast::error_code ec;
    const net::ip::address ip = net::ip::make_address(host, ec);
    if (ec) {
      return alarm::Status::InvalidArgument("http.listen '" + listen +
                                            "': not an IP address: " + ec.message());
    }
    uint16_t port = 0;
    try {
      port = static_cast<uint16_t>(std::stoul(listen.substr(colon + 1)));
    } catch (const std::exception&) {
      return alarm::Status::InvalidArgument("http.listen '" + listen + "': bad port");
    }
    const tcp::endpoint endpoint(ip, port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return alarm::Status::Unavailable("cannot listen for HTTP on " + listen + ": " +
                                        ec.message());
    }
    const tcp::endpoint bound = acceptor_.local_endpoint();
    const std::string bound_host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                           : bound.address().to_string();
    *address = bound_host + ":" + std::to_string(bound.port());
    address_ = *address;
    Accept();
    if (shared_.tls != nullptr) WatchCertificate();
    const uint32_t n = std::max(1u, shared_.options.threads);
    for (uint32_t i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        NameThisThread("vigil-http");
        io_.run();
      });
    }
    return alarm::Status::Ok();
  }

  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    net::post(io_, [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      refresh_.cancel();
    });
    work_.reset();
    io_.stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  Shared shared_;

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
      if (ec == net::error::operation_aborted) return;  // stopping
      if (!ec) {
        const bool refuse = shared_.connections.fetch_add(1, std::memory_order_relaxed) >=
                            shared_.options.max_connections;
        if (refuse) {
          shared_.connections.fetch_sub(1, std::memory_order_relaxed);
          shared_.refused.fetch_add(1, std::memory_order_relaxed);
        }
        ConnectionSlot slot(&shared_, !refuse);
        const Greeting greeting = refuse ? Greeting::kTooMany : Greeting::kServe;
        if (shared_.tls != nullptr) {
          std::make_shared<TlsDetector>(std::move(s), &shared_, std::move(slot), greeting)->Start();
        } else {
          std::make_shared<Session<beast::tcp_stream>>(beast::tcp_stream(std::move(s)),
                                                       beast::flat_buffer(), &shared_,
                                                       std::move(slot), greeting)
              ->Start();
        }
      }
      Accept();
    });
  }

  // server.tls's files are re-read every refresh_interval, as gRPC's watcher
  // does for the gRPC port: changed, valid files serve new connections.
  void WatchCertificate() {
    refresh_.expires_after(shared_.options.tls.refresh_interval);
    refresh_.async_wait([this](beast::error_code ec) {
      if (ec) return;  // stopping
      auto changed = shared_.tls->Reload();
      if (!changed) {
        if (changed.error().message() != last_tls_error_) {
          last_tls_error_ = changed.error().message();
          LogError("https_certificate_invalid",
                   {{"listen", address_},
                    {"error", last_tls_error_},
                    {"effect", "new connections keep the last good certificate"}});
        }
      } else if (*changed) {
        last_tls_error_.clear();
        LogInfo("https_certificate_reloaded", {{"listen", address_}});
      }
      WatchCertificate();
    });
  }

  net::io_context io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{
      net::make_work_guard(io_)};
  tcp::acceptor acceptor_{io_};
  net::steady_timer refresh_{io_};
  std::string address_;         // bound; set by Start
  std::string last_tls_error_;  // only the refresh timer's handler
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string method, std::string path, HttpHandler handler) {
  impl_->shared_.routes.handlers[{std::move(method), std::move(path)}] = std::move(handler);
}

void HttpServer::RouteStream(std::string method, std::string path, HttpStreamHandler handler) {
  impl_->shared_.routes.streams[{std::move(method), std::move(path)}] = std::move(handler);
}

alarm::Status HttpServer::Start() { return impl_->Start(&address_); }
void HttpServer::Stop() { impl_->Stop(); }

uint64_t HttpServer::connections_refused() const {
  return impl_->shared_.refused.load(std::memory_order_relaxed);
}
uint64_t HttpServer::refusals(unsigned status) const {
  if (status < 400 || status >= 600) return 0;
  return impl_->shared_.refusals[status - 400].load(std::memory_order_relaxed);
}

uint64_t HttpServer::requests_malformed() const {
  return impl_->shared_.malformed.load(std::memory_order_relaxed);
}

bool HttpServer::tls() const { return impl_->shared_.options.tls.enabled; }

uint64_t HttpServer::handshakes_failed() const {
  return impl_->shared_.handshakes_failed.load(std::memory_order_relaxed);
}

uint64_t HttpServer::certificate_reloads() const {
  return impl_->shared_.tls != nullptr ? impl_->shared_.tls->reloads() : 0;
}

std::vector<HttpServer::RouteCount> HttpServer::RequestCounts() const {
  std::vector<RouteCount> out;
  const auto add = [&out](const std::string& route, const StatusClassCounts& counts) {
    for (unsigned c = 0; c < counts.size(); ++c) {
      const uint64_t n = counts[c].load(std::memory_order_relaxed);
      if (n != 0) out.push_back({.route = route, .status_class = c + 1, .count = n});
    }
  };
  for (const auto& [route, counts] : impl_->shared_.by_route) add(route, counts);
  add("other", impl_->shared_.unrouted);
  return out;
}

std::string UrlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, beast::string_view(name.data(), name.size()))) return value;
  }
  return {};
}

std::optional<std::string> HttpRequest::Param(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (UrlDecode(pair.substr(0, eq)) != name) continue;
    return eq == std::string_view::npos ? std::string() : UrlDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace vigil::server
