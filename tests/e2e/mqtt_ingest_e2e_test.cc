// End-to-end: gateways that speak MQTT. A real mosquitto on a free loopback
// port (tests/testing/mosquitto_broker.h), the real vigild subscribed to it
// (mqtt.broker), gateways publishing with mosquitto_pub and Python's
// paho-mqtt (/usr/bin/python3), readings read back through gRPC Query:
// stored, rejections keep the rest, resends are duplicates, another gateway's
// topic and malformed payloads are dropped; the persistent session delivers
// what was published while vigild was down; a broker restart is survived;
// kill -9 loses nothing the broker considers acknowledged, also while storage
// refuses (the held PUBACK); the documented password + ACL config works.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/external_process.h"
#include "tests/e2e/small_disk.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/mosquitto_broker.h"
#include "tests/testing/temp_dir.h"
#include "vigil/v1/ingest.pb.h"

namespace vigil::e2e {
namespace {

using testing::MosquittoBroker;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-9, name: Mine Nine, kind: coal_mine, region_code: "140202" }
sensors:
  - { id: s-1, enterprise: e-1, quantity: temperature, unit: degC }
  - { id: s-2, enterprise: e-1, quantity: pressure, unit: MPa }
  - { id: m-1, enterprise: e-9, quantity: methane, unit: "%CH4" }
gateways:
  - { id: gw-1, enterprise: e-1 }
  - { id: gw-9, enterprise: e-9 }
)";

constexpr char kMqttService[] = "vigil.v1.MqttIngest";

VigildProcess::Options MqttOptions(const MosquittoBroker& broker, const std::string& extra = "",
                                   const std::string& storage = "durability: wal") {
  return {.config_yaml = "storage: { " + storage + " }\nmqtt:\n  broker: \"" + broker.url() +
                         "\"\n  client_id: vigild-e2e\n  reconnect_min: 100ms\n"
                         "  reconnect_max: 1s\n" +
                         extra,
          .registry_yaml = kRegistry};
}

void WriteFile(const std::filesystem::path& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs a command (bounded by timeout(1)); its exit code, output in *out.
int Run(const std::string& command, std::string* out = nullptr) {
  FILE* p = popen(("timeout 60 " + command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int rc = pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// mosquitto_pub at QoS 1: returns once the broker acknowledged the message.
void Publish(const MosquittoBroker& broker, const std::string& topic, const std::string& payload,
             const std::string& auth = "") {
  testing::TempDir dir;
  WriteFile(dir / "payload", payload);
  std::string out;
  const int rc = Run("mosquitto_pub -h 127.0.0.1 -p " + std::to_string(broker.port()) +
                         " -q 1 -i e2e-pub -t " + ShellQuote(topic) + " -f " +
                         ShellQuote((dir / "payload").string()) + auth,
                     &out);
  INFO(out);
  REQUIRE(rc == 0);
}

// Python paho-mqtt publishes each line of `payloads` to `topic` at QoS 1 and
// waits for every PUBACK (what deploy/examples/mqtt_gateway.py does).
constexpr char kPahoPublish[] = R"(import sys
import paho.mqtt.client as mqtt
port, topic, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = mqtt.Client(client_id=sys.argv[4], clean_session=True)
c.connect('127.0.0.1', port)
c.loop_start()
n = 0
for line in open(path):
    info = c.publish(topic, line.strip(), qos=1)
    info.wait_for_publish(timeout=20)
    if not info.is_published():
        sys.exit('not acknowledged: message %d' % n)
    n += 1
c.loop_stop()
c.disconnect()
print('published', n)
)";

int PahoPublish(const MosquittoBroker& broker, const std::string& topic,
                const std::vector<std::string>& payloads, std::string* out) {
  testing::TempDir dir;
  WriteFile(dir / "pub.py", kPahoPublish);
  std::string lines;
  for (const std::string& p : payloads) lines += p + "\n";
  WriteFile(dir / "payloads", lines);
  return Run("/usr/bin/python3 " + ShellQuote((dir / "pub.py").string()) + " " +
                 std::to_string(broker.port()) + " " + ShellQuote(topic) + " " +
                 ShellQuote((dir / "payloads").string()) + " paho-e2e",
             out);
}

std::string JsonBatch(const std::string& gateway, uint64_t epoch, uint64_t sequence,
                      const std::string& series) {
  return "{\"gateway_id\":\"" + gateway + "\",\"epoch\":" + std::to_string(epoch) +
         ",\"sequence\":" + std::to_string(sequence) + ",\"series\":[" + series + "]}";
}

std::string Series(const std::string& sensor, const std::vector<int64_t>& ts, double value) {
  std::string out = "{\"sensor_id\":\"" + sensor + "\",\"timestamps_ms\":[";
  for (size_t i = 0; i < ts.size(); ++i) out += (i ? "," : "") + std::to_string(ts[i]);
  out += "],\"values\":[";
  for (size_t i = 0; i < ts.size(); ++i) out += (i ? "," : "") + std::to_string(value);
  return out + "]}";
}

// Polls `done` every 50 ms until true or `bound` (scaled for slow builds) passes.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + Scaled(bound);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

bool MqttServing(VigildProcess& proc) {
  bool serving = false;
  return HealthCheck(proc.channel(), &serving, kMqttService).ok() && serving;
}

double Metric(VigildProcess& proc, const std::string& series) {
  return Sample(HttpGetMetrics(proc.metrics_address()), series);
}

size_t Stored(VigildProcess& proc, const std::string& sensor, int64_t from, int64_t to) {
  return ReadAll(proc.query(), sensor, from, to).size();
}

// A gateway listening to ack topics: mosquitto_sub (QoS 1) in the background,
// one "topic payload" line per answer. Ready once it printed a probe that
// `probe_auth`'s user published to `probe_topic`.
class AckListener {
 public:
  AckListener(const MosquittoBroker& broker, const std::filesystem::path& log,
              const std::string& topic, std::vector<std::string> auth,
              const std::string& probe_topic, const std::string& probe_auth = "")
      : sub_(Argv(broker, topic, std::move(auth)), log) {
    const bool ready = WaitFor(
        [&] {
          Publish(broker, probe_topic, "probe", probe_auth);
          return sub_.Log().find(probe_topic + " probe") != std::string::npos;
        },
        std::chrono::seconds(10));
    INFO(sub_.Log());
    REQUIRE(ready);
  }

  // Every line heard so far.
  std::string Heard() const { return sub_.Log(); }
  // Waits until `text` was heard (bounded); whether it was.
  bool WaitHeard(const std::string& text) {
    return WaitFor([&] { return Heard().find(text) != std::string::npos; },
                   std::chrono::seconds(10));
  }

 private:
  static std::vector<std::string> Argv(const MosquittoBroker& broker, const std::string& topic,
                                       std::vector<std::string> auth) {
    std::vector<std::string> argv = {"/usr/bin/mosquitto_sub",
                                     "-h",
                                     "127.0.0.1",
                                     "-p",
                                     std::to_string(broker.port()),
                                     "-q",
                                     "1",
                                     "-v",
                                     "-t",
                                     topic};
    argv.insert(argv.end(), auth.begin(), auth.end());
    return argv;
  }

  ExternalProcess sub_;
};

TEST_CASE(
    "MQTT: JSON and protobuf batches are stored, rejections keep the rest, resends are "
    "duplicates, bad messages are dropped",
    "[e2e][mqtt]") {
  testing::TempDir dir;
  MosquittoBroker broker(dir / "broker");
  VigildProcess proc(MqttOptions(broker));
  proc.Start();
  REQUIRE(WaitFor([&] { return MqttServing(proc); }, std::chrono::seconds(10)));
  CHECK(Metric(proc, "vigil_mqtt_connected") == 1);
  // The gateways' side of the answers (mqtt.ack_suffix, "/ack" by default).
  AckListener acks(broker, dir / "acks.log", "vigil/ingest/+/ack", {}, "vigil/ingest/probe/ack");

  const int64_t t0 = NowMs() - 60'000;
  // gw-1 over mosquitto_pub: s-1 stored, an unknown sensor and another
  // enterprise's sensor rejected per series.
  const std::string first = JsonBatch("gw-1", 1, 1,
                                      Series("s-1", {t0, t0 + 1000, t0 + 2000}, 20.5) + "," +
                                          Series("nope", {t0}, 1) + "," + Series("m-1", {t0}, 9));
  Publish(broker, "vigil/ingest/gw-1", first);
  // gw-1's next batch as a protobuf IngestBatch (its gateway id from the topic).
  v1::IngestBatch pb;
  pb.set_epoch(1);
  pb.set_sequence(2);
  v1::Series* s = pb.add_series();
  s->set_sensor_id("s-2");
  for (int64_t t : {t0, t0 + 1000}) {
    s->add_timestamps_ms(t);
    s->add_values(0.25);
  }
  Publish(broker, "vigil/ingest/gw-1/pb", pb.SerializeAsString());
  // gw-9 through Python's paho-mqtt.
  std::string out;
  REQUIRE(PahoPublish(broker, "vigil/ingest/gw-9",
                      {JsonBatch("gw-9", 1, 1, Series("m-1", {t0 + 5}, 0.5))}, &out) == 0);
  // A resend of gw-1's first batch; gw-1's batch on gw-9's topic; malformed
  // JSON; a gateway the registry does not know.
  Publish(broker, "vigil/ingest/gw-1", first);
  Publish(broker, "vigil/ingest/gw-9", JsonBatch("gw-1", 1, 3, Series("s-1", {t0 + 3000}, 1)));
  Publish(broker, "vigil/ingest/gw-1", "{\"gateway_id\":\"gw-1\",\"sequence\":");
  Publish(broker, "vigil/ingest/gw-x", JsonBatch("gw-x", 1, 1, Series("s-1", {t0 + 4000}, 1)));

  const bool all = WaitFor(
      [&] {
        const std::string m = HttpGetMetrics(proc.metrics_address());
        return Sample(m, "vigil_mqtt_messages_total{outcome=\"stored\"}") +
                   Sample(m, "vigil_mqtt_messages_total{outcome=\"duplicate\"}") +
                   Sample(m, "vigil_mqtt_messages_total{outcome=\"dropped\"}") >=
               7;
      },
      std::chrono::seconds(20));
  INFO(proc.Output());
  REQUIRE(all);
  const std::string m = HttpGetMetrics(proc.metrics_address());
  CHECK(Sample(m, "vigil_mqtt_messages_total{outcome=\"stored\"}") == 3);
  CHECK(Sample(m, "vigil_mqtt_messages_total{outcome=\"duplicate\"}") == 1);
  CHECK(Sample(m, "vigil_mqtt_messages_total{outcome=\"dropped\"}") == 3);
  CHECK(Sample(m, "vigil_readings_rejected_total{reason=\"unknown_sensor\"}") >= 1);
  CHECK(Sample(m, "vigil_ingest_protocol_batches_total{protocol=\"mqtt\",outcome=\"stored\"}") ==
        3);
  CHECK(Sample(m, "vigil_ingest_protocol_batches_total{protocol=\"mqtt\",outcome=\"duplicate\"}") ==
        1);
  CHECK(Sample(m, "vigil_ingest_protocol_batches_total{protocol=\"grpc\",outcome=\"stored\"}") ==
        0);

  const std::vector<Reading> s1 = ReadAll(proc.query(), "s-1", t0, t0 + 10'000);
  CHECK(ToString(s1) == ToString({{t0, 20.5, 0}, {t0 + 1000, 20.5, 0}, {t0 + 2000, 20.5, 0}}));
  CHECK(Stored(proc, "s-2", t0, t0 + 10'000) == 2);
  const std::vector<Reading> m1 = ReadAll(proc.query(), "m-1", t0, t0 + 10'000);
  CHECK(ToString(m1) == ToString({{t0 + 5, 0.5, 0}}));
  const std::string log = proc.Output();
  CHECK(log.find("event=mqtt_readings_rejected gateway=gw-1 sequence=1 rejected=2") !=
        std::string::npos);
  CHECK(log.find("event=mqtt_message_dropped") != std::string::npos);

  // Each gateway heard every outcome on its ack topic: the ack JSON of POST
  // /api/v1/ingest once durable (stored, duplicate, rejections with their
  // positions), or why a message can never be stored, with its numbers once
  // they are known.
  const std::string gw1 = "vigil/ingest/gw-1/ack ";
  const std::string gw9 = "vigil/ingest/gw-9/ack ";
  REQUIRE(acks.WaitHeard("vigil/ingest/gw-x/ack "));
  const std::string heard = acks.Heard();
  INFO(heard);
  CHECK(heard.find(gw1 + R"({"epoch":1,"sequence":1,"stored_readings":3,"duplicate":false,)"
                         R"("rejected_readings":2,"rejections":[{"series_index":1,)"
                         R"("sensor_id":"nope","reading_index":-1,"reason":"UNKNOWN_SENSOR",)") !=
        std::string::npos);
  CHECK(heard.find(R"({"series_index":2,"sensor_id":"m-1","reading_index":-1,)"
                   R"("reason":"SENSOR_OF_ANOTHER_ENTERPRISE",)") != std::string::npos);
  CHECK(heard.find(gw1 + R"({"epoch":1,"sequence":2,"stored_readings":2,"duplicate":false,)") !=
        std::string::npos);
  CHECK(heard.find(gw9 + R"({"epoch":1,"sequence":1,"stored_readings":1,"duplicate":false,)") !=
        std::string::npos);
  CHECK(heard.find(gw1 + R"({"epoch":1,"sequence":1,"stored_readings":0,"duplicate":true,)") !=
        std::string::npos);
  CHECK(heard.find(gw9 + R"({"error":"the batch names gateway 'gw-1' on the topic of 'gw-9')") !=
        std::string::npos);
  CHECK(heard.find(gw1 + R"({"error":"JSON payload, line 1 column )") != std::string::npos);
  CHECK(heard.find(R"(vigil/ingest/gw-x/ack {"error":"gateway 'gw-x' is not in the registry",)"
                   R"("epoch":1,"sequence":1})") != std::string::npos);
  CHECK(Metric(proc, "vigil_mqtt_acks_total{result=\"ok\"}") == 7);
  REQUIRE(proc.Terminate().ExitedWith(0));
}

TEST_CASE(
    "MQTT: what is published while vigild is down arrives when it starts, and a broker restart "
    "is reconnected",
    "[e2e][mqtt]") {
  testing::TempDir dir;
  MosquittoBroker broker(dir / "broker");
  VigildProcess proc(MqttOptions(broker));
  proc.Start();
  REQUIRE(WaitFor([&] { return MqttServing(proc); }, std::chrono::seconds(10)));
  REQUIRE(proc.Terminate().ExitedWith(0));

  // vigild is down; its session (clean session off) keeps the message.
  const int64_t t0 = NowMs() - 60'000;
  Publish(broker, "vigil/ingest/gw-1", JsonBatch("gw-1", 1, 1, Series("s-1", {t0}, 1)));
  proc.Restart();
  INFO(proc.Output());
  CHECK(
      WaitFor([&] { return Stored(proc, "s-1", t0, t0 + 10'000) == 1; }, std::chrono::seconds(20)));

  // The broker goes away: health and the metric say so; it comes back:
  // vigild reconnects (backoff 100 ms .. 1 s) and subscribes again (the
  // killed broker saved nothing, so the subscription must be renewed).
  broker.Kill();
  CHECK(WaitFor([&] { return !MqttServing(proc); }, std::chrono::seconds(10)));
  CHECK(Metric(proc, "vigil_mqtt_connected") == 0);
  broker.Restart();
  const bool back = WaitFor([&] { return MqttServing(proc); }, std::chrono::seconds(10));
  INFO(proc.Output());
  REQUIRE(back);
  CHECK(Metric(proc, "vigil_mqtt_connection_losses_total") == 1);
  CHECK(Metric(proc, "vigil_mqtt_connects_total{result=\"ok\"}") == 2);
  Publish(broker, "vigil/ingest/gw-1", JsonBatch("gw-1", 1, 2, Series("s-1", {t0 + 1000}, 2)));
  CHECK(
      WaitFor([&] { return Stored(proc, "s-1", t0, t0 + 10'000) == 2; }, std::chrono::seconds(20)));
  REQUIRE(proc.Terminate().ExitedWith(0));
}

TEST_CASE("MQTT: kill -9 while gateways publish loses nothing the broker accepted",
          "[e2e][mqtt][crash]") {
  testing::TempDir dir;
  MosquittoBroker broker(dir / "broker");
  VigildProcess proc(MqttOptions(broker, "", "durability: fsync"));
  proc.Start();
  REQUIRE(WaitFor([&] { return MqttServing(proc); }, std::chrono::seconds(10)));

  constexpr int64_t kMessages = 300;
  const int64_t t0 = NowMs() - 600'000;
  std::vector<std::string> payloads;
  payloads.reserve(kMessages);
  for (int64_t i = 0; i < kMessages; ++i) {
    payloads.push_back(JsonBatch("gw-1", 1, static_cast<uint64_t>(i) + 1,
                                 Series("s-1", {t0 + i * 1000}, static_cast<double>(i))));
  }
  std::string out;
  int rc = -1;
  std::thread publisher([&] { rc = PahoPublish(broker, "vigil/ingest/gw-1", payloads, &out); });
  // Killed mid-stream, twice: each run's counter starts at 0, so each kill
  // comes once that run stored 40 (300 leave room for both).
  for (int kill = 0; kill < 2; ++kill) {
    constexpr double kStoredBeforeKill = 40;
    WaitFor(
        [&] {
          return Metric(proc, "vigil_mqtt_messages_total{outcome=\"stored\"}") >= kStoredBeforeKill;
        },
        std::chrono::seconds(30));
    proc.Kill9();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    proc.Restart();
  }
  publisher.join();
  INFO(out);
  REQUIRE(rc == 0);  // the broker acknowledged every message
  INFO(proc.Output());
  CHECK(WaitFor(
      [&] {
        return Stored(proc, "s-1", t0, t0 + kMessages * 1000) == static_cast<size_t>(kMessages);
      },
      std::chrono::seconds(60)));
  const std::vector<Reading> stored = ReadAll(proc.query(), "s-1", t0, t0 + kMessages * 1000);
  REQUIRE(stored.size() == static_cast<size_t>(kMessages));
  for (int64_t i = 0; i < kMessages; ++i) {
    CHECK(stored[static_cast<size_t>(i)].value == static_cast<double>(i));
  }
  REQUIRE(proc.Terminate().ExitedWith(0));
}

TEST_CASE(
    "MQTT: a message refused for now is not acknowledged: kill -9 while the disk is full, "
    "stored after restart",
    "[e2e][mqtt][crash][disk]") {
  if (geteuid() != 0) {
    WARN("not root: cannot mount a small tmpfs");
    return;
  }
  testing::TempDir dir;
  SmallDisk disk(dir / "small");
  if (!disk.mounted()) {
    WARN("mount of a tmpfs refused (no CAP_SYS_ADMIN): not run");
    return;
  }
  MosquittoBroker broker(dir / "broker");
  VigildProcess::Options options =
      MqttOptions(broker, "", "durability: wal, min_free_space: 64MiB");
  options.data_dir = dir / "small" / "data";
  VigildProcess proc(options);
  proc.Start();
  REQUIRE(WaitFor([&] { return MqttServing(proc); }, std::chrono::seconds(10)));
  const int64_t t0 = NowMs() - 60'000;
  Publish(broker, "vigil/ingest/gw-1", JsonBatch("gw-1", 1, 1, Series("s-1", {t0}, 1)));
  REQUIRE(
      WaitFor([&] { return Stored(proc, "s-1", t0, t0 + 10'000) == 1; }, std::chrono::seconds(10)));

  // 32 MiB free, below the 64 MiB floor: the writer refuses, vigild keeps
  // trying and does not acknowledge.
  const std::filesystem::path filler = dir / "small" / "filler";
  REQUIRE(disk.FillLeaving(filler, uint64_t{32} << 20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // free space is sampled
  Publish(broker, "vigil/ingest/gw-1", JsonBatch("gw-1", 1, 2, Series("s-1", {t0 + 1000}, 2)));
  INFO(proc.Output());
  REQUIRE(WaitFor([&] { return Metric(proc, "vigil_mqtt_store_retries_total") >= 1; },
                  std::chrono::seconds(10)));
  CHECK(Stored(proc, "s-1", t0, t0 + 10'000) == 1);
  proc.Kill9();
  std::filesystem::remove(filler);
  // The broker still holds the message for vigild's session.
  proc.Restart();
  CHECK(
      WaitFor([&] { return Stored(proc, "s-1", t0, t0 + 10'000) == 2; }, std::chrono::seconds(20)));
  REQUIRE(proc.Terminate().ExitedWith(0));
}

TEST_CASE("MQTT: the documented broker config binds each gateway to its topic",
          "[e2e][mqtt][security]") {
  testing::TempDir dir;
  // As docs/mqtt-ingest.md: a password per gateway and one for vigild; the
  // ACL lets each gateway write its own topics only and vigild read them all.
  MosquittoBroker broker(
      dir / "broker", {.users = {{"vigild", "vigild-pw"}, {"gw-1", "gw-1-pw"}, {"gw-9", "gw-9-pw"}},
                       .acl = "user vigild\ntopic read vigil/ingest/#\n"
                              "topic write vigil/ingest/+/ack\n\n"
                              "pattern write vigil/ingest/%u\n"
                              "pattern write vigil/ingest/%u/pb\n"
                              "pattern read vigil/ingest/%u/ack\n",
                       .extra = ""});
  WriteFile(dir / "mqtt.pw", "vigild-pw\n");
  VigildProcess proc(MqttOptions(
      broker, "  username: vigild\n  password_file: \"" + (dir / "mqtt.pw").string() + "\"\n"));
  proc.Start();
  INFO(proc.Output());
  REQUIRE(WaitFor([&] { return MqttServing(proc); }, std::chrono::seconds(10)));
  // gw-1 listens to every ack topic, but the ACL lets it read its own only.
  AckListener acks(broker, dir / "acks.log", "vigil/ingest/+/ack", {"-u", "gw-1", "-P", "gw-1-pw"},
                   "vigil/ingest/gw-1/ack", " -u vigild -P vigild-pw");
  const int64_t t0 = NowMs() - 60'000;
  // gw-9's credentials on gw-1's topic: the broker drops it (MQTT 3.1.1 still acks).
  Publish(broker, "vigil/ingest/gw-1", JsonBatch("gw-1", 1, 1, Series("s-1", {t0}, 9)),
          " -u gw-9 -P gw-9-pw");
  Publish(broker, "vigil/ingest/gw-1", JsonBatch("gw-1", 1, 1, Series("s-1", {t0 + 1}, 1)),
          " -u gw-1 -P gw-1-pw");
  REQUIRE(
      WaitFor([&] { return Stored(proc, "s-1", t0, t0 + 10'000) >= 1; }, std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::vector<Reading> s1 = ReadAll(proc.query(), "s-1", t0, t0 + 10'000);
  CHECK(ToString(s1) == ToString({{t0 + 1, 1, 0}}));
  // gw-1 hears its ack; not gw-9's, and not an ack gw-1 forged for itself.
  Publish(broker, "vigil/ingest/gw-9", JsonBatch("gw-9", 1, 1, Series("m-1", {t0}, 1)),
          " -u gw-9 -P gw-9-pw");
  Publish(broker, "vigil/ingest/gw-1/ack", "forged", " -u gw-1 -P gw-1-pw");
  REQUIRE(acks.WaitHeard(R"(vigil/ingest/gw-1/ack {"epoch":1,"sequence":1,"stored_readings":1,)"));
  REQUIRE(
      WaitFor([&] { return Stored(proc, "m-1", t0, t0 + 10'000) == 1; }, std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  INFO(acks.Heard());
  CHECK(acks.Heard().find("gw-9") == std::string::npos);
  CHECK(acks.Heard().find("forged") == std::string::npos);
  REQUIRE(proc.Terminate().ExitedWith(0));
}

TEST_CASE(
    "MQTT over TLS: ssl:// with mqtt.ca_file, and a broker the CA does not vouch for is refused",
    "[e2e][mqtt][tls]") {
  testing::TempDir dir;
  // A self-signed certificate for "localhost", and another one that signs nothing here.
  std::string out;
  for (const char* name : {"broker", "other"}) {
    const std::string base = (dir / name).string();
    REQUIRE(Run("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                "-addext subjectAltName=DNS:localhost -keyout " +
                    ShellQuote(base + ".key") + " -out " + ShellQuote(base + ".crt"),
                &out) == 0);
  }
  MosquittoBroker broker(dir / "mosquitto",
                         {.users = {},
                          .acl = "",
                          .extra = "certfile " + (dir / "broker.crt").string() + "\nkeyfile " +
                                   (dir / "broker.key").string() + "\n"});
  const std::string url = "ssl://localhost:" + std::to_string(broker.port());
  const auto options = [&](const char* ca) {
    return VigildProcess::Options{
        .config_yaml = "storage: { durability: wal }\nmqtt:\n  broker: \"" + url +
                       "\"\n  client_id: vigild-tls\n  reconnect_min: 100ms\n"
                       "  reconnect_max: 500ms\n  ca_file: \"" +
                       (dir / ca).string() + "\"\n",
        .registry_yaml = kRegistry};
  };
  {
    VigildProcess wrong(options("other.crt"));
    wrong.Start();
    INFO(wrong.Output());
    CHECK(
        WaitFor([&] { return Metric(wrong, "vigil_mqtt_connects_total{result=\"failed\"}") >= 1; },
                std::chrono::seconds(15)));
    CHECK_FALSE(MqttServing(wrong));
    REQUIRE(wrong.Terminate().ExitedWith(0));
  }
  VigildProcess proc(options("broker.crt"));
  proc.Start();
  INFO(proc.Output());
  REQUIRE(WaitFor([&] { return MqttServing(proc); }, std::chrono::seconds(15)));
  const int64_t t0 = NowMs() - 60'000;
  const std::string payload = JsonBatch("gw-1", 1, 1, Series("s-1", {t0}, 4));
  WriteFile(dir / "payload", payload);
  REQUIRE(Run("mosquitto_pub -h localhost -p " + std::to_string(broker.port()) + " --cafile " +
                  ShellQuote((dir / "broker.crt").string()) +
                  " -q 1 -i e2e-tls -t vigil/ingest/gw-1 -f " +
                  ShellQuote((dir / "payload").string()),
              &out) == 0);
  CHECK(
      WaitFor([&] { return Stored(proc, "s-1", t0, t0 + 10'000) == 1; }, std::chrono::seconds(10)));
  REQUIRE(proc.Terminate().ExitedWith(0));
}

}  // namespace
}  // namespace vigil::e2e
