// End-to-end: alarm rules changed at run time through RulesAdmin, while
// readings flow; what did not change keeps its alarm state; changes survive
// a restart; the rules file is applied on top at start.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"
#include "vigil/v1/rules.grpc.pb.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-jinan, name: Jinan Plant, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-qingdao, name: Qingdao Mine, kind: coal_mine, region_code: "370202" }
sensors:
  - { id: t-jn, enterprise: e-jinan, quantity: temperature, unit: degC }
  - { id: p-jn, enterprise: e-jinan, quantity: pressure, unit: MPa }
  - { id: ch4-qd, enterprise: e-qingdao, quantity: methane, unit: "%CH4" }
gateways:
  - { id: gw-jn, enterprise: e-jinan }
  - { id: gw-qd, enterprise: e-qingdao }
)";

constexpr char kRulesFile[] = R"(rules:
  - id: temperature-high
    select: { sensor: t-jn }
    levels:
      h: { value: 50, severity: 2 }
    sensor_fault: off
  - id: methane-face
    select: { sensor: ch4-qd }
    levels:
      h: { value: 1.0, severity: 2 }
    sensor_fault: off
)";

class Rig {
 public:
  Rig()
      : vigild([this] {
          std::ofstream(dir_ / "rules.yaml") << kRulesFile;
          return VigildProcess::Options{
              .config_yaml = "rules_file: " + (dir_ / "rules.yaml").string() +
                             "\nalarms:\n  heartbeat_interval: 200ms\n",
              .registry_yaml = kRegistry};
        }()) {}

  void Start() {
    vigild.Start();
    rules_ = v1::RulesAdmin::NewStub(vigild.channel());
  }
  void Restart() {
    vigild.Restart();
    rules_ = v1::RulesAdmin::NewStub(vigild.channel());
  }

  void Send(const std::string& gateway, const std::string& sensor, double value) {
    v1::IngestBatch batch;
    batch.set_gateway_id(gateway);
    batch.set_epoch(static_cast<uint64_t>(epoch_));
    batch.set_sequence(++sequence_);
    v1::Series* series = batch.add_series();
    series->set_sensor_id(sensor);
    last_at_ = std::max(NowMs(), last_at_ + 1);
    series->add_timestamps_ms(last_at_);
    series->add_values(value);
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::IngestAck ack;
    REQUIRE(vigild.ingest().Write(&context, batch, &ack).ok());
  }

  grpc::Status Apply(const std::string& yaml, std::vector<std::string> remove = {},
                     v1::ApplyRulesResponse* response = nullptr) {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::ApplyRulesRequest request;
    request.set_rules_yaml(yaml);
    for (auto& id : remove) request.add_remove_rule_ids(id);
    v1::ApplyRulesResponse ignored;
    return rules_->ApplyRules(&context, request, response ? response : &ignored);
  }

  std::string Get() {
    grpc::ClientContext context;
    SetDeadline(&context);
    v1::GetRulesResponse response;
    REQUIRE(rules_->GetRules(&context, {}, &response).ok());
    return response.rules_yaml();
  }

  // Every journaled event (a fresh national stream from seq 0): at least `n`,
  // then whatever else arrives before the stream falls idle (a heartbeat).
  std::vector<v1::AlarmEvent> Events(size_t n) {
    std::vector<v1::AlarmEvent> events;
    grpc::ClientContext context;
    SetDeadline(&context, 10s);
    v1::SubscribeRequest request;
    request.set_after_seq(0);
    auto reader = vigild.alarms().Subscribe(&context, request);
    v1::AlarmStreamMessage message;
    while (reader->Read(&message)) {
      if (message.has_event()) events.push_back(message.event());
      if (message.has_heartbeat() && events.size() >= n) break;
    }
    context.TryCancel();
    (void)reader->Finish();
    return events;
  }

  testing::TempDir dir_;
  VigildProcess vigild;

 private:
  std::unique_ptr<v1::RulesAdmin::Stub> rules_;
  int64_t epoch_ = NowMs();
  uint64_t sequence_ = 0;
  int64_t last_at_ = 0;
};

std::string Kinds(const std::vector<v1::AlarmEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    out += v1::AlarmEventKind_Name(e.kind()) + "(" + e.alarm().sensor_id() + ") ";
  }
  return out;
}

TEST_CASE("Rules change at run time while readings flow, unchanged rules keep their alarms",
          "[e2e][rules]") {
  Rig rig;
  rig.Start();
  rig.Send("gw-jn", "t-jn", 60);     // temperature alarm
  rig.Send("gw-qd", "ch4-qd", 1.2);  // methane alarm
  REQUIRE(rig.Events(2).size() == 2);

  // Readings keep flowing on another sensor during the change.
  std::atomic<bool> stop{false};
  std::thread load([&] {
    while (!stop) {
      rig.Send("gw-jn", "p-jn", 1);
      std::this_thread::sleep_for(2ms);
    }
  });
  v1::ApplyRulesResponse response;
  grpc::Status s = rig.Apply(R"(rules:
  - id: methane-face
    select: { sensor: ch4-qd }
    levels:
      h: { value: 0.8, severity: 2 }
    sensor_fault: off
  - id: pressure-high
    select: { sensor: p-jn }
    levels:
      h: { value: 5, severity: 3 }
    sensor_fault: off
)",
                             {}, &response);
  stop = true;
  load.join();
  INFO(s.error_message());
  REQUIRE(s.ok());
  CHECK(response.rules() == 3);

  // The changed methane rule closed its alarm; the temperature alarm is as it was.
  auto events = rig.Events(3);
  INFO(Kinds(events));
  REQUIRE(events.size() == 3);
  CHECK(events[2].kind() == v1::ALARM_EVENT_KIND_CLEARED);
  CHECK(events[2].alarm().sensor_id() == "ch4-qd");
  CHECK(events[2].alarm().state() == v1::ALARM_STATE_CLOSED);
  CHECK(events[2].comment() == "rule or registry changed");
  // The new methane level is in force: 0.9 raises now.
  rig.Send("gw-qd", "ch4-qd", 0.9);
  rig.Send("gw-jn", "t-jn", 61);  // still the same open temperature alarm: no event
  events = rig.Events(4);
  INFO(Kinds(events));
  REQUIRE(events.size() == 4);
  CHECK(events[3].kind() == v1::ALARM_EVENT_KIND_RAISED);
  CHECK(events[3].alarm().sensor_id() == "ch4-qd");
  CHECK(events[3].alarm().threshold() == 0.8);
  CHECK(rig.Get().find("pressure-high") != std::string::npos);

  SECTION("a bad rule is refused whole with its position; nothing changes") {
    grpc::Status bad = rig.Apply("rules:\n  - id: x\n    select: { sensor: nope }\n");
    CHECK(bad.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(bad.error_message().find("nope") != std::string::npos);
    grpc::Status syntax = rig.Apply("rules:\n  - id: y\n    levels: { h: 1 }\n");
    CHECK(syntax.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(syntax.error_message().find("request:3:") == 0);
    CHECK(rig.Apply("", {"no-such-rule"}).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  SECTION("a rule added at run time is stored and survives a restart; the file still applies") {
    REQUIRE(rig.vigild.Terminate().ExitedWith(0));
    rig.Restart();
    const std::string yaml = rig.Get();
    CHECK(yaml.find("pressure-high") != std::string::npos);  // added through the API
    // methane-face is in the file too: the file's 1.0 is back on top.
    CHECK(yaml.find("value: 1,") != std::string::npos);
    REQUIRE(rig.Apply("", {"pressure-high"}).ok());
    CHECK(rig.Get().find("pressure-high") == std::string::npos);
  }
}

}  // namespace
}  // namespace vigil::e2e
