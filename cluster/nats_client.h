// NatsClient: one connection to a NATS cluster and the JetStream context on
// it, owned as RAII values (the C client's natsConnection / jsCtx), with
// every NATS failure translated once into an alarm::Status carrying the
// client's own error text. Only cluster/ and its tests include this header
// (it includes <nats/nats.h>); server code sees cluster/jetstream_ingest_log.h.
// Thread-safety: the C client's objects are thread-safe; a NatsClient is
// created and destroyed by one owner, used from any thread in between.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/status.h"
#include "cluster/nats_options.h"

namespace vigil::cluster {

// `what` and the NATS status text, plus the client's last error detail.
alarm::Status NatsError(natsStatus s, std::string_view what);

struct JsCtxDeleter {
  void operator()(jsCtx* js) const { jsCtx_Destroy(js); }
};
using JsContext = std::unique_ptr<jsCtx, JsCtxDeleter>;

class NatsClient {
 public:
  // Connects to one of options.urls. kInvalidArgument on bad options (no URL,
  // unreadable credentials or TLS files), kUnavailable when no server answers.
  static alarm::Result<std::unique_ptr<NatsClient>> Connect(const NatsOptions& options);
  ~NatsClient();  // closes the connection (pending publishes are dropped)
  NatsClient(const NatsClient&) = delete;
  NatsClient& operator=(const NatsClient&) = delete;

  // A JetStream context on this connection; `options` may be null (defaults).
  // The context must be destroyed before this client.
  alarm::Result<JsContext> JetStream(jsOptions* options) const;

  natsConnection* connection() const { return conn_; }
  // True while connected (not reconnecting, not closed).
  bool connected() const;
  // Times the client reconnected (to the same server or another). Thread-safe.
  uint64_t reconnects() const;
  // "CONNECTED", "RECONNECTING", ...
  std::string state() const;

 private:
  explicit NatsClient(natsConnection* conn) : conn_(conn) {}
  natsConnection* conn_;
};

}  // namespace vigil::cluster
