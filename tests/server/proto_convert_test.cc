#include "server/api/proto_convert.h"

#include <catch2/catch.hpp>
#include <cstdint>

namespace vigil::server {
namespace {

using alarm::AlarmKind;

alarm::JournalEntry Entry(AlarmKind kind, double value, alarm::TimestampMs reading_at) {
  alarm::JournalEntry e;
  e.seq = 3;
  e.alarm_id = 3;
  e.event.kind = alarm::EventKind::kRaised;
  e.event.value = value;
  e.event.reading_at = reading_at;
  e.event.at = 1'717'243'200'000;
  e.event.record.alarm = kind;
  e.event.record.source_id = kind == AlarmKind::kGatewayOffline ? "gw-1" : "s-1";
  e.event.record.trigger_value = value;
  e.event.record.trigger_reading_at = reading_at;
  return e;
}

TEST_CASE("An alarm no reading raised carries no trigger value or reading time",
          "[server][proto_convert]") {
  SECTION("a sensor silent since start: the engine's unset time is left out, not INT64_MIN") {
    v1::AlarmEvent proto;
    AlarmEventToProto(Entry(AlarmKind::kNoData, 0, INT64_MIN), &proto);
    CHECK_FALSE(proto.has_value());
    CHECK_FALSE(proto.has_reading_at_ms());
    CHECK_FALSE(proto.alarm().has_trigger_value());
    CHECK_FALSE(proto.alarm().has_trigger_reading_at_ms());
  }
  SECTION("a gateway offline has no reading") {
    v1::AlarmEvent proto;
    AlarmEventToProto(Entry(AlarmKind::kGatewayOffline, 0, 1'717'243'000'000), &proto);
    CHECK_FALSE(proto.has_value());
    CHECK_FALSE(proto.alarm().has_trigger_value());
  }
  SECTION("a threshold alarm has its reading, even a value of 0 at time 0") {
    v1::AlarmEvent proto;
    AlarmEventToProto(Entry(AlarmKind::kThreshold, 0, 0), &proto);
    REQUIRE(proto.has_value());
    CHECK(proto.value() == 0);
    CHECK(proto.has_reading_at_ms());
    CHECK(proto.alarm().has_trigger_value());
    CHECK(proto.alarm().has_trigger_reading_at_ms());
  }
  SECTION("no data after readings: the last reading before the silence") {
    v1::AlarmEvent proto;
    AlarmEventToProto(Entry(AlarmKind::kNoData, 4.5, 1'717'243'100'000), &proto);
    CHECK(proto.alarm().trigger_value() == 4.5);
    CHECK(proto.alarm().trigger_reading_at_ms() == 1'717'243'100'000);
  }
}

}  // namespace
}  // namespace vigil::server
