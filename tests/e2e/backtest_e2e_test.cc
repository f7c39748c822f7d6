// End-to-end: rule backtests (vigil.v1.RulesBacktest, vigilctl rules
// backtest) against a real vigild. Readings with threshold crossings under
// on/off delays and deadband, a rate of change, a no-data gap and an
// operator acknowledgement are streamed; backtesting the rules in force then
// reproduces the journal transition by transition, a higher threshold misses
// the alarm it should, a region narrows the scope, and only an admin of the
// region may ask.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"
#include "vigil/v1/backtest.grpc.pb.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-jinan, name: Jinan Plant, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-qingdao, name: Qingdao Mine, kind: coal_mine, region_code: "370202" }
sensors:
  - { id: t-1, enterprise: e-jinan, quantity: temperature, unit: degC }
  - { id: p-1, enterprise: e-jinan, quantity: pressure, unit: MPa }
  - { id: l-1, enterprise: e-jinan, quantity: level, unit: "%", expected_interval: 500ms }
  - { id: ch4-qd, enterprise: e-qingdao, quantity: methane, unit: "%CH4" }
gateways:
  - { id: gw-jn, enterprise: e-jinan }
  - { id: gw-qd, enterprise: e-qingdao }
)";

// The rules in force. Delays are multiples of the 200 ms reading period, so
// a reading meets each (docs/backtest.md: exact conditions).
constexpr char kRules[] = R"(rules:
  - id: temp-delayed
    select: { sensor: t-1 }
    levels:
      hh: { value: 90, severity: 1 }
      h: { value: 80, severity: 2 }
    deadband: 2
    on_delay: 600ms
    off_delay: 600ms
    sensor_fault: off
  - id: pressure-rate
    select: { sensor: p-1 }
    rate_of_change: { limit: 5, window: 1s, severity: 2, direction: rising }
    sensor_fault: off
  - id: level-low-nodata
    select: { sensor: l-1 }
    levels:
      l: { value: 10, severity: 3 }
    no_data: { intervals: 3, severity: 3 }
    sensor_fault: off
  - id: methane
    select: { sensor: ch4-qd }
    levels:
      h: { value: 1.0, severity: 2 }
    sensor_fault: off
)";

// The temperature rule raised above any reading sent: its alarm is missed.
std::string HigherThreshold() {
  std::string rules = kRules;
  rules.replace(rules.find("value: 90"), 9, "value: 99");
  rules.replace(rules.find("value: 80"), 9, "value: 98");
  return rules;
}

// Tokens: a national admin, a province viewer, a county operator, an admin
// of Qingdao's county (sha256 of "<name>-secret").
constexpr char kAuth[] = R"(auth:
  tokens:
    - { name: national, region: "", role: admin,
        sha256: fa97b986984b38fac2a09b1677210ef87ff0a9642c5f6d0f9ebcfd41cee9022b }
    - { name: shandong, region: "37", role: viewer,
        sha256: 603084eb1c2adcf943ecb786943d038aebed40cd836e95cb3a3cc463d6b870a9 }
    - { name: jinan-lixia, region: "370105", role: operator,
        sha256: 94beec19424be60cbfc16ea69f423ad548b050b894a35cb694f8cea5d2b27d0f }
    - { name: qd-admin, region: "370202", role: admin,
        sha256: 52c500b6ea17b1b1db4a832f97b6ee66e698e38b02e476a8845dbd746e4ac1d9 }
)";

constexpr int64_t kPeriodMs = 200;
// Readings carry a gateway clock this far ahead of the server's: a reading
// is stored before the server's clock reaches its time, so the engine's
// delays run on event time alone, as in the backtest.
constexpr int64_t kGatewayAheadMs = 300;

struct Rig {
  // Chunks of 16 readings: a backtest reads chunks and heads alike.
  explicit Rig(int chunk_max_readings = 16)
      : vigild([this, chunk_max_readings] {
          std::ofstream(dir / "rules.yaml") << kRules;
          return VigildProcess::Options{
              .config_yaml =
                  "rules_file: " + (dir / "rules.yaml").string() +
                  "\nstorage:\n  chunk_max_readings: " + std::to_string(chunk_max_readings) +
                  "\n  checkpoint_interval: 1s\n" + kAuth + kGatewayTokensYaml,
              .registry_yaml = kRegistry};
        }()) {
    vigild.Start();
    backtest = v1::RulesBacktest::NewStub(vigild.channel());
  }

  void Send(const std::string& gateway, const std::vector<std::pair<std::string, double>>& values,
            int64_t at) {
    v1::IngestBatch batch;
    batch.set_gateway_id(gateway);
    batch.set_epoch(1);
    batch.set_sequence(++sequence[gateway]);
    for (const auto& [sensor, value] : values) {
      v1::Series* series = batch.add_series();
      series->set_sensor_id(sensor);
      series->add_timestamps_ms(at);
      series->add_values(value);
    }
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", GatewayAuthorization(gateway));
    v1::IngestAck ack;
    const grpc::Status s = vigild.ingest().Write(&context, batch, &ack);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(ack.stored_readings() == values.size());
  }

  void AcknowledgeOpen(const std::string& sensor) {
    grpc::ClientContext list_context;
    SetDeadline(&list_context);
    list_context.AddMetadata("authorization", "Bearer national-secret");
    v1::ListActiveResponse active;
    REQUIRE(vigild.alarms().ListActive(&list_context, {}, &active).ok());
    for (const v1::Alarm& alarm : active.alarms()) {
      if (alarm.sensor_id() != sensor) continue;
      grpc::ClientContext context;
      SetDeadline(&context);
      context.AddMetadata("authorization", "Bearer national-secret");
      v1::AcknowledgeRequest request;
      request.set_alarm_id(alarm.alarm_id());
      v1::AlarmActionResponse response;
      const grpc::Status s = vigild.alarms().Acknowledge(&context, request, &response);
      INFO(s.error_message());
      REQUIRE(s.ok());
      return;
    }
    FAIL("no open alarm of " << sensor);
  }

  // The scenario, one batch per gateway every 200 ms on a fixed grid from
  // the first reading (`first_at`); returns the time after the last reading.
  int64_t Play() {
    first_at = NowMs() + kGatewayAheadMs;
    for (int k = 0; k < 80; ++k) {
      const int64_t at = first_at + k * kPeriodMs;
      // Sent kGatewayAheadMs before its time (late when this thread stalls).
      const int64_t wait = at - kGatewayAheadMs - NowMs();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
      // t-1: H after its on-delay, HH, back to H past the deadband's 88,
      // held at 79 (inside H's deadband: still H), cleared at 75.
      double t = 70;
      if (k >= 10 && k < 15) t = 85;
      if (k >= 15 && k < 20) t = 95;
      if (k >= 20 && k < 25) t = 85;
      if (k >= 25 && k < 30) t = 79;
      // p-1: a step of 10 within 1 s: rate of change, cleared as the window
      // passes it.
      const double p = k >= 20 ? 20 : 10;
      // l-1: silent for 4 s (no data: 3 x 500 ms), then low, then normal.
      std::vector<std::pair<std::string, double>> jinan = {{"t-1", t}, {"p-1", p}};
      if (k < 40 || k > 60) jinan.emplace_back("l-1", k >= 61 && k < 66 ? 5 : 50);
      Send("gw-jn", jinan, at);
      Send("gw-qd", {{"ch4-qd", k >= 30 && k < 36 ? 1.2 : 0.5}}, at);
      if (k == 17) AcknowledgeOpen("t-1");  // the H alarm, raised at k = 13
    }
    return first_at + 80 * kPeriodMs;
  }

  v1::BacktestReport Run(const std::string& rules, int64_t from, int64_t to,
                         const std::string& region = "", uint32_t page = 0) {
    v1::BacktestRequest request;
    request.set_rules_yaml(rules);
    request.set_from_ms(from);
    request.set_to_ms(to);
    request.set_region_prefix(region);
    request.set_page_readings(page);
    grpc::ClientContext context;
    SetDeadline(&context, 60s);
    context.AddMetadata("authorization", "Bearer national-secret");
    v1::BacktestReport report;
    const grpc::Status s = backtest->Run(&context, request, &report);
    INFO(s.error_message());
    REQUIRE(s.ok());
    return report;
  }

  grpc::Status RunAs(const std::string& token, const std::string& region) {
    v1::BacktestRequest request;
    request.set_rules_yaml(kRules);
    request.set_from_ms(first_at);
    request.set_to_ms(first_at + 1000);
    request.set_region_prefix(region);
    grpc::ClientContext context;
    SetDeadline(&context);
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::BacktestReport report;
    return backtest->Run(&context, request, &report);
  }

  testing::TempDir dir;
  VigildProcess vigild;
  std::unique_ptr<v1::RulesBacktest::Stub> backtest;
  std::map<std::string, uint64_t> sequence;
  int64_t first_at = 0;
};

std::string Differences(const v1::BacktestReport& report) {
  std::string out;
  for (const v1::BacktestTransition& t : report.differences()) {
    out += std::string(t.live() ? "live " : "backtest ") + t.source_id() + " " + t.alarm_kind() +
           " " + t.event() + " " + t.level() + " at " + std::to_string(t.at_ms()) + " reading " +
           std::to_string(t.reading_at_ms()) + " value " + std::to_string(t.value()) + "\n";
  }
  return out;
}

uint64_t Count(const google::protobuf::RepeatedPtrField<v1::BacktestCount>& counts,
               const std::string& key, bool live) {
  for (const v1::BacktestCount& c : counts) {
    if (c.key() == key) return live ? c.live_raised() : c.backtest_raised();
  }
  return 0;
}

TEST_CASE("a backtest of the rules in force reproduces the journal transition by transition",
          "[backtest]") {
  Rig rig;
  const int64_t end = rig.Play();
  // The readings' own alarms are journaled within a tick; no timer is left running.
  std::this_thread::sleep_for(1500ms);
  // From after the first readings: vigild's own start (its first no-data
  // clock) stays out of the period, in the warm-up.
  const int64_t from = rig.first_at + 500;
  const int64_t to = end + 500;

  const v1::BacktestReport same = rig.Run(kRules, from, to);
  INFO(Differences(same));
  for (const std::string& c : same.caveats()) UNSCOPED_INFO("caveat: " << c);
  // t-1: raised (H), escalated (HH), de-escalated (H), cleared; p-1 raised
  // and cleared; l-1 no data raised and cleared, L raised and cleared;
  // ch4-qd raised and cleared.
  CHECK(same.transitions_matched() == 12);
  CHECK(same.transitions_matched_by_clock() == 0);
  CHECK(same.transitions_only_backtest() == 0);
  CHECK(same.transitions_only_live() == 0);
  CHECK(same.live_raised() == 5);
  CHECK(same.backtest_raised() == 5);
  CHECK(same.missed_total() == 0);
  CHECK(same.added_total() == 0);
  CHECK(same.actions_applied() == 1);  // the acknowledgement, from the journal
  CHECK(same.sensors() == 4);
  CHECK(same.readings() == 80 * 3 + 59 + 0);  // l-1 silent for 21 periods
  CHECK(same.caveats().empty());
  // Live a transition happens when its reading is stored (kGatewayAheadMs
  // before the reading's time), in the backtest at the reading's time.
  CHECK(same.max_at_offset_ms() < 2000);

  {  // a higher threshold misses the temperature alarm
    const v1::BacktestReport higher = rig.Run(HigherThreshold(), from, to);
    CHECK(Count(higher.per_rule(), "temp-delayed", false) == 0);
    CHECK(Count(higher.per_rule(), "temp-delayed", true) == 1);
    CHECK(Count(higher.per_rule(), "pressure-rate", false) == 1);
    CHECK(higher.backtest_raised() == 4);
    CHECK(higher.live_raised() == 5);
    REQUIRE(higher.missed_total() == 1);
    CHECK(higher.missed(0).source_id() == "t-1");
    CHECK(higher.missed(0).level() == "HH");
    CHECK(higher.missed(0).alarm_id() != 0);
    CHECK(higher.transitions_only_live() == 4);
    CHECK(higher.actions_skipped() == 1);  // nothing to acknowledge
  }

  {  // a region narrows the replay and the journal alike
    const v1::BacktestReport jinan = rig.Run(kRules, from, to, "370105");
    CHECK(jinan.sensors() == 3);
    CHECK(jinan.transitions_matched() == 10);
    CHECK(jinan.transitions_only_live() == 0);
    CHECK(Count(jinan.per_sensor(), "ch4-qd", true) == 0);
    const v1::BacktestReport qingdao = rig.Run(kRules, from, to, "370202");
    CHECK(qingdao.sensors() == 1);
    CHECK(qingdao.engine_sensors() == 1);  // the engine holds the region's sensors only
    CHECK(same.engine_sensors() == 4);
    CHECK(qingdao.transitions_matched() == 2);
  }

  {  // pages bound the readings held, whatever the range
    const v1::BacktestReport paged = rig.Run(kRules, from, to, "", 4);
    CHECK(paged.page_readings() == 4);
    CHECK(paged.max_buffered_readings() <= 4 * 4);
    CHECK(paged.readings() == same.readings());
    CHECK(paged.transitions_matched() == 12);
    CHECK(paged.transitions_only_live() == 0);
  }

  {  // vigilctl rules backtest prints the report
    std::ofstream(rig.dir / "proposed.yaml") << HigherThreshold();
    std::ofstream(rig.dir / "token") << "national-secret";
    const CtlResult ctl =
        RunVigilctl({"--server", rig.vigild.address(), "--token-file", (rig.dir / "token").string(),
                     "rules", "backtest", "--rules", (rig.dir / "proposed.yaml").string(), "--from",
                     std::to_string(from), "--to", std::to_string(to)});
    INFO(ctl.output);
    CHECK(ctl.code == 0);
    CHECK(ctl.output.find("raised backtest=4 live=5") != std::string::npos);
    CHECK(ctl.output.find("missed (raised live, not by the proposal): 1") != std::string::npos);
    CHECK(ctl.output.find("  temp-delayed  0 / 1") != std::string::npos);
  }
}

TEST_CASE("only an admin of the region may backtest rules", "[backtest]") {
  Rig rig;
  rig.first_at = NowMs();
  CHECK(rig.RunAs("", "").error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(rig.RunAs("shandong-secret", "37").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(rig.RunAs("jinan-secret", "370105").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  // An admin of Qingdao's county: its own region, not Jinan's nor the nation.
  CHECK(rig.RunAs("qd-admin-secret", "370202").ok());
  CHECK(rig.RunAs("qd-admin-secret", "").ok());  // "" = its own region
  CHECK(rig.RunAs("qd-admin-secret", "370105").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(rig.RunAs("qd-admin-secret", "37").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(rig.RunAs("national-secret", "").ok());

  // A period past the raw retention (90 days by default) says so.
  const int64_t day = 86'400'000;
  const v1::BacktestReport old = rig.Run(kRules, rig.first_at - 100 * day, rig.first_at - 99 * day);
  REQUIRE(old.caveats_size() == 1);
  CHECK(old.caveats(0).find("raw retention") != std::string::npos);
  CHECK(old.readings() == 0);
}

TEST_CASE("one backtest runs at a time and a cancelled one stops", "[backtest]") {
  Rig rig(480);
  // 3 sensors x 1,000,000 readings 1 ms apart, sent as 100,000-reading
  // batches: a replay of about a second, or several.
  constexpr int kPerSensor = 1'000'000;
  constexpr int kPerBatch = 100'000;
  const int64_t first = NowMs() - 3'600'000;
  for (const std::string sensor : {"t-1", "p-1", "l-1"}) {
    for (int b = 0; b < kPerSensor / kPerBatch; ++b) {
      v1::IngestBatch batch;
      batch.set_gateway_id("gw-jn");
      batch.set_epoch(1);
      batch.set_sequence(++rig.sequence["gw-jn"]);
      v1::Series* series = batch.add_series();
      series->set_sensor_id(sensor);
      for (int i = 0; i < kPerBatch; ++i) {
        series->add_timestamps_ms(first + b * kPerBatch + i);
        series->add_values(50);
      }
      grpc::ClientContext context;
      SetDeadline(&context);
      context.AddMetadata("authorization", GatewayAuthorization("gw-jn"));
      v1::IngestAck ack;
      REQUIRE(rig.vigild.ingest().Write(&context, batch, &ack).ok());
      REQUIRE(ack.stored_readings() == kPerBatch);
    }
  }
  {
    // The shards have taken it all in (a history read waits its turn on them).
    v1::ReadRawRequest read;
    read.set_sensor_id("l-1");
    read.set_from_ms(first + kPerSensor - 1);
    read.set_to_ms(first + kPerSensor);
    grpc::ClientContext context;
    SetDeadline(&context, 60s);
    context.AddMetadata("authorization", "Bearer national-secret");
    v1::ReadRawResponse last;
    const grpc::Status s = rig.vigild.query().ReadRaw(&context, read, &last);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(last.timestamps_ms_size() == 1);
  }
  v1::BacktestRequest request;
  request.set_rules_yaml(kRules);
  request.set_from_ms(first);
  request.set_to_ms(first + kPerSensor);
  request.set_page_readings(16);  // many page reads: slower, still bounded
  grpc::ClientContext first_context;
  first_context.AddMetadata("authorization", "Bearer national-secret");
  grpc::Status first_status;
  std::thread first_call([&] {
    v1::BacktestReport report;
    first_status = rig.backtest->Run(&first_context, request, &report);
  });
  // The second call, while the first runs, is refused.
  grpc::Status second;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(20ms);
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", "Bearer national-secret");
    v1::BacktestRequest small = request;
    small.set_to_ms(first + 1000);
    v1::BacktestReport report;
    second = rig.backtest->Run(&context, small, &report);
    if (second.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) break;
  }
  CHECK(second.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  first_context.TryCancel();
  first_call.join();
  CHECK(first_status.error_code() == grpc::StatusCode::CANCELLED);
  // The server noticed: its thread stopped the replay, and takes the next.
  grpc::Status after;
  for (int i = 0; i < 100; ++i) {
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", "Bearer national-secret");
    v1::BacktestRequest small = request;
    small.set_to_ms(first + 1000);
    v1::BacktestReport report;
    after = rig.backtest->Run(&context, small, &report);
    if (after.ok()) break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(after.ok());
  CHECK(rig.vigild.Output().find("event=rules_backtest_failed") != std::string::npos);
}

}  // namespace
}  // namespace vigil::e2e
