#include "server/http/line_protocol.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "server/config/options.h"

namespace vigil::server {
namespace {

struct Parsed {
  std::vector<std::string> lines;   // "number measurement tags fields [ts]"
  std::vector<std::string> errors;  // "line:column message"
};

std::string Describe(const ParsedLine& l) {
  std::string out = std::to_string(l.number) + " " + std::string(l.measurement);
  for (const LineTag& t : l.tags) out += " " + std::string(t.key) + "=" + std::string(t.value);
  for (const LineField& f : l.fields) {
    out += " " + std::string(f.key) + ":";
    switch (f.kind) {
      case FieldKind::kString:
        out += "\"" + std::string(f.text) + "\"";
        break;
      case FieldKind::kInteger:
        out += "i" + std::to_string(static_cast<int64_t>(f.number));
        break;
      case FieldKind::kUnsigned:
        out += "u" + std::to_string(static_cast<uint64_t>(f.number));
        break;
      case FieldKind::kBoolean:
        out += f.number != 0 ? "true" : "false";
        break;
      case FieldKind::kFloat: {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", f.number);
        out += buf;
        break;
      }
    }
  }
  if (l.timestamp) out += " @" + std::to_string(*l.timestamp);
  return out;
}

Parsed Parse(std::string_view body, uint32_t max_fields = 1000) {
  Parsed p;
  LineProtocolParser parser(body, max_fields);
  ParsedLine line;
  LineError error;
  while (true) {
    const auto r = parser.Next(&line, &error);
    if (r == LineProtocolParser::Result::kEnd) break;
    if (r == LineProtocolParser::Result::kLine) {
      p.lines.push_back(Describe(line));
    } else {
      p.errors.push_back(std::to_string(error.line) + ":" + std::to_string(error.column) + " " +
                         error.message);
    }
  }
  return p;
}

TEST_CASE("Line protocol: kinds of fields, tags, timestamps and comments", "[http][line]") {
  const Parsed p = Parse(
      "# comment\n"
      "\n"
      "cpu,host=a,region=north usage=0.5,count=3i,big=12345u,ok=t 1700000000\r\n"
      "  weather temp=-1.5e1,up=FALSE,note=\"a \\\"quoted\\\" \\\\ text, with = and spaces\"\n"
      "m v=1   -20\n");
  CHECK(p.errors.empty());
  REQUIRE(p.lines.size() == 3);
  CHECK(p.lines[0] ==
        "3 cpu host=a region=north usage:0.5 count:i3 big:u12345 ok:true "
        "@1700000000");
  CHECK(p.lines[1] ==
        "4 weather temp:-15 up:false note:\"a \"quoted\" \\ text, with = and spaces\"");
  CHECK(p.lines[2] == "5 m v:1 @-20");
}

TEST_CASE("Line protocol: InfluxDB's escaping rules", "[http][line]") {
  const Parsed p = Parse(
      "my\\ meas\\,ure,tag\\ key\\=x=tag\\,val\\ ue field\\=key=1\n"
      "back\\slash f=2\n");
  CHECK(p.errors.empty());
  REQUIRE(p.lines.size() == 2);
  CHECK(p.lines[0] == "1 my meas,ure tag key=x=tag,val ue field=key:1");
  // A backslash before anything else is kept as it is.
  CHECK(p.lines[1] == "2 back\\slash f:2");
}

TEST_CASE("Line protocol: each malformed line is named with its column, the rest kept",
          "[http][line]") {
  const Parsed p = Parse(
      "ok v=1\n"
      "nofields\n"
      "m,t v=1\n"
      "m,t= v=1\n"
      "m v\n"
      "m v=\n"
      "m v=1x\n"
      "m v=nan\n"
      "m v=\"open\n"
      "m v=1 12ab\n"
      "m v=1 1 2\n"
      "m v=1,\n"
      ",t=1 v=1\n"
      "m v=1.5i\n"
      "m v=1\xff\n"
      "ok2 v=2\n");
  REQUIRE(p.lines.size() == 2);
  CHECK(p.lines[0] == "1 ok v:1");
  CHECK(p.lines[1] == "16 ok2 v:2");
  const std::vector<std::string> expected = {
      "2:9 line has no fields",        "3:4 tag 't' has no '='",
      "4:5 tag 't' has no value",      "5:4 field 'v' has no '='",
      "6:5 field value is missing",    "7:5 invalid field value '1x'",
      "8:5 invalid field value 'nan'", "9:5 string field value has no closing quote",
      "10:7 invalid timestamp '12ab'", "11:9 unexpected text after the timestamp",
      "12:7 field key is missing",     "13:1 measurement name is missing",
      "14:5 invalid integer '1.5i'",   "15:1 the line is not valid UTF-8",
  };
  CHECK(p.errors == expected);
}

TEST_CASE("Line protocol: a line with too many fields is refused, not parsed on", "[http][line]") {
  std::string wide = "m ";
  for (int i = 0; i < 10'000; ++i) wide += (i ? ",f" : "f") + std::to_string(i) + "=1";
  const Parsed p = Parse(wide + "\nm v=1\n", 100);
  REQUIRE(p.errors.size() == 1);
  CHECK(p.errors[0].find("1:") == 0);
  CHECK(p.errors[0].find("more than 100 fields") != std::string::npos);
  CHECK(p.lines == std::vector<std::string>{"2 m v:1"});
}

TEST_CASE("Precision converts to milliseconds, rounding down", "[http][line]") {
  CHECK(ToMillis(1'700'000'000'123'456'789, *ParsePrecision("")) == 1'700'000'000'123);
  CHECK(ToMillis(-1, *ParsePrecision("ns")) == -1);
  CHECK(ToMillis(1'500, *ParsePrecision("us")) == 1);
  CHECK(ToMillis(7, *ParsePrecision("ms")) == 7);
  CHECK(ToMillis(2, *ParsePrecision("s")) == 2'000);
  CHECK(ToMillis(2, *ParsePrecision("m")) == 120'000);
  CHECK(ToMillis(1, *ParsePrecision("h")) == 3'600'000);
  CHECK_FALSE(ToMillis(INT64_MAX / 10, Precision::kHours).has_value());
  CHECK_FALSE(ParsePrecision("d").has_value());
}

TEST_CASE("Sensor template maps measurement, tags and field to a sensor id", "[http][line]") {
  std::string error;
  auto t = SensorTemplate::Parse("{site}/{measurement}.{field}", &error);
  REQUIRE(t.has_value());
  CHECK(t->uses_field());
  LineProtocolParser parser("gas,site=plant-7 ch4=0.4\ngas ch4=1\n");
  ParsedLine line;
  LineError line_error;
  REQUIRE(parser.Next(&line, &line_error) == LineProtocolParser::Result::kLine);
  std::string id;
  std::string_view missing;
  REQUIRE(t->Render(line, line.fields[0], &id, &missing));
  CHECK(id == "plant-7/gas.ch4");
  REQUIRE(parser.Next(&line, &line_error) == LineProtocolParser::Result::kLine);
  CHECK_FALSE(t->Render(line, line.fields[0], &id, &missing));
  CHECK(missing == "site");

  for (const char* bad : {"", "{", "a{}b", "{a{b}}"}) {
    INFO(bad);
    CHECK_FALSE(SensorTemplate::Parse(bad, &error).has_value());
    // The config check agrees with the parser.
    CHECK_FALSE(SensorTemplateError(bad).empty());
  }
  CHECK(SensorTemplateError("{measurement}").empty());
}

}  // namespace
}  // namespace vigil::server
