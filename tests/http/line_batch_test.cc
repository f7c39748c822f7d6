#include "server/http/line_batch.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "alarm/id_index.h"

namespace vigil::server {
namespace {

// "id:t@line,t@line|..." of every series, in order.
std::string Describe(const LineBatch& batch) {
  std::string out;
  for (size_t i = 0; i < batch.series().size(); ++i) {
    const alarm::SeriesView& s = batch.series()[i];
    if (i > 0) out += "|";
    out += std::string(s.sensor_id) + ":";
    for (size_t k = 0; k < s.values.size(); ++k) {
      if (k > 0) out += ",";
      out += std::to_string(s.timestamps[k]) + "=" + std::to_string(static_cast<int>(s.values[k])) +
             "@" + std::to_string(batch.LineOf(i, k));
    }
  }
  return out;
}

TEST_CASE("LineBatch groups readings by sensor, each in the order of its lines", "[http][line]") {
  LineBatch batch;
  batch.Clear();
  batch.Add("a", 10, 1, 1);
  batch.Add("b", 10, 2, 2);
  batch.Add("a", 20, 3, 3);
  batch.Add("c", 10, 4, 5);
  batch.Add("b", 20, 5, 6);
  batch.Add("a", 30, 6, 7);
  CHECK(batch.sensors() == 3);
  batch.Group();
  CHECK(batch.readings() == 6);
  CHECK(Describe(batch) == "a:10=1@1,20=3@3,30=6@7|b:10=2@2,20=5@6|c:10=4@5");
  REQUIRE(batch.hashes().size() == 3);
  CHECK(batch.hashes()[1] == alarm::IdIndex::Hash("b"));
  CHECK(batch.series()[0].quality.empty());

  // The next body starts empty: nothing of the last one is found again.
  batch.Clear();
  batch.Add("b", 40, 7, 1);
  batch.Add("d", 40, 8, 2);
  batch.Group();
  CHECK(Describe(batch) == "b:40=7@1|d:40=8@2");
}

TEST_CASE("LineBatch keeps thousands of sensors apart as its table grows", "[http][line]") {
  LineBatch batch;
  for (int body = 0; body < 3; ++body) {
    batch.Clear();
    constexpr int kSensors = 5000;
    for (int step = 0; step < 2; ++step) {
      for (int i = 0; i < kSensors; ++i) {
        batch.Add("s" + std::to_string(i), step, i, static_cast<uint32_t>(step * kSensors + i + 1));
      }
    }
    batch.Group();
    REQUIRE(batch.series().size() == kSensors);
    CHECK(batch.readings() == 2 * kSensors);
    bool all_right = true;
    for (int i = 0; i < kSensors; ++i) {
      const alarm::SeriesView& s = batch.series()[static_cast<size_t>(i)];
      all_right =
          all_right && s.sensor_id == "s" + std::to_string(i) && s.values.size() == 2 &&
          s.timestamps[0] == 0 && s.timestamps[1] == 1 && s.values[1] == i &&
          batch.LineOf(static_cast<size_t>(i), 1) == static_cast<uint32_t>(kSensors + i + 1);
    }
    CHECK(all_right);
  }
}

}  // namespace
}  // namespace vigil::server
