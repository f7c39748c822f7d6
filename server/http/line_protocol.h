// InfluxDB line protocol (what Telegraf, Node-RED and the Influx and
// VictoriaMetrics clients send to /write):
//   measurement[,tag=value...] field=value[,field=value...] [timestamp]
// with InfluxDB's escaping rules (`\,` `\ ` in measurements; `\,` `\=` `\ `
// in tag keys, tag values and field keys; `\"` `\\` in string field values),
// field values as floats, integers (`12i`), unsigned (`12u`), booleans
// (t/true/f/false in any of InfluxDB's spellings) or "strings"; `#` lines are
// comments. Each malformed line is reported with its line number and column
// and skipped; the others are kept. No allocation per line or field once the
// parser's scratch has grown to the longest line. Not thread-safe: one parser
// per caller.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::server {

enum class FieldKind { kFloat, kInteger, kUnsigned, kBoolean, kString };

struct LineTag {
  std::string_view key;
  std::string_view value;
};

struct LineField {
  std::string_view key;
  FieldKind kind = FieldKind::kFloat;
  double number = 0;      // every kind but kString (a boolean is 1 or 0)
  std::string_view text;  // kString: the unescaped value
};

// One well-formed line; views valid until the next call to Next().
struct ParsedLine {
  uint32_t number = 0;  // 1-based line number in the body
  std::string_view measurement;
  std::span<const LineTag> tags;
  std::span<const LineField> fields;
  std::optional<int64_t> timestamp;  // in the request's precision
};

struct LineError {
  uint32_t line = 0;    // 1-based
  uint32_t column = 0;  // 1-based byte column
  std::string message;
};

class LineProtocolParser {
 public:
  // A line with more than `max_fields` fields (or tags) is an error.
  explicit LineProtocolParser(std::string_view body, uint32_t max_fields = 1000);

  enum class Result { kLine, kError, kEnd };
  // The next line: kLine fills *line, kError fills *error (the line is
  // skipped), kEnd at the end of the body. Blank and comment lines are skipped.
  Result Next(ParsedLine* line, LineError* error);

 private:
  // Parses `text` (one line without its newline) into *line; an error
  // message with its column (0-based) otherwise.
  bool ParseLine(std::string_view text, ParsedLine* line, size_t* error_column, std::string* error);

  std::string_view body_;
  size_t pos_ = 0;
  uint32_t line_number_ = 0;
  uint32_t max_fields_;
  std::string scratch_;  // unescaped names and values of the current line
  std::vector<LineTag> tags_;
  std::vector<LineField> fields_;
};

// Timestamp precision of a write (`precision=` query parameter).
enum class Precision { kNanoseconds, kMicroseconds, kMilliseconds, kSeconds, kMinutes, kHours };

// "ns" "n" "us" "u" "ms" "s" "m" "h" (InfluxDB 1.x and 2.x spellings); "" is
// nanoseconds. nullopt for anything else.
std::optional<Precision> ParsePrecision(std::string_view text);

// `t` in `precision` as milliseconds since the Unix epoch, rounded down;
// nullopt when it overflows.
std::optional<int64_t> ToMillis(int64_t t, Precision precision);

// Maps a line's measurement, tags and field to a registry sensor id. A
// template is text with placeholders: {measurement}, {field}, and {NAME} for
// the value of tag NAME. Thread-safe after construction (immutable).
class SensorTemplate {
 public:
  // Errors: an unclosed or empty placeholder; returns nullopt and sets *error.
  static std::optional<SensorTemplate> Parse(std::string_view text, std::string* error);

  // Writes the sensor id of `field` of `line` into *out; false (and *missing
  // = the tag's name) when the line lacks a tag the template names.
  bool Render(const ParsedLine& line, const LineField& field, std::string* out,
              std::string_view* missing) const;

  // Whether the template names the field (else all fields of a line map to
  // the same sensor, so a line must have one field).
  bool uses_field() const { return uses_field_; }

 private:
  enum class Kind { kText, kMeasurement, kField, kTag };
  struct Piece {
    Kind kind;
    std::string text;  // kText: the text; kTag: the tag's name
  };
  std::vector<Piece> pieces_;
  bool uses_field_ = false;
};

}  // namespace vigil::server
