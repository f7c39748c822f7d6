#include "cluster/nats_client.h"

namespace vigil::cluster {
namespace {

// natsOptions as a scoped value.
struct OptionsDeleter {
  void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};

}  // namespace

alarm::Status NatsError(natsStatus s, std::string_view what) {
  std::string text(what);
  text += ": ";
  text += natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0' && last == s) {
    text += " (";
    text += detail;
    text += ")";
  }
  switch (s) {
    case NATS_INVALID_ARG:
    case NATS_ILLEGAL_STATE:
    case NATS_MAX_PAYLOAD:
      return alarm::Status::InvalidArgument(std::move(text));
    case NATS_NOT_PERMITTED:
    case NATS_CONNECTION_AUTH_FAILED:
      return alarm::Status::PermissionDenied(std::move(text));
    case NATS_NO_MEMORY:
      return alarm::Status::ResourceExhausted(std::move(text));
    default:  // timeouts, no responders, connection and TLS failures
      return alarm::Status::Unavailable(std::move(text));
  }
}

alarm::Result<std::unique_ptr<NatsClient>> NatsClient::Connect(const NatsOptions& options) {
  if (options.urls.empty()) return alarm::Status::InvalidArgument("nats: no server URL");
  natsOptions* raw = nullptr;
  natsStatus s = natsOptions_Create(&raw);
  if (s != NATS_OK) return NatsError(s, "nats options");
  std::unique_ptr<natsOptions, OptionsDeleter> opts(raw);
  std::vector<const char*> urls;
  urls.reserve(options.urls.size());
  for (const std::string& u : options.urls) urls.push_back(u.c_str());
  s = natsOptions_SetServers(opts.get(), urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), options.connect_timeout.count());
  // Writes each publish at once: the client's flusher otherwise batches
  // writes and adds about 1 ms to every acknowledgement with one in flight.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts.get(), true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts.get(), options.ping_interval.count());
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts.get(), options.max_pings_out);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), options.reconnect_wait.count());
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectBufSize(opts.get(), options.reconnect_buffer_bytes);
  }
  if (s != NATS_OK) return NatsError(s, "nats options");
  if (!options.credentials_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(opts.get(), options.credentials_file.c_str(),
                                                nullptr);
    if (s != NATS_OK) return NatsError(s, "nats credentials file " + options.credentials_file);
  }
  if (!options.tls_ca_file.empty() || !options.tls_cert_file.empty()) {
    s = natsOptions_SetSecure(opts.get(), true);
    if (s == NATS_OK && !options.tls_ca_file.empty()) {
      s = natsOptions_LoadCATrustedCertificates(opts.get(), options.tls_ca_file.c_str());
    }
    if (s == NATS_OK && !options.tls_cert_file.empty()) {
      s = natsOptions_LoadCertificatesChain(opts.get(), options.tls_cert_file.c_str(),
                                            options.tls_key_file.c_str());
    }
    if (s != NATS_OK) return NatsError(s, "nats TLS files");
  }
  natsConnection* conn = nullptr;
  s = natsConnection_Connect(&conn, opts.get());
  if (s != NATS_OK) return NatsError(s, "nats connect");
  return std::unique_ptr<NatsClient>(new NatsClient(conn));
}

NatsClient::~NatsClient() { natsConnection_Destroy(conn_); }

alarm::Result<JsContext> NatsClient::JetStream(jsOptions* options) const {
  jsCtx* js = nullptr;
  natsStatus s = natsConnection_JetStream(&js, conn_, options);
  if (s != NATS_OK) return NatsError(s, "jetstream context");
  return JsContext(js);
}

bool NatsClient::connected() const {
  return natsConnection_Status(conn_) == NATS_CONN_STATUS_CONNECTED;
}

uint64_t NatsClient::reconnects() const {
  natsStatistics* stats = nullptr;
  if (natsStatistics_Create(&stats) != NATS_OK) return 0;
  uint64_t count = 0;
  if (natsConnection_GetStats(conn_, stats) == NATS_OK) {
    (void)natsStatistics_GetCounts(stats, nullptr, nullptr, nullptr, nullptr, &count);
  }
  natsStatistics_Destroy(stats);
  return count;
}

std::string NatsClient::state() const {
  switch (natsConnection_Status(conn_)) {
    case NATS_CONN_STATUS_DISCONNECTED:
      return "DISCONNECTED";
    case NATS_CONN_STATUS_CONNECTING:
      return "CONNECTING";
    case NATS_CONN_STATUS_CONNECTED:
      return "CONNECTED";
    case NATS_CONN_STATUS_CLOSED:
      return "CLOSED";
    case NATS_CONN_STATUS_RECONNECTING:
      return "RECONNECTING";
    default:
      return "DRAINING";
  }
}

}  // namespace vigil::cluster
