// ActionHandoff: where a node's own operator actions and rules changes meet
// their log entries when the shards are fed by following a shared log
// (storage::SharedIngestLog). The writer learns an entry's position from its
// append's acknowledgement; the follower may reach the entry before or after
// that acknowledgement arrives (they are separate messages from NATS). What
// only this node holds -- the action's CommandCompletion, the new rule set --
// is handed over here by position. Rare (operator actions, rules changes):
// a mutex is fine. Thread-safety: every member is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "alarm/rule_set.h"
#include "storage/mutex.h"

namespace vigil::server {

class CommandCompletion;

struct LocalAction {
  CommandCompletion* completion = nullptr;
  std::shared_ptr<const alarm::RuleSet> rules;
};

class ActionHandoff {
 public:
  // The writer: the control entry at `position`, appended by this node, was
  // stored; `action` waits here for the follower.
  void Stored(uint64_t position, LocalAction action);

  // The follower, at a control entry this node published: its local state,
  // waiting up to `wait` for Stored (the acknowledgement may still be on its
  // way). An empty LocalAction when it does not come (its append was reported
  // failed: the action's caller already heard so, and the entry is applied
  // without a completion, as on another node).
  LocalAction Take(uint64_t position, std::chrono::milliseconds wait);

  // Entries stored and not taken yet (tests, metrics).
  size_t waiting() const;

 private:
  mutable storage::Mutex mu_;
  storage::CondVar stored_cv_;
  std::unordered_map<uint64_t, LocalAction> stored_ VIGIL_GUARDED_BY(mu_);
};

}  // namespace vigil::server
