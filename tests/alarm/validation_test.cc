#include "alarm/validation.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vigil::alarm {
namespace {

using namespace std::chrono_literals;

constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
constexpr TimestampMs kNow = 1'700'000'000'000;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::shared_ptr<const Registry> TwoEnterprises() {
  RegistryEntries entries;
  entries.enterprises = {
      Enterprise{
          .id = "e1", .name = "One", .kind = EnterpriseKind::kCoalMine, .region_code = "370105"},
      Enterprise{
          .id = "e2", .name = "Two", .kind = EnterpriseKind::kTailings, .region_code = "370105"},
  };
  entries.sensors = {
      Sensor{.id = "s1", .enterprise_id = "e1", .quantity = "methane", .unit = "%CH4"},
      Sensor{.id = "s2", .enterprise_id = "e2", .quantity = "level", .unit = "m"},
  };
  entries.gateways = {Gateway{.id = "g1", .enterprise_id = "e1"}};
  auto built = Registry::Build(entries);
  REQUIRE(built.has_value());
  return *built;
}

struct Arrays {
  std::vector<TimestampMs> timestamps;
  std::vector<double> values;
  std::vector<Quality> quality;
  SeriesView View(std::string_view sensor_id) const {
    return SeriesView{
        .sensor_id = sensor_id, .timestamps = timestamps, .values = values, .quality = quality};
  }
};

TEST_CASE("CheckSeries accepts a known sensor of the gateway's enterprise", "[alarm][validation]") {
  auto registry = TwoEnterprises();
  const Gateway& gateway = *registry->FindGateway("g1");
  const Sensor* sensor = nullptr;
  SECTION("without quality") {
    const Arrays a{{1, 2, 3}, {1.0, 2.0, 3.0}, {}};
    CHECK(CheckSeries(*registry, gateway, a.View("s1"), &sensor) == std::nullopt);
  }
  SECTION("with quality of the same length") {
    const Arrays a{{1, 2, 3}, {1.0, 2.0, 3.0}, {0, 5, 0}};
    CHECK(CheckSeries(*registry, gateway, a.View("s1"), &sensor) == std::nullopt);
  }
  SECTION("with no readings at all") {
    const Arrays a{};
    CHECK(CheckSeries(*registry, gateway, a.View("s1"), &sensor) == std::nullopt);
  }
  CHECK(sensor == registry->FindSensor("s1"));
}

TEST_CASE("CheckSeries rejects an unknown sensor", "[alarm][validation]") {
  auto registry = TwoEnterprises();
  const Sensor* sensor = nullptr;
  const Arrays a{{1}, {1.0}, {}};
  CHECK(CheckSeries(*registry, *registry->FindGateway("g1"), a.View("s9"), &sensor) ==
        RejectReason::kUnknownSensor);
  CHECK(CheckSeries(*registry, *registry->FindGateway("g1"), a.View(""), &sensor) ==
        RejectReason::kUnknownSensor);
  // A gateway id is not a sensor id.
  CHECK(CheckSeries(*registry, *registry->FindGateway("g1"), a.View("g1"), &sensor) ==
        RejectReason::kUnknownSensor);
  CHECK(sensor == nullptr);
}

TEST_CASE("CheckSeries rejects a sensor id over kMaxIdBytes as too long, first",
          "[alarm][validation]") {
  auto registry = TwoEnterprises();
  const Sensor* sensor = nullptr;
  // Even with mismatched arrays, the id is what is named.
  const Arrays a{{1, 2}, {1.0}, {}};
  const std::string longest(kMaxIdBytes, 's');
  CHECK(CheckSeries(*registry, *registry->FindGateway("g1"), a.View(longest), &sensor) ==
        RejectReason::kUnknownSensor);
  CHECK(CheckSeries(*registry, *registry->FindGateway("g1"), a.View(longest + "s"), &sensor) ==
        RejectReason::kIdTooLong);
  CHECK(CheckSeries(*registry, *registry->FindGateway("g1"), a.View(std::string(1 << 20, 's')),
                    &sensor) == RejectReason::kIdTooLong);
  CHECK(sensor == nullptr);
}

TEST_CASE("Echo keeps short text and cuts long text with a marker", "[alarm][validation]") {
  CHECK(Echo("") == "");
  CHECK(Echo(std::string(kMaxEchoBytes, 'a')) == std::string(kMaxEchoBytes, 'a'));
  const std::string huge(1 << 20, 'a');
  CHECK(Echo(huge) == std::string(kMaxEchoBytes, 'a') + "...(1048576 bytes)");
  CHECK(Echo("abcdef", 3) == "abc...(6 bytes)");
  // Never cuts inside a UTF-8 character: "\u00e9" is 2 bytes; at 4 bytes,
  // "a\u00e9\u00e9" (5 bytes) is cut after the first.
  CHECK(Echo("a\xc3\xa9\xc3\xa9", 4) == "a\xc3\xa9...(5 bytes)");
  CHECK(Echo("a\xc3\xa9\xc3\xa9", 3) == "a\xc3\xa9...(5 bytes)");
  CHECK(Echo("a\xc3\xa9\xc3\xa9", 2) == "a...(5 bytes)");
}

TEST_CASE("CheckSeries rejects a sensor of another enterprise", "[alarm][validation]") {
  auto registry = TwoEnterprises();
  const Sensor* sensor = nullptr;
  const Arrays a{{1}, {1.0}, {}};
  CHECK(CheckSeries(*registry, *registry->FindGateway("g1"), a.View("s2"), &sensor) ==
        RejectReason::kSensorOfAnotherEnterprise);
  CHECK(sensor == nullptr);
}

TEST_CASE("CheckSeries rejects arrays of different lengths", "[alarm][validation]") {
  auto registry = TwoEnterprises();
  const Sensor* sensor = nullptr;
  Arrays a;
  SECTION("more timestamps than values") { a = Arrays{{1, 2, 3}, {1.0, 2.0}, {}}; }
  SECTION("more values than timestamps") { a = Arrays{{1}, {1.0, 2.0}, {}}; }
  SECTION("timestamps but no values") { a = Arrays{{1}, {}, {}}; }
  SECTION("quality shorter than values") { a = Arrays{{1, 2}, {1.0, 2.0}, {0}}; }
  SECTION("quality longer than values") { a = Arrays{{1, 2}, {1.0, 2.0}, {0, 0, 0}}; }
  SECTION("quality without readings") { a = Arrays{{}, {}, {0}}; }
  CHECK(CheckSeries(*registry, *registry->FindGateway("g1"), a.View("s1"), &sensor) ==
        RejectReason::kArrayLengthMismatch);
  CHECK(sensor == nullptr);
}

TEST_CASE("CheckReading rejects non-finite values", "[alarm][validation]") {
  const TimeWindow window = AcceptedWindow(kNow, IngestLimits{});
  CHECK(CheckReading(kNow, kNaN, window) == RejectReason::kNonFiniteValue);
  CHECK(CheckReading(kNow, -kNaN, window) == RejectReason::kNonFiniteValue);
  CHECK(CheckReading(kNow, std::numeric_limits<double>::signaling_NaN(), window) ==
        RejectReason::kNonFiniteValue);
  CHECK(CheckReading(kNow, kInf, window) == RejectReason::kNonFiniteValue);
  CHECK(CheckReading(kNow, -kInf, window) == RejectReason::kNonFiniteValue);
}

TEST_CASE("CheckReading accepts finite extremes", "[alarm][validation]") {
  const TimeWindow window = AcceptedWindow(kNow, IngestLimits{});
  CHECK(CheckReading(kNow, 0.0, window) == std::nullopt);
  CHECK(CheckReading(kNow, -0.0, window) == std::nullopt);
  CHECK(CheckReading(kNow, std::numeric_limits<double>::max(), window) == std::nullopt);
  CHECK(CheckReading(kNow, std::numeric_limits<double>::lowest(), window) == std::nullopt);
  CHECK(CheckReading(kNow, std::numeric_limits<double>::denorm_min(), window) == std::nullopt);
}

TEST_CASE("CheckReading rejects timestamps outside the window, edges included",
          "[alarm][validation]") {
  IngestLimits limits;
  limits.max_future_skew = 5min;
  limits.raw_retention = 24h;
  const TimeWindow window = AcceptedWindow(kNow, limits);
  const TimestampMs latest = kNow + 5 * 60 * 1000;
  const TimestampMs earliest = kNow - 24 * 3600 * 1000;
  REQUIRE(window.latest == latest);
  REQUIRE(window.earliest == earliest);

  CHECK(CheckReading(latest, 1.0, window) == std::nullopt);
  CHECK(CheckReading(latest + 1, 1.0, window) == RejectReason::kTimestampInFuture);
  CHECK(CheckReading(kMax, 1.0, window) == RejectReason::kTimestampInFuture);
  CHECK(CheckReading(earliest, 1.0, window) == std::nullopt);
  CHECK(CheckReading(earliest - 1, 1.0, window) == RejectReason::kTimestampBeforeRetention);
  CHECK(CheckReading(kMin, 1.0, window) == RejectReason::kTimestampBeforeRetention);
  CHECK(CheckReading(0, 1.0, window) == RejectReason::kTimestampBeforeRetention);
  CHECK(CheckReading(kNow, 1.0, window) == std::nullopt);
}

TEST_CASE("CheckReading with a zero skew and retention accepts only now", "[alarm][validation]") {
  IngestLimits limits;
  limits.max_future_skew = 0ms;
  limits.raw_retention = 0ms;
  const TimeWindow window = AcceptedWindow(kNow, limits);
  CHECK(CheckReading(kNow, 1.0, window) == std::nullopt);
  CHECK(CheckReading(kNow + 1, 1.0, window) == RejectReason::kTimestampInFuture);
  CHECK(CheckReading(kNow - 1, 1.0, window) == RejectReason::kTimestampBeforeRetention);
}

TEST_CASE("AcceptedWindow uses the default limits", "[alarm][validation]") {
  const TimeWindow window = AcceptedWindow(kNow, IngestLimits{});
  CHECK(window.latest == kNow + 300'000);
  CHECK(window.earliest == kNow - TimestampMs{90} * 24 * 3600 * 1000);
}

TEST_CASE("AcceptedWindow saturates instead of overflowing at extreme now", "[alarm][validation]") {
  IngestLimits limits;
  limits.max_future_skew = 5min;
  limits.raw_retention = 24h;
  const TimestampMs skew = limits.max_future_skew.count();
  const TimestampMs keep = limits.raw_retention.count();

  SECTION("now at the maximum") {
    const TimeWindow w = AcceptedWindow(kMax, limits);
    CHECK(w.latest == kMax);
    CHECK(w.earliest == kMax - keep);
  }
  SECTION("now just past the last exact latest") {
    const TimeWindow w = AcceptedWindow(kMax - skew + 1, limits);
    CHECK(w.latest == kMax);
  }
  SECTION("now at the last exact latest") {
    const TimeWindow w = AcceptedWindow(kMax - skew, limits);
    CHECK(w.latest == kMax);
    CHECK(w.earliest == kMax - skew - keep);
  }
  SECTION("now at the minimum") {
    const TimeWindow w = AcceptedWindow(kMin, limits);
    CHECK(w.earliest == kMin);
    CHECK(w.latest == kMin + skew);
  }
  SECTION("now just below the first exact earliest") {
    const TimeWindow w = AcceptedWindow(kMin + keep - 1, limits);
    CHECK(w.earliest == kMin);
  }
  SECTION("now at the first exact earliest") {
    const TimeWindow w = AcceptedWindow(kMin + keep, limits);
    CHECK(w.earliest == kMin);
    CHECK(w.latest == kMin + keep + skew);
  }
  SECTION("limits as large as the timestamp range") {
    IngestLimits huge;
    huge.max_future_skew = std::chrono::milliseconds(kMax);
    huge.raw_retention = std::chrono::milliseconds(kMax);
    const TimeWindow w = AcceptedWindow(kNow, huge);
    CHECK(w.latest == kMax);
    CHECK(w.earliest == kNow - kMax);
    CHECK(CheckReading(kMax, 1.0, w) == std::nullopt);
    CHECK(CheckReading(kNow - kMax, 1.0, w) == std::nullopt);
    const TimeWindow at_min = AcceptedWindow(kMin, huge);
    CHECK(at_min.earliest == kMin);
    CHECK(at_min.latest == -1);
  }
}

TEST_CASE("IsBatchTooLarge is true only past either limit", "[alarm][validation]") {
  IngestLimits limits;
  limits.max_series_per_batch = 10;
  limits.max_readings_per_batch = 100;
  CHECK_FALSE(IsBatchTooLarge(0, 0, limits));
  CHECK_FALSE(IsBatchTooLarge(10, 100, limits));
  CHECK(IsBatchTooLarge(11, 100, limits));
  CHECK(IsBatchTooLarge(10, 101, limits));
  CHECK(IsBatchTooLarge(1, 1'000'000, limits));
  CHECK(IsBatchTooLarge(size_t{1} << 40, 0, limits));

  const IngestLimits defaults;
  CHECK_FALSE(IsBatchTooLarge(10'000, 100'000, defaults));
  CHECK(IsBatchTooLarge(10'001, 0, defaults));
  CHECK(IsBatchTooLarge(0, 100'001, defaults));
}

TEST_CASE("RejectReasonName gives stable strings", "[alarm][validation]") {
  CHECK(RejectReasonName(RejectReason::kUnknownSensor) == "unknown_sensor");
  CHECK(RejectReasonName(RejectReason::kSensorOfAnotherEnterprise) ==
        "sensor_of_another_enterprise");
  CHECK(RejectReasonName(RejectReason::kNonFiniteValue) == "non_finite_value");
  CHECK(RejectReasonName(RejectReason::kTimestampInFuture) == "timestamp_in_future");
  CHECK(RejectReasonName(RejectReason::kTimestampBeforeRetention) == "timestamp_before_retention");
  CHECK(RejectReasonName(RejectReason::kArrayLengthMismatch) == "array_length_mismatch");
  CHECK(RejectReasonName(RejectReason::kBatchTooLarge) == "batch_too_large");
  CHECK(RejectReasonName(RejectReason::kIdTooLong) == "id_too_long");
  CHECK(RejectReasonName(static_cast<RejectReason>(0)) == "unspecified");
  CHECK(RejectReasonName(static_cast<RejectReason>(200)) == "unspecified");
}

TEST_CASE("RejectReason numbers mirror vigil.v1.RejectReason", "[alarm][validation]") {
  CHECK(static_cast<int>(RejectReason::kUnknownSensor) == 1);
  CHECK(static_cast<int>(RejectReason::kSensorOfAnotherEnterprise) == 2);
  CHECK(static_cast<int>(RejectReason::kNonFiniteValue) == 3);
  CHECK(static_cast<int>(RejectReason::kTimestampInFuture) == 4);
  CHECK(static_cast<int>(RejectReason::kTimestampBeforeRetention) == 5);
  CHECK(static_cast<int>(RejectReason::kArrayLengthMismatch) == 6);
  CHECK(static_cast<int>(RejectReason::kBatchTooLarge) == 7);
  CHECK(static_cast<int>(RejectReason::kIdTooLong) == 8);
}

}  // namespace
}  // namespace vigil::alarm
