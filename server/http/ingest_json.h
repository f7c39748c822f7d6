// The JSON form of an ingest batch (POST /api/v1/ingest) and of its ack: the
// proto3 JSON mapping of vigil.v1.IngestBatch and IngestAck (field names as in
// proto/vigil/v1/ingest.proto; 64-bit integers as numbers or decimal strings).
// Parsed by RapidJSON's SAX reader straight into a reused IngestBatch: no DOM,
// no allocation per reading once the batch's arrays have grown. Pure
// functions; thread-safe (each caller its own batch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vigil/v1/ingest.pb.h"

namespace vigil::server {

// Where and why a body is not what it must be.
struct BodyError {
  size_t offset = 0;    // byte offset of the error in the body
  uint32_t line = 1;    // 1-based line of `offset`
  uint32_t column = 1;  // 1-based byte column of `offset` in its line
  std::string message;  // one line for a person
};

// Parses `body` into *batch (cleared first; its allocations are reused).
// Accepted: one object with "gateway_id" (string) and "sequence" (required),
// "epoch" (default 0) and "series": an array of objects with "sensor_id",
// "timestamps_ms" (integers, ms since the Unix epoch), "values" (numbers, or
// "NaN"/"Infinity"/"-Infinity", which validation then rejects per reading)
// and optional "quality" (integers 0..2^32-1). Unknown or repeated keys,
// wrong types, invalid UTF-8, a NUL byte and anything after the object are
// errors. Returns false and fills *error on the first error.
bool ParseIngestJson(std::string_view body, v1::IngestBatch* batch, BodyError* error);

// The ack as JSON: {"epoch":..,"sequence":..,"stored_readings":..,
// "duplicate":..,"rejected_readings":..,"rejections":[{"series_index":..,
// "sensor_id":..,"reading_index":..,"reason":"UNKNOWN_SENSOR","detail":..}]}.
std::string AckToJson(const v1::IngestAck& ack);

// {"error": message} plus, when `error` is set, "offset", "line" and "column".
std::string ErrorJson(std::string_view message, const BodyError* error = nullptr);
// {"error": message, "epoch": epoch, "sequence": sequence}: a refused batch
// whose numbers are known (MQTT's ack of a batch that cannot be stored).
std::string ErrorJson(std::string_view message, uint64_t epoch, uint64_t sequence);

// The 1-based line and byte column of `offset` in `body`.
void LocateOffset(std::string_view body, size_t offset, BodyError* error);

// Bytes of the UTF-8 character `s` starts with; 0 when it does not start
// with one (a stray byte, an overlong form, a surrogate, a truncated one).
size_t Utf8SequenceLength(std::string_view s);
// True when `s` is entirely UTF-8.
bool IsUtf8(std::string_view s);

// The reason's name without its REJECT_REASON_ prefix ("UNKNOWN_SENSOR").
std::string_view RejectReasonName(v1::RejectReason reason);

}  // namespace vigil::server
