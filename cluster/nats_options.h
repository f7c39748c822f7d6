// NatsOptions: how vigild reaches a NATS cluster (URLs, credentials, TLS).
// Plain values, free of the NATS C client's headers.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace vigil::cluster {

struct NatsOptions {
  // Server URLs ("nats://127.0.0.1:4222"); the client fails over between them.
  // Default: none (required).
  std::vector<std::string> urls;
  // A NATS .creds file (user JWT + nkey seed). Default: none (no auth).
  std::string credentials_file;
  // TLS: CA bundle to verify the servers; client certificate and key for
  // mutual TLS. Any of them set turns TLS on. Default: none (plain TCP).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Connection name shown by the server's monitoring. Default: "vigild".
  std::string name = "vigild";
  // TCP connect timeout per attempt. Default: 2 s.
  std::chrono::milliseconds connect_timeout{2000};
  // Wait between reconnect attempts to one server; the client keeps trying
  // forever (max_reconnect -1) while the log completes appends kUnavailable.
  // Default: 250 ms.
  std::chrono::milliseconds reconnect_wait{250};
  // A server that stops answering (frozen, cut off) while its TCP connection
  // stays up is found by pings: after max_pings_out unanswered pings, sent
  // every ping_interval, the client reconnects to another server. NATS'
  // default (2 min x 2) would leave appends failing for minutes.
  // Default: 1 s x 3.
  std::chrono::milliseconds ping_interval{1000};
  int max_pings_out = 3;
  // Bytes buffered while reconnecting before a publish fails at once. Default: 8 MiB.
  int reconnect_buffer_bytes = 8 << 20;
};

}  // namespace vigil::cluster
