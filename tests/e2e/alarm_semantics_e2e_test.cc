// End-to-end: alarm semantics through the real vigild (issue 20, items 6-8):
// an escalation is annunciated on its own (unacked, and out of a shelve that
// covered the lesser level), the on-delay guards each level, and a reading at
// the newest reading's time is evaluated as the current value.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/e2e/alarm_watch.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-mine, name: Zoucheng Mine, kind: coal_mine, region_code: "370883" }
sensors:
  - { id: ch4-face, enterprise: e-mine, quantity: methane, unit: "%CH4" }
  - { id: co-road, enterprise: e-mine, quantity: carbon_monoxide, unit: ppm }
gateways:
  - { id: gw-qd, enterprise: e-mine }
)";

// Methane without delays; CO with the coal template's on-delay ("rides
// through single spikes").
constexpr char kRules[] = R"(rules:
  - id: methane-face
    select: { quantity: methane, enterprise_kind: coal_mine }
    levels:
      hh: { value: 1.5, severity: 1 }
      h: { value: 1.0, severity: 2 }
    sensor_fault: off
  - id: co
    select: { quantity: carbon_monoxide, enterprise_kind: coal_mine }
    levels:
      hh: { value: 50, severity: 1 }
      h: { above: 24, severity: 2 }
    on_delay: 3s
    sensor_fault: off
)";

constexpr char kNational[] = "national-secret";
constexpr char kAuth[] = R"(auth:
  tokens:
    - { name: national, region: "", role: admin,
        sha256: fa97b986984b38fac2a09b1677210ef87ff0a9642c5f6d0f9ebcfd41cee9022b }
)";

struct Server {
  Server() : vigild(Make(dir)) { vigild.Start(); }
  static VigildProcess::Options Make(testing::TempDir& dir) {
    std::ofstream(dir / "rules.yaml") << kRules;
    return {.config_yaml = "rules_file: " + (dir / "rules.yaml").string() +
                           "\nalarms:\n  heartbeat_interval: 200ms\n" + kAuth + kGatewayTokensYaml,
            .registry_yaml = kRegistry};
  }

  // One batch of `sensor`'s readings (time, value) through gw-qd, acked.
  void Send(const std::string& sensor, const std::vector<std::pair<int64_t, double>>& readings) {
    v1::IngestBatch batch;
    batch.set_gateway_id("gw-qd");
    batch.set_epoch(1);
    batch.set_sequence(++sequence);
    v1::Series* series = batch.add_series();
    series->set_sensor_id(sensor);
    for (const auto& [at, value] : readings) {
      series->add_timestamps_ms(at);
      series->add_values(value);
    }
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", GatewayAuthorization("gw-qd"));
    v1::IngestAck ack;
    grpc::Status s = vigild.ingest().Write(&context, batch, &ack);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(ack.stored_readings() == readings.size());
  }

  v1::AlarmActionResponse Act(const char* what, uint64_t alarm_id) {
    grpc::ClientContext context;
    SetDeadline(&context);
    Authorize(&context, kNational);
    v1::AlarmActionResponse response;
    grpc::Status s;
    if (std::string(what) == "acknowledge") {
      v1::AcknowledgeRequest request;
      request.set_alarm_id(alarm_id);
      request.set_operator_id("wang.wu");
      s = vigild.alarms().Acknowledge(&context, request, &response);
    } else {
      v1::ShelveRequest request;
      request.set_alarm_id(alarm_id);
      request.set_operator_id("wang.wu");
      request.set_reason("sensor calibration");
      request.set_duration_ms(3'600'000);
      s = vigild.alarms().Shelve(&context, request, &response);
    }
    INFO(s.error_message());
    REQUIRE(s.ok());
    return response;
  }

  testing::TempDir dir;
  VigildProcess vigild;
  uint64_t sequence = 0;
};

std::string Describe(const std::vector<v1::AlarmEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    out += std::to_string(e.seq()) + ":" + v1::AlarmEventKind_Name(e.kind()) + ":" +
           v1::AlarmLevel_Name(e.alarm().level()) + ":" + v1::AlarmState_Name(e.alarm().state()) +
           " ";
  }
  return out;
}

TEST_CASE("An escalation is annunciated on its own: unacked, and out of the shelve of H",
          "[e2e][alarms][semantics]") {
  Server server;
  Watch watch(server.vigild.alarms(), kNational, {}, /*after=*/0);
  const int64_t t0 = NowMs();
  server.Send("ch4-face", {{t0, 1.2}});  // H
  REQUIRE(watch.WaitForEvents(1));
  const uint64_t id = watch.Events()[0].alarm().alarm_id();
  server.Act("acknowledge", id);
  server.Send("ch4-face", {{t0 + 1, 1.6}});  // HH: an acked H escalates
  REQUIRE(watch.WaitForEvents(3));
  {
    const auto events = watch.Events();
    INFO(Describe(events));
    CHECK(events[1].kind() == v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
    CHECK(events[2].kind() == v1::ALARM_EVENT_KIND_ESCALATED);
    CHECK(events[2].alarm().level() == v1::ALARM_LEVEL_HH);
    CHECK(events[2].alarm().state() == v1::ALARM_STATE_ACTIVE_UNACKED);
    CHECK(events[2].alarm().alarm_id() == id);
  }

  // Back to H, acknowledged and shelved there; HH again ends the shelve.
  server.Send("ch4-face", {{t0 + 2, 1.2}});
  REQUIRE(watch.WaitForEvents(4));
  server.Act("acknowledge", id);
  const v1::AlarmActionResponse shelved = server.Act("shelve", id);
  CHECK(shelved.event().alarm().shelved_until_ms() > t0);
  server.Send("ch4-face", {{t0 + 3, 1.7}});
  REQUIRE(watch.WaitForEvents(8));
  const auto events = watch.Events();
  INFO(Describe(events));
  REQUIRE(events.size() == 8);
  CHECK(events[3].kind() == v1::ALARM_EVENT_KIND_DE_ESCALATED);
  CHECK(events[4].kind() == v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
  CHECK(events[5].kind() == v1::ALARM_EVENT_KIND_SHELVED);
  const v1::AlarmEvent& escalated = events[6];
  CHECK(escalated.kind() == v1::ALARM_EVENT_KIND_ESCALATED);
  CHECK(escalated.alarm().level() == v1::ALARM_LEVEL_HH);
  CHECK(escalated.alarm().state() == v1::ALARM_STATE_ACTIVE_UNACKED);
  CHECK(escalated.alarm().shelved_until_ms() == 0);  // delivered as an alarm to act on
  CHECK(escalated.value() == 1.7);
  const v1::AlarmEvent& unshelved = events[7];
  CHECK(unshelved.kind() == v1::ALARM_EVENT_KIND_UNSHELVED);
  CHECK(unshelved.actor().empty());
  CHECK(unshelved.comment() == "escalated past the shelved level H");
  CHECK(unshelved.alarm().shelved_until_ms() == 0);

  // The open-alarm view agrees.
  grpc::ClientContext context;
  SetDeadline(&context);
  Authorize(&context, kNational);
  v1::ListActiveResponse list;
  REQUIRE(server.vigild.alarms().ListActive(&context, {}, &list).ok());
  REQUIRE(list.alarms_size() == 1);
  CHECK(list.alarms(0).level() == v1::ALARM_LEVEL_HH);
  CHECK(list.alarms(0).state() == v1::ALARM_STATE_ACTIVE_UNACKED);
  CHECK(list.alarms(0).shelved_until_ms() == 0);
}

TEST_CASE("A CO spike shorter than the on-delay during H does not escalate, a held HH does",
          "[e2e][alarms][semantics]") {
  Server server;
  Watch watch(server.vigild.alarms(), kNational, {}, /*after=*/0);
  // Event times a minute back: the on-delay is met by the readings' own times
  // (3 s apart), so the test needs no waiting, and the server's timers (which
  // count from arrival) come due only after the readings decided.
  const int64_t t0 = NowMs() - 60'000;
  server.Send("co-road", {{t0, 30}, {t0 + 3000, 30}});  // H held 3 s: raised
  REQUIRE(watch.WaitForEvents(1));
  // A 2 s diesel spike and back, in one batch: no timer can fire in between.
  server.Send("co-road",
              {{t0 + 10'000, 80}, {t0 + 11'000, 90}, {t0 + 12'000, 80}, {t0 + 14'000, 30}});
  server.Send("co-road", {{t0 + 20'000, 60}, {t0 + 22'000, 60}, {t0 + 23'000, 61}});  // held 3 s
  REQUIRE(watch.WaitFor([](const auto& events) {
    return std::any_of(events.begin(), events.end(), [](const v1::AlarmEvent& e) {
      return e.kind() == v1::ALARM_EVENT_KIND_ESCALATED;
    });
  }));
  const auto events = watch.Events();
  INFO(Describe(events));
  REQUIRE(events.size() == 2);  // raised, then one escalation: the spike left no trace
  CHECK(events[0].kind() == v1::ALARM_EVENT_KIND_RAISED);
  CHECK(events[0].alarm().level() == v1::ALARM_LEVEL_H);
  CHECK(events[0].reading_at_ms() == t0 + 3000);
  CHECK(events[1].kind() == v1::ALARM_EVENT_KIND_ESCALATED);
  CHECK(events[1].reading_at_ms() == t0 + 23'000);
  CHECK(events[1].value() == 61);
}

TEST_CASE("A reading at the newest reading's time is evaluated: the alarm agrees with latest",
          "[e2e][alarms][semantics]") {
  Server server;
  Watch watch(server.vigild.alarms(), kNational, {}, /*after=*/0);
  const int64_t t0 = NowMs();
  server.Send("ch4-face", {{t0, 0.8}});
  server.Send("ch4-face", {{t0, 1.6}});  // the same time: the corrected value
  REQUIRE(watch.WaitForEvents(1));
  const auto events = watch.Events();
  INFO(Describe(events));
  CHECK(events[0].kind() == v1::ALARM_EVENT_KIND_RAISED);
  CHECK(events[0].alarm().level() == v1::ALARM_LEVEL_HH);
  CHECK(events[0].value() == 1.6);

  grpc::ClientContext context;
  SetDeadline(&context);
  Authorize(&context, kNational);
  v1::ReadLatestRequest request;
  request.add_sensor_ids("ch4-face");
  v1::ReadLatestResponse latest;
  grpc::Status s = server.vigild.query().ReadLatest(&context, request, &latest);
  INFO(s.error_message());
  REQUIRE(s.ok());
  REQUIRE(latest.values_size() == 1);
  CHECK(latest.values(0).at_ms() == t0);
  CHECK(latest.values(0).value() == 1.6);
  REQUIRE(latest.values(0).alarms_size() == 1);
  CHECK(latest.values(0).alarms(0).level() == v1::LatestValue::Alarm::LEVEL_HH);
  CHECK(latest.values(0).alarms(0).trigger_value() == 1.6);
}

}  // namespace
}  // namespace vigil::e2e
