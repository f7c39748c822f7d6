#include "storage/control_record.h"

#include "storage/alarm_codec.h"
#include "storage/internal/wire.h"

namespace vigil::storage {

using internal::WireReader;
using internal::WireWriter;

namespace {

bool HasPlannedWork(ControlKind kind) {
  return kind == ControlKind::kPlannedWorkOpen || kind == ControlKind::kPlannedWorkClose;
}

}  // namespace

std::string EncodeControlRecord(const ControlRecord& record) {
  std::string out;
  WireWriter w(&out);
  w.Put(record.kind);
  w.PutString(record.alarm.source_id);
  w.Put(record.alarm.alarm);
  w.Put(record.alarm.occurrence);
  w.Put(record.shelve_for_ms);
  w.PutString(record.actor);
  w.PutString(record.text);
  if (HasPlannedWork(record.kind)) w.PutString(EncodePlannedWork(record.planned));
  return out;
}

alarm::Result<ControlRecord> DecodeControlRecord(std::string_view bytes) {
  WireReader r(bytes);
  ControlRecord record;
  record.kind = r.Get<ControlKind>();
  record.alarm.source_id = r.GetString();
  record.alarm.alarm = r.Get<alarm::AlarmKind>();
  record.alarm.occurrence = r.Get<uint64_t>();
  record.shelve_for_ms = r.Get<int64_t>();
  record.actor = r.GetString();
  record.text = r.GetString();
  if (HasPlannedWork(record.kind)) {
    auto planned = DecodePlannedWork(r.GetString());
    if (!planned) return alarm::Status::Corruption("control record: malformed planned work");
    record.planned = std::move(*planned);
  }
  const auto kind = static_cast<uint8_t>(record.kind);
  const auto alarm_kind = static_cast<uint8_t>(record.alarm.alarm);
  if (!r.done() || kind < 1 || kind > 8 || alarm_kind < 1 || alarm_kind > alarm::kMaxAlarmKind) {
    return alarm::Status::Corruption("control record: malformed");
  }
  return record;
}

}  // namespace vigil::storage
