// End-to-end: command centers subscribe to their region's alarms, act on
// them, and resume without gap or duplicate across disconnects and kill -9.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/alarm_watch.h"
#include "tests/e2e/vigild_process.h"
#include "tests/testing/temp_dir.h"

namespace vigil::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kRegistry[] = R"(enterprises:
  - { id: e-jinan, name: Jinan Plant, kind: hazardous_chemical, region_code: "370105" }
  - { id: e-qingdao, name: Qingdao Mine, kind: coal_mine, region_code: "370202" }
  - { id: e-hebei, name: Shijiazhuang Plant, kind: hazardous_chemical, region_code: "130102" }
sensors:
  - { id: t-jn, enterprise: e-jinan, quantity: temperature, unit: degC }
  - { id: p-jn, enterprise: e-jinan, quantity: pressure, unit: MPa }
  - { id: ch4-qd, enterprise: e-qingdao, quantity: methane, unit: "%CH4" }
  - { id: t-hb, enterprise: e-hebei, quantity: temperature, unit: degC }
gateways:
  - { id: gw-jn, enterprise: e-jinan }
  - { id: gw-qd, enterprise: e-qingdao }
  - { id: gw-hb, enterprise: e-hebei }
)";

constexpr char kRules[] = R"(rules:
  - id: temperature-high
    select: { quantity: temperature, enterprise_kind: hazardous_chemical }
    levels:
      h: { value: 50, severity: 2 }
    sensor_fault: off
  - id: methane-face
    select: { quantity: methane, enterprise_kind: coal_mine }
    levels:
      hh: { value: 1.5, severity: 1 }
      h: { value: 1.0, severity: 2 }
    sensor_fault: off
  - id: pressure-high-held
    select: { sensor: p-jn }
    levels:
      h: { value: 10, severity: 3 }
    on_delay: 4s
    sensor_fault: off
)";

// Tokens (the config holds their SHA-256): a county operator (Jinan Lixia),
// a province viewer (Shandong), a province operator (Hebei), a national admin;
// and each gateway's (secret "<gateway id>-secret").
constexpr char kJinan[] = "jinan-secret";
constexpr char kShandong[] = "shandong-secret";
constexpr char kHebei[] = "hebei-secret";
constexpr char kNational[] = "national-secret";
constexpr char kAuth[] = R"(auth:
  tokens:
    - { name: jinan-lixia, region: "370105", role: operator,
        sha256: 94beec19424be60cbfc16ea69f423ad548b050b894a35cb694f8cea5d2b27d0f }
    - { name: shandong, region: "37", role: viewer,
        sha256: 603084eb1c2adcf943ecb786943d038aebed40cd836e95cb3a3cc463d6b870a9 }
    - { name: hebei, region: "13", role: operator,
        sha256: fc401e057090bad46954b888bd3c5dce3592be70219472760854482c347185b7 }
    - { name: national, region: "", role: admin,
        sha256: fa97b986984b38fac2a09b1677210ef87ff0a9642c5f6d0f9ebcfd41cee9022b }
)";

struct Server {
  // `extra_config` goes under the alarms: section.
  explicit Server(const std::string& extra_config = "", const std::string& heartbeat = "200ms")
      : vigild(Make(dir, extra_config, heartbeat)) {}
  static VigildProcess::Options Make(testing::TempDir& dir, const std::string& extra,
                                     const std::string& heartbeat) {
    std::ofstream(dir / "rules.yaml") << kRules;
    return {.config_yaml = "rules_file: " + (dir / "rules.yaml").string() +
                           "\nalarms:\n  heartbeat_interval: " + heartbeat + "\n" + extra + kAuth +
                           kGatewayTokensYaml,
            .registry_yaml = kRegistry};
  }
  testing::TempDir dir;
  VigildProcess vigild;
  std::map<std::string, uint64_t> sequence;  // per gateway
  std::map<std::string, int64_t> last_at;    // per sensor

  // One reading, acked; the gateway's batches are numbered here. Readings of
  // a sensor get increasing times (a repeated time would be a late reading).
  void Send(const std::string& gateway, const std::string& sensor, double value, int64_t at = 0) {
    int64_t& last = last_at[sensor];
    last = at != 0 ? at : std::max(NowMs(), last + 1);
    SendSeries(gateway, sensor, {value}, last);
  }
  // Readings 1 ms apart from `first_at` in one batch, acked.
  void SendSeries(const std::string& gateway, const std::string& sensor,
                  const std::vector<double>& values, int64_t first_at) {
    v1::IngestBatch batch;
    batch.set_gateway_id(gateway);
    batch.set_epoch(1);
    batch.set_sequence(++sequence[gateway]);
    v1::Series* series = batch.add_series();
    series->set_sensor_id(sensor);
    for (size_t i = 0; i < values.size(); ++i) {
      series->add_timestamps_ms(first_at + static_cast<int64_t>(i));
      series->add_values(values[i]);
    }
    last_at[sensor] = std::max(last_at[sensor], first_at + static_cast<int64_t>(values.size()) - 1);
    grpc::ClientContext context;
    SetDeadline(&context);
    context.AddMetadata("authorization", GatewayAuthorization(gateway));
    v1::IngestAck ack;
    grpc::Status s = vigild.ingest().Write(&context, batch, &ack);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(ack.stored_readings() + (ack.duplicate() ? values.size() : 0) == values.size());
  }
};

std::string Describe(const std::vector<v1::AlarmEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    out += std::to_string(e.seq()) + ":" + v1::AlarmEventKind_Name(e.kind()) + ":" +
           e.alarm().sensor_id() + e.alarm().gateway_id() + " ";
  }
  return out;
}

std::vector<std::string> Sensors(const std::vector<v1::AlarmEvent>& events) {
  std::vector<std::string> out;
  out.reserve(events.size());
  for (const auto& e : events) out.push_back(e.alarm().sensor_id());
  return out;
}

TEST_CASE("Centers see exactly their region's alarms: snapshot first, then live, in order",
          "[e2e][alarms]") {
  Server server;
  server.vigild.Start();
  Watch jinan(server.vigild.alarms(), kJinan);
  Watch hebei(server.vigild.alarms(), kHebei);
  Watch shandong(server.vigild.alarms(), kShandong);
  v1::AlarmFilter orange_and_worse;
  orange_and_worse.set_min_severity(1);
  Watch shandong_red(server.vigild.alarms(), kShandong, orange_and_worse);
  for (const Watch* w : {&jinan, &hebei, &shandong, &shandong_red}) REQUIRE(w->WaitStarted());

  server.Send("gw-jn", "t-jn", 60);     // raised, Jinan
  server.Send("gw-hb", "t-hb", 70);     // raised, Hebei
  server.Send("gw-qd", "ch4-qd", 1.2);  // raised H (orange), Qingdao
  server.Send("gw-jn", "t-jn", 40);     // cleared, Jinan
  server.Send("gw-qd", "ch4-qd", 1.6);  // escalated to HH (red)

  REQUIRE(jinan.WaitForEvents(2));
  REQUIRE(hebei.WaitForEvents(1));
  REQUIRE(shandong.WaitForEvents(4));
  REQUIRE(shandong_red.WaitForEvents(1));
  std::this_thread::sleep_for(300ms);  // nothing else may arrive

  // Each stream opened with an (empty) snapshot consistent with seq 0.
  for (const Watch* w : {&jinan, &hebei, &shandong}) {
    const auto messages = w->Messages();
    REQUIRE(!messages.empty());
    REQUIRE(messages.front().has_snapshot());
    CHECK(messages.front().snapshot().last());
    CHECK(messages.front().snapshot().alarms_size() == 0);
  }
  const auto jn = jinan.Events();
  INFO(Describe(jn));
  REQUIRE(jn.size() == 2);
  CHECK(jn[0].kind() == v1::ALARM_EVENT_KIND_RAISED);
  CHECK(jn[1].kind() == v1::ALARM_EVENT_KIND_CLEARED);
  CHECK(jn[1].alarm().state() == v1::ALARM_STATE_CLEARED_UNACKED);
  CHECK(jn[0].alarm().alarm_id() == jn[1].alarm().alarm_id());
  CHECK(jn[0].alarm().region_code() == "370105");
  CHECK(jn[0].alarm().threshold() == 50);
  CHECK(jn[0].alarm().trigger_value() == 60);
  CHECK(Sensors(hebei.Events()) == std::vector<std::string>{"t-hb"});
  const auto sd = shandong.Events();
  INFO(Describe(sd));
  CHECK(Sensors(sd) == std::vector<std::string>{"t-jn", "ch4-qd", "t-jn", "ch4-qd"});
  for (size_t i = 1; i < sd.size(); ++i) CHECK(sd[i].seq() > sd[i - 1].seq());
  // Severity filter: the methane alarm matched once it reached red.
  const auto red = shandong_red.Events();
  REQUIRE(red.size() == 1);
  CHECK(red[0].kind() == v1::ALARM_EVENT_KIND_ESCALATED);
  CHECK(red[0].alarm().severity() == 1);

  SECTION("a center that connects later gets the open alarms as its snapshot") {
    Watch late(server.vigild.alarms(), kShandong);
    REQUIRE(late.WaitFor([&](const auto&) {
      const auto m = late.Messages();
      return !m.empty() && m.front().has_snapshot();
    }));
    const v1::AlarmSnapshot snapshot = late.Messages().front().snapshot();
    CHECK(snapshot.seq() == sd.back().seq());
    std::set<std::string> open;
    for (const auto& a : snapshot.alarms()) open.insert(a.sensor_id());
    // t-jn is cleared but unacknowledged: still open.
    CHECK(open == std::set<std::string>{"t-jn", "ch4-qd"});
  }
  SECTION("ListActive agrees, and a county may not ask for the province") {
    grpc::ClientContext context;
    Authorize(&context, kJinan);
    v1::ListActiveRequest request;
    v1::ListActiveResponse response;
    REQUIRE(server.vigild.alarms().ListActive(&context, request, &response).ok());
    REQUIRE(response.alarms_size() == 1);
    CHECK(response.alarms(0).sensor_id() == "t-jn");
    grpc::ClientContext wider;
    Authorize(&wider, kJinan);
    request.mutable_filter()->set_region_prefix("37");
    CHECK(server.vigild.alarms().ListActive(&wider, request, &response).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
}

// Raises one alarm on t-jn and returns its id.
uint64_t RaiseJinan(Server& server) {
  Watch watch(server.vigild.alarms(), kNational, {}, /*after=*/0);
  server.Send("gw-jn", "t-jn", 60);
  REQUIRE(watch.WaitForEvents(1));
  return watch.Events().front().alarm().alarm_id();
}

grpc::Status Acknowledge(Server& server, const char* token, uint64_t alarm_id,
                         v1::AlarmActionResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  Authorize(&context, token);
  v1::AcknowledgeRequest request;
  request.set_alarm_id(alarm_id);
  request.set_operator_id("zhang.san");
  request.set_comment("crew on the way");
  return server.vigild.alarms().Acknowledge(&context, request, response);
}

TEST_CASE("Acknowledging is for operators of the alarm's region, and is journaled with who",
          "[e2e][alarms]") {
  Server server;
  server.vigild.Start();
  const uint64_t id = RaiseJinan(server);
  v1::AlarmActionResponse response;
  CHECK(Acknowledge(server, kHebei, id, &response).error_code() ==
        grpc::StatusCode::NOT_FOUND);  // another region's: as if it did not exist
  CHECK(Acknowledge(server, kShandong, id, &response).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);  // a viewer
  CHECK(Acknowledge(server, nullptr, id, &response).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  CHECK(Acknowledge(server, "not-a-token", id, &response).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  CHECK(Acknowledge(server, kJinan, id + 1000, &response).error_code() ==
        grpc::StatusCode::NOT_FOUND);

  grpc::Status ok = Acknowledge(server, kJinan, id, &response);
  INFO(ok.error_message());
  REQUIRE(ok.ok());
  CHECK(response.event().kind() == v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
  // The journal names the authenticated token, not the name the request typed.
  CHECK(response.event().actor() == "jinan-lixia");
  CHECK(response.event().comment() == "by zhang.san: crew on the way");
  CHECK(response.event().alarm().state() == v1::ALARM_STATE_ACTIVE_ACKED);
  // Acknowledged again: nothing changes, no event.
  v1::AlarmActionResponse again;
  REQUIRE(Acknowledge(server, kJinan, id, &again).ok());
  CHECK_FALSE(again.has_event());

  server.Send("gw-jn", "t-jn", 20);  // cleared while acked: closed
  grpc::ClientContext context;
  Authorize(&context, kJinan);
  v1::GetAlarmRequest get;
  get.set_alarm_id(id);
  v1::GetAlarmResponse alarm;
  bool closed = false;
  for (int i = 0; i < 200 && !closed; ++i) {
    grpc::ClientContext c;
    Authorize(&c, kJinan);
    REQUIRE(server.vigild.alarms().GetAlarm(&c, get, &alarm).ok());
    closed = alarm.alarm().state() == v1::ALARM_STATE_CLOSED;
    if (!closed) std::this_thread::sleep_for(10ms);
  }
  REQUIRE(closed);
  REQUIRE(alarm.history_size() == 3);
  CHECK(alarm.history(0).kind() == v1::ALARM_EVENT_KIND_RAISED);
  CHECK(alarm.history(1).kind() == v1::ALARM_EVENT_KIND_ACKNOWLEDGED);
  CHECK(alarm.history(1).actor() == "jinan-lixia");
  CHECK(alarm.history(1).comment() == "by zhang.san: crew on the way");
  CHECK(alarm.history(2).kind() == v1::ALARM_EVENT_KIND_CLEARED);
  grpc::ClientContext foreign;
  Authorize(&foreign, kHebei);
  CHECK(server.vigild.alarms().GetAlarm(&foreign, get, &alarm).error_code() ==
        grpc::StatusCode::NOT_FOUND);  // another region's: as if it did not exist
  CHECK(Acknowledge(server, kJinan, id, &response).error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("A shelved alarm unshelves itself when its time is up", "[e2e][alarms]") {
  Server server;
  server.vigild.Start();
  const uint64_t id = RaiseJinan(server);
  Watch watch(server.vigild.alarms(), kJinan, {}, /*after=*/id);
  grpc::ClientContext context;
  SetDeadline(&context);
  Authorize(&context, kJinan);
  v1::ShelveRequest request;
  request.set_alarm_id(id);
  request.set_operator_id("li.si");
  request.set_reason("sensor recalibration");
  request.set_duration_ms(1500);
  v1::AlarmActionResponse response;
  grpc::Status s = server.vigild.alarms().Shelve(&context, request, &response);
  INFO(s.error_message());
  REQUIRE(s.ok());
  CHECK(response.event().kind() == v1::ALARM_EVENT_KIND_SHELVED);
  const int64_t until = response.event().alarm().shelved_until_ms();
  CHECK(until == response.event().at_ms() + 1500);
  REQUIRE(watch.WaitForEvents(2, 10s));
  const auto events = watch.Events();
  INFO(Describe(events));
  CHECK(events[0].kind() == v1::ALARM_EVENT_KIND_SHELVED);
  CHECK(events[1].kind() == v1::ALARM_EVENT_KIND_UNSHELVED);
  CHECK(events[1].actor().empty());
  CHECK(events[1].alarm().shelved_until_ms() == 0);
  CHECK(events[1].at_ms() >= until);
  CHECK(events[1].at_ms() < until + 3000);  // ticks run every second

  grpc::ClientContext too_long;
  Authorize(&too_long, kJinan);
  request.set_duration_ms(int64_t{9} * 3600 * 1000);  // over alarms.max_shelve (8h)
  CHECK(server.vigild.alarms().Shelve(&too_long, request, &response).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
}

// Checks that `events` are every journal entry from `first` on, in order,
// once each.
void CheckContiguous(const std::vector<v1::AlarmEvent>& events, uint64_t first) {
  INFO(Describe(events));
  for (size_t i = 0; i < events.size(); ++i) REQUIRE(events[i].seq() == first + i);
}

TEST_CASE(
    "A subscriber that disconnects, and one across kill -9, resume with no gap and no "
    "duplicate",
    "[e2e][alarms][crash]") {
  Server server;
  server.vigild.Start();
  std::vector<v1::AlarmEvent> received;
  uint64_t cursor = 0;
  {
    Watch first(server.vigild.alarms(), kNational, {}, 0);
    for (int i = 0; i < 10; ++i) server.Send("gw-jn", "t-jn", i % 2 == 0 ? 60 : 40);
    REQUIRE(first.WaitForEvents(4));
    first.Stop();  // mid-stream
    received = first.Events();
    cursor = first.Cursor();
  }
  for (int i = 10; i < 20; ++i) server.Send("gw-jn", "t-jn", i % 2 == 0 ? 60 : 40);
  {
    Watch second(server.vigild.alarms(), kNational, {}, cursor);
    REQUIRE(
        second.WaitFor([&](const auto& events) { return received.size() + events.size() >= 20; }));
    for (const auto& e : second.Events()) received.push_back(e);
    cursor = std::max(cursor, second.Cursor());
    // Ingest goes on while the server dies under a live subscriber.
    for (int i = 20; i < 26; ++i) server.Send("gw-jn", "t-jn", i % 2 == 0 ? 60 : 40);
    server.vigild.Kill9();
    second.Stop();
    for (const auto& e : second.Events()) {
      if (e.seq() > cursor) received.push_back(e);
    }
    cursor = std::max(cursor, second.Cursor());
  }
  server.vigild.Restart();
  for (int i = 26; i < 30; ++i) server.Send("gw-jn", "t-jn", i % 2 == 0 ? 60 : 40);
  Watch third(server.vigild.alarms(), kNational, {}, cursor);
  // 30 readings alternate above and below 50: one transition each.
  REQUIRE(third.WaitFor([&](const auto& events) { return received.size() + events.size() >= 30; }));
  std::this_thread::sleep_for(300ms);
  for (const auto& e : third.Events()) received.push_back(e);
  CheckContiguous(received, 1);
  CHECK(received.size() == 30);
  for (size_t i = 0; i < received.size(); ++i) {
    CHECK(received[i].kind() ==
          (i % 2 == 0 ? v1::ALARM_EVENT_KIND_RAISED : v1::ALARM_EVENT_KIND_CLEARED));
  }
}

TEST_CASE("kill -9 in the middle of an on-delay: raised once, at the right time, after restart",
          "[e2e][alarms][crash]") {
  Server server;
  server.vigild.Start();
  const int64_t sent_at = NowMs();
  server.Send("gw-jn", "p-jn", 12, sent_at);  // above H; on_delay 4 s
  std::this_thread::sleep_for(1s);
  {
    grpc::ClientContext context;
    Authorize(&context, kNational);
    v1::ListActiveResponse list;
    REQUIRE(server.vigild.alarms().ListActive(&context, {}, &list).ok());
    REQUIRE(list.alarms_size() == 0);  // still pending
  }
  server.vigild.Kill9();
  server.vigild.Restart();
  Watch watch(server.vigild.alarms(), kNational, {}, 0);
  REQUIRE(watch.WaitForEvents(1, 10s));
  std::this_thread::sleep_for(1500ms);  // a second raise would show up by now
  auto events = watch.Events();
  INFO(Describe(events));
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind() == v1::ALARM_EVENT_KIND_RAISED);
  CHECK(events[0].alarm().sensor_id() == "p-jn");
  CHECK(events[0].alarm().trigger_reading_at_ms() == sent_at);
  // Due 4 s after the reading; ticks are a second apart.
  CHECK(events[0].at_ms() >= sent_at + 4000);
  CHECK(events[0].at_ms() <= sent_at + 4000 + 2500);
  watch.Stop();

  // And a clean restart raises nothing again.
  REQUIRE(server.vigild.Terminate().ExitedWith(0));
  server.vigild.Restart();
  Watch after(server.vigild.alarms(), kNational, {}, 0);
  REQUIRE(after.WaitFor([](const auto&) { return false; }, 1500ms) == false);
  CHECK(after.Events().size() == 1);
  CHECK(after.Events()[0].seq() == events[0].seq());
}

TEST_CASE("A subscriber that stops reading does not slow ingest and catches up from the journal",
          "[e2e][alarms]") {
  Server server("  memory_events: 16\n");  // under the alarms: section of Make()
  server.vigild.Start();
  // A raw stream nobody reads for a while.
  grpc::ClientContext context;
  SetDeadline(&context, 60s);
  Authorize(&context, kNational);
  v1::SubscribeRequest request;
  request.set_after_seq(0);
  auto reader = server.vigild.alarms().Subscribe(&context, request);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 400; ++i) server.Send("gw-jn", "t-jn", i % 2 == 0 ? 60 : 40);
  const auto ingest_time = std::chrono::steady_clock::now() - start;
  CHECK(ingest_time < 30s);  // a bound, not a benchmark: every batch acked meanwhile
  std::this_thread::sleep_for(500ms);
  std::vector<v1::AlarmEvent> events;
  v1::AlarmStreamMessage message;
  while (events.size() < 400 && reader->Read(&message)) {
    if (message.has_event()) events.push_back(message.event());
  }
  context.TryCancel();
  reader->Finish().ok();
  INFO(server.vigild.Output().substr(0, 3000));
  CheckContiguous(events, 1);
  CHECK(events.size() == 400);
}

TEST_CASE("A subscriber behind many events of other regions gets its own without waiting",
          "[e2e][alarms]") {
  // No heartbeat within the wait below: only the stream's own scan of the
  // feed, or a later publish, could deliver the Jinan alarm.
  Server server("", "60s");
  server.vigild.Start();
  Watch national(server.vigild.alarms(), kNational, {}, /*after=*/0);
  // 1,000 Hebei transitions (well over two scans of the feed), then Jinan's.
  std::vector<double> hebei;
  hebei.reserve(1000);
  for (int i = 0; i < 1000; ++i) hebei.push_back(i % 2 == 0 ? 70 : 40);
  server.SendSeries("gw-hb", "t-hb", hebei, NowMs() - 10'000);
  server.Send("gw-jn", "t-jn", 60);
  REQUIRE(national.WaitForEvents(1001));

  Watch jinan(server.vigild.alarms(), kJinan, {}, /*after=*/0);
  INFO(Describe(jinan.Events()));
  REQUIRE(jinan.WaitForEvents(1, 5s));
  const auto events = jinan.Events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].alarm().sensor_id() == "t-jn");
  CHECK(events[0].seq() == national.Events().back().seq());
}

}  // namespace
}  // namespace vigil::e2e
