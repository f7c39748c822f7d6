#include "storage/ingest_log.h"

#include <optional>

#include "storage/mutex.h"

namespace vigil::storage {

alarm::Result<uint64_t> AppendAndWait(IngestLog& log, std::span<const LogAppend> group) {
  Mutex mu;
  CondVar done;
  std::optional<alarm::Result<uint64_t>> outcome;  // guarded by mu
  log.Append(group, [&](alarm::Result<uint64_t> first) {
    MutexLock lock(&mu);
    outcome.emplace(std::move(first));
    done.NotifyOne();
  });
  MutexLock lock(&mu);
  while (!outcome.has_value()) done.Wait(&mu);
  return std::move(*outcome);
}

}  // namespace vigil::storage
