// What MQTT ingest counts, for /metrics and health: plain relaxed atomics,
// bumped once per message or connection event by the MQTT client's threads,
// read at scrape time. No Paho here, so ops/ can read it. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

namespace vigil::server {

struct MqttStats {
  // True while connected to the broker and subscribed.
  std::atomic<bool> connected{false};
  // Connections established (connected and subscribed), and attempts that failed.
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> connect_failures{0};
  // Established connections that were lost (the broker went away).
  std::atomic<uint64_t> connection_losses{0};
  // Messages by outcome. Stored and duplicate are acknowledged to the broker
  // once durable; dropped ones (malformed, wrong topic, gateway not allowed)
  // are acknowledged without storing anything, since a resend cannot help.
  std::atomic<uint64_t> messages_stored{0};
  std::atomic<uint64_t> messages_duplicate{0};
  std::atomic<uint64_t> messages_dropped{0};
  // Attempts to store a message that the server refused for now (storage
  // unavailable, overloaded) and that were tried again, unacknowledged.
  std::atomic<uint64_t> retries{0};
  // Answers to gateways (mqtt.ack_suffix) handed to the client for sending,
  // and those it refused (not connected, its queue full): that gateway
  // learns of its message from the broker's PUBACK only.
  std::atomic<uint64_t> acks_published{0};
  std::atomic<uint64_t> acks_failed{0};
};

}  // namespace vigil::server
