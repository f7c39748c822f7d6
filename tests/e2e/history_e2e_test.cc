// End-to-end: history queries against the real vigild: downsampled reads
// (against a brute-force computation, late data, rewrites, restarts and a
// crash replay), latest values with alarm state, retention limits, and the
// vigilctl readings / latest commands.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kBucket = 5 * kMinute;

constexpr char kRegistryYaml[] = R"(enterprises:
  - { id: e-1, name: Tank Farm, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-2, name: Mine, kind: coal_mine, region_code: "140202" }
sensors:
  - { id: t-1, enterprise: e-1, quantity: temperature, unit: degC, range: [-40, 400] }
  - { id: t-2, enterprise: e-1, quantity: pressure, unit: MPa, range: [0, 40] }
  - { id: t-3, enterprise: e-1, quantity: level, unit: m, range: [0, 20] }
  - { id: m-1, enterprise: e-2, quantity: methane, unit: "%CH4", range: [0, 100] }
gateways:
  - { id: gw-1, enterprise: e-1 }
  - { id: gw-2, enterprise: e-2 }
)";

constexpr char kRulesYaml[] = R"(rules:
  - id: t1-high
    select: { sensor: t-1 }
    levels:
      h: { value: 100, severity: 2 }
    sensor_fault: off
)";

// Small chunks and 1 s checkpoints: heads seal and the log is truncated
// while the tests run, so reads mix chunks, rollups and heads.
struct Server {
  Server()
      : vigild([this] {
          std::ofstream(rules.path() / "rules.yaml") << kRulesYaml;
          VigildProcess::Options options;
          options.config_yaml =
              "storage: { durability: wal, chunk_max_readings: 16, checkpoint_interval: 1s }\n"
              "rules_file: " +
              (rules.path() / "rules.yaml").string() + "\n";
          options.registry_yaml = kRegistryYaml;
          return options;
        }()) {
    vigild.Start();
  }
  testing::TempDir rules;
  VigildProcess vigild;
};

// What a sensor's history must read as: time -> last value written.
using Truth = std::map<int64_t, double>;

// Writes one batch of one sensor's readings (through Ingest.Write) and
// records them in *truth.
void Write(VigildProcess& vigild, const std::string& gateway, uint64_t sequence,
           const std::string& sensor, const std::vector<int64_t>& times,
           const std::vector<double>& values, Truth* truth = nullptr) {
  v1::IngestBatch batch;
  batch.set_gateway_id(gateway);
  batch.set_epoch(1);
  batch.set_sequence(sequence);
  v1::Series* series = batch.add_series();
  series->set_sensor_id(sensor);
  for (size_t i = 0; i < times.size(); ++i) {
    series->add_timestamps_ms(times[i]);
    series->add_values(values[i]);
    if (truth != nullptr) (*truth)[times[i]] = values[i];
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::IngestAck ack;
  const grpc::Status status = vigild.ingest().Write(&context, batch, &ack);
  INFO(status.error_message());
  REQUIRE(status.ok());
  REQUIRE(ack.stored_readings() == times.size());
}

struct Steps {
  grpc::Status status;
  v1::ReadDownsampledResponse response;
};

Steps Downsample(VigildProcess& vigild, const std::string& sensor, int64_t from, int64_t to,
                 int64_t step, int64_t origin = 0, uint32_t max_points = 0) {
  v1::ReadDownsampledRequest request;
  request.set_sensor_id(sensor);
  request.set_from_ms(from);
  request.set_to_ms(to);
  request.set_step_ms(step);
  request.set_origin_ms(origin);
  request.set_max_points(max_points);
  Steps steps;
  grpc::ClientContext context;
  SetDeadline(&context);
  steps.status = vigild.query().ReadDownsampled(&context, request, &steps.response);
  return steps;
}

int64_t FloorTo(int64_t t, int64_t step, int64_t origin) {
  int64_t r = (t - origin) % step;
  if (r < 0) r += step;
  return t - r;
}

// The same request answered from the truth, one reading at a time.
void CheckSteps(VigildProcess& vigild, const Truth& truth, int64_t from, int64_t to, int64_t step,
                int64_t origin = 0) {
  CAPTURE(from, to, step, origin);
  const Steps got = Downsample(vigild, "t-1", from, to, step, origin);
  INFO(got.status.error_message());
  REQUIRE(got.status.ok());
  struct Want {
    uint64_t count = 0;
    double min = 0, max = 0, sum = 0, last = 0;
    int64_t last_ms = 0;
  };
  std::map<int64_t, Want> want;
  for (auto it = truth.lower_bound(from); it != truth.end() && it->first < to; ++it) {
    Want& w = want[FloorTo(it->first, step, origin)];
    w.min = w.count == 0 ? it->second : std::min(w.min, it->second);
    w.max = w.count == 0 ? it->second : std::max(w.max, it->second);
    w.sum += it->second;
    w.last = it->second;
    w.last_ms = it->first;
    ++w.count;
  }
  const v1::ReadDownsampledResponse& r = got.response;
  CHECK(r.step_ms() == step);
  REQUIRE(static_cast<size_t>(r.start_ms_size()) == want.size());
  int i = 0;
  for (const auto& [start, w] : want) {
    CAPTURE(i, start);
    CHECK(r.start_ms(i) == start);
    CHECK(r.count(i) == w.count);
    CHECK(r.min(i) == w.min);
    CHECK(r.max(i) == w.max);
    CHECK(r.avg(i) == Approx(w.sum / static_cast<double>(w.count)).epsilon(1e-12));
    CHECK(r.last(i) == w.last);
    CHECK(r.last_ms(i) == w.last_ms);
    ++i;
  }
}

TEST_CASE("Downsampled reads equal a brute-force computation, late data and restarts included",
          "[e2e][history]") {
  Server server;
  VigildProcess& vigild = server.vigild;
  const int64_t base = FloorTo(NowMs() - 2 * kHour, kBucket, 0);
  Truth truth;
  uint64_t seq = 0;
  // A reading every 7 s for 90 minutes, 40 per batch.
  std::vector<int64_t> times;
  std::vector<double> values;
  for (int64_t t = base; t < base + 90 * kMinute; t += 7 * kSecond) {
    times.push_back(t);
    values.push_back(std::round(std::sin(static_cast<double>(t) / 1e6) * 5000) / 100);
    if (times.size() == 40) {
      Write(vigild, "gw-1", ++seq, "t-1", times, values, &truth);
      times.clear();
      values.clear();
    }
  }
  Write(vigild, "gw-1", ++seq, "t-1", times, values, &truth);
  // Late readings for the first half hour, at new times, and rewrites.
  Write(vigild, "gw-1", ++seq, "t-1",
        {base + 3500, base + 12 * kMinute + 3500, base + 29 * kMinute}, {-7.5, 333, 77}, &truth);
  Write(vigild, "gw-1", ++seq, "t-1", {base + 14 * kSecond, base + 21 * kSecond}, {250, -30},
        &truth);

  auto check_all = [&] {
    const int64_t end = base + 91 * kMinute;
    CheckSteps(vigild, truth, base, end, kMinute);
    CheckSteps(vigild, truth, base, end, kBucket);
    CheckSteps(vigild, truth, base - kHour, end + kHour, 15 * kMinute, -8 * kHour);
    CheckSteps(vigild, truth, base + 2 * kMinute + 1, base + 47 * kMinute, 10 * kMinute);
    CheckSteps(vigild, truth, base + 7 * kSecond, base + 14 * kSecond + 1, 2 * kSecond);
    CheckSteps(vigild, truth, base, end, kDay, -8 * kHour);
    // max_points chooses a round step.
    const Steps chosen = Downsample(vigild, "t-1", base, base + 90 * kMinute, 0, 0, 20);
    REQUIRE(chosen.status.ok());
    CHECK(chosen.response.step_ms() == 5 * kMinute);
    CHECK(chosen.response.start_ms_size() == 18);
  };
  SECTION("heads, chunks and rollups as they are") { check_all(); }
  SECTION("after a clean restart (every head sealed)") {
    REQUIRE(vigild.Terminate().ExitedWith(0));
    vigild.Restart();
    check_all();
  }
  SECTION("after kill -9: replayed readings are sealed again, never counted twice") {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // a checkpoint or two
    vigild.Kill9();
    vigild.Restart();
    check_all();
    REQUIRE(vigild.Terminate().ExitedWith(0));
    vigild.Restart();
    check_all();
  }
}

std::vector<v1::LatestValue> Latest(VigildProcess& vigild, const std::string& enterprise,
                                    const std::vector<std::string>& sensors,
                                    grpc::StatusCode expected = grpc::StatusCode::OK) {
  v1::ReadLatestRequest request;
  request.set_enterprise_id(enterprise);
  for (const std::string& s : sensors) request.add_sensor_ids(s);
  v1::ReadLatestResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  const grpc::Status status = vigild.query().ReadLatest(&context, request, &response);
  INFO(status.error_message());
  REQUIRE(status.error_code() == expected);
  return {response.values().begin(), response.values().end()};
}

TEST_CASE("Latest values of an enterprise or a list of sensors, with alarm state",
          "[e2e][history][latest]") {
  Server server;
  VigildProcess& vigild = server.vigild;
  const int64_t now = NowMs();
  Write(vigild, "gw-1", 1, "t-1", {now - 60 * kSecond, now - 30 * kSecond}, {50, 120});
  Write(vigild, "gw-1", 2, "t-2", {now - 20 * kSecond}, {5});
  Write(vigild, "gw-1", 3, "t-2", {now - 40 * kSecond}, {7});  // late: older than the latest
  Write(vigild, "gw-2", 1, "m-1", {now - 10 * kSecond}, {0.4});

  auto check_enterprise = [&](bool with_alarms) {
    const auto values = Latest(vigild, "e-1", {});
    REQUIRE(values.size() == 3);
    CHECK(values[0].sensor_id() == "t-1");  // registry order
    CHECK(values[0].has_reading());
    CHECK(values[0].at_ms() == now - 30 * kSecond);
    CHECK(values[0].value() == 120);
    CHECK(values[0].quality() == 0);
    if (with_alarms) {
      REQUIRE(values[0].alarms_size() == 1);
      const auto& alarm = values[0].alarms(0);
      CHECK(alarm.kind() == v1::LatestValue::Alarm::KIND_THRESHOLD);
      CHECK(alarm.level() == v1::LatestValue::Alarm::LEVEL_H);
      CHECK(alarm.state() == v1::LatestValue::Alarm::STATE_ACTIVE_UNACKED);
      CHECK(alarm.severity() == 2);
      CHECK(alarm.rule_id() == "t1-high");
      CHECK(alarm.trigger_value() == 120);
    }
    CHECK(values[1].sensor_id() == "t-2");
    CHECK(values[1].at_ms() == now - 20 * kSecond);
    CHECK(values[1].value() == 5);
    CHECK(values[1].alarms_size() == 0);
    CHECK(values[2].sensor_id() == "t-3");
    CHECK_FALSE(values[2].has_reading());
  };
  check_enterprise(true);

  const auto listed = Latest(vigild, "", {"m-1", "t-2"});
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].sensor_id() == "m-1");
  CHECK(listed[0].value() == 0.4);
  CHECK(listed[1].sensor_id() == "t-2");

  Latest(vigild, "e-9", {}, grpc::StatusCode::NOT_FOUND);
  Latest(vigild, "", {"t-1", "nope"}, grpc::StatusCode::NOT_FOUND);
  Latest(vigild, "e-1", {"t-1"}, grpc::StatusCode::INVALID_ARGUMENT);
  Latest(vigild, "", {}, grpc::StatusCode::INVALID_ARGUMENT);

  // After a restart the latest values come from the store (once), then from memory.
  REQUIRE(vigild.Terminate().ExitedWith(0));
  vigild.Restart();
  check_enterprise(false);
  Write(vigild, "gw-1", 4, "t-2", {now - 50 * kSecond}, {9});  // late, after the restart
  check_enterprise(false);
  Write(vigild, "gw-1", 5, "t-2", {now - 5 * kSecond}, {11});
  const auto newer = Latest(vigild, "", {"t-2"});
  REQUIRE(newer.size() == 1);
  CHECK(newer[0].value() == 11);
}

TEST_CASE("History queries: retention horizon, step limits and errors", "[e2e][history]") {
  Server server;
  VigildProcess& vigild = server.vigild;
  const int64_t now = NowMs();
  Write(vigild, "gw-1", 1, "t-1", {now - 2 * kMinute, now - kMinute}, {1, 2});
  // Beyond the raw retention (90 days) only 5-minute steps can be answered.
  const Steps minute = Downsample(vigild, "t-1", now - 100 * kDay, now, kMinute);
  CHECK(minute.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  const Steps hourly = Downsample(vigild, "t-1", now - 100 * kDay, now + kMinute, kHour);
  REQUIRE(hourly.status.ok());
  REQUIRE(hourly.response.count_size() >= 1);
  uint64_t total = 0;
  for (uint64_t c : hourly.response.count()) total += c;
  CHECK(total == 2);
  CHECK(ReadAll(vigild.query(), "t-1", now - 100 * kDay, now).size() == 2);
  // Too many steps; unknown sensor; empty range; negative step.
  CHECK(Downsample(vigild, "t-1", now - kDay, now, 100).status.error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Downsample(vigild, "x-9", now - kDay, now, kMinute).status.error_code() ==
        grpc::StatusCode::NOT_FOUND);
  CHECK(Downsample(vigild, "t-1", now, now, kMinute).status.error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Downsample(vigild, "t-1", now - kDay, now, -5).status.error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  // Expired partitions are dropped at start (then hourly), at the configured horizons.
  const std::string output = vigild.Output();
  const std::string checked = "event=retention_checked dropped=0 raw_horizon=";
  const size_t at = output.find(checked);
  INFO(output);
  REQUIRE(at != std::string::npos);
  const int64_t raw_horizon = std::stoll(output.substr(at + checked.size()));
  CHECK(std::abs(raw_horizon - (now - 90 * kDay)) < kMinute);
}

size_t Lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST_CASE("vigilctl readings and latest print tables and CSV", "[e2e][history][vigilctl]") {
  Server server;
  VigildProcess& vigild = server.vigild;
  const int64_t now = NowMs();
  std::vector<int64_t> times;
  std::vector<double> values;
  for (int i = 0; i < 30; ++i) {
    times.push_back(now - 30 * kMinute + i * kMinute);
    values.push_back(i == 29 ? 150.25 : i * 0.5);
  }
  Write(vigild, "gw-1", 1, "t-1", times, values);
  const std::string& address = vigild.address();

  const CtlResult raw =
      RunVigilctl({"--server", address, "readings", "t-1", "--since", "1h", "--csv"});
  INFO(raw.output);
  REQUIRE(raw.code == 0);
  CHECK(raw.output.starts_with("time,time_ms,value,quality\n"));
  CHECK(Lines(raw.output) == 31);
  CHECK(raw.output.find("," + std::to_string(times[3]) + ",1.5,0\n") != std::string::npos);
  CHECK(raw.output.find(",150.25,0\n") != std::string::npos);

  const CtlResult text =
      RunVigilctl({"--server", address, "readings", "t-1", "--since=1h", "--utc"});
  INFO(text.output);
  REQUIRE(text.code == 0);
  CHECK(text.output.starts_with(
      "# sensor t-1 (temperature, degC) enterprise e-1 (Tank Farm)\ntime "));
  CHECK(text.output.find("Z  150.25  0\n") != std::string::npos);

  const CtlResult steps = RunVigilctl(
      {"--server", address, "readings", "t-1", "--since", "1h", "--step", "10m", "--csv"});
  INFO(steps.output);
  REQUIRE(steps.code == 0);
  CHECK(steps.output.starts_with("start,start_ms,count,min,max,avg,last,last_ms\n"));
  CHECK(Lines(steps.output) >= 4);  // 30 minutes in 10-minute steps: 3 or 4 steps
  CHECK(Lines(steps.output) <= 5);

  const CtlResult latest = RunVigilctl({"--server", address, "latest", "--enterprise", "e-1"});
  INFO(latest.output);
  REQUIRE(latest.code == 0);
  CHECK(latest.output.starts_with("# enterprise e-1 (Tank Farm)\nsensor "));
  CHECK(latest.output.find("threshold/H/active_unacked/sev2") != std::string::npos);
  CHECK(latest.output.find("150.25") != std::string::npos);
  CHECK(Lines(latest.output) == 5);

  const CtlResult csv = RunVigilctl({"--server", address, "latest", "t-3", "t-1", "--csv"});
  INFO(csv.output);
  REQUIRE(csv.code == 0);
  CHECK(csv.output.starts_with("sensor,time,time_ms,value,quality,alarms\nt-3,,,,,\nt-1,"));

  CHECK(RunVigilctl({"--server", address, "readings"}).code == 2);
  CHECK(RunVigilctl({"--server", address, "readings", "t-1", "--step", "0s"}).code == 2);
  CHECK(RunVigilctl({"--server", address, "readings", "t-1", "--since", "yesterday"}).code == 2);
  CHECK(RunVigilctl({"--server", address, "latest", "--enterprise", "e-1", "t-1"}).code == 2);
  CHECK(RunVigilctl({"--server", address, "health", "--csv"}).code == 2);
  const CtlResult unknown = RunVigilctl({"--server", address, "readings", "nope"});
  CHECK(unknown.code == 3);  // vigilctl's exit code for NOT_FOUND
  CHECK(unknown.output.find("NOT_FOUND") != std::string::npos);
}

}  // namespace
}  // namespace vigil::e2e
