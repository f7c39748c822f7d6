// Conversions between the public API (vigil.v1 protobuf) and domain types:
// the one place that sees both. Pure functions; thread-safe.
#pragma once

#include "alarm/engine.h"
#include "alarm/journal.h"
#include "alarm/registry.h"
#include "alarm/status.h"
#include "alarm/validation.h"
#include "vigil/v1/alarms.pb.h"
#include "vigil/v1/ingest.pb.h"
#include "vigil/v1/planned_work.pb.h"
#include "vigil/v1/registry.pb.h"

namespace vigil::server {

// Errors (kInvalidArgument) for an unknown enterprise kind or a negative interval.
alarm::Result<alarm::RegistryEntries> RegistryFromProto(const v1::Registry& proto);
void RegistryToProto(const alarm::RegistryEntries& entries, v1::Registry* proto);
alarm::Result<alarm::RegistryChange> RegistryChangeFromProto(const v1::ApplyRegistryRequest& req);
// The change as a request RegistryChangeFromProto reads back (registry_yaml
// and validate_only unset).
void RegistryChangeToProto(const alarm::RegistryChange& change, v1::ApplyRegistryRequest* req);

v1::RejectReason RejectReasonToProto(alarm::RejectReason reason);

// The alarm of a journal entry, as it is after the entry's event. With
// `registry` (the one in force), also the enterprise's name and the sensor's
// quantity and unit; null leaves them empty.
void AlarmToProto(const alarm::JournalEntry& entry, v1::Alarm* proto,
                  const alarm::Registry* registry = nullptr);
void AlarmEventToProto(const alarm::JournalEntry& entry, v1::AlarmEvent* proto,
                       const alarm::Registry* registry = nullptr);
// kInvalidArgument on a region prefix that is not 0..6 digits, min_severity
// above 4, or unknown enum values.
alarm::Result<alarm::AlarmFilter> AlarmFilterFromProto(const v1::AlarmFilter& proto);

void PlannedWorkToProto(const alarm::PlannedWork& work, v1::PlannedWork* proto);

// A view of `series`'s arrays, valid while `series` is unchanged. Runs per
// series on the ingest path, hence inline.
inline alarm::SeriesView SeriesViewOf(const v1::Series& series) {
  return alarm::SeriesView{
      .sensor_id = series.sensor_id(),
      .timestamps = {series.timestamps_ms().data(),
                     static_cast<size_t>(series.timestamps_ms_size())},
      .values = {series.values().data(), static_cast<size_t>(series.values_size())},
      .quality = {series.quality().data(), static_cast<size_t>(series.quality_size())},
  };
}

}  // namespace vigil::server
