#include "server/api/proto_convert.h"

namespace vigil::server {
namespace {

alarm::EnterpriseKind KindFromProto(v1::EnterpriseKind kind) {
  switch (kind) {
    case v1::ENTERPRISE_KIND_HAZARDOUS_CHEMICAL:
      return alarm::EnterpriseKind::kHazardousChemical;
    case v1::ENTERPRISE_KIND_COAL_MINE:
      return alarm::EnterpriseKind::kCoalMine;
    case v1::ENTERPRISE_KIND_TAILINGS:
      return alarm::EnterpriseKind::kTailings;
    case v1::ENTERPRISE_KIND_OTHER:
      return alarm::EnterpriseKind::kOther;
    default:
      return alarm::EnterpriseKind::kUnspecified;
  }
}

v1::EnterpriseKind KindToProto(alarm::EnterpriseKind kind) {
  switch (kind) {
    case alarm::EnterpriseKind::kHazardousChemical:
      return v1::ENTERPRISE_KIND_HAZARDOUS_CHEMICAL;
    case alarm::EnterpriseKind::kCoalMine:
      return v1::ENTERPRISE_KIND_COAL_MINE;
    case alarm::EnterpriseKind::kTailings:
      return v1::ENTERPRISE_KIND_TAILINGS;
    case alarm::EnterpriseKind::kOther:
      return v1::ENTERPRISE_KIND_OTHER;
    case alarm::EnterpriseKind::kUnspecified:
      break;
  }
  return v1::ENTERPRISE_KIND_UNSPECIFIED;
}

}  // namespace

alarm::Result<alarm::RegistryEntries> RegistryFromProto(const v1::Registry& proto) {
  alarm::RegistryEntries entries;
  entries.enterprises.reserve(static_cast<size_t>(proto.enterprises_size()));
  for (const v1::Enterprise& e : proto.enterprises()) {
    entries.enterprises.push_back(alarm::Enterprise{.id = e.id(),
                                                    .name = e.name(),
                                                    .kind = KindFromProto(e.kind()),
                                                    .region_code = e.region_code()});
  }
  entries.sensors.reserve(static_cast<size_t>(proto.sensors_size()));
  for (const v1::Sensor& s : proto.sensors()) {
    entries.sensors.push_back(
        alarm::Sensor{.id = s.id(),
                      .enterprise_id = s.enterprise_id(),
                      .quantity = s.quantity(),
                      .unit = s.unit(),
                      .range_low = s.range_low(),
                      .range_high = s.range_high(),
                      .expected_interval = std::chrono::milliseconds(s.expected_interval_ms())});
  }
  entries.gateways.reserve(static_cast<size_t>(proto.gateways_size()));
  for (const v1::Gateway& g : proto.gateways()) {
    entries.gateways.push_back(alarm::Gateway{.id = g.id(), .enterprise_id = g.enterprise_id()});
  }
  return entries;
}

void RegistryToProto(const alarm::RegistryEntries& entries, v1::Registry* proto) {
  proto->Clear();
  for (const alarm::Enterprise& e : entries.enterprises) {
    v1::Enterprise* out = proto->add_enterprises();
    out->set_id(e.id);
    out->set_name(e.name);
    out->set_kind(KindToProto(e.kind));
    out->set_region_code(e.region_code);
  }
  for (const alarm::Sensor& s : entries.sensors) {
    v1::Sensor* out = proto->add_sensors();
    out->set_id(s.id);
    out->set_enterprise_id(s.enterprise_id);
    out->set_quantity(s.quantity);
    out->set_unit(s.unit);
    out->set_range_low(s.range_low);
    out->set_range_high(s.range_high);
    out->set_expected_interval_ms(static_cast<uint32_t>(s.expected_interval.count()));
  }
  for (const alarm::Gateway& g : entries.gateways) {
    v1::Gateway* out = proto->add_gateways();
    out->set_id(g.id);
    out->set_enterprise_id(g.enterprise_id);
  }
}

alarm::Result<alarm::RegistryChange> RegistryChangeFromProto(const v1::ApplyRegistryRequest& req) {
  auto upsert = RegistryFromProto(req.upsert());
  if (!upsert) return upsert.error();
  alarm::RegistryChange change;
  change.upsert = std::move(*upsert);
  change.remove_enterprise_ids.assign(req.remove_enterprise_ids().begin(),
                                      req.remove_enterprise_ids().end());
  change.remove_sensor_ids.assign(req.remove_sensor_ids().begin(), req.remove_sensor_ids().end());
  change.remove_gateway_ids.assign(req.remove_gateway_ids().begin(),
                                   req.remove_gateway_ids().end());
  return change;
}

void RegistryChangeToProto(const alarm::RegistryChange& change, v1::ApplyRegistryRequest* req) {
  RegistryToProto(change.upsert, req->mutable_upsert());
  for (const std::string& id : change.remove_enterprise_ids) req->add_remove_enterprise_ids(id);
  for (const std::string& id : change.remove_sensor_ids) req->add_remove_sensor_ids(id);
  for (const std::string& id : change.remove_gateway_ids) req->add_remove_gateway_ids(id);
}

v1::RejectReason RejectReasonToProto(alarm::RejectReason reason) {
  // The enums share their numbers by design.
  return static_cast<v1::RejectReason>(static_cast<int>(reason));
}

void AlarmToProto(const alarm::JournalEntry& entry, v1::Alarm* proto,
                  const alarm::Registry* registry) {
  const alarm::ActiveAlarm& a = entry.event.record;
  proto->set_alarm_id(entry.alarm_id);
  proto->set_kind(static_cast<v1::AlarmKind>(a.alarm));
  proto->set_state(static_cast<v1::AlarmState>(a.state));
  proto->set_severity(static_cast<uint32_t>(a.severity));
  proto->set_peak_severity(static_cast<uint32_t>(entry.peak_severity));
  switch (a.level) {
    case alarm::Level::kLL:
      proto->set_level(v1::ALARM_LEVEL_LL);
      break;
    case alarm::Level::kL:
      proto->set_level(v1::ALARM_LEVEL_L);
      break;
    case alarm::Level::kH:
      proto->set_level(v1::ALARM_LEVEL_H);
      break;
    case alarm::Level::kHH:
      proto->set_level(v1::ALARM_LEVEL_HH);
      break;
    case alarm::Level::kNone:
      proto->set_level(v1::ALARM_LEVEL_NONE);
      break;
  }
  if (a.alarm == alarm::AlarmKind::kGatewayOffline) {
    proto->set_gateway_id(a.source_id);
  } else if (a.alarm != alarm::AlarmKind::kPlannedWork) {  // its source is its enterprise
    proto->set_sensor_id(a.source_id);
  }
  proto->set_enterprise_id(entry.enterprise_id);
  proto->set_region_code(entry.region_code);
  proto->set_enterprise_kind(KindToProto(entry.enterprise_kind));
  proto->set_rule_id(a.rule_id);
  proto->set_threshold(a.threshold);
  if (alarm::HasReading(a.alarm, a.trigger_reading_at)) {
    proto->set_trigger_value(a.trigger_value);
    proto->set_trigger_reading_at_ms(a.trigger_reading_at);
  }
  proto->set_peak_value(a.peak_value);
  proto->set_raised_at_ms(a.raised_at);
  proto->set_changed_at_ms(a.changed_at);
  proto->set_shelved_until_ms(a.shelved_until);
  proto->set_planned_work_id(a.planned_work);
  if (registry == nullptr) return;
  if (const alarm::Enterprise* e = registry->FindEnterprise(entry.enterprise_id)) {
    proto->set_enterprise_name(e->name);
  }
  if (a.alarm == alarm::AlarmKind::kGatewayOffline || a.alarm == alarm::AlarmKind::kPlannedWork) {
    return;
  }
  if (const alarm::Sensor* s = registry->FindSensor(a.source_id)) {
    proto->set_sensor_quantity(s->quantity);
    proto->set_sensor_unit(s->unit);
  }
}

void AlarmEventToProto(const alarm::JournalEntry& entry, v1::AlarmEvent* proto,
                       const alarm::Registry* registry) {
  proto->set_seq(entry.seq);
  proto->set_kind(static_cast<v1::AlarmEventKind>(entry.event.kind));
  AlarmToProto(entry, proto->mutable_alarm(), registry);
  if (alarm::HasReading(entry.event.record.alarm, entry.event.reading_at)) {
    proto->set_value(entry.event.value);
    proto->set_reading_at_ms(entry.event.reading_at);
  }
  proto->set_at_ms(entry.event.at);
  proto->set_actor(entry.event.actor);
  proto->set_comment(entry.event.comment);
}

void PlannedWorkToProto(const alarm::PlannedWork& work, v1::PlannedWork* proto) {
  proto->set_id(work.id);
  proto->set_enterprise_id(work.enterprise_id);
  for (const std::string& id : work.sensor_ids) proto->add_sensor_ids(id);
  proto->set_reason(work.reason);
  proto->set_owner(work.owner);
  proto->set_start_ms(work.start);
  proto->set_end_ms(work.end);
  proto->set_opened_by(work.opened_by);
}

alarm::Result<alarm::AlarmFilter> AlarmFilterFromProto(const v1::AlarmFilter& proto) {
  alarm::AlarmFilter filter;
  if (!alarm::IsRegionPrefix(proto.region_prefix())) {
    return alarm::Status::InvalidArgument("filter.region_prefix must be 0..6 digits, got '" +
                                          alarm::Echo(proto.region_prefix()) + "'");
  }
  filter.region_prefix = proto.region_prefix();
  if (proto.min_severity() > 4) {
    return alarm::Status::InvalidArgument("filter.min_severity must be 0..4 (1 red .. 4 blue)");
  }
  filter.min_severity = proto.min_severity() == 0
                            ? alarm::Severity::kBlue
                            : static_cast<alarm::Severity>(proto.min_severity());
  filter.enterprise_ids.assign(proto.enterprise_ids().begin(), proto.enterprise_ids().end());
  for (int kind : proto.enterprise_kinds()) {
    const alarm::EnterpriseKind k = KindFromProto(static_cast<v1::EnterpriseKind>(kind));
    if (k == alarm::EnterpriseKind::kUnspecified) {
      return alarm::Status::InvalidArgument("filter.enterprise_kinds: unknown kind " +
                                            std::to_string(kind));
    }
    filter.enterprise_kinds.push_back(k);
  }
  for (int kind : proto.alarm_kinds()) {
    if (kind < 1 || kind > alarm::kMaxAlarmKind) {
      return alarm::Status::InvalidArgument("filter.alarm_kinds: unknown kind " +
                                            std::to_string(kind));
    }
    filter.alarm_kinds.push_back(static_cast<alarm::AlarmKind>(kind));
  }
  filter.include_planned = proto.include_planned();
  return filter;
}

}  // namespace vigil::server
