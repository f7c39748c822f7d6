// What an MQTT message means to ingest: its topic names the gateway and the
// payload's format, its payload is one IngestBatch (docs/mqtt-ingest.md).
//   <prefix><gateway id>      the JSON body of POST /api/v1/ingest
//   <prefix><gateway id>/pb   a serialized vigil.v1.IngestBatch
// The gateway comes from the topic because the broker's ACL binds each
// gateway's credentials to its own topic; a batch naming another gateway is
// refused. Pure functions, no Paho; any thread.
#pragma once

#include <optional>
#include <string_view>

#include "alarm/status.h"
#include "vigil/v1/ingest.pb.h"

namespace vigil::server {

enum class MqttPayload { kJson, kProtobuf };

struct MqttIngestTopic {
  std::string_view gateway_id;  // points into the topic
  MqttPayload payload = MqttPayload::kJson;
};

// The gateway and payload format of `topic`; nullopt when it is not
// `prefix` + a non-empty gateway id, optionally followed by "/pb".
std::optional<MqttIngestTopic> ParseIngestTopic(std::string_view topic, std::string_view prefix);

// Decodes `payload` into *batch (cleared first). A batch without a gateway id
// (protobuf only: JSON requires one) takes the topic's. Errors
// (kInvalidArgument, with the position for JSON): the payload does not parse,
// or its gateway id is not the topic's.
alarm::Status DecodeIngestMessage(const MqttIngestTopic& topic, std::string_view payload,
                                  v1::IngestBatch* batch);

}  // namespace vigil::server
