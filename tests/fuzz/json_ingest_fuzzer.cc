// Fuzz target: the JSON body of POST /api/v1/ingest (server/http/ingest_json.h).
// An accepted body must survive a round trip (written back as JSON by this
// target and parsed again into the same IngestBatch); a refused one must name
// a position inside the body with a consistent line and column, and a message
// that is valid UTF-8 whatever the input was; the error JSON is valid UTF-8.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/http/ingest_json.h"
#include "tests/fuzz/fuzz_support.h"

namespace vigil::fuzz {
namespace {

std::string ToJson(const v1::IngestBatch& batch) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  w.Key("gateway_id");
  w.String(batch.gateway_id().data(), static_cast<rapidjson::SizeType>(batch.gateway_id().size()));
  w.Key("epoch");
  w.Uint64(batch.epoch());
  w.Key("sequence");
  w.String(std::to_string(batch.sequence()).c_str());  // the proto3 JSON form
  w.Key("series");
  w.StartArray();
  for (const v1::Series& s : batch.series()) {
    w.StartObject();
    w.Key("sensor_id");
    w.String(s.sensor_id().data(), static_cast<rapidjson::SizeType>(s.sensor_id().size()));
    w.Key("timestamps_ms");
    w.StartArray();
    for (int64_t t : s.timestamps_ms()) w.Int64(t);
    w.EndArray();
    w.Key("values");
    w.StartArray();
    for (double v : s.values()) {
      if (std::isnan(v)) {
        w.String("NaN");
      } else if (std::isinf(v)) {
        w.String(v > 0 ? "Infinity" : "-Infinity");
      } else {
        w.Double(v);
      }
    }
    w.EndArray();
    if (s.quality_size() > 0) {
      w.Key("quality");
      w.StartArray();
      for (uint32_t q : s.quality()) w.Uint(q);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

void Run(std::string_view body) {
  v1::IngestBatch batch;
  server::BodyError error;
  if (!server::ParseIngestJson(body, &batch, &error)) {
    VIGIL_FUZZ_CHECK(!error.message.empty());
    VIGIL_FUZZ_CHECK(server::IsUtf8(error.message));
    VIGIL_FUZZ_CHECK(error.offset <= body.size());
    server::BodyError located;
    server::LocateOffset(body, error.offset, &located);
    VIGIL_FUZZ_CHECK(located.line == error.line && located.column == error.column);
    VIGIL_FUZZ_CHECK(server::IsUtf8(server::ErrorJson(error.message, &error)));
    return;
  }
  // Accepted text is UTF-8 (the reader validates it).
  VIGIL_FUZZ_CHECK(server::IsUtf8(batch.gateway_id()));
  v1::IngestBatch again;
  server::BodyError again_error;
  const std::string json = ToJson(batch);
  VIGIL_FUZZ_CHECK(server::ParseIngestJson(json, &again, &again_error));
  VIGIL_FUZZ_CHECK(again.SerializeAsString() == batch.SerializeAsString());
}

}  // namespace
}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::fuzz::Run({reinterpret_cast<const char*>(data), size});
  return 0;
}
