// Fuzz target: InfluxDB line protocol bodies of POST /write
// (server/http/line_protocol.h) and their gzip form. Every line is either
// parsed or refused with a position inside it; a parsed line written back with
// the escaping rules parses into the same measurement, tags and fields; a
// gzip body never decompresses past its limit.
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "server/http/gzip.h"
#include "server/http/line_protocol.h"
#include "tests/fuzz/fuzz_support.h"

namespace vigil::fuzz {
namespace {

using server::FieldKind;
using server::LineProtocolParser;

void Escape(std::string_view text, std::string_view special, std::string* out) {
  for (char c : text) {
    if (c == '\\' || special.find(c) != std::string_view::npos) *out += '\\';
    *out += c;
  }
}

// `line` in canonical line protocol; false when a field cannot be written
// back exactly (an integer beyond 2^53, kept as a double).
bool Write(const server::ParsedLine& line, std::string* out) {
  out->clear();
  Escape(line.measurement, ", ", out);
  for (const server::LineTag& t : line.tags) {
    *out += ',';
    Escape(t.key, ",= ", out);
    *out += '=';
    Escape(t.value, ",= ", out);
  }
  *out += ' ';
  bool first = true;
  for (const server::LineField& f : line.fields) {
    if (!first) *out += ',';
    first = false;
    Escape(f.key, ",= ", out);
    *out += '=';
    char buf[40];
    switch (f.kind) {
      case FieldKind::kString:
        *out += '"';
        for (char c : f.text) {
          if (c == '"' || c == '\\') *out += '\\';
          *out += c;
        }
        *out += '"';
        break;
      case FieldKind::kBoolean:
        *out += f.number != 0 ? "true" : "false";
        break;
      case FieldKind::kFloat:
        std::snprintf(buf, sizeof buf, "%.17g", f.number);
        *out += buf;
        break;
      case FieldKind::kInteger:
      case FieldKind::kUnsigned:
        if (std::fabs(f.number) > 9007199254740992.0) return false;
        std::snprintf(buf, sizeof buf, "%" PRId64 "%c", static_cast<int64_t>(f.number),
                      f.kind == FieldKind::kInteger ? 'i' : 'u');
        *out += buf;
        break;
    }
  }
  if (line.timestamp) *out += " " + std::to_string(*line.timestamp);
  return true;
}

bool SameFields(const server::LineField& a, const server::LineField& b) {
  return a.key == b.key && a.kind == b.kind && a.text == b.text &&
         (a.number == b.number || (std::isnan(a.number) && std::isnan(b.number)));
}

void Run(std::string_view body) {
  uint32_t newlines = 0;
  for (char c : body) newlines += c == '\n';
  LineProtocolParser parser(body, 64);
  server::ParsedLine line;
  server::LineError error;
  uint32_t last = 0;
  std::string written;
  while (true) {
    const auto r = parser.Next(&line, &error);
    if (r == LineProtocolParser::Result::kEnd) break;
    const uint32_t number = r == LineProtocolParser::Result::kLine ? line.number : error.line;
    VIGIL_FUZZ_CHECK(number > last && number <= newlines + 1);
    last = number;
    if (r == LineProtocolParser::Result::kError) {
      VIGIL_FUZZ_CHECK(error.column >= 1 && !error.message.empty());
      continue;
    }
    VIGIL_FUZZ_CHECK(!line.measurement.empty() && !line.fields.empty());
    VIGIL_FUZZ_CHECK(line.fields.size() <= 64 && line.tags.size() <= 64);
    if (!Write(line, &written)) continue;
    // Copies: the second parser's views are the ones compared with.
    const std::string measurement(line.measurement);
    const std::vector<server::LineTag> tags(line.tags.begin(), line.tags.end());
    const std::vector<server::LineField> fields(line.fields.begin(), line.fields.end());
    const auto timestamp = line.timestamp;
    LineProtocolParser again(written, 64);
    server::ParsedLine copy;
    server::LineError copy_error;
    VIGIL_FUZZ_CHECK(again.Next(&copy, &copy_error) == LineProtocolParser::Result::kLine);
    VIGIL_FUZZ_CHECK(copy.measurement == measurement && copy.timestamp == timestamp);
    VIGIL_FUZZ_CHECK(copy.tags.size() == tags.size() && copy.fields.size() == fields.size());
    for (size_t i = 0; i < tags.size(); ++i) {
      VIGIL_FUZZ_CHECK(copy.tags[i].key == tags[i].key && copy.tags[i].value == tags[i].value);
    }
    for (size_t i = 0; i < fields.size(); ++i)
      VIGIL_FUZZ_CHECK(SameFields(copy.fields[i], fields[i]));
  }

  std::string out;
  std::string why;
  constexpr size_t kLimit = 1 << 16;
  if (server::Gunzip(body, kLimit, &out, &why) == server::GunzipResult::kOk) {
    VIGIL_FUZZ_CHECK(out.size() <= kLimit);
  }
}

}  // namespace
}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::fuzz::Run({reinterpret_cast<const char*>(data), size});
  return 0;
}
