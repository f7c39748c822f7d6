// MQTT ingest (docs/mqtt-ingest.md): vigild as a client of an MQTT broker,
// subscribed with QoS 1 to <topic_prefix>+ (JSON batches) and
// <topic_prefix>+/pb (protobuf IngestBatch) under a fixed client id with a
// persistent session (clean session off), so the broker keeps what vigild
// has not acknowledged while it is down.
//
// The ack is held until durable. Paho C (libpaho-mqtt 1.3.12) has no manual
// ack; its MQTTAsync calls the message callback on its receive thread and
// sends a QoS 1 PUBACK only once the callback returns (MQTTProtocolClient.c
// MQTTProtocol_handlePublishes: Protocol_processPublication, then
// MQTTPacket_send_puback). So the callback stores the batch through the same
// path as gRPC (api/ingest_submit.h) and returns only once it is durable. The
// cost: one message in flight, every later PUBACK waits too. Returning 0
// (Paho's "redeliver") would not help: Paho then queues the message in memory
// and sends the PUBACK at once.
//
// A message the server refuses for now (storage unavailable, overloaded) is
// tried again, unacknowledged, until it is stored or vigild stops; one that
// can never be stored (malformed, another gateway's topic, a gateway not in
// the registry) is acknowledged, counted and logged. Either way the gateway
// hears the outcome on <topic_prefix><gateway><ack_suffix> (QoS 1): the ack
// JSON of POST /api/v1/ingest (stored, duplicate, each rejection), or
// {"error", "epoch", "sequence"}; published from the message callback, so
// before the broker gets the message's PUBACK. The connection is
// re-established with backoff; MqttStats and the state listener say whether
// it is up.
//
// Threads: `vigil-mqtt` (connects, subscribes, reconnects) and Paho's own
// send and receive threads (message callbacks). Start and Stop from one
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "alarm/thread_annotations.h"
#include "server/api/ingest_submit.h"
#include "server/config/options.h"
#include "server/mqtt/mqtt_stats.h"
#include "storage/mutex.h"

namespace vigil::server {

class MqttIngest {
 public:
  // Hears connection state changes (true: connected and subscribed) on the
  // vigil-mqtt thread; must not block.
  using StateListener = std::function<void(bool connected)>;

  // `ctx` (and what it points to) and `stats` must outlive this object.
  MqttIngest(const IngestContext& ctx, MqttOptions options, MqttStats* stats,
             StateListener on_state);
  ~MqttIngest();
  MqttIngest(const MqttIngest&) = delete;
  MqttIngest& operator=(const MqttIngest&) = delete;

  // Creates the client and starts connecting in the background (a broker
  // that is down is retried, not an error). Errors: kIOError (the password
  // file cannot be read), kInvalidArgument (Paho refuses the URL or id).
  alarm::Status Start();

  // Disconnects and stops. Call before the ingest path starts draining: a
  // message being stored is finished (and acknowledged) first. A message
  // that cannot be stored when Stop comes is left unacknowledged with the
  // broker (its callback thread is parked and the client is not destroyed).
  void Stop();

  // Called by Paho's callbacks (mqtt_ingest.cc); not for other callers.
  struct Callbacks;

 private:
  enum class Step { kNone, kPending, kOk, kFailed };

  void Run();
  // Blocks until *step is no longer kPending or `limit` passes; its value.
  Step AwaitStep(Step* step, std::chrono::milliseconds limit) VIGIL_REQUIRES(mu_);
  void SetConnected(bool connected);

  // The message callback's work: decode, store, wait until durable.
  void Take(std::string_view topic, std::string_view payload);
  // Stores batch_ and waits for the writer; the refusal when not stored.
  // *ack_json: the ack as JSON (when mqtt.ack_suffix is set).
  alarm::Status StoreAndWait(std::chrono::steady_clock::time_point received, bool* duplicate,
                             std::string* ack_json);
  // Counts and logs a message that can never be stored.
  void Drop(std::string_view why, std::string_view topic);
  // Drop, and tell `gateway` why (with the batch's numbers when decoded).
  void Refuse(std::string_view why, std::string_view topic, std::string_view gateway,
              const v1::IngestBatch* batch);
  // Publishes `json` to the gateway's ack topic (mqtt.ack_suffix; "" = none).
  void PublishAck(std::string_view gateway, const std::string& json);
  // Waits `pause` unless stopping; false when stopping.
  bool PauseUnlessStopping(std::chrono::milliseconds pause);
  [[noreturn]] void Park();

  const IngestContext& ctx_;
  const MqttOptions options_;
  MqttStats* stats_;
  StateListener on_state_;
  std::string url_;
  std::string password_;
  void* client_ = nullptr;  // MQTTAsync

  storage::Mutex mu_;
  storage::CondVar cv_;
  bool stop_ VIGIL_GUARDED_BY(mu_) = false;
  Step connect_ VIGIL_GUARDED_BY(mu_) = Step::kNone;
  Step subscribe_ VIGIL_GUARDED_BY(mu_) = Step::kNone;
  Step disconnect_ VIGIL_GUARDED_BY(mu_) = Step::kNone;
  bool lost_ VIGIL_GUARDED_BY(mu_) = false;
  bool session_present_ VIGIL_GUARDED_BY(mu_) = false;  // the last CONNACK's flag
  std::string last_error_ VIGIL_GUARDED_BY(mu_);
  std::thread thread_;

  // The message callback's own state: Paho calls it on one thread at a time.
  std::atomic<bool> stopping_{false};
  std::atomic<bool> in_callback_{false};
  std::atomic<bool> parked_{false};
  std::unique_ptr<RegistryView> registry_;
  v1::IngestBatch batch_;
  storage::IngestRecordBuilder builder_;
  std::chrono::steady_clock::time_point last_log_{};
  uint64_t unlogged_ = 0;
};

}  // namespace vigil::server
