// Giving sensors their ingest-log numbers (storage/sensor_numbers.h) as they
// enter the registry, and storing them with the registry change that brings
// them. Control thread (or start-up) only, like every registry change.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "alarm/registry.h"
#include "alarm/status.h"
#include "storage/sensor_numbers.h"
#include "storage/store.h"

namespace vigil::server {

// Numbers not yet stored: (sensor id, number).
using NewSensorNumbers = std::vector<std::pair<std::string, uint32_t>>;

// Sets every sensor's log_number: its number in `numbers`, else a new one
// (numbers.next() onwards, in order), which is also appended to *added.
// `numbers` is unchanged: the new numbers count once stored (CommitSensorNumbers).
// kResourceExhausted when the numbers run out (SensorNumbers::kMaxNumber).
alarm::Status NumberSensors(const storage::SensorNumbers& numbers, std::span<alarm::Sensor> sensors,
                            NewSensorNumbers* added);

// Appends to *writes the registry entries (kind kSensorNumber) storing
// `added`; their blobs go to *blobs, which the writes point into: it must
// not reallocate while they are used (reserve added.size() first).
void SensorNumberWrites(const NewSensorNumbers& added, std::vector<std::string>* blobs,
                        std::vector<storage::RegistryEntryWrite>* writes);

// Adds `added` to *numbers once they are stored. kCorruption when one
// clashes with a number already there (a stored table out of order).
alarm::Status CommitSensorNumbers(const NewSensorNumbers& added, storage::SensorNumbers* numbers);

}  // namespace vigil::server
