#include "server/pipeline/replay_filter.h"

#include <algorithm>
#include <utility>

#include "alarm/engine.h"

namespace vigil::server {

ReplayFilter::ReplayFilter(std::vector<uint64_t> marks, uint32_t marks_shard_count)
    : marks_(std::move(marks)), marks_shard_count_(marks_shard_count) {
  for (uint64_t m : marks_) max_mark_ = std::max(max_mark_, m);
}

bool ReplayFilter::Journaled(uint64_t log_seq, std::string_view source_id) const {
  if (log_seq == 0 || log_seq > max_mark_) return false;
  const uint32_t old_shard = alarm::ShardOf(source_id, marks_shard_count_);
  return old_shard < marks_.size() && log_seq <= marks_[old_shard];
}

void ReplayFilter::DropJournaled(uint64_t log_seq, std::vector<alarm::AlarmEvent>* events) const {
  if (log_seq == 0 || log_seq > max_mark_ || events->empty()) return;
  std::erase_if(*events,
                [&](const alarm::AlarmEvent& e) { return Journaled(log_seq, e.record.source_id); });
}

}  // namespace vigil::server
