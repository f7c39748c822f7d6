#include "server/mqtt/mqtt_message.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "server/config/config.h"
#include "server/config/config_check.h"
#include "server/http/ingest_json.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

TEST_CASE("MQTT topic names the gateway and the payload format", "[mqtt]") {
  auto json = ParseIngestTopic("vigil/ingest/gw-1", "vigil/ingest/");
  REQUIRE(json);
  CHECK(json->gateway_id == "gw-1");
  CHECK(json->payload == MqttPayload::kJson);
  auto pb = ParseIngestTopic("vigil/ingest/gw-1/pb", "vigil/ingest/");
  REQUIRE(pb);
  CHECK(pb->gateway_id == "gw-1");
  CHECK(pb->payload == MqttPayload::kProtobuf);
  CHECK_FALSE(ParseIngestTopic("vigil/ingest/", "vigil/ingest/"));
  CHECK_FALSE(ParseIngestTopic("vigil/ingest//pb", "vigil/ingest/"));
  CHECK_FALSE(ParseIngestTopic("vigil/ingest/gw-1/json", "vigil/ingest/"));
  CHECK_FALSE(ParseIngestTopic("vigil/ingest/a/b/pb", "vigil/ingest/"));
  CHECK_FALSE(ParseIngestTopic("other/gw-1", "vigil/ingest/"));
}

TEST_CASE("MQTT payload: JSON or protobuf batch of the topic's own gateway", "[mqtt]") {
  v1::IngestBatch batch;
  const MqttIngestTopic json{.gateway_id = "gw-1", .payload = MqttPayload::kJson};
  REQUIRE(DecodeIngestMessage(json,
                              R"({"gateway_id":"gw-1","sequence":3,"series":[)"
                              R"({"sensor_id":"s-1","timestamps_ms":[5],"values":[1.5]}]})",
                              &batch)
              .ok());
  CHECK(batch.sequence() == 3);
  REQUIRE(batch.series_size() == 1);
  CHECK(batch.series(0).values(0) == 1.5);

  // Another gateway's batch on this topic: the broker vouched for the topic only.
  alarm::Status other =
      DecodeIngestMessage(json, R"({"gateway_id":"gw-9","sequence":1,"series":[]})", &batch);
  CHECK(other.code() == alarm::Status::Code::kInvalidArgument);
  CHECK(other.message().find("gw-9") != std::string::npos);
  // Malformed JSON names its position.
  alarm::Status bad =
      DecodeIngestMessage(json, "{\"gateway_id\":\"gw-1\",\n\"sequence\":}", &batch);
  CHECK_FALSE(bad.ok());
  CHECK(bad.message().find("line 2") != std::string::npos);

  // Protobuf: a batch without a gateway id takes the topic's.
  const MqttIngestTopic pb{.gateway_id = "gw-1", .payload = MqttPayload::kProtobuf};
  v1::IngestBatch sent;
  sent.set_sequence(9);
  v1::Series* s = sent.add_series();
  s->set_sensor_id("s-2");
  s->add_timestamps_ms(7);
  s->add_values(2.5);
  REQUIRE(DecodeIngestMessage(pb, sent.SerializeAsString(), &batch).ok());
  CHECK(batch.gateway_id() == "gw-1");
  CHECK(batch.sequence() == 9);
  sent.set_gateway_id("gw-9");
  CHECK_FALSE(DecodeIngestMessage(pb, sent.SerializeAsString(), &batch).ok());
  CHECK_FALSE(DecodeIngestMessage(pb, "\xff\xff\xff", &batch).ok());
}

TEST_CASE("MQTT answer to a refused batch carries its numbers", "[mqtt]") {
  CHECK(ErrorJson("gateway 'gw-1' is not in the registry", 7, 3) ==
        R"({"error":"gateway 'gw-1' is not in the registry","epoch":7,"sequence":3})");
}

TEST_CASE("mqtt config: off by default, keys checked, round trip", "[mqtt][config]") {
  auto defaults = ParseConfigText("", "test.yaml", "");
  REQUIRE(defaults);
  CHECK(defaults->mqtt.broker.empty());
  auto on = ParseConfigText(
      "mqtt:\n  broker: tcp://127.0.0.1:1883\n  client_id: vigild-a\n"
      "  topic_prefix: plant/in/\n  username: vigild\n  password_file: secret/mqtt.pw\n"
      "  keepalive: 10s\n  reconnect_min: 100ms\n  reconnect_max: 5s\n  ack_suffix: /answer\n",
      "/etc/vigil/test.yaml", "/etc/vigil");
  REQUIRE(on);
  CHECK(on->mqtt.broker == "tcp://127.0.0.1:1883");
  CHECK(on->mqtt.client_id == "vigild-a");
  CHECK(on->mqtt.topic_prefix == "plant/in/");
  CHECK(on->mqtt.password_file == "/etc/vigil/secret/mqtt.pw");
  CHECK(on->mqtt.keepalive == std::chrono::seconds(10));
  CHECK(on->mqtt.reconnect_max == std::chrono::seconds(5));
  CHECK(on->mqtt.ack_suffix == "/answer");
  CHECK(defaults->mqtt.ack_suffix == "/ack");
  auto silent = ParseConfigText("mqtt: { ack_suffix: \"\" }\n", "t.yaml", "");
  REQUIRE(silent);
  CHECK(silent->mqtt.ack_suffix.empty());
  auto again = ParseConfigText(FormatEffectiveConfig(*on), "effective.yaml", "");
  REQUIRE(again);
  CHECK(again->mqtt == on->mqtt);

  CHECK(ParseConfigText("mqtt: { broker: \"mqtts://broker.example:8883\" }\n", "t.yaml", ""));
  for (const char* bad :
       {"mqtt: { broker: \"http://x:1\" }\n", "mqtt: { broker: \"tcp://x\" }\n",
        "mqtt: { broker: \"tcp://:1883\" }\n", "mqtt: { topic_prefix: vigil/ingest }\n",
        "mqtt: { topic_prefix: \"vigil/+/\" }\n", "mqtt: { client_id: \"\" }\n",
        "mqtt: { reconnect_min: 10s, reconnect_max: 1s }\n", "mqtt: { brokr: \"tcp://x:1\" }\n",
        "mqtt: { ack_suffix: /pb }\n", "mqtt: { ack_suffix: ack }\n",
        "mqtt: { ack_suffix: /a/b }\n", "mqtt: { ack_suffix: \"/#\" }\n",
        "mqtt: { ack_suffix: / }\n"}) {
    INFO(bad);
    auto parsed = ParseConfigText(bad, "t.yaml", "");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().message().find("mqtt") != std::string::npos);
  }
}

TEST_CASE("mqtt config: --check-config reads the password and CA files", "[mqtt][config]") {
  testing::TempDir dir;
  ServerOptions options;
  options.mqtt.broker = "tcp://127.0.0.1:1883";
  options.mqtt.password_file = dir / "missing.pw";
  auto missing = CheckConfigFiles(options, false);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message().find("mqtt.password_file") != std::string::npos);
  std::ofstream(dir / "empty.pw") << "\n";
  options.mqtt.password_file = dir / "empty.pw";
  CHECK_FALSE(CheckConfigFiles(options, false));
  std::ofstream(dir / "ok.pw") << "secret\n";
  options.mqtt.password_file = dir / "ok.pw";
  CHECK(CheckConfigFiles(options, false));
  std::ofstream(dir / "ca.pem") << "not a certificate\n";
  options.mqtt.ca_file = dir / "ca.pem";
  auto ca = CheckConfigFiles(options, false);
  REQUIRE_FALSE(ca);
  CHECK(ca.error().message().find("mqtt.ca_file") != std::string::npos);
  // Off: the files are not read.
  options.mqtt.broker.clear();
  CHECK(CheckConfigFiles(options, false));
}

}  // namespace
}  // namespace vigil::server
