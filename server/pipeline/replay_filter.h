// ReplayFilter: after a restart, which replayed alarm events the journal
// already has. The journal stores, per shard, the last log entry whose events
// it holds (its mark); replay evaluates the log again and makes the same
// events, and an event of log entry N is journaled when N <= the mark of the
// shard its source belonged to when the marks were written (the stored layout
// may have another shard count than this run). With JournalBook
// (journal_book.h) this carries the journal's "no gap, no duplicate"
// guarantee across a restart. A plain value: no threads, no clock; one owner
// (a shard's thread).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "alarm/event.h"

namespace vigil::server {

class ReplayFilter {
 public:
  // Drops nothing (a fresh start, or replay is over).
  ReplayFilter() = default;
  // `marks[s]`: the mark of shard s in a layout of `marks_shard_count` shards
  // (0: none). REQUIRES: marks_shard_count > 0 unless marks is empty.
  ReplayFilter(std::vector<uint64_t> marks, uint32_t marks_shard_count);

  // True when the event of source `source_id` made by log entry `log_seq`
  // is journaled already. log_seq 0 (no log entry) is never journaled.
  bool Journaled(uint64_t log_seq, std::string_view source_id) const;

  // Removes from `events` (made by log entry `log_seq`) those journaled
  // already. Cheap (no hashing) for log entries past every mark.
  void DropJournaled(uint64_t log_seq, std::vector<alarm::AlarmEvent>* events) const;

  // Replay is over: drop nothing from now on.
  void Clear() { *this = ReplayFilter(); }

 private:
  std::vector<uint64_t> marks_;
  uint32_t marks_shard_count_ = 1;
  uint64_t max_mark_ = 0;
};

}  // namespace vigil::server
