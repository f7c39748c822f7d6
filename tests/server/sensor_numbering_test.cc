// Sensor numbers for the ingest log: given once, stored as registry entries
// of their own, found again after a reopen, and kept for deleted sensors.
#include "server/pipeline/sensor_numbering.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace vigil::server {
namespace {

std::vector<alarm::Sensor> SensorsNamed(const std::vector<std::string>& ids) {
  std::vector<alarm::Sensor> out;
  for (const std::string& id : ids) {
    alarm::Sensor sensor;
    sensor.id = id;
    out.push_back(sensor);
  }
  return out;
}

// Numbers `ids` against *numbers, stores the new ones, and commits them.
std::vector<uint32_t> NumberAndStore(storage::Store* store, storage::SensorNumbers* numbers,
                                     const std::vector<std::string>& ids) {
  std::vector<alarm::Sensor> sensors = SensorsNamed(ids);
  NewSensorNumbers added;
  REQUIRE(NumberSensors(*numbers, sensors, &added).ok());
  std::vector<std::string> blobs;
  blobs.reserve(added.size());
  std::vector<storage::RegistryEntryWrite> writes;
  SensorNumberWrites(added, &blobs, &writes);
  REQUIRE(store->WriteRegistryEntries(writes).ok());
  REQUIRE(CommitSensorNumbers(added, numbers).ok());
  std::vector<uint32_t> out;
  for (const alarm::Sensor& s : sensors) out.push_back(s.log_number);
  return out;
}

// The numbers as a restart loads them.
void Load(storage::Store* store, storage::SensorNumbers* numbers) {
  REQUIRE(store
              ->ForEachRegistryEntry(
                  [&](storage::RegistryEntryKind kind, std::string_view id, std::string_view blob) {
                    if (kind != storage::RegistryEntryKind::kSensorNumber)
                      return alarm::Status::Ok();
                    auto number = storage::SensorNumbers::DecodeNumber(blob);
                    REQUIRE(number.has_value());
                    return numbers->Add(*number, id);
                  })
              .ok());
}

TEST_CASE("Sensor numbers are given once and found again after a reopen", "[numbering]") {
  testing::TempDir dir;
  storage::StoreOptions options;
  options.dir = dir.path();
  {
    auto store = storage::Store::Open(options);
    REQUIRE(store.has_value());
    storage::SensorNumbers numbers;
    CHECK(NumberAndStore(store->get(), &numbers, {"b", "a", "c"}) ==
          std::vector<uint32_t>{1, 2, 3});
    // Known sensors keep theirs; new ones continue; one id twice gets one.
    CHECK(NumberAndStore(store->get(), &numbers, {"a", "d", "d"}) ==
          std::vector<uint32_t>{2, 4, 4});
    // The sensor entry of "b" deleted: its number stays (never a delete write).
    const storage::RegistryEntryWrite remove{storage::RegistryEntryKind::kSensor, "b",
                                             std::nullopt};
    REQUIRE((*store)->WriteRegistryEntries({&remove, 1}).ok());
  }
  auto store = storage::Store::Open(options);
  REQUIRE(store.has_value());
  storage::SensorNumbers numbers;
  Load(store->get(), &numbers);
  CHECK(numbers.IdOf(1) == "b");
  CHECK(numbers.IdOf(2) == "a");
  CHECK(numbers.IdOf(3) == "c");
  CHECK(numbers.IdOf(4) == "d");
  CHECK(numbers.next() == 5);
  // "b" added again gets its old number; a new sensor the next free one.
  CHECK(NumberAndStore(store->get(), &numbers, {"e", "b"}) == std::vector<uint32_t>{5, 1});
}

TEST_CASE("NumberSensors changes nothing until committed", "[numbering]") {
  storage::SensorNumbers numbers;
  std::vector<alarm::Sensor> sensors = SensorsNamed({"x"});
  NewSensorNumbers added;
  REQUIRE(NumberSensors(numbers, sensors, &added).ok());
  CHECK(sensors[0].log_number == 1);
  CHECK(numbers.Find("x") == 0);  // a refused change leaves no number behind
  REQUIRE(CommitSensorNumbers(added, &numbers).ok());
  CHECK(numbers.IdOf(1) == "x");
  // A stored table that clashes is corruption.
  CHECK(CommitSensorNumbers({{"y", 1}}, &numbers).code() == alarm::Status::Code::kCorruption);
}

}  // namespace
}  // namespace vigil::server
