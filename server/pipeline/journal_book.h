// JournalBook: the alarm journal's bookkeeping as plain values. It numbers
// events (global journal seq, alarm ids), keeps the open-alarm table, collects
// the shards' "journaled through log entry N" marks, undoes a group whose
// write failed, and reconciles the open table against the engines after a
// restart. This is where the journal's "no gap, no duplicate" guarantee
// lives: AlarmJournal (alarm_journal.h) only moves its output to the store
// and, once durable, to the feed. No threads, no store, no clock (`now` is an
// argument); not thread-safe: one owner (the journal thread) uses it.
//
// It also keeps the head of the journal's hash chain (storage/journal_chain.h):
// Chain() gives each pending entry's stored bytes their hash, so the chain
// is computed where entries are numbered, in memory (no store read per
// entry), and undone with the group.
//
// Roll-ups (alarm/rollup.h, docs/rollup.md) are evaluated here, where the
// transitions of every shard meet in journal order: after Add numbers a
// sensor's threshold or rate-of-change event, its monitoring item, facility
// and enterprise are evaluated in that order from the open table, and each
// parent whose level changes gets its event numbered right after the child's
// (never before), in the same group. Their only state is the open table, so
// they survive a restart and replay with it, and nodes that number the same
// events in the same order raise the same roll-ups.
//
// A group's life: Add/Reconcile/Mark/Chain ... then either Commit (the group's
// write is durable) or Undo (it failed: every change since the last
// Commit/Undo is forgotten, so trying the same group again gives the same
// numbers).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "alarm/event.h"
#include "alarm/journal.h"
#include "alarm/registry.h"
#include "alarm/rule_set.h"
#include "alarm/types.h"
#include "storage/journal_chain.h"

namespace vigil::server {

class JournalBook {
 public:
  using OpenKey = std::pair<uint8_t, std::string>;  // (alarm kind, source id)

  // The open table's final state for one key a group touched.
  struct OpenWrite {
    OpenKey key;
    std::optional<alarm::JournalEntry> entry;  // the alarm's latest entry; nullopt: closed
  };
  struct MarkWrite {
    uint32_t shard;
    uint64_t log_seq;  // every event of this shard's log entries <= log_seq is journaled
  };

  // An empty journal for `shard_count` shards (of the current layout).
  explicit JournalBook(uint32_t shard_count) : shard_count_(shard_count) {}

  // Continues the journal as loaded: the next entry is last_seq + 1,
  // `open_entries` (the latest entry of each open alarm) is the open table,
  // and the next entry's hash follows `chain_head` (h(last_seq), or zeros
  // when no entry is chained yet). REQUIRES: nothing added yet.
  void Load(uint64_t last_seq, std::span<const alarm::JournalEntry> open_entries,
            const storage::ChainHash& chain_head = storage::kGenesisHash);

  // Numbers `event` into the pending group: the next seq, and the alarm id of
  // its open alarm when it is the same occurrence (else a new alarm, id =
  // seq); closes or updates the open table. `registry` locates the source
  // (enterprise, region); an alarm keeps the place of its earlier entries
  // when its source is no longer in the registry.
  // Then rolls it up (above) when a rule set is in use.
  void Add(const alarm::AlarmEvent& event, const alarm::Registry& registry);

  // The rule set whose roll-up rules (and registry: which sensor is in which
  // item and facility) apply from now on, as of log entry `log_seq`: taken
  // unless it is the one in use or an earlier log entry's (a shard that is
  // behind). Taking it re-evaluates every parent at `at` (events for those
  // that change, and closes roll-ups of places gone). Returns whether taken.
  bool UseRules(const std::shared_ptr<const alarm::RuleSet>& rules, uint64_t log_seq,
                alarm::TimestampMs at, const alarm::Registry& registry);

  // After a restart's replay: makes the open alarms of shard `shard` match
  // `engine_alarms` (that shard's engine) with kReconciled entries at `now`:
  // an alarm open in the table but not in the engine (or another occurrence)
  // is closed; one open in the engine but missing or different in the table
  // is written as the engine has it (and rolled up). Roll-up alarms belong to
  // no shard: only their children's fixes move them. Returns the number of
  // entries added.
  size_t Reconcile(uint32_t shard, std::span<const alarm::ActiveAlarm> engine_alarms,
                   alarm::TimestampMs now, const alarm::Registry& registry);

  // Shard `shard` has handed over every event of log entries <= log_seq.
  void Mark(uint32_t shard, uint64_t log_seq);

  // The hash of the next pending entry in seq order, whose stored bytes are
  // `entry` (storage::EncodeJournalEntry of it): SHA-256(head || entry),
  // which becomes the head. Called once per pending entry, in order, after
  // the group's Adds.
  storage::ChainHash Chain(std::string_view entry);
  // h of the last entry Chain()ed (committed or pending).
  const storage::ChainHash& chain_head() const { return chain_head_; }

  // The pending group: its entries in seq order, the final open-table state
  // of every key it touched (in key order), and its marks (in shard order).
  const std::vector<alarm::JournalEntry>& pending() const { return pending_; }
  std::vector<OpenWrite> OpenWrites() const;
  std::vector<MarkWrite> MarkWrites() const;

  // The pending group is durable: hands its entries over and starts a new group.
  std::vector<alarm::JournalEntry> Commit();
  // The pending group's write failed: numbering, open table and marks are
  // as before its first change.
  void Undo();

  // Seq the next entry gets.
  uint64_t next_seq() const { return next_seq_; }
  const std::map<OpenKey, alarm::JournalEntry>& open() const { return open_; }
  uint32_t shard_count() const { return shard_count_; }

  static OpenKey KeyOf(const alarm::ActiveAlarm& a) {
    return {static_cast<uint8_t>(a.alarm), a.source_id};
  }

 private:
  uint32_t shard_count_;
  uint64_t next_seq_ = 1;
  std::map<OpenKey, alarm::JournalEntry> open_;
  // The pending group.
  uint64_t group_first_seq_ = 1;
  storage::ChainHash chain_head_{};
  storage::ChainHash group_chain_head_{};  // chain_head_ before the pending group
  std::vector<alarm::JournalEntry> pending_;
  // Each change of the open table, with the value before it.
  std::vector<std::pair<OpenKey, std::optional<alarm::JournalEntry>>> undo_;
  std::map<uint32_t, uint64_t> marks_;
  // Roll-ups: the rule set in use and the log entry it came with; as at the
  // last Commit, for Undo.
  struct RulesInUse {
    std::shared_ptr<const alarm::RuleSet> rules;
    uint64_t log_seq = 0;
  };
  RulesInUse rules_;
  RulesInUse group_rules_;

  void AddOne(const alarm::AlarmEvent& event, const alarm::Registry& registry);
  // Evaluates the roll-up of one place (an item, facility or enterprise id)
  // and adds its event, if its level changed, caused by `cause` at `at`.
  void RollUpPlace(alarm::RollupParent parent, const std::string& place,
                   const alarm::Facility* facility, const alarm::Enterprise& enterprise,
                   alarm::TimestampMs at, const alarm::Registry& registry);
  // The roll-ups above a sensor after its event.
  void RollUpSensor(const alarm::AlarmEvent& event, const alarm::Registry& registry);
  // Every place of the rules' registry, then closes roll-ups of places gone.
  void RollUpAll(alarm::TimestampMs at, const alarm::Registry& registry);
};

}  // namespace vigil::server
