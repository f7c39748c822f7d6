#include "server/http/line_protocol.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "server/http/ingest_json.h"

namespace vigil::server {

LineProtocolParser::LineProtocolParser(std::string_view body, uint32_t max_fields)
    : body_(body), max_fields_(max_fields) {}

LineProtocolParser::Result LineProtocolParser::Next(ParsedLine* line, LineError* error) {
  while (pos_ < body_.size()) {
    size_t end = body_.find('\n', pos_);
    if (end == std::string_view::npos) end = body_.size();
    std::string_view text = body_.substr(pos_, end - pos_);
    pos_ = end + 1;
    ++line_number_;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    size_t lead = 0;
    while (lead < text.size() && (text[lead] == ' ' || text[lead] == '\t')) ++lead;
    if (lead == text.size() || text[lead] == '#') continue;
    size_t column = 0;
    std::string message;
    if (!IsUtf8(text)) {
      error->line = line_number_;
      error->column = 1;
      error->message = "the line is not valid UTF-8";
      return Result::kError;
    }
    if (ParseLine(text.substr(lead), line, &column, &message)) {
      line->number = line_number_;
      return Result::kLine;
    }
    error->line = line_number_;
    error->column = static_cast<uint32_t>(lead + column + 1);
    error->message = std::move(message);
    return Result::kError;
  }
  return Result::kEnd;
}

namespace {

// Reads a name (measurement, tag key or value, field key) from text[*i] up
// to an unescaped ',' or ' ' (or '=' when kEqualsStops: keys), or the end of
// the text. A backslash before ',' ' ' '\\' (or '=' when kEqualsEscapes:
// all but the measurement) escapes it. A name without a backslash is a view
// of the line itself; one with a backslash is unescaped into out[*w...].
// Runs per name of every line: plain compares, no search of a set.
template <bool kEqualsStops, bool kEqualsEscapes>
std::string_view ReadName(std::string_view text, size_t* i, char* out, size_t* w) {
  const size_t start = *i;
  const size_t n = text.size();
  size_t j = start;
  for (; j < n; ++j) {
    const char c = text[j];
    if (c == ',' || c == ' ' || (kEqualsStops && c == '=')) {
      *i = j;
      return text.substr(start, j - start);
    }
    if (c == '\\') break;
  }
  if (j == n) {
    *i = n;
    return text.substr(start);
  }
  const size_t out_start = *w;
  std::memcpy(out + *w, text.data() + start, j - start);
  *w += j - start;
  while (j < n) {
    const char c = text[j];
    if (c == '\\' && j + 1 < n) {
      const char next = text[j + 1];
      if (next == ',' || next == ' ' || next == '\\' || (kEqualsEscapes && next == '=')) {
        out[(*w)++] = next;
        j += 2;
        continue;
      }
    }
    if (c == ',' || c == ' ' || (kEqualsStops && c == '=')) break;
    out[(*w)++] = c;
    ++j;
  }
  *i = j;
  return {out + out_start, *w - out_start};
}

// The measurement, a tag key, a tag value, a field key.
std::string_view ReadMeasurement(std::string_view text, size_t* i, char* out, size_t* w) {
  return ReadName<false, false>(text, i, out, w);
}
std::string_view ReadKey(std::string_view text, size_t* i, char* out, size_t* w) {
  return ReadName<true, true>(text, i, out, w);
}
std::string_view ReadTagValue(std::string_view text, size_t* i, char* out, size_t* w) {
  return ReadName<false, true>(text, i, out, w);
}

bool ParseBoolean(std::string_view v, bool* b) {
  if (v == "t" || v == "T" || v == "true" || v == "True" || v == "TRUE") {
    *b = true;
    return true;
  }
  if (v == "f" || v == "F" || v == "false" || v == "False" || v == "FALSE") {
    *b = false;
    return true;
  }
  return false;
}

// Parses an unquoted field value into *field; an error message otherwise.
std::string ParseNumber(std::string_view v, LineField* field) {
  if (v.empty()) return "field value is missing";
  const char last = v.back();
  if (last == 'i' || last == 'u') {
    const std::string_view digits = v.substr(0, v.size() - 1);
    if (last == 'i') {
      int64_t n = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
        return "invalid integer '" + std::string(v.substr(0, 32)) + "'";
      }
      field->kind = FieldKind::kInteger;
      field->number = static_cast<double>(n);
    } else {
      uint64_t n = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
        return "invalid unsigned integer '" + std::string(v.substr(0, 32)) + "'";
      }
      field->kind = FieldKind::kUnsigned;
      field->number = static_cast<double>(n);
    }
    return "";
  }
  // A boolean starts with a letter, a float with a digit, a sign or a point:
  // floats, the common case, skip the boolean spellings.
  const char first = v.front();
  const bool numeric =
      (first >= '0' && first <= '9') || first == '-' || first == '+' || first == '.';
  bool b = false;
  if (!numeric && ParseBoolean(v, &b)) {
    field->kind = FieldKind::kBoolean;
    field->number = b ? 1 : 0;
    return "";
  }
  // Digits, sign, point and exponent only: from_chars would also take
  // "nan" and "inf", which line protocol does not have.
  for (char c : v) {
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) {
      return "invalid field value '" + std::string(v.substr(0, 32)) + "'";
    }
  }
  double d = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(d)) {
    return "invalid float '" + std::string(v.substr(0, 32)) + "'";
  }
  field->kind = FieldKind::kFloat;
  field->number = d;
  return "";
}

}  // namespace

bool LineProtocolParser::ParseLine(std::string_view text, ParsedLine* line, size_t* error_column,
                                   std::string* error) {
  // Unescaped text is never longer than the line: views into scratch_ stay
  // valid while the line is parsed (no reallocation).
  if (scratch_.size() < text.size()) scratch_.resize(text.size());
  char* out = scratch_.data();
  size_t w = 0;
  size_t i = 0;
  tags_.clear();
  fields_.clear();
  auto fail = [&](size_t column, std::string message) {
    *error_column = column;
    *error = std::move(message);
    return false;
  };

  line->measurement = ReadMeasurement(text, &i, out, &w);
  if (line->measurement.empty()) return fail(i, "measurement name is missing");
  if (i == text.size()) return fail(i, "line has no fields");

  // Tags.
  while (text[i] == ',') {
    ++i;
    const size_t key_at = i;
    const std::string_view key = ReadKey(text, &i, out, &w);
    if (key.empty()) return fail(key_at, "tag key is missing");
    if (i == text.size() || text[i] != '=')
      return fail(i, "tag '" + std::string(key) + "' has no '='");
    ++i;
    const size_t value_at = i;
    const std::string_view value = ReadTagValue(text, &i, out, &w);
    if (value.empty()) return fail(value_at, "tag '" + std::string(key) + "' has no value");
    if (tags_.size() >= max_fields_) {
      return fail(key_at, "line has more than " + std::to_string(max_fields_) + " tags");
    }
    tags_.push_back({key, value});
    if (i == text.size()) return fail(i, "line has no fields");
  }
  // text[i] == ' ': the field set follows (several spaces are allowed).
  while (i < text.size() && text[i] == ' ') ++i;
  if (i == text.size()) return fail(i, "line has no fields");

  // Fields.
  while (true) {
    const size_t key_at = i;
    LineField field;
    field.key = ReadKey(text, &i, out, &w);
    if (field.key.empty()) return fail(key_at, "field key is missing");
    if (i == text.size() || text[i] != '=') {
      return fail(i, "field '" + std::string(field.key.substr(0, 64)) + "' has no '='");
    }
    ++i;
    const size_t value_at = i;
    if (i < text.size() && text[i] == '"') {
      ++i;
      const size_t start = w;
      bool closed = false;
      while (i < text.size()) {
        const char c = text[i];
        if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
          out[w++] = text[i + 1];
          i += 2;
          continue;
        }
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        out[w++] = c;
        ++i;
      }
      if (!closed) return fail(value_at, "string field value has no closing quote");
      field.kind = FieldKind::kString;
      field.text = std::string_view(out + start, w - start);
    } else {
      const size_t start = i;
      while (i < text.size() && text[i] != ',' && text[i] != ' ') ++i;
      std::string message = ParseNumber(text.substr(start, i - start), &field);
      if (!message.empty()) return fail(value_at, std::move(message));
    }
    if (fields_.size() >= max_fields_) {
      return fail(key_at, "line has more than " + std::to_string(max_fields_) + " fields");
    }
    fields_.push_back(field);
    if (i == text.size() || text[i] == ' ') break;
    if (text[i] != ',') return fail(i, "expected ',' or ' ' after a field value");
    ++i;
  }

  // Timestamp.
  while (i < text.size() && text[i] == ' ') ++i;
  line->timestamp.reset();
  if (i < text.size()) {
    size_t end = i;
    while (end < text.size() && text[end] != ' ') ++end;
    int64_t t = 0;
    const auto [p, ec] = std::from_chars(text.data() + i, text.data() + end, t);
    if (ec != std::errc() || p != text.data() + end) {
      return fail(i, "invalid timestamp '" +
                         std::string(text.substr(i, std::min<size_t>(end - i, 32))) + "'");
    }
    for (size_t k = end; k < text.size(); ++k) {
      if (text[k] != ' ') return fail(k, "unexpected text after the timestamp");
    }
    line->timestamp = t;
  }
  line->tags = tags_;
  line->fields = fields_;
  return true;
}

std::optional<Precision> ParsePrecision(std::string_view text) {
  if (text.empty() || text == "ns" || text == "n") return Precision::kNanoseconds;
  if (text == "us" || text == "u") return Precision::kMicroseconds;
  if (text == "ms") return Precision::kMilliseconds;
  if (text == "s") return Precision::kSeconds;
  if (text == "m") return Precision::kMinutes;
  if (text == "h") return Precision::kHours;
  return std::nullopt;
}

std::optional<int64_t> ToMillis(int64_t t, Precision precision) {
  // Floor division, so that a negative time rounds down like a positive one.
  const auto floor_div = [](int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && (a < 0)) --q;
    return q;
  };
  int64_t factor = 1;
  switch (precision) {
    case Precision::kNanoseconds:
      return floor_div(t, 1'000'000);
    case Precision::kMicroseconds:
      return floor_div(t, 1'000);
    case Precision::kMilliseconds:
      return t;
    case Precision::kSeconds:
      factor = 1'000;
      break;
    case Precision::kMinutes:
      factor = 60'000;
      break;
    case Precision::kHours:
      factor = 3'600'000;
      break;
  }
  int64_t ms = 0;
  if (__builtin_mul_overflow(t, factor, &ms)) return std::nullopt;
  return ms;
}

std::optional<SensorTemplate> SensorTemplate::Parse(std::string_view text, std::string* error) {
  SensorTemplate t;
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find('{', i);
    if (open == std::string_view::npos) {
      t.pieces_.push_back({Kind::kText, std::string(text.substr(i))});
      break;
    }
    if (open > i) t.pieces_.push_back({Kind::kText, std::string(text.substr(i, open - i))});
    const size_t close = text.find('}', open);
    if (close == std::string_view::npos) {
      *error = "'{' at " + std::to_string(open) + " has no closing '}'";
      return std::nullopt;
    }
    const std::string_view name = text.substr(open + 1, close - open - 1);
    if (name.empty() || name.find('{') != std::string_view::npos) {
      *error = "empty or nested placeholder at " + std::to_string(open);
      return std::nullopt;
    }
    if (name == "measurement") {
      t.pieces_.push_back({Kind::kMeasurement, ""});
    } else if (name == "field") {
      t.pieces_.push_back({Kind::kField, ""});
      t.uses_field_ = true;
    } else {
      t.pieces_.push_back({Kind::kTag, std::string(name)});
    }
    i = close + 1;
  }
  if (t.pieces_.empty()) {
    *error = "the template is empty";
    return std::nullopt;
  }
  return t;
}

bool SensorTemplate::Render(const ParsedLine& line, const LineField& field, std::string* out,
                            std::string_view* missing) const {
  out->clear();
  for (const Piece& p : pieces_) {
    switch (p.kind) {
      case Kind::kText:
        out->append(p.text);
        break;
      case Kind::kMeasurement:
        out->append(line.measurement);
        break;
      case Kind::kField:
        out->append(field.key);
        break;
      case Kind::kTag: {
        bool found = false;
        for (const LineTag& tag : line.tags) {
          if (tag.key == p.text) {
            out->append(tag.value);
            found = true;
            break;
          }
        }
        if (!found) {
          *missing = p.text;
          return false;
        }
        break;
      }
    }
  }
  return true;
}

}  // namespace vigil::server
