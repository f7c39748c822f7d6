#include "server/pipeline/action_handoff.h"

#include <utility>

namespace vigil::server {

void ActionHandoff::Stored(uint64_t position, LocalAction action) {
  storage::MutexLock lock(&mu_);
  stored_[position] = std::move(action);
  stored_cv_.NotifyAll();
}

LocalAction ActionHandoff::Take(uint64_t position, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  storage::MutexLock lock(&mu_);
  for (;;) {
    if (auto it = stored_.find(position); it != stored_.end()) {
      LocalAction action = std::move(it->second);
      stored_.erase(it);
      return action;
    }
    if (!stored_cv_.WaitUntil(&mu_, deadline) && std::chrono::steady_clock::now() >= deadline) {
      return {};
    }
  }
}

size_t ActionHandoff::waiting() const {
  storage::MutexLock lock(&mu_);
  return stored_.size();
}

}  // namespace vigil::server
