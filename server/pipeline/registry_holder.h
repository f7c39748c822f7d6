// RegistryHolder: the current registry snapshot, replaced whole on reload or
// admin change (RCU: readers keep the snapshot they hold; a version counter
// tells them cheaply, without a lock, when to fetch the new one).
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "alarm/registry.h"
#include "alarm/thread_annotations.h"
#include "storage/mutex.h"

namespace vigil::server {

class RegistryHolder {
 public:
  explicit RegistryHolder(std::shared_ptr<const alarm::Registry> initial)
      : current_(std::move(initial)) {}

  std::shared_ptr<const alarm::Registry> Get() const VIGIL_EXCLUDES(mu_) {
    storage::MutexLock lock(&mu_);
    return current_;
  }
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  void Publish(std::shared_ptr<const alarm::Registry> next) VIGIL_EXCLUDES(mu_) {
    storage::MutexLock lock(&mu_);
    current_ = std::move(next);
    version_.fetch_add(1, std::memory_order_release);
  }

 private:
  mutable storage::Mutex mu_;
  std::shared_ptr<const alarm::Registry> current_ VIGIL_GUARDED_BY(mu_);
  std::atomic<uint64_t> version_{1};
};

// A reader's cached snapshot: one atomic load per use, the lock only after a
// change. Not thread-safe: one per stream or thread.
class RegistryView {
 public:
  explicit RegistryView(const RegistryHolder* holder) : holder_(holder) {}

  const alarm::Registry& Get() {
    const uint64_t v = holder_->version();
    if (v != version_ || !snapshot_) {
      snapshot_ = holder_->Get();
      version_ = v;
    }
    return *snapshot_;
  }

 private:
  const RegistryHolder* holder_;
  uint64_t version_ = 0;
  std::shared_ptr<const alarm::Registry> snapshot_;
};

}  // namespace vigil::server
