#include "server/mqtt/mqtt_ingest.h"

#include <MQTTAsync.h>

#include <algorithm>
#include <fstream>
#include <utility>

#include "server/http/ingest_json.h"
#include "server/log/log.h"
#include "server/log/thread_name.h"
#include "server/mqtt/mqtt_message.h"

namespace vigil::server {

using Code = alarm::Status::Code;

namespace {

// Paho takes connect timeouts and keep-alives in whole seconds.
int Seconds(std::chrono::milliseconds d) {
  return static_cast<int>(std::max<int64_t>(1, (d.count() + 999) / 1000));
}

// Paho 1.3.12 spells TLS ssl:// and plain tcp://; mqtt(s):// are the names
// users know from other clients.
std::string PahoUrl(const std::string& url) {
  if (url.starts_with("mqtt://")) return "tcp://" + url.substr(7);
  if (url.starts_with("mqtts://")) return "ssl://" + url.substr(8);
  return url;
}

// Refusals that a later attempt may get past, so the message stays
// unacknowledged: storage unavailable or failed, shutting down, overloaded,
// the writer's queue full, the disk nearly full.
bool Transient(const alarm::Status& s) {
  return s.code() == Code::kUnavailable || s.code() == Code::kResourceExhausted;
}

std::string FailureText(const MQTTAsync_failureData* response) {
  if (response == nullptr) return "failed";
  std::string text = "code " + std::to_string(response->code);
  if (response->message != nullptr) text += ": " + std::string(response->message);
  return text;
}

}  // namespace

// Paho's callbacks: plain functions taking the MqttIngest as their context.
struct MqttIngest::Callbacks {
  static void Lost(void* context, char* cause) {
    auto* self = static_cast<MqttIngest*>(context);
    storage::MutexLock lock(&self->mu_);
    self->lost_ = true;
    self->last_error_ = cause != nullptr ? cause : "connection lost";
    self->cv_.NotifyAll();
  }

  // Paho sends the PUBACK of a QoS 1 message when this returns (see the
  // header), so it returns once the batch is durable or can never be.
  static int Arrived(void* context, char* topic, int topic_len, MQTTAsync_message* message) {
    auto* self = static_cast<MqttIngest*>(context);
    const std::string_view topic_view =
        topic_len > 0 ? std::string_view(topic, static_cast<size_t>(topic_len))
                      : std::string_view(topic);
    self->in_callback_.store(true, std::memory_order_release);
    self->Take(topic_view, std::string_view(static_cast<const char*>(message->payload),
                                            static_cast<size_t>(message->payloadlen)));
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic);
    self->in_callback_.store(false, std::memory_order_release);
    return 1;
  }

  static void Set(void* context, Step MqttIngest::*step, Step value, std::string error = "") {
    auto* self = static_cast<MqttIngest*>(context);
    storage::MutexLock lock(&self->mu_);
    self->*step = value;
    if (!error.empty()) self->last_error_ = std::move(error);
    self->cv_.NotifyAll();
  }
  static void ConnectOk(void* context, MQTTAsync_successData* response) {
    auto* self = static_cast<MqttIngest*>(context);
    {
      storage::MutexLock lock(&self->mu_);
      self->session_present_ = response != nullptr && response->alt.connect.sessionPresent != 0;
    }
    Set(context, &MqttIngest::connect_, Step::kOk);
  }
  static void ConnectFailed(void* context, MQTTAsync_failureData* response) {
    Set(context, &MqttIngest::connect_, Step::kFailed, FailureText(response));
  }
  static void SubscribeOk(void* context, MQTTAsync_successData* response) {
    // 0x80 for a topic is the broker's refusal (its ACL, most likely).
    const bool refused = response->alt.qosList != nullptr &&
                         (response->alt.qosList[0] == 0x80 || response->alt.qosList[1] == 0x80);
    Set(context, &MqttIngest::subscribe_, refused ? Step::kFailed : Step::kOk,
        refused ? "the broker refused the subscription (check its ACL for vigild's user)" : "");
  }
  static void SubscribeFailed(void* context, MQTTAsync_failureData* response) {
    Set(context, &MqttIngest::subscribe_, Step::kFailed, FailureText(response));
  }
  // A subscription renewed on a session the broker kept: only a refusal
  // matters (the connection is then dropped and made again).
  static void ResubscribeOk(void* context, MQTTAsync_successData* response) {
    const bool refused = response->alt.qosList != nullptr &&
                         (response->alt.qosList[0] == 0x80 || response->alt.qosList[1] == 0x80);
    if (refused) ResubscribeFailed(context, nullptr);
  }
  static void ResubscribeFailed(void* context, MQTTAsync_failureData* response) {
    auto* self = static_cast<MqttIngest*>(context);
    storage::MutexLock lock(&self->mu_);
    self->lost_ = true;
    self->last_error_ = response != nullptr ? "subscribe failed: " + FailureText(response)
                                            : "the broker refused the subscription";
    self->cv_.NotifyAll();
  }
  static void DisconnectOk(void* context, MQTTAsync_successData*) {
    Set(context, &MqttIngest::disconnect_, Step::kOk);
  }
  static void DisconnectFailed(void* context, MQTTAsync_failureData* response) {
    Set(context, &MqttIngest::disconnect_, Step::kFailed, FailureText(response));
  }
};

MqttIngest::MqttIngest(const IngestContext& ctx, MqttOptions options, MqttStats* stats,
                       StateListener on_state)
    : ctx_(ctx),
      options_(std::move(options)),
      stats_(stats),
      on_state_(std::move(on_state)),
      registry_(std::make_unique<RegistryView>(ctx.registry)) {}

MqttIngest::~MqttIngest() { Stop(); }

alarm::Status MqttIngest::Start() {
  if (!options_.password_file.empty()) {
    std::ifstream in(options_.password_file);
    if (!in || !std::getline(in, password_) || password_.empty()) {
      return alarm::Status::IOError("mqtt.password_file: cannot read a password from " +
                                    options_.password_file.string());
    }
    if (password_.ends_with('\r')) password_.pop_back();
  }
  url_ = PahoUrl(options_.broker);
  MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
  create.MQTTVersion = MQTTVERSION_3_1_1;
  create.sendWhileDisconnected = 0;
  MQTTAsync client = nullptr;
  // No Paho persistence: what vigild receives is kept by the broker until
  // acknowledged, and what it publishes (answers to gateways) is kept in
  // memory until the broker has it: a vigild crash may lose an answer, never
  // a reading.
  int rc = MQTTAsync_createWithOptions(&client, url_.c_str(), options_.client_id.c_str(),
                                       MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create);
  if (rc != MQTTASYNC_SUCCESS) {
    return alarm::Status::InvalidArgument("mqtt: cannot create a client for '" + options_.broker +
                                          "' (Paho code " + std::to_string(rc) + ")");
  }
  client_ = client;
  rc = MQTTAsync_setCallbacks(client, this, &Callbacks::Lost, &Callbacks::Arrived, nullptr);
  if (rc != MQTTASYNC_SUCCESS) {
    MQTTAsync_destroy(&client);
    client_ = nullptr;
    return alarm::Status::InvalidArgument("mqtt: cannot set callbacks (Paho code " +
                                          std::to_string(rc) + ")");
  }
  thread_ = std::thread([this] { Run(); });
  return alarm::Status::Ok();
}

MqttIngest::Step MqttIngest::AwaitStep(Step* step, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (*step == Step::kPending) {
    if (!cv_.WaitUntil(&mu_, deadline) && *step == Step::kPending) return Step::kPending;
  }
  return *step;
}

void MqttIngest::SetConnected(bool connected) {
  stats_->connected.store(connected, std::memory_order_relaxed);
  if (on_state_) on_state_(connected);
}

void MqttIngest::Run() {
  NameThisThread("vigil-mqtt");
  auto* client = static_cast<MQTTAsync>(client_);
  const std::string prefix = options_.topic_prefix;
  std::string json_topic = prefix + "+";
  std::string pb_topic = prefix + "+/pb";
  const std::string topic_list = json_topic + " " + pb_topic;  // for the log
  char* topics[] = {json_topic.data(), pb_topic.data()};
  int qos[] = {1, 1};
  // Paho's own connect timeout, plus room for its callbacks.
  const std::chrono::milliseconds step_limit = std::chrono::seconds(12);
  std::chrono::milliseconds backoff = options_.reconnect_min;
  bool connected = false;

  mu_.Lock();
  while (!stop_) {
    MQTTAsync_connectOptions connect = MQTTAsync_connectOptions_initializer;
    connect.keepAliveInterval = Seconds(options_.keepalive);
    connect.cleansession = 0;  // the broker keeps our subscriptions and unacked messages
    connect.connectTimeout = 10;
    connect.automaticReconnect = 0;  // this loop reconnects, with its own backoff
    connect.onSuccess = &Callbacks::ConnectOk;
    connect.onFailure = &Callbacks::ConnectFailed;
    connect.context = this;
    if (!options_.username.empty()) connect.username = options_.username.c_str();
    if (!password_.empty()) connect.password = password_.c_str();
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (url_.starts_with("ssl://")) {
      if (!options_.ca_file.empty()) ssl.trustStore = options_.ca_file.c_str();
      ssl.enableServerCertAuth = 1;
      ssl.verify = 1;  // the host name too
      connect.ssl = &ssl;
    }
    connect_ = Step::kPending;
    subscribe_ = Step::kNone;
    lost_ = false;
    session_present_ = false;
    mu_.Unlock();
    int rc = MQTTAsync_connect(client, &connect);
    mu_.Lock();
    if (rc != MQTTASYNC_SUCCESS) {
      connect_ = Step::kFailed;
      last_error_ = "MQTTAsync_connect returned " + std::to_string(rc);
    }
    // Even when stopping: a connect in flight must end before the client goes.
    Step step = AwaitStep(&connect_, step_limit);
    if (step == Step::kOk && !stop_) {
      // Subscribe on every connect: a broker that lost its state, or a
      // changed topic_prefix, needs it. On a session the broker kept, its
      // queued messages arrive at once, and Paho 1.3.12 was seen to drop the
      // SUBACK's callback then (tests/e2e/mqtt_ingest_e2e_test.cc, 1 run in
      // ~5): so there the subscription is renewed without waiting, and only
      // a refusal counts.
      const bool wait = !session_present_;
      subscribe_ = wait ? Step::kPending : Step::kOk;
      MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
      response.onSuccess = wait ? &Callbacks::SubscribeOk : &Callbacks::ResubscribeOk;
      response.onFailure = wait ? &Callbacks::SubscribeFailed : &Callbacks::ResubscribeFailed;
      response.context = this;
      mu_.Unlock();
      rc = MQTTAsync_subscribeMany(client, 2, topics, qos, &response);
      mu_.Lock();
      if (rc != MQTTASYNC_SUCCESS) {
        subscribe_ = Step::kFailed;
        last_error_ = "MQTTAsync_subscribeMany returned " + std::to_string(rc);
      }
      step = AwaitStep(&subscribe_, step_limit);
    }
    if (step == Step::kOk && !stop_ && !lost_) {
      connected = true;
      backoff = options_.reconnect_min;
      stats_->connects.fetch_add(1, std::memory_order_relaxed);
      LogInfo(
          "mqtt_connected",
          {{"broker", options_.broker}, {"client_id", options_.client_id}, {"topics", topic_list}});
      mu_.Unlock();
      SetConnected(true);
      mu_.Lock();
      while (!stop_ && !lost_) cv_.Wait(&mu_);
      if (stop_) break;
      connected = false;
      stats_->connection_losses.fetch_add(1, std::memory_order_relaxed);
      LogWarn("mqtt_connection_lost", {{"broker", options_.broker}, {"error", last_error_}});
      mu_.Unlock();
      SetConnected(false);
      mu_.Lock();
    } else if (!stop_) {
      stats_->connect_failures.fetch_add(1, std::memory_order_relaxed);
      LogWarn("mqtt_connect_failed",
              {{"broker", options_.broker},
               {"error", step == Step::kPending
                             ? (subscribe_ == Step::kPending ? "no answer to SUBSCRIBE"
                                                             : "no answer to CONNECT")
                             : last_error_},
               {"retry_ms", backoff.count()}});
      if (step == Step::kOk) {
        // Connected but not subscribed: drop the connection before the next try.
        mu_.Unlock();
        MQTTAsync_disconnectOptions disconnect = MQTTAsync_disconnectOptions_initializer;
        disconnect.timeout = 0;
        MQTTAsync_disconnect(client, &disconnect);
        mu_.Lock();
      }
    }
    const auto until = std::chrono::steady_clock::now() + backoff;
    while (!stop_ && cv_.WaitUntil(&mu_, until)) {
    }
    backoff = std::min(backoff * 2, options_.reconnect_max);
  }
  if (MQTTAsync_isConnected(client) != 0) {
    disconnect_ = Step::kPending;
    MQTTAsync_disconnectOptions disconnect = MQTTAsync_disconnectOptions_initializer;
    disconnect.timeout = 1000;
    disconnect.onSuccess = &Callbacks::DisconnectOk;
    disconnect.onFailure = &Callbacks::DisconnectFailed;
    disconnect.context = this;
    mu_.Unlock();
    const int rc = MQTTAsync_disconnect(client, &disconnect);
    mu_.Lock();
    if (rc == MQTTASYNC_SUCCESS) (void)AwaitStep(&disconnect_, std::chrono::seconds(3));
  }
  mu_.Unlock();
  if (connected) SetConnected(false);
}

void MqttIngest::Stop() {
  if (client_ == nullptr) return;
  // New messages are still stored (the writer runs until after this); the
  // flag only turns "refused for now" into "leave it with the broker".
  stopping_.store(true, std::memory_order_release);
  // A message being stored is finished and acknowledged before the
  // connection closes (bounded: a refused one parks instead).
  for (int i = 0; i < 2000 && in_callback_.load(std::memory_order_acquire) &&
                  !parked_.load(std::memory_order_acquire);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    storage::MutexLock lock(&mu_);
    stop_ = true;
    cv_.NotifyAll();
  }
  if (thread_.joinable()) thread_.join();
  for (int i = 0; i < 2000 && in_callback_.load(std::memory_order_acquire) &&
                  !parked_.load(std::memory_order_acquire);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (in_callback_.load(std::memory_order_acquire)) {
    // Destroying the client would free what its receive thread still uses.
    LogWarn("mqtt_client_left", {{"reason",
                                  "a message could not be stored before shutdown; it "
                                  "stays unacknowledged with the broker"}});
  } else {
    auto* client = static_cast<MQTTAsync>(client_);
    MQTTAsync_destroy(&client);
  }
  client_ = nullptr;
  LogInfo("mqtt_stopped", {{"stored", stats_->messages_stored.load()},
                           {"duplicate", stats_->messages_duplicate.load()},
                           {"dropped", stats_->messages_dropped.load()}});
}

// ---- The message callback (Paho's receive thread) ----

void MqttIngest::Take(std::string_view topic, std::string_view payload) {
  const auto received = std::chrono::steady_clock::now();
  const std::optional<MqttIngestTopic> parsed = ParseIngestTopic(topic, options_.topic_prefix);
  // No gateway in the topic: nobody to answer.
  if (!parsed) return Drop("the topic is not <topic_prefix><gateway> or <...>/pb", topic);
  // The topic's gateway hears the answer: the broker vouched for it, and its
  // ACL lets each gateway read its own ack topic only.
  const std::string_view gateway = parsed->gateway_id;
  if (payload.size() > options_.max_payload_bytes) {
    return Refuse(
        "payload of " + std::to_string(payload.size()) + " bytes is over mqtt.max_payload_bytes",
        topic, gateway, nullptr);
  }
  if (alarm::Status st = DecodeIngestMessage(*parsed, payload, &batch_); !st.ok()) {
    return Refuse(st.message(), topic, gateway, nullptr);
  }
  // Too long to be a gateway's id (the batch's is the topic's): no answer.
  if (alarm::Status st = CheckGatewayId(batch_.gateway_id()); !st.ok()) {
    return Drop(st.message(), topic);
  }
  std::chrono::milliseconds pause(50);
  while (true) {
    bool duplicate = false;
    std::string ack_json;
    const alarm::Status st = StoreAndWait(received, &duplicate, &ack_json);
    if (st.ok()) {
      (duplicate ? stats_->messages_duplicate : stats_->messages_stored)
          .fetch_add(1, std::memory_order_relaxed);
      PublishAck(gateway, ack_json);
      return;
    }
    if (!Transient(st)) return Refuse(st.message(), topic, gateway, &batch_);
    stats_->retries.fetch_add(1, std::memory_order_relaxed);
    if (pause.count() >= 1000) {
      LogWarn("mqtt_store_retry", {{"gateway", batch_.gateway_id()},
                                   {"sequence", batch_.sequence()},
                                   {"error", st.message()}});
    }
    if (!PauseUnlessStopping(pause)) Park();
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
}

alarm::Status MqttIngest::StoreAndWait(std::chrono::steady_clock::time_point received,
                                       bool* duplicate, std::string* ack_json) {
  PreparedBatch prepared;
  if (alarm::Status st = PrepareIngest(ctx_, registry_.get(), batch_, &builder_, &prepared);
      !st.ok()) {
    return st;
  }
  // The writer's answer, handed from its thread to this one.
  struct Answer {
    storage::Mutex mu;
    storage::CondVar cv;
    bool done VIGIL_GUARDED_BY(mu) = false;
    bool duplicate VIGIL_GUARDED_BY(mu) = false;
    uint64_t rejected VIGIL_GUARDED_BY(mu) = 0;
    std::string first_rejection VIGIL_GUARDED_BY(mu);
    std::string json VIGIL_GUARDED_BY(mu);
    alarm::Status error VIGIL_GUARDED_BY(mu) = alarm::Status::Ok();
  };
  auto answer = std::make_shared<Answer>();
  const bool want_json = !options_.ack_suffix.empty();
  const bool queued = SubmitPrepared(
      ctx_, std::move(prepared), batch_.gateway_id(), {batch_.epoch(), batch_.sequence()}, received,
      IngestProtocol::kMqtt,
      [answer, want_json](const v1::IngestAck* ack, const alarm::Status& error) {
        storage::MutexLock lock(&answer->mu);
        answer->done = true;
        if (ack == nullptr) {
          answer->error = error;
        } else {
          answer->duplicate = ack->duplicate();
          answer->rejected = ack->rejected_readings();
          if (ack->rejections_size() > 0) {
            const v1::Rejection& r = ack->rejections(0);
            answer->first_rejection = "series " + std::to_string(r.series_index()) + " (" +
                                      alarm::Echo(r.sensor_id()) + "): " + r.detail();
          }
          if (want_json) answer->json = AckToJson(*ack);
        }
        answer->cv.NotifyAll();
      });
  if (!queued) return alarm::Status::ResourceExhausted("ingest queue is full");
  storage::MutexLock lock(&answer->mu);
  // The writer answers every batch it took, also when it stops.
  while (!answer->done) answer->cv.Wait(&answer->mu);
  if (!answer->error.ok()) return answer->error;
  *duplicate = answer->duplicate;
  *ack_json = std::move(answer->json);
  if (answer->rejected > 0) {
    // Also in the log (and vigil_readings_rejected_total), for the operator.
    LogWarn("mqtt_readings_rejected", {{"gateway", batch_.gateway_id()},
                                       {"sequence", batch_.sequence()},
                                       {"rejected", answer->rejected},
                                       {"first", answer->first_rejection}});
  }
  return alarm::Status::Ok();
}

void MqttIngest::Refuse(std::string_view why, std::string_view topic, std::string_view gateway,
                        const v1::IngestBatch* batch) {
  Drop(why, topic);
  PublishAck(gateway,
             batch != nullptr ? ErrorJson(why, batch->epoch(), batch->sequence()) : ErrorJson(why));
}

void MqttIngest::PublishAck(std::string_view gateway, const std::string& json) {
  if (options_.ack_suffix.empty()) return;
  const std::string topic = options_.topic_prefix + std::string(gateway) + options_.ack_suffix;
  MQTTAsync_message message = MQTTAsync_message_initializer;
  message.payload = const_cast<char*>(json.data());  // Paho copies it
  message.payloadlen = static_cast<int>(json.size());
  message.qos = 1;
  message.retained = 0;
  MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
  // Paho lets its message callback publish (MQTTAsync_assignMsgId knows its
  // receive thread holds the client's mutex); the answer is queued before
  // this message's PUBACK.
  const int rc =
      MQTTAsync_sendMessage(static_cast<MQTTAsync>(client_), topic.c_str(), &message, &response);
  (rc == MQTTASYNC_SUCCESS ? stats_->acks_published : stats_->acks_failed)
      .fetch_add(1, std::memory_order_relaxed);
}

void MqttIngest::Drop(std::string_view why, std::string_view topic) {
  stats_->messages_dropped.fetch_add(1, std::memory_order_relaxed);
  // At most one line a second: a broken gateway must not flood the log.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_log_ < std::chrono::seconds(1)) {
    ++unlogged_;
    return;
  }
  LogWarn("mqtt_message_dropped", {{"topic", alarm::Echo(topic)},
                                   {"error", std::string(why)},
                                   {"dropped_unlogged", unlogged_}});
  last_log_ = now;
  unlogged_ = 0;
}

bool MqttIngest::PauseUnlessStopping(std::chrono::milliseconds pause) {
  const auto until = std::chrono::steady_clock::now() + pause;
  while (std::chrono::steady_clock::now() < until) {
    if (stopping_.load(std::memory_order_acquire)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return !stopping_.load(std::memory_order_acquire);
}

void MqttIngest::Park() {
  // Returning would make Paho acknowledge a message that is not stored.
  // This thread touches nothing of the MqttIngest from here on; the process
  // exits around it.
  parked_.store(true, std::memory_order_release);
  while (true) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace vigil::server
