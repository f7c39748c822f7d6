#include "server/pipeline/sensor_numbering.h"

#include <unordered_map>

namespace vigil::server {

alarm::Status NumberSensors(const storage::SensorNumbers& numbers, std::span<alarm::Sensor> sensors,
                            NewSensorNumbers* added) {
  uint32_t next = numbers.next();
  // An id listed twice in one change gets one number (the change is
  // refused later anyway, but numbering must not depend on that).
  std::unordered_map<std::string_view, uint32_t> fresh;
  for (alarm::Sensor& sensor : sensors) {
    if (const uint32_t known = numbers.Find(sensor.id); known != 0) {
      sensor.log_number = known;
      continue;
    }
    if (auto it = fresh.find(sensor.id); it != fresh.end()) {
      sensor.log_number = it->second;
      continue;
    }
    if (next > storage::SensorNumbers::kMaxNumber) {
      return alarm::Status::ResourceExhausted("no sensor numbers left for the ingest log");
    }
    sensor.log_number = next;
    fresh.emplace(sensor.id, next);
    added->emplace_back(sensor.id, next);
    ++next;
  }
  return alarm::Status::Ok();
}

void SensorNumberWrites(const NewSensorNumbers& added, std::vector<std::string>* blobs,
                        std::vector<storage::RegistryEntryWrite>* writes) {
  for (const auto& [id, number] : added) {
    writes->push_back({storage::RegistryEntryKind::kSensorNumber, id,
                       blobs->emplace_back(storage::SensorNumbers::EncodeNumber(number))});
  }
}

alarm::Status CommitSensorNumbers(const NewSensorNumbers& added, storage::SensorNumbers* numbers) {
  for (const auto& [id, number] : added) {
    alarm::Status s = numbers->Add(number, id);
    if (!s.ok()) return alarm::Status::Corruption(s.message());
  }
  return alarm::Status::Ok();
}

}  // namespace vigil::server
