#include "server/mqtt/mqtt_message.h"

#include <string>

#include "server/http/ingest_json.h"

namespace vigil::server {

std::optional<MqttIngestTopic> ParseIngestTopic(std::string_view topic, std::string_view prefix) {
  if (!topic.starts_with(prefix)) return std::nullopt;
  std::string_view rest = topic.substr(prefix.size());
  MqttIngestTopic out;
  if (rest.ends_with("/pb")) {
    rest.remove_suffix(3);
    out.payload = MqttPayload::kProtobuf;
  }
  if (rest.empty() || rest.find('/') != std::string_view::npos) return std::nullopt;
  out.gateway_id = rest;
  return out;
}

alarm::Status DecodeIngestMessage(const MqttIngestTopic& topic, std::string_view payload,
                                  v1::IngestBatch* batch) {
  if (topic.payload == MqttPayload::kJson) {
    BodyError where;
    if (!ParseIngestJson(payload, batch, &where)) {
      return alarm::Status::InvalidArgument("JSON payload, line " + std::to_string(where.line) +
                                            " column " + std::to_string(where.column) + ": " +
                                            where.message);
    }
  } else {
    batch->Clear();
    if (!batch->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      return alarm::Status::InvalidArgument("protobuf payload is not an IngestBatch");
    }
    if (batch->gateway_id().empty()) batch->set_gateway_id(std::string(topic.gateway_id));
  }
  if (batch->gateway_id() != topic.gateway_id) {
    return alarm::Status::InvalidArgument(
        "the batch names gateway '" + alarm::Echo(batch->gateway_id()) + "' on the topic of '" +
        alarm::Echo(topic.gateway_id) + "' (a gateway publishes to its own topic only)");
  }
  return alarm::Status::Ok();
}

}  // namespace vigil::server
