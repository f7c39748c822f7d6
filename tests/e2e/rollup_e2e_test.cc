// End-to-end: roll-up alarms through the real vigild (issue 26, item 1). A
// tailings reservoir's monitoring item rolls up its points (GB 39496-2020
// §5.5.4: 4 blue points -> the item yellow) and the reservoir its items; the
// points live on different shards. A subscriber sees the point alarms, then
// the roll-up with their alarm ids; the roll-up survives kill -9 and clears
// with its children.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "alarm/engine.h"
#include "tests/e2e/alarm_watch.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-tail, name: Laiwu Tailings, kind: tailings, region_code: "371202" }
facilities:
  - id: res-1
    enterprise: e-tail
    kind: tailings_reservoir
    name: Reservoir 1
    items:
      - { id: res-1-disp, name: dam surface displacement }
      - { id: res-1-phr, name: phreatic line }
sensors:
  - { id: d-0, enterprise: e-tail, facility: res-1, item: res-1-disp, quantity: displacement, unit: mm }
  - { id: d-1, enterprise: e-tail, facility: res-1, item: res-1-disp, quantity: displacement, unit: mm }
  - { id: d-2, enterprise: e-tail, facility: res-1, item: res-1-disp, quantity: displacement, unit: mm }
  - { id: d-3, enterprise: e-tail, facility: res-1, item: res-1-disp, quantity: displacement, unit: mm }
  - { id: d-4, enterprise: e-tail, facility: res-1, item: res-1-disp, quantity: displacement, unit: mm }
gateways:
  - { id: gw-qd, enterprise: e-tail }
)";

constexpr char kRules[] = R"(rules:
  - id: disp
    select: { quantity: displacement, enterprise_kind: tailings }
    levels:
      hh: { value: 20, severity: yellow }
      h: { value: 10, severity: blue }
    sensor_fault: off
rollups:
  - id: gb39496-item           # GB 39496-2020 §5.5.4
    parent: item
    from: sensors
    select: { facility_kind: tailings_reservoir }
    when:
      - { count: 4, level: blue, raise: yellow }
      - { count: 3, level: yellow, raise: orange }
      - { count: 2, level: orange, raise: red }
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
                           "\nserver:\n  shards: 4\nalarms:\n  heartbeat_interval: 200ms\n" +
                           kAuth + kGatewayTokensYaml,
            .registry_yaml = kRegistry};
  }

  // One batch: each sensor's one reading at `at`, acked.
  void Send(const std::vector<std::pair<std::string, double>>& readings, int64_t at) {
    v1::IngestBatch batch;
    batch.set_gateway_id("gw-qd");
    batch.set_epoch(epoch);
    batch.set_sequence(++sequence);
    for (const auto& [sensor, value] : readings) {
      v1::Series* series = batch.add_series();
      series->set_sensor_id(sensor);
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

  std::vector<v1::Alarm> Active() {
    grpc::ClientContext context;
    SetDeadline(&context);
    Authorize(&context, kNational);
    v1::ListActiveResponse list;
    REQUIRE(vigild.alarms().ListActive(&context, {}, &list).ok());
    return {list.alarms().begin(), list.alarms().end()};
  }

  testing::TempDir dir;
  VigildProcess vigild;
  uint64_t epoch = 1;
  uint64_t sequence = 0;
};

std::string Describe(const std::vector<v1::AlarmEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    out += std::to_string(e.seq()) + ":" + v1::AlarmEventKind_Name(e.kind()) + ":" +
           v1::AlarmKind_Name(e.alarm().kind()) + ":" + e.alarm().sensor_id() +
           e.alarm().place_id() + " ";
  }
  return out;
}

bool IsRollup(const v1::AlarmEvent& e) { return e.alarm().kind() == v1::ALARM_KIND_ROLLUP; }

TEST_CASE(
    "Roll-up e2e: 4 blue points raise their item yellow after them, with their alarm ids, "
    "through a restart, and it clears with them",
    "[e2e][rollup]") {
  // The points are spread over the shards: the roll-up meets them in the journal.
  std::set<uint32_t> shards;
  for (const char* id : {"d-0", "d-1", "d-2", "d-3"}) shards.insert(alarm::ShardOf(id, 4));
  REQUIRE(shards.size() > 1);

  Server server;
  Watch watch(server.vigild.alarms(), kNational, {}, /*after=*/0);
  const int64_t t0 = NowMs();
  server.Send({{"d-0", 12}, {"d-1", 13}}, t0);
  server.Send({{"d-2", 11}}, t0 + 1);
  REQUIRE(watch.WaitForEvents(3, Scaled(15s)));
  server.Send({{"d-3", 14}}, t0 + 2);  // the fourth blue point
  REQUIRE(watch.WaitFor(
      [](const auto& events) { return std::any_of(events.begin(), events.end(), IsRollup); },
      Scaled(15s)));
  std::vector<v1::AlarmEvent> events = watch.Events();
  INFO(Describe(events));
  REQUIRE(events.size() == 5);
  std::vector<uint64_t> point_ids;
  for (size_t i = 0; i < 4; ++i) {
    CHECK(events[i].kind() == v1::ALARM_EVENT_KIND_RAISED);
    CHECK(events[i].alarm().kind() == v1::ALARM_KIND_THRESHOLD);
    CHECK(events[i].alarm().severity() == 4);
    point_ids.push_back(events[i].alarm().alarm_id());
  }
  const v1::AlarmEvent& item = events[4];
  CHECK(item.seq() == events[3].seq() + 1);  // right after the point that caused it
  CHECK(events[3].alarm().sensor_id() == "d-3");
  CHECK(item.kind() == v1::ALARM_EVENT_KIND_RAISED);
  CHECK(item.alarm().kind() == v1::ALARM_KIND_ROLLUP);
  CHECK(item.alarm().place_id() == "res-1-disp");
  CHECK(item.alarm().rule_id() == "gb39496-item");
  CHECK(item.alarm().severity() == 3);
  CHECK(item.alarm().region_code() == "371202");
  CHECK(item.alarm().enterprise_id() == "e-tail");
  std::vector<uint64_t> contributing(item.alarm().contributing_alarm_ids().begin(),
                                     item.alarm().contributing_alarm_ids().end());
  std::sort(point_ids.begin(), point_ids.end());
  std::sort(contributing.begin(), contributing.end());
  CHECK(contributing == point_ids);
  const uint64_t item_alarm = item.alarm().alarm_id();
  watch.Stop();

  // kill -9: the roll-up is still open afterwards, the same alarm.
  server.vigild.Kill9();
  server.vigild.Restart();
  std::vector<v1::Alarm> active = server.Active();
  auto open_item = std::find_if(active.begin(), active.end(), [](const v1::Alarm& a) {
    return a.kind() == v1::ALARM_KIND_ROLLUP;
  });
  REQUIRE(open_item != active.end());
  CHECK(open_item->alarm_id() == item_alarm);
  CHECK(open_item->contributing_alarm_ids_size() == 4);
  {
    // vigilctl names its place and the alarms that raised it.
    std::ofstream(server.dir / "token") << kNational;
    const CtlResult list = RunVigilctl({"--server", server.vigild.address(), "--token-file",
                                        (server.dir / "token").string(), "alarms", "list"});
    INFO(list.output);
    CHECK(list.code == 0);
    CHECK(list.output.find("place=res-1-disp contributing=") != std::string::npos);
  }
  {
    // It needs no acknowledgement: its children's alarms are acted on.
    grpc::ClientContext context;
    SetDeadline(&context);
    Authorize(&context, kNational);
    v1::AcknowledgeRequest request;
    request.set_alarm_id(item_alarm);
    v1::AlarmActionResponse response;
    const grpc::Status s = server.vigild.alarms().Acknowledge(&context, request, &response);
    CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  }

  // d-1 back to normal: 3 blue points are below the figure -> the item
  // clears, after d-1's clear.
  Watch after(server.vigild.alarms(), kNational, {}, /*after=*/item.seq());
  server.epoch = 2;
  server.sequence = 0;
  server.Send({{"d-1", 1}}, t0 + 3);
  REQUIRE(after.WaitFor([](const auto& e) { return std::any_of(e.begin(), e.end(), IsRollup); },
                        Scaled(15s)));
  events = after.Events();
  INFO(Describe(events));
  REQUIRE(events.size() == 2);
  CHECK(events[0].alarm().sensor_id() == "d-1");
  CHECK(events[0].kind() == v1::ALARM_EVENT_KIND_CLEARED);
  CHECK(events[1].alarm().place_id() == "res-1-disp");
  CHECK(events[1].kind() == v1::ALARM_EVENT_KIND_CLEARED);
  CHECK(events[1].alarm().state() == v1::ALARM_STATE_CLOSED);
  CHECK(events[1].alarm().alarm_id() == item_alarm);
}

}  // namespace
}  // namespace vigil::e2e
