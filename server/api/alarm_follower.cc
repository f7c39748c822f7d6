#include "server/api/alarm_follower.h"

#include <utility>

namespace vigil::server {

using alarm::Status;

alarm::Result<std::optional<AlarmFeed::OpenView>> AlarmFollower::Start(
    std::optional<uint64_t> after_seq) {
  AlarmFeed& feed = desk_->feed();
  if (!after_seq) {
    AlarmFeed::OpenView view = feed.Open(filter_);
    cursor_.store(view.seq, std::memory_order_relaxed);
    return std::optional<AlarmFeed::OpenView>(std::move(view));
  }
  const uint64_t last = feed.last_seq();
  if (*after_seq > last) {
    return Status::OutOfRange(std::to_string(*after_seq) + " is past the journal's newest entry " +
                              std::to_string(last));
  }
  cursor_.store(*after_seq, std::memory_order_relaxed);
  return std::optional<AlarmFeed::OpenView>();
}

AlarmFollower::Step AlarmFollower::Next(Batch* out) {
  out->entries.clear();
  out->published_at.clear();
  if (loading_) return Step::kLoading;
  if (!error_.ok()) return Step::kFailed;
  if (!lost_reason_.empty()) return Step::kLost;
  if (loaded_) {
    alarm::Result<AlarmDesk::JournalChunk> chunk = std::move(*loaded_);
    loaded_.reset();
    if (!chunk) {
      error_ = chunk.error();
      return Step::kFailed;
    }
    if (chunk->through == loaded_from_) {
      // The journal ends before the feed's memory starts: entries expired
      // under us. Start over rather than skip them silently.
      lost_reason_ =
          "events after seq " + std::to_string(loaded_from_) + " are no longer in the journal";
      return Step::kLost;
    }
    cursor_.store(chunk->through, std::memory_order_relaxed);
    if (!chunk->entries.empty()) {
      out->entries = std::move(chunk->entries);
      return Step::kEntries;
    }
  }
  // Entries published while the owner was not watching wake nobody, so one
  // scan without a match is not the end: scan on to the feed's newest entry.
  AlarmFeed& feed = desk_->feed();
  while (cursor() < feed.last_seq()) {
    const uint64_t from = cursor();
    uint64_t through = from;
    switch (feed.Read(from, filter_, kFeedScan, &out->entries, &through, &out->published_at)) {
      case AlarmFeed::ReadOutcome::kOk:
        cursor_.store(through, std::memory_order_relaxed);
        if (!out->entries.empty()) return Step::kEntries;
        if (through == from) return Step::kCaughtUp;  // nothing new after all
        break;
      case AlarmFeed::ReadOutcome::kExpired:
        lost_reason_ =
            "events after seq " + std::to_string(from) + " are past the journal's retention";
        return Step::kLost;
      case AlarmFeed::ReadOutcome::kFromJournal:
        ReadJournal(from);
        return Step::kLoading;
    }
  }
  return Step::kCaughtUp;
}

void AlarmFollower::ReadJournal(uint64_t from) {
  loading_ = true;
  loaded_from_ = from;
  if (journal_reads_ != nullptr) journal_reads_->fetch_add(1, std::memory_order_relaxed);
  // The owner may be gone when the read completes: this follower is touched
  // only in the continuation, which `reenter` runs only while the owner (and
  // so the follower) is there.
  desk_->blocking()([desk = desk_, filter = filter_, reenter = reenter_, from, this] {
    auto chunk = desk->ReadJournalAfter(from, filter, kJournalScan);
    reenter([this, chunk = std::move(chunk)]() mutable {
      loading_ = false;
      loaded_ = std::move(chunk);
    });
  });
}

}  // namespace vigil::server
