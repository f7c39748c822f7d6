#include "server/api/alarm_desk.h"

#include <utility>

#include "alarm/time_text.h"
#include "storage/alarm_codec.h"

namespace vigil::server {
namespace {

using alarm::JournalEntry;
using alarm::Status;

// Answers an operator action once its event is journaled (journal thread).
class ActionCompletion final : public CommandCompletion {
 public:
  ActionCompletion(AlarmFeed* feed, AlarmDesk::ActionDone done)
      : feed_(feed), done_(std::move(done)) {}

  void Done(const Status& status, uint64_t journal_seq) override {
    std::optional<JournalEntry> event;
    if (status.ok() && journal_seq != 0) {
      std::vector<JournalEntry> entries;
      uint64_t through = 0;
      // Just published: still in the feed's ring (planned work included: a
      // window's own entry answers its opening).
      alarm::AlarmFilter every;
      every.include_planned = true;
      if (feed_->Read(journal_seq - 1, every, 1, &entries, &through) ==
              AlarmFeed::ReadOutcome::kOk &&
          !entries.empty()) {
        event = std::move(entries.front());
      }
    }
    done_(status, std::move(event));
    delete this;
  }

 private:
  AlarmFeed* feed_;
  AlarmDesk::ActionDone done_;
};

// The journal's comment: `text` prefixed with "by <operator_id>: " when the
// caller typed a name other than its authenticated identity (several people
// may share one command center's token). Documented in alarms.proto.
std::string CommentWithTypedName(const std::string& operator_id, const std::string& identity,
                                 std::string text) {
  if (operator_id.empty() || operator_id == identity) return text;
  return text.empty() ? "by " + operator_id : "by " + operator_id + ": " + text;
}

}  // namespace

alarm::Result<alarm::AlarmFilter> AlarmDesk::ScopedFilter(const CallerScope& caller,
                                                          alarm::AlarmFilter filter) const {
  if (filter.region_prefix.empty()) {
    filter.region_prefix = caller.region_prefix;
  } else if (!caller.Covers(filter.region_prefix)) {
    return access_->Deny("region '" + filter.region_prefix + "' is outside this caller's region '" +
                         caller.region_prefix + "'");
  }
  return filter;
}

void AlarmDesk::ReadAlarm(
    const CallerScope& caller, uint64_t alarm_id,
    std::function<void(alarm::Result<std::vector<JournalEntry>>)> done) const {
  blocking_([this, alarm_id, scope = caller, done = std::move(done)] {
    std::vector<JournalEntry> history;
    Status error;
    Status s = store_->ReadAlarmHistory(alarm_id, [&](uint64_t seq, std::string_view bytes) {
      auto entry = storage::DecodeJournalEntry(bytes);
      if (!entry) {
        error = Status::Corruption("journal entry " + std::to_string(seq) + ": " +
                                   entry.error().message());
        return false;
      }
      history.push_back(std::move(*entry));
      return true;
    });
    if (error.ok()) error = s;
    if (!error.ok()) {
      done(error);
      return;
    }
    // Another region's alarm is answered exactly as a missing one, so that
    // alarm ids cannot be probed across regions (counted as a denial).
    if (!history.empty() && !scope.Covers(history.back().region_code)) {
      (void)access_->Deny("alarm outside the caller's region");
      history.clear();
    }
    if (history.empty()) {
      done(Status::NotFound("no alarm " + std::to_string(alarm_id) + " in the journal"));
      return;
    }
    done(std::move(history));
  });
}

alarm::Result<AlarmDesk::JournalChunk> AlarmDesk::ReadJournalAfter(uint64_t cursor,
                                                                   const alarm::AlarmFilter& filter,
                                                                   size_t max_scan) const {
  JournalChunk chunk;
  chunk.through = cursor;
  size_t scanned = 0;
  Status error;
  Status s = store_->ReadJournal(cursor + 1, [&](uint64_t seq, std::string_view bytes) {
    auto entry = storage::DecodeJournalEntry(bytes);
    if (!entry) {
      error = Status::Corruption("journal entry " + std::to_string(seq) + ": " +
                                 entry.error().message());
      return false;
    }
    if (filter.Matches(*entry)) chunk.entries.push_back(std::move(*entry));
    chunk.through = seq;
    return ++scanned < max_scan;
  });
  if (!error.ok()) return error;
  if (!s.ok()) return s;
  return chunk;
}

alarm::Status AlarmDesk::CheckShelve(const std::string& reason, int64_t duration_ms) const {
  if (reason.empty()) return Status::InvalidArgument("reason is required to shelve an alarm");
  if (duration_ms < 1 || duration_ms > max_shelve_.count()) {
    return Status::InvalidArgument("the shelving duration must be 1ms.." +
                                   alarm::FormatDuration(max_shelve_) +
                                   " (alarms.max_shelve), got " +
                                   alarm::FormatDuration(std::chrono::milliseconds(duration_ms)));
  }
  return Status::Ok();
}

void AlarmDesk::Act(const CallerScope& caller, uint64_t alarm_id, const std::string& operator_id,
                    storage::ControlRecord record, ActionDone done) const {
  if (!caller.May(Role::kOperator)) {
    done(access_->Deny("token '" + caller.name + "' is a viewer: it may not act on alarms"),
         std::nullopt);
    return;
  }
  if (operator_id.size() > kMaxOperatorIdBytes) {
    done(Status::InvalidArgument("operator_id is longer than " +
                                 std::to_string(kMaxOperatorIdBytes) + " bytes"),
         std::nullopt);
    return;
  }
  std::optional<JournalEntry> open = feed_->FindOpen(alarm_id);
  // Another region's alarm is answered exactly as one not open, so that
  // alarm ids cannot be probed across regions (counted as a denial).
  if (open && !caller.Covers(open->region_code)) {
    (void)access_->Deny("alarm outside the caller's region");
    open.reset();
  }
  if (!open) {
    done(Status::NotFound("alarm " + std::to_string(alarm_id) + " is not open"), std::nullopt);
    return;
  }
  record.alarm = alarm::AlarmRef{.source_id = open->event.record.source_id,
                                 .alarm = open->event.record.alarm,
                                 .occurrence = open->event.record.occurrence};
  // The audit trail names who authenticated (a token's name, "cert:<CN>",
  // "anonymous" with authentication off), never a name the request claims:
  // that one is kept, marked as typed, in the comment.
  record.actor = caller.name;
  record.text = CommentWithTypedName(operator_id, caller.name, std::move(record.text));
  Submit(std::move(record), std::move(done));
}

void AlarmDesk::Submit(storage::ControlRecord record, ActionDone done) const {
  auto* completion = new ActionCompletion(feed_, std::move(done));
  if (!writer_->SubmitControl(std::move(record), completion)) {
    // Not taken: the completion is still ours, and so is `done` in it.
    completion->Done(Status::Unavailable("the server is busy or shutting down; retry"), 0);
  }
}

}  // namespace vigil::server
