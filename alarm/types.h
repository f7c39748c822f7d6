// Basic domain types shared by every module. Plain values, no behaviour.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace vigil::alarm {

// Event time of a reading: milliseconds since the Unix epoch, UTC. Kept as a
// plain integer because readings travel in packed arrays of it.
using TimestampMs = int64_t;

// Instrument or gateway quality code: 0 good, anything else bad or uncertain.
using Quality = uint32_t;
inline constexpr Quality kQualityGood = 0;
// A reading taken while the sensor is being calibrated (test gas applied):
// stored as any other, evaluated as a value (not a sensor fault), and the
// sensor's conditions are planned work while its readings carry it (as
// coal-mine monitoring systems flag calibration). 256 = 0x100.
inline constexpr Quality kQualityCalibration = 256;

// Alarm severity, after the Chinese four-colour warning scale: 1 most severe.
enum class Severity : uint8_t { kRed = 1, kOrange = 2, kYellow = 3, kBlue = 4 };

struct Reading {
  TimestampMs at = 0;
  double value = 0;
  Quality quality = kQualityGood;
};

// One sensor's readings as parallel arrays, borrowed from a decoded batch.
// `quality` is empty when every reading is good. `log_number` is the
// sensor's ingest-log number when the batch named it by number (Sensor::
// log_number; never reused for another sensor), 0 when by id: with it, the
// shard finds the sensor's head and state by an array read, not a hash probe.
struct SeriesView {
  std::string_view sensor_id;
  std::span<const TimestampMs> timestamps;
  std::span<const double> values;
  std::span<const Quality> quality;
  uint32_t log_number = 0;
};

}  // namespace vigil::alarm
