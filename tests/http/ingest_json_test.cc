#include "server/http/ingest_json.h"

#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "server/http/gzip.h"

namespace vigil::server {
namespace {

TEST_CASE("JSON batch parses into an IngestBatch, 64-bit numbers as numbers or strings",
          "[http][json]") {
  v1::IngestBatch batch;
  BodyError error;
  const std::string body = R"({"gateway_id":"gw-1","epoch":"18446744073709551615","sequence":2,
    "series":[{"sensor_id":"s-1","timestamps_ms":[1700000000000,"-5"],"values":[1.5,-2],
               "quality":[0,7]},
              {"sensor_id":"s-2","timestamps_ms":[1,2],"values":["NaN",0e90]}]})";
  const bool parsed = ParseIngestJson(body, &batch, &error);
  INFO(error.message);
  REQUIRE(parsed);
  CHECK(batch.gateway_id() == "gw-1");
  CHECK(batch.epoch() == 18446744073709551615ull);
  CHECK(batch.sequence() == 2);
  REQUIRE(batch.series_size() == 2);
  CHECK(batch.series(0).timestamps_ms(0) == 1700000000000);
  CHECK(batch.series(0).timestamps_ms(1) == -5);
  CHECK(batch.series(0).values(1) == -2);
  CHECK(batch.series(0).quality(1) == 7);
  CHECK(std::isnan(batch.series(1).values(0)));
  CHECK(batch.series(1).values(1) == 0);  // 0e90 (RapidJSON's own strtod mishandles it)
  // Doubles are correctly rounded (std::from_chars).
  REQUIRE(ParseIngestJson(R"({"gateway_id":"g","sequence":1,"series":[{"sensor_id":"s",
      "timestamps_ms":[1],"values":[0.1]}]})",
                          &batch, &error));
  CHECK(batch.series(0).values(0) == 0.1);
}

TEST_CASE("JSON errors name the byte offset, line and column", "[http][json]") {
  v1::IngestBatch batch;
  BodyError error;
  // The offset is where the offending value starts, or just past an
  // offending key (RapidJSON reports a key once it is read).
  struct Case {
    std::string body;
    size_t offset;
    std::string message;
  };
  const std::string truncated = "{\"gateway_id\":\"gw-1\",\n\"sequence\":1,\"series\":[{\"sens";
  const Case cases[] = {
      {truncated, truncated.size(), "Missing a closing quotation mark"},
      {"{\"gateway_id\":\"gw-\xc3\x28\",\"sequence\":1}", 18, "Invalid encoding"},
      {"{\"gateway_id\":\"gw\",\"sequence\":1,\"series\":[],\"x\":1}", 47, "unknown key 'x'"},
      {"{\"gateway_id\":\"gw\",\"gateway_id\":\"gw\",\"sequence\":1}", 31, "given twice"},
      {"{\"gateway_id\":\"gw\"}", 18, "no sequence"},
      {"{\"sequence\":1}", 13, "no gateway_id"},
      {"{\"gateway_id\":1,\"sequence\":1}", 14, "gateway_id must be a string"},
      {"{\"gateway_id\":\"g\",\"sequence\":-1}", 29, "must be an unsigned integer, got '-1'"},
      {"{\"gateway_id\":\"g\",\"sequence\":1.5}", 29, "must be an unsigned integer"},
      {"{\"gateway_id\":\"g\",\"sequence\":1,\"series\":[{\"timestamps_ms\":[1.5]}]}", 59,
       "expected an integer"},
      {"{\"gateway_id\":\"g\",\"sequence\":1,\"series\":[{\"values\":[1]}]}", 54, "no sensor_id"},
      {"{\"gateway_id\":\"g\",\"sequence\":1} {}", 32, "not be followed"},
      {"[[[[[[[[[[[[[[[[[[[[", 0, "an array is not allowed"},
      {std::string("{\"gateway_id\":\"g\0\"}", 19), 16, "NUL"},
      {"", 0, "empty"},
      {"{\"gateway_id\":\"\\udc00\",\"sequence\":1}", 22, "lone surrogate"},
      {"{\"gateway_id\":\"g\",\"sequence\":1,\"series\":[{\"values\":[1e400]}]}", 52,
       "Number too big"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    REQUIRE_FALSE(ParseIngestJson(c.body, &batch, &error));
    CHECK(error.message.find(c.message) != std::string::npos);
    CHECK(error.offset == c.offset);
  }
  REQUIRE_FALSE(ParseIngestJson(truncated, &batch, &error));
  CHECK(error.line == 2);
  CHECK(error.column == truncated.size() - truncated.find('\n'));
}

TEST_CASE("Ack and error JSON are valid whatever the client sent", "[http][json]") {
  v1::IngestAck ack;
  ack.set_epoch(1);
  ack.set_sequence(2);
  ack.set_stored_readings(3);
  v1::Rejection* r = ack.add_rejections();
  r->set_series_index(0);
  r->set_sensor_id("s-\"1\"\xff");
  r->set_reading_index(-1);
  r->set_reason(v1::REJECT_REASON_UNKNOWN_SENSOR);
  r->set_detail("line\nbreak");
  const std::string json = AckToJson(ack);
  CHECK(json.find("\"reason\":\"UNKNOWN_SENSOR\"") != std::string::npos);
  CHECK(json.find("\"sensor_id\":\"s-\\\"1\\\"\xEF\xBF\xBD\"") != std::string::npos);
  CHECK(json.find("line\\nbreak") != std::string::npos);
  CHECK(IsUtf8(json));
  CHECK(ErrorJson("bad \xc0\xaf") == "{\"error\":\"bad \xEF\xBF\xBD\xEF\xBF\xBD\"}");
}

TEST_CASE("UTF-8 check refuses overlong forms, surrogates and truncation", "[http][json]") {
  CHECK(IsUtf8("plain ascii"));
  CHECK(IsUtf8("\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80"));
  CHECK_FALSE(IsUtf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(IsUtf8("\xed\xa0\x80"));      // a surrogate
  CHECK_FALSE(IsUtf8("\xe4\xb8"));          // truncated
  CHECK_FALSE(IsUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

std::string GzipOf(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST_CASE("Gunzip stops a gzip bomb at the limit and names a broken stream", "[http][gzip]") {
  std::string out;
  std::string why;
  const std::string text = "s-1 value=1\n";
  REQUIRE(Gunzip(GzipOf(text), 1024, &out, &why) == GunzipResult::kOk);
  CHECK(out == text);
  // Two members are one body.
  REQUIRE(Gunzip(GzipOf(text) + GzipOf(text), 1024, &out, &why) == GunzipResult::kOk);
  CHECK(out == text + text);
  const std::string bomb = GzipOf(std::string(16u << 20, 'a'));
  CHECK(Gunzip(bomb, 1u << 20, &out, &why) == GunzipResult::kTooLarge);
  CHECK(out.capacity() < (2u << 20));
  CHECK(Gunzip(bomb.substr(0, bomb.size() / 2), 32u << 20, &out, &why) == GunzipResult::kMalformed);
  CHECK(why.find("truncated") != std::string::npos);
  CHECK(Gunzip("not gzip", 1024, &out, &why) == GunzipResult::kMalformed);
  CHECK(Gunzip("", 1024, &out, &why) == GunzipResult::kMalformed);
}

}  // namespace
}  // namespace vigil::server
