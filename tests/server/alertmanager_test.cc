#include "server/ops/alertmanager.h"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <catch2/catch.hpp>
#include <sstream>

#include "server/config/http_url.h"

namespace vigil::server {
namespace {

using alarm::AlarmKind;
using alarm::AlarmState;
using alarm::EventKind;
using alarm::JournalEntry;
using alarm::Severity;
using alarm::TimestampMs;

constexpr TimestampMs kT0 = 1'717'243'200'000;  // 2024-06-01T12:00:00Z

JournalEntry Entry(uint64_t seq, EventKind kind, AlarmState state, Severity severity,
                   TimestampMs at) {
  JournalEntry e;
  e.seq = seq;
  e.alarm_id = 7;
  e.enterprise_id = "e-1";
  e.region_code = "370105";
  e.enterprise_kind = alarm::EnterpriseKind::kHazardousChemical;
  e.event.kind = kind;
  e.event.at = at;
  e.event.value = 61.5;
  e.event.record.source_id = "s-1";
  e.event.record.rule_id = "tank-temperature";
  e.event.record.alarm = AlarmKind::kThreshold;
  e.event.record.state = state;
  e.event.record.severity = severity;
  e.event.record.level = alarm::Level::kH;
  e.event.record.threshold = 50;
  e.event.record.raised_at = kT0;
  return e;
}

std::string LabelOf(const Alert& alert, const std::string& name) {
  for (const auto& [k, v] : alert.labels) {
    if (k == name) return v;
  }
  return "<none>";
}

boost::property_tree::ptree ParseJson(const std::string& text) {
  std::istringstream in(text);
  boost::property_tree::ptree tree;
  boost::property_tree::read_json(in, tree);
  return tree;
}

TEST_CASE("An active alarm becomes an alert with its labels and annotations",
          "[server][alertmanager]") {
  const auto alert =
      AlertFor(Entry(1, EventKind::kRaised, AlarmState::kActiveUnacked, Severity::kOrange, kT0));
  REQUIRE(alert.has_value());
  CHECK(LabelOf(*alert, "alertname") == "VigilAlarm");
  CHECK(LabelOf(*alert, "alarm") == "threshold");
  CHECK(LabelOf(*alert, "severity") == "2");
  CHECK(LabelOf(*alert, "severity_name") == "orange");
  CHECK(LabelOf(*alert, "region") == "370105");
  CHECK(LabelOf(*alert, "province") == "37");
  CHECK(LabelOf(*alert, "enterprise") == "e-1");
  CHECK(LabelOf(*alert, "enterprise_kind") == "hazardous_chemical");
  CHECK(LabelOf(*alert, "sensor") == "s-1");
  CHECK(LabelOf(*alert, "gateway") == "<none>");
  CHECK(LabelOf(*alert, "rule") == "tank-temperature");
  CHECK(std::is_sorted(alert->labels.begin(), alert->labels.end()));
  CHECK(alert->starts_at == kT0);

  const std::string json = EncodeAlerts({*alert}, kT0 + 1000, std::chrono::minutes(4));
  const auto tree = ParseJson(json);
  REQUIRE(tree.size() == 1);
  const auto& a = tree.begin()->second;
  CHECK(a.get<std::string>("labels.alertname") == "VigilAlarm");
  CHECK(a.get<std::string>("annotations.value") == "61.5");
  CHECK(a.get<std::string>("annotations.threshold") == "50");
  CHECK(a.get<std::string>("annotations.alarm_id") == "7");
  CHECK(a.get<std::string>("annotations.state") == "active_unacked");
  CHECK(a.get<std::string>("annotations.level") == "H");
  CHECK(a.get<std::string>("startsAt") == "2024-06-01T12:00:00.000Z");
  CHECK(a.get<std::string>("endsAt") == "2024-06-01T12:04:01.000Z");  // firing: now + ttl

  SECTION("a gateway alarm names the gateway, with no rule") {
    JournalEntry e = Entry(1, EventKind::kRaised, AlarmState::kActiveUnacked, Severity::kRed, kT0);
    e.event.record.alarm = AlarmKind::kGatewayOffline;
    e.event.record.source_id = "gw-1";
    e.event.record.rule_id.clear();
    const auto gw = AlertFor(e);
    REQUIRE(gw.has_value());
    CHECK(LabelOf(*gw, "gateway") == "gw-1");
    CHECK(LabelOf(*gw, "sensor") == "<none>");
    CHECK(LabelOf(*gw, "rule") == "<none>");
    CHECK(LabelOf(*gw, "severity_name") == "red");
  }
  SECTION("generatorURL: alertmanager.generator_url with the alarm id") {
    const auto linked =
        AlertFor(Entry(1, EventKind::kRaised, AlarmState::kActiveUnacked, Severity::kOrange, kT0),
                 "https://console.example/alarms/{alarm_id}?from={alarm_id}");
    REQUIRE(linked.has_value());
    CHECK(linked->generator_url == "https://console.example/alarms/7?from=7");
    const auto encoded = ParseJson(EncodeAlerts({*linked}, kT0, std::chrono::minutes(4)));
    CHECK(encoded.begin()->second.get<std::string>("generatorURL") ==
          "https://console.example/alarms/7?from=7");
    // Unset: none sent.
    CHECK(a.count("generatorURL") == 0);
  }
  SECTION("no data and gateway offline carry no value annotation (no reading raised them)") {
    for (AlarmKind kind : {AlarmKind::kNoData, AlarmKind::kGatewayOffline}) {
      JournalEntry e =
          Entry(1, EventKind::kRaised, AlarmState::kActiveUnacked, Severity::kYellow, kT0);
      e.event.record.alarm = kind;
      e.event.value = 0;
      e.event.reading_at = INT64_MIN;
      const auto no_value = AlertFor(e);
      REQUIRE(no_value.has_value());
      for (const auto& [name, value] : no_value->annotations) CHECK(name != "value");
    }
  }
  SECTION("cleared, closed and shelved alarms do not fire") {
    CHECK_FALSE(
        AlertFor(Entry(2, EventKind::kCleared, AlarmState::kClearedUnacked, Severity::kOrange, kT0))
            .has_value());
    CHECK_FALSE(AlertFor(Entry(2, EventKind::kCleared, AlarmState::kClosed, Severity::kOrange, kT0))
                    .has_value());
    JournalEntry shelved =
        Entry(2, EventKind::kShelved, AlarmState::kActiveAcked, Severity::kOrange, kT0);
    shelved.event.record.shelved_until = kT0 + 3'600'000;
    CHECK_FALSE(AlertFor(shelved).has_value());
  }
}

TEST_CASE("AlertBook fires, resends, re-labels on escalation and resolves",
          "[server][alertmanager]") {
  AlertBook book;
  book.Reset({}, kT0);
  CHECK(book.Take(true).empty());

  book.Apply(Entry(1, EventKind::kRaised, AlarmState::kActiveUnacked, Severity::kOrange, kT0));
  std::vector<Alert> sent = book.Take(false);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].ends_at == 0);
  CHECK(book.firing() == 1);
  CHECK(book.Take(false).empty());     // nothing changed
  CHECK(book.Take(true).size() == 1);  // the resend

  // Acknowledged: same labels, new state annotation.
  book.Apply(
      Entry(2, EventKind::kAcknowledged, AlarmState::kActiveAcked, Severity::kOrange, kT0 + 1000));
  sent = book.Take(false);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].annotations[2] == std::pair<std::string, std::string>("state", "active_acked"));

  // Escalated to red: the orange alert resolves, a red one fires.
  book.Apply(Entry(3, EventKind::kEscalated, AlarmState::kActiveAcked, Severity::kRed, kT0 + 2000));
  sent = book.Take(false);
  REQUIRE(sent.size() == 2);
  std::sort(sent.begin(), sent.end(), [](const Alert& a, const Alert& b) {
    return LabelOf(a, "severity") < LabelOf(b, "severity");
  });
  CHECK(LabelOf(sent[0], "severity") == "1");
  CHECK(sent[0].ends_at == 0);
  CHECK(LabelOf(sent[1], "severity") == "2");
  CHECK(sent[1].ends_at == kT0 + 2000);

  SECTION("cleared: resolved at the clear, retried after a failed POST") {
    book.Apply(Entry(4, EventKind::kCleared, AlarmState::kClosed, Severity::kRed, kT0 + 3000));
    sent = book.Take(false);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].ends_at == kT0 + 3000);
    CHECK(book.firing() == 0);
    book.Retry(sent);
    const std::vector<Alert> again = book.Take(true);
    REQUIRE(again.size() == 1);
    CHECK(again[0] == sent[0]);
    const auto tree = ParseJson(EncodeAlerts(again, kT0 + 9000, std::chrono::minutes(4)));
    CHECK(tree.begin()->second.get<std::string>("endsAt") == "2024-06-01T12:00:03.000Z");
  }
  SECTION("a reset without the alarm resolves it at the reset") {
    book.Reset({}, kT0 + 5000);
    sent = book.Take(false);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].ends_at == kT0 + 5000);
  }
  SECTION("shelved, then unshelved: resolved, then firing again with the same labels") {
    JournalEntry shelved =
        Entry(4, EventKind::kShelved, AlarmState::kActiveAcked, Severity::kRed, kT0 + 3000);
    shelved.event.record.shelved_until = kT0 + 60'000;
    book.Apply(shelved);
    JournalEntry unshelved =
        Entry(5, EventKind::kUnshelved, AlarmState::kActiveAcked, Severity::kRed, kT0 + 4000);
    book.Apply(unshelved);
    sent = book.Take(false);
    REQUIRE(sent.size() == 1);  // the later version of the same labels wins
    CHECK(sent[0].ends_at == 0);
  }
}

TEST_CASE("ParseHttpUrl takes http[s]://host:port/path only", "[server][alertmanager]") {
  auto url = ParseHttpUrl("http://127.0.0.1:9093");
  REQUIRE(url.has_value());
  CHECK(*url == HttpUrl{"127.0.0.1", "9093", ""});
  url = ParseHttpUrl("http://alertmanager.monitoring.svc/am/");
  REQUIRE(url.has_value());
  CHECK(*url == HttpUrl{"alertmanager.monitoring.svc", "80", "/am"});
  url = ParseHttpUrl("http://[::1]:9093");
  REQUIRE(url.has_value());
  CHECK(*url == HttpUrl{"::1", "9093", ""});
  url = ParseHttpUrl("https://am.example:9443/am");
  REQUIRE(url.has_value());
  CHECK(*url == HttpUrl{"am.example", "9443", "/am", true});
  url = ParseHttpUrl("https://am.example");
  REQUIRE(url.has_value());
  CHECK(*url == HttpUrl{"am.example", "443", "", true});
  for (const char* bad :
       {"ftp://am:9093", "am:9093", "https://:9443", "http://:9093", "http://am:0",
        "http://am:99999", "http://am:x", "http://am:9093/?a=b", "http://user@am:9093"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseHttpUrl(bad).has_value());
  }
}

}  // namespace
}  // namespace vigil::server
