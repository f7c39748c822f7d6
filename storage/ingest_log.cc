#include "storage/ingest_log.h"

#include <condition_variable>
#include <mutex>

namespace vigil::storage {

alarm::Result<uint64_t> AppendAndWait(IngestLog& log, std::span<const LogAppend> group) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<alarm::Result<uint64_t>> outcome;
  log.Append(group, [&](alarm::Result<uint64_t> first) {
    std::lock_guard lock(mu);
    outcome.emplace(std::move(first));
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return outcome.has_value(); });
  return std::move(*outcome);
}

}  // namespace vigil::storage
