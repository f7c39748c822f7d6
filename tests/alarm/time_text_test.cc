#include "alarm/time_text.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

namespace vigil::alarm {
namespace {

using namespace std::chrono_literals;

template <class T>
std::string ErrorOf(const Result<T>& result) {
  return result ? std::string("(ok)") : result.error().message();
}

TEST_CASE("ParseDuration takes integer terms with units, summed", "[alarm][time_text]") {
  CHECK(*ParseDuration("250ms") == 250ms);
  CHECK(*ParseDuration("10s") == 10s);
  CHECK(*ParseDuration("5m") == 5min);
  CHECK(*ParseDuration("2h") == 2h);
  CHECK(*ParseDuration("90d") == 24h * 90);
  CHECK(*ParseDuration("0s") == 0ms);
  CHECK(*ParseDuration("1h30m") == 90min);
  CHECK(*ParseDuration("1d2h3m4s5ms") == 24h + 2h + 3min + 4s + 5ms);
  CHECK(*ParseDuration("1m1ms") == 60001ms);
}

TEST_CASE("ParseDuration refuses anything else with one message", "[alarm][time_text]") {
  for (const char* bad : {"", "10", "s", "-5s", "+5s", "1.5s", "10 s", "10sec", "5M", " 5s", "5s ",
                          "1h30", "h1", "1min", "1hh", "5us"}) {
    CAPTURE(bad);
    const Result<std::chrono::milliseconds> result = ParseDuration(bad);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code() == Status::Code::kInvalidArgument);
    CHECK(result.error().message() ==
          "expected a duration like 250ms, 10s, 5m, 2h or 90d, got '" + std::string(bad) + "'");
  }
}

TEST_CASE("ParseDuration reports a sum past int64 ms as too large", "[alarm][time_text]") {
  CHECK(ErrorOf(ParseDuration("9999999999999999999d")) ==
        "duration '9999999999999999999d' is too large");
  CHECK(ErrorOf(ParseDuration("200000000000000d")) == "duration '200000000000000d' is too large");
  // Each term fits; their sum does not.
  CHECK(ErrorOf(ParseDuration("100000000000000d100000000000000d")) ==
        "duration '100000000000000d100000000000000d' is too large");
  CHECK(*ParseDuration("9223372036854775807ms") == std::chrono::milliseconds::max());
}

TEST_CASE("ParseDuration with bounds names the bound", "[alarm][time_text]") {
  CHECK(*ParseDuration("1s", 1s, 24h) == 1s);
  CHECK(*ParseDuration("24h", 1s, 24h) == 24h);
  CHECK(ErrorOf(ParseDuration("999ms", 1s, 24h)) == "must be at least 1s, got '999ms'");
  CHECK(ErrorOf(ParseDuration("1d1ms", 1s, 24h)) == "must be at most 1d, got '1d1ms'");
  CHECK(ErrorOf(ParseDuration("0s", 1ms, 24h)) == "must be positive, got '0s'");
  CHECK(ErrorOf(ParseDuration("x", 1ms, 24h)) ==
        "expected a duration like 250ms, 10s, 5m, 2h or 90d, got 'x'");
}

TEST_CASE("FormatDuration uses the largest exact unit and reads back", "[alarm][time_text]") {
  CHECK(FormatDuration(24h * 90) == "90d");
  CHECK(FormatDuration(48h) == "2d");
  CHECK(FormatDuration(25h) == "25h");
  CHECK(FormatDuration(60s) == "1m");
  CHECK(FormatDuration(90s) == "90s");
  CHECK(FormatDuration(1500ms) == "1500ms");
  CHECK(FormatDuration(0ms) == "0s");
  CHECK(FormatDuration(-90s) == "-90s");
  for (std::chrono::milliseconds d : {1ms, 999ms, 1000ms * 61, 3600000ms * 7, 86400000ms * 36500,
                                      std::chrono::milliseconds::max()}) {
    CAPTURE(d.count());
    CHECK(*ParseDuration(FormatDuration(d)) == d);
  }
}

TEST_CASE("ParseTime takes RFC 3339 and a bare date", "[alarm][time_text]") {
  CHECK(*ParseTime("1970-01-01") == 0);
  CHECK(*ParseTime("2030-01-02") == 1'893'542'400'000);
  CHECK(*ParseTime("2030-01-02T03:04:05Z") == 1'893'553'445'000);
  CHECK(*ParseTime("2030-01-02t03:04:05z") == 1'893'553'445'000);
  CHECK(*ParseTime("2030-01-02 03:04:05Z") == 1'893'553'445'000);
  CHECK(*ParseTime("2030-01-02T11:04:05+08:00") == 1'893'553'445'000);
  CHECK(*ParseTime("2030-01-01T22:04:05-05:00") == 1'893'553'445'000);
  CHECK(*ParseTime("2030-01-02T03:04:05.5Z") == 1'893'553'445'500);
  CHECK(*ParseTime("2030-01-02T03:04:05.123456789Z") == 1'893'553'445'123);
  CHECK(*ParseTime("2024-02-29") == 1'709'164'800'000);  // a leap day
}

TEST_CASE("ParseTime says precisely what is wrong", "[alarm][time_text]") {
  const std::string expected =
      "expected a time like 2025-12-31T18:00:00Z, 2025-12-31T18:00:00+08:00 or 2025-12-31 "
      "(midnight UTC), got '";
  for (const char* bad :
       {"", "2030", "2030-1-02", "2030/01/02", "2030-01-02T03:04Z", "2030-01-02T03:04:05",
        "2030-01-02T03:04:05.Z", "2030-01-02T03:04:05+0800", "2030-01-02T03:04:05Zjunk",
        "2030-01-02x", "1893553445000"}) {
    CAPTURE(bad);
    CHECK(ErrorOf(ParseTime(bad)) == expected + bad + "'");
  }
  CHECK(ErrorOf(ParseTime("2030-02-30")) == "no such date 2030-02-30 in '2030-02-30'");
  CHECK(ErrorOf(ParseTime("2030-13-01T00:00:00Z")) ==
        "no such date 2030-13-01 in '2030-13-01T00:00:00Z'");
  CHECK(ErrorOf(ParseTime("2030-01-02T24:00:00Z")) ==
        "no such time of day 24:00:00 in '2030-01-02T24:00:00Z'");
  CHECK(ErrorOf(ParseTime("2030-01-02T00:00:00+24:00")) ==
        "no such UTC offset +24:00 in '2030-01-02T00:00:00+24:00'");
  CHECK(ErrorOf(ParseTime("1969-12-31")) == "'1969-12-31' is before 1970-01-01T00:00:00Z");
  CHECK(ErrorOf(ParseTime("1970-01-01T00:00:00+01:00")) ==
        "'1970-01-01T00:00:00+01:00' is before 1970-01-01T00:00:00Z");
}

TEST_CASE("ParseTimeOrEpochMs also takes ms since the epoch", "[alarm][time_text]") {
  CHECK(*ParseTimeOrEpochMs("1893553445000") == 1'893'553'445'000);
  CHECK(*ParseTimeOrEpochMs("0") == 0);
  CHECK(*ParseTimeOrEpochMs("2030-01-02T03:04:05Z") == 1'893'553'445'000);
  CHECK(ErrorOf(ParseTimeOrEpochMs("yesterday")) ==
        "expected a time like 2025-12-31T18:00:00Z, 2025-12-31T18:00:00+08:00, 2025-12-31 "
        "(midnight UTC) or ms since the Unix epoch, got 'yesterday'");
  CHECK(ErrorOf(ParseTimeOrEpochMs("99999999999999999999")) ==
        "time '99999999999999999999' is too large (ms since the Unix epoch)");
  CHECK(ErrorOf(ParseTimeOrEpochMs("2030-02-30")) == "no such date 2030-02-30 in '2030-02-30'");
}

TEST_CASE("FormatTimeUtc writes what ParseTime reads back", "[alarm][time_text]") {
  CHECK(FormatTimeUtc(0) == "1970-01-01T00:00:00Z");
  CHECK(FormatTimeUtc(1'893'553'445'000) == "2030-01-02T03:04:05Z");
  CHECK(FormatTimeUtc(1'893'553'445'120) == "2030-01-02T03:04:05.120Z");
  for (int64_t ms :
       {int64_t{0}, int64_t{1}, int64_t{1'709'164'800'000}, int64_t{253'402'300'799'999}}) {
    CAPTURE(ms);
    CHECK(*ParseTime(FormatTimeUtc(ms)) == ms);
  }
}

}  // namespace
}  // namespace vigil::alarm
