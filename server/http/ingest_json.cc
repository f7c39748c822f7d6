#include "server/http/ingest_json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace vigil::server {
namespace {

// Where the SAX handler is in the (fixed) shape of a batch.
enum class State {
  kRoot,         // before the top object
  kTop,          // in the top object, expecting a key or its end
  kTopValue,     // after a top-level key
  kSeriesList,   // in "series": [...], expecting an object or the end
  kSeries,       // in one series object, expecting a key or its end
  kSeriesValue,  // after a series key
  kNumbers,      // in one of a series' arrays
  kDone,         // after the top object
};

enum class TopKey { kGatewayId, kEpoch, kSequence, kSeries };
enum class SeriesKey { kSensorId, kTimestamps, kValues, kQuality };

// Text as it may be quoted in an error message: at most 64 bytes.
std::string Quote(const char* s, size_t n) {
  constexpr size_t kMax = 64;
  std::string out = "'";
  size_t cut = std::min(n, kMax);
  // At a character boundary: the message is UTF-8 (the reader checked the text).
  while (cut < n && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  out.append(s, cut);
  if (cut < n) out += "...";
  out += "'";
  return out;
}

constexpr char kNotUtf8[] = "a string's \\u escapes are not UTF-8 (a lone surrogate)";

class BatchHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, BatchHandler> {
 public:
  explicit BatchHandler(v1::IngestBatch* batch) : batch_(batch) {}

  // Anything a state does not expect.
  bool Default() { return Fail("unexpected " + Expecting()); }

  bool Null() { return Fail("null is not allowed here; " + Expecting()); }
  bool Bool(bool) { return Fail("true/false is not allowed here; " + Expecting()); }
  // Numbers arrive as their text (kParseNumbersAsStringsFlag) and are
  // converted here with std::from_chars: exact integers, correctly rounded
  // doubles, and none of RapidJSON 1.1's own number code.
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view text(s, n);
    if (state_ == State::kTopValue && (top_ == TopKey::kEpoch || top_ == TopKey::kSequence)) {
      uint64_t v = 0;
      if (!ParseDecimal(text, &v)) return Fail(Expecting() + ", got " + Quote(s, n));
      SetTop(v);
      return true;
    }
    if (state_ != State::kNumbers) return Fail("a number is not allowed here; " + Expecting());
    switch (array_) {
      case SeriesKey::kTimestamps: {
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(s, s + n, v);
        if (ec != std::errc() || end != s + n) {
          return Fail("expected an integer timestamp (ms), got " + Quote(s, n));
        }
        series_->add_timestamps_ms(v);
        return true;
      }
      case SeriesKey::kValues: {
        double v = 0;
        const auto [end, ec] = std::from_chars(s, s + n, v);
        if (end != s + n || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
          return Fail("expected a number, got " + Quote(s, n));
        }
        if (ec == std::errc::result_out_of_range) {
          // Past the double range: infinite (then rejected as a reading), or 0.
          const size_t e = text.find_first_of("eE");
          const bool tiny = e != std::string_view::npos && e + 1 < n && s[e + 1] == '-';
          v = tiny ? 0.0 : (s[0] == '-' ? -HUGE_VAL : HUGE_VAL);
        }
        series_->add_values(v);
        return true;
      }
      case SeriesKey::kQuality: {
        uint64_t v = 0;
        if (!ParseDecimal(text, &v) || v > std::numeric_limits<uint32_t>::max()) {
          return Fail("expected a quality code 0..4294967295, got " + Quote(s, n));
        }
        series_->add_quality(static_cast<uint32_t>(v));
        return true;
      }
      case SeriesKey::kSensorId:
        break;
    }
    return Default();
  }

  bool String(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view text(s, n);
    // The reader checks the bytes it reads, not what \u escapes decode to.
    if (!IsUtf8(text)) return Fail(kNotUtf8);
    if (state_ == State::kTopValue) {
      state_ = State::kTop;
      if (top_ == TopKey::kGatewayId) {
        batch_->set_gateway_id(s, n);
        return true;
      }
      if (top_ == TopKey::kEpoch || top_ == TopKey::kSequence) {
        uint64_t v = 0;
        if (!ParseDecimal(text, &v))
          return Fail("expected an unsigned integer, got " + Quote(s, n));
        state_ = State::kTopValue;
        SetTop(v);
        return true;
      }
      return Fail("expected an array of series, got a string");
    }
    if (state_ == State::kSeriesValue && series_key_ == SeriesKey::kSensorId) {
      series_->set_sensor_id(s, n);
      state_ = State::kSeries;
      return true;
    }
    if (state_ == State::kNumbers) {
      if (array_ == SeriesKey::kValues) {
        // The proto3 JSON names of the non-finite doubles.
        if (text == "NaN") {
          series_->add_values(std::numeric_limits<double>::quiet_NaN());
        } else if (text == "Infinity") {
          series_->add_values(std::numeric_limits<double>::infinity());
        } else if (text == "-Infinity") {
          series_->add_values(-std::numeric_limits<double>::infinity());
        } else {
          return Fail("expected a number, got " + Quote(s, n));
        }
        return true;
      }
      if (array_ == SeriesKey::kTimestamps) {
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(s, s + n, v);
        if (ec != std::errc() || end != s + n || n == 0) {
          return Fail("expected an integer timestamp, got " + Quote(s, n));
        }
        series_->add_timestamps_ms(v);
        return true;
      }
      if (array_ == SeriesKey::kQuality) {
        uint64_t v = 0;
        if (!ParseDecimal(text, &v) || v > std::numeric_limits<uint32_t>::max()) {
          return Fail("expected a quality code 0..4294967295, got " + Quote(s, n));
        }
        series_->add_quality(static_cast<uint32_t>(v));
        return true;
      }
    }
    return Fail("a string is not allowed here; " + Expecting());
  }

  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view key(s, n);
    if (!IsUtf8(key)) return Fail(kNotUtf8);
    if (state_ == State::kTop) {
      int bit;
      if (key == "gateway_id") {
        top_ = TopKey::kGatewayId;
        bit = 1;
      } else if (key == "epoch") {
        top_ = TopKey::kEpoch;
        bit = 2;
      } else if (key == "sequence") {
        top_ = TopKey::kSequence;
        bit = 4;
      } else if (key == "series") {
        top_ = TopKey::kSeries;
        bit = 8;
      } else {
        return Fail("unknown key " + Quote(s, n) +
                    "; a batch has gateway_id, epoch, sequence and series");
      }
      if ((top_seen_ & bit) != 0) return Fail("key " + Quote(s, n) + " given twice");
      top_seen_ |= bit;
      state_ = State::kTopValue;
      return true;
    }
    if (state_ == State::kSeries) {
      int bit;
      if (key == "sensor_id") {
        series_key_ = SeriesKey::kSensorId;
        bit = 1;
      } else if (key == "timestamps_ms") {
        series_key_ = SeriesKey::kTimestamps;
        bit = 2;
      } else if (key == "values") {
        series_key_ = SeriesKey::kValues;
        bit = 4;
      } else if (key == "quality") {
        series_key_ = SeriesKey::kQuality;
        bit = 8;
      } else {
        return Fail("unknown key " + Quote(s, n) +
                    " in a series; a series has sensor_id, timestamps_ms, values and quality");
      }
      if ((series_seen_ & bit) != 0) return Fail("key " + Quote(s, n) + " given twice");
      series_seen_ |= bit;
      state_ = State::kSeriesValue;
      return true;
    }
    return Default();
  }

  bool StartObject() {
    if (state_ == State::kRoot) {
      state_ = State::kTop;
      return true;
    }
    if (state_ == State::kSeriesList) {
      series_ = batch_->add_series();
      series_seen_ = 0;
      state_ = State::kSeries;
      return true;
    }
    return Fail("an object is not allowed here; " + Expecting());
  }
  bool EndObject(rapidjson::SizeType) {
    if (state_ == State::kSeries) {
      if ((series_seen_ & 1) == 0) {
        return Fail("series " + std::to_string(batch_->series_size() - 1) + " has no sensor_id");
      }
      state_ = State::kSeriesList;
      return true;
    }
    if (state_ == State::kTop) {
      if ((top_seen_ & 1) == 0) return Fail("the batch has no gateway_id");
      if ((top_seen_ & 4) == 0) return Fail("the batch has no sequence");
      state_ = State::kDone;
      return true;
    }
    return Default();
  }
  bool StartArray() {
    if (state_ == State::kTopValue && top_ == TopKey::kSeries) {
      state_ = State::kSeriesList;
      return true;
    }
    if (state_ == State::kSeriesValue && series_key_ != SeriesKey::kSensorId) {
      array_ = series_key_;
      state_ = State::kNumbers;
      return true;
    }
    return Fail("an array is not allowed here; " + Expecting());
  }
  bool EndArray(rapidjson::SizeType) {
    if (state_ == State::kNumbers) {
      state_ = State::kSeries;
      return true;
    }
    if (state_ == State::kSeriesList) {
      state_ = State::kTop;
      return true;
    }
    return Default();
  }

  const std::string& error() const { return error_; }

 private:
  static bool ParseDecimal(std::string_view text, uint64_t* v) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *v);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
  }

  void SetTop(uint64_t v) {
    if (top_ == TopKey::kEpoch) {
      batch_->set_epoch(v);
    } else {
      batch_->set_sequence(v);
    }
    state_ = State::kTop;
  }

  std::string Expecting() const {
    switch (state_) {
      case State::kRoot:
        return "expected a batch object";
      case State::kTop:
        return "expected a key of the batch";
      case State::kTopValue:
        switch (top_) {
          case TopKey::kGatewayId:
            return "gateway_id must be a string";
          case TopKey::kEpoch:
            return "epoch must be an unsigned integer";
          case TopKey::kSequence:
            return "sequence must be an unsigned integer";
          case TopKey::kSeries:
            return "series must be an array of objects";
        }
        break;
      case State::kSeriesList:
        return "expected a series object";
      case State::kSeries:
        return "expected a key of a series";
      case State::kSeriesValue:
        return series_key_ == SeriesKey::kSensorId ? "sensor_id must be a string"
                                                   : "expected an array";
      case State::kNumbers:
        return array_ == SeriesKey::kValues ? "expected a number" : "expected an integer";
      case State::kDone:
        return "nothing may follow the batch";
    }
    return "unexpected";
  }

  bool Fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return false;
  }

  v1::IngestBatch* batch_;
  v1::Series* series_ = nullptr;
  State state_ = State::kRoot;
  TopKey top_ = TopKey::kGatewayId;
  SeriesKey series_key_ = SeriesKey::kSensorId;
  SeriesKey array_ = SeriesKey::kValues;
  int top_seen_ = 0;
  int series_seen_ = 0;
  std::string error_;
};

// Writes `text` as a JSON string; bytes that are not UTF-8 become U+FFFD, so
// the answer is valid JSON whatever a client sent.
void WriteText(rapidjson::Writer<rapidjson::StringBuffer>* w, std::string_view text) {
  if (IsUtf8(text)) {
    w->String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    return;
  }
  std::string clean;
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = Utf8SequenceLength(text.substr(i));
    if (n == 0) {
      clean += "\xEF\xBF\xBD";
      ++i;
    } else {
      clean.append(text.substr(i, n));
      i += n;
    }
  }
  w->String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
}

}  // namespace

size_t Utf8SequenceLength(std::string_view s) {
  if (s.empty()) return 0;
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1Fu;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0Fu;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07u;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3Fu);
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII runs dominate: skip them eight bytes at a time, then one by one,
    // without decoding (a line-protocol body is usually all ASCII).
    while (i + 8 <= s.size()) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if ((word & 0x8080808080808080ull) != 0) break;
      i += 8;
    }
    if (i == s.size()) break;
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(s.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void LocateOffset(std::string_view body, size_t offset, BodyError* error) {
  error->offset = offset;
  offset = std::min(offset, body.size());
  uint32_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (body[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  error->line = line;
  error->column = static_cast<uint32_t>(offset - line_start + 1);
}

bool ParseIngestJson(std::string_view body, v1::IngestBatch* batch, BodyError* error) {
  batch->Clear();
  if (const void* nul = std::memchr(body.data(), '\0', body.size()); nul != nullptr) {
    LocateOffset(body, static_cast<size_t>(static_cast<const char*>(nul) - body.data()), error);
    error->message = "the body holds a NUL byte";
    return false;
  }
  BatchHandler handler(batch);
  rapidjson::Reader reader;
  rapidjson::MemoryStream stream(body.data(), body.size());
  constexpr unsigned kFlags = rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseIterativeFlag |
                              rapidjson::kParseNumbersAsStringsFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, handler);
  if (result) return true;
  LocateOffset(body, result.Offset(), error);
  if (result.Code() == rapidjson::kParseErrorTermination && !handler.error().empty()) {
    error->message = handler.error();
  } else {
    error->message = std::string("malformed JSON: ") + rapidjson::GetParseError_En(result.Code());
  }
  return false;
}

std::string_view RejectReasonName(v1::RejectReason reason) {
  std::string_view name = v1::RejectReason_Name(reason);
  constexpr std::string_view kPrefix = "REJECT_REASON_";
  if (name.starts_with(kPrefix)) name.remove_prefix(kPrefix.size());
  return name;
}

std::string AckToJson(const v1::IngestAck& ack) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  w.Key("epoch");
  w.Uint64(ack.epoch());
  w.Key("sequence");
  w.Uint64(ack.sequence());
  w.Key("stored_readings");
  w.Uint(ack.stored_readings());
  w.Key("duplicate");
  w.Bool(ack.duplicate());
  w.Key("rejected_readings");
  w.Uint(ack.rejected_readings());
  w.Key("rejections");
  w.StartArray();
  for (const v1::Rejection& r : ack.rejections()) {
    w.StartObject();
    w.Key("series_index");
    w.Int(r.series_index());
    w.Key("sensor_id");
    WriteText(&w, r.sensor_id());
    w.Key("reading_index");
    w.Int(r.reading_index());
    w.Key("reason");
    const std::string_view reason = RejectReasonName(r.reason());
    w.String(reason.data(), static_cast<rapidjson::SizeType>(reason.size()));
    w.Key("detail");
    WriteText(&w, r.detail());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

std::string ErrorJson(std::string_view message, const BodyError* error) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  w.Key("error");
  WriteText(&w, message);
  if (error != nullptr) {
    w.Key("offset");
    w.Uint64(error->offset);
    w.Key("line");
    w.Uint(error->line);
    w.Key("column");
    w.Uint(error->column);
  }
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

std::string ErrorJson(std::string_view message, uint64_t epoch, uint64_t sequence) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  w.Key("error");
  WriteText(&w, message);
  w.Key("epoch");
  w.Uint64(epoch);
  w.Key("sequence");
  w.Uint64(sequence);
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

}  // namespace vigil::server
