#include "server/http/line_batch.h"

#include "alarm/id_index.h"

namespace vigil::server {

void LineBatch::Clear() {
  ids_.clear();
  series_.clear();
  hashes_.clear();
  pending_.clear();
  views_.clear();
  // Every slot of the table is now of an older generation: empty. At the
  // wrap (every 4 billion bodies), clear it for real.
  if (++generation_ == 0) {
    for (Slot& slot : table_) slot = Slot{0, 0};
    generation_ = 1;
  }
}

void LineBatch::Grow() {
  size_t capacity = table_.empty() ? 1024 : table_.size() * 2;
  while (capacity < 2 * (series_.size() + 1)) capacity *= 2;
  table_.assign(capacity, Slot{0, 0});
  const size_t mask = capacity - 1;
  for (size_t k = 0; k < series_.size(); ++k) {
    for (size_t i = hashes_[k] & mask;; i = (i + 1) & mask) {
      if (table_[i].generation != generation_) {
        table_[i] = Slot{generation_, static_cast<uint32_t>(k + 1)};
        break;
      }
    }
  }
}

void LineBatch::Add(std::string_view sensor_id, int64_t at_ms, double value, uint32_t line) {
  // At most half full: probes stay short.
  if (2 * (series_.size() + 1) > table_.size()) Grow();
  const uint64_t h = alarm::IdIndex::Hash(sensor_id);
  const size_t mask = table_.size() - 1;
  size_t i = h & mask;
  for (;; i = (i + 1) & mask) {
    const Slot& slot = table_[i];
    if (slot.generation != generation_) break;
    const size_t k = slot.series_plus_one - 1;
    if (hashes_[k] == h && IdOf(series_[k]) == sensor_id) {
      ++series_[k].count;
      pending_.push_back({static_cast<uint32_t>(k), line, at_ms, value});
      return;
    }
  }
  const auto k = static_cast<uint32_t>(series_.size());
  table_[i] = Slot{generation_, k + 1};
  series_.push_back(
      {static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(sensor_id.size()), 1, 0});
  hashes_.push_back(h);
  ids_.append(sensor_id);
  pending_.push_back({k, line, at_ms, value});
}

void LineBatch::Group() {
  // A counting sort: each series' readings keep the order they came in.
  uint32_t begin = 0;
  for (Series& s : series_) {
    s.begin = begin;
    begin += s.count;
  }
  timestamps_.resize(pending_.size());
  values_.resize(pending_.size());
  lines_.resize(pending_.size());
  // Series whose readings are placed so far: reuse `count` as the cursor.
  for (Series& s : series_) s.count = 0;
  for (const Pending& p : pending_) {
    Series& s = series_[p.series];
    const uint32_t at = s.begin + s.count++;
    timestamps_[at] = p.at_ms;
    values_[at] = p.value;
    lines_[at] = p.line;
  }
  views_.clear();
  views_.reserve(series_.size());
  for (const Series& s : series_) {
    views_.push_back(alarm::SeriesView{
        .sensor_id = IdOf(s),
        .timestamps = std::span<const int64_t>(timestamps_).subspan(s.begin, s.count),
        .values = std::span<const double>(values_).subspan(s.begin, s.count),
        .quality = {},
        .log_number = 0,
    });
  }
}

}  // namespace vigil::server
