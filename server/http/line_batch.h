// LineBatch: the readings of one line-protocol body grouped by sensor, the
// shape the shared ingest path checks (a series per sensor, its readings in
// the order of their lines), built without a protobuf message: a sensor id is
// copied once per sensor into one buffer, a reading is three numbers, and a
// small open-addressing table finds a sensor's series from the id's hash
// (alarm::IdIndex::Hash, which PrepareSeries reuses for the registry lookup).
// Every buffer keeps its capacity from one body to the next, so a thread that
// reuses its LineBatch allocates nothing per line once they have grown.
// Not thread-safe: one per thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/types.h"

namespace vigil::server {

class LineBatch {
 public:
  // Forgets every reading and sensor (capacity is kept).
  void Clear();

  // Adds a reading of `sensor_id` from body line `line`.
  void Add(std::string_view sensor_id, int64_t at_ms, double value, uint32_t line);

  // Lays the readings out by sensor: series() and hashes() are valid until
  // the next Clear() or Add(). REQUIRES: called once after the last Add().
  void Group();

  // One view per sensor, in the order its first reading was added (no quality
  // codes, log_number 0); and each view's alarm::IdIndex::Hash(sensor_id).
  std::span<const alarm::SeriesView> series() const { return views_; }
  std::span<const uint64_t> hashes() const { return hashes_; }
  // Readings added, in all series; sensors added (valid before Group() too).
  size_t readings() const { return pending_.size(); }
  size_t sensors() const { return series_.size(); }
  // The body line of reading `reading` of series `series`.
  // REQUIRES: Group(); reading < series()[series].values.size().
  uint32_t LineOf(size_t series, size_t reading) const {
    return lines_[series_[series].begin + reading];
  }

 private:
  struct Series {
    uint32_t id_offset;  // in ids_
    uint32_t id_size;
    uint32_t count;  // readings
    uint32_t begin;  // its first reading in the grouped arrays (after Group)
  };
  struct Pending {
    uint32_t series;
    uint32_t line;
    int64_t at_ms;
    double value;
  };
  // A table slot: the series + 1 (0 = empty) when `generation` is the
  // current one; a slot of an older generation is empty. So Clear() does not
  // touch the table.
  struct Slot {
    uint32_t generation;
    uint32_t series_plus_one;
  };

  std::string_view IdOf(const Series& s) const { return {ids_.data() + s.id_offset, s.id_size}; }
  // Resizes the table for more series and inserts the current ones again.
  void Grow();

  std::string ids_;
  std::vector<Series> series_;
  std::vector<uint64_t> hashes_;
  std::vector<Pending> pending_;
  std::vector<Slot> table_;
  uint32_t generation_ = 1;
  // Grouped by series (Group()).
  std::vector<int64_t> timestamps_;
  std::vector<double> values_;
  std::vector<uint32_t> lines_;
  std::vector<alarm::SeriesView> views_;
};

}  // namespace vigil::server
