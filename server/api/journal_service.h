// vigil.v1.JournalIntegrity (proto/vigil/v1/journal.proto): verifies the alarm
// journal's hash chain and streams signed exports of it. Both read RocksDB
// and hash, so they run on the blocking-work pool, never on a gRPC thread;
// an export is built whole in memory (Ed25519 signs the whole file), bounded
// by journal.export_max_bytes, and one runs at a time. Admin role only.
// Thread-safety: gRPC calls the handlers on its threads; members are set at
// construction, except the one-export flag (atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "server/api/access.h"
#include "server/api/query_service.h"
#include "server/config/signing_key.h"
#include "storage/journal_store.h"
#include "vigil/v1/journal.grpc.pb.h"

namespace vigil::server {

// Most entries one VerifyJournal call checks, and the default.
inline constexpr uint32_t kMaxVerifyEntries = 1'000'000;
inline constexpr uint32_t kDefaultVerifyEntries = 100'000;

class JournalService final : public v1::JournalIntegrity::CallbackService {
 public:
  // `store`, `access` and the pool behind `blocking` outlive the service and
  // every task it posts. `key` null: exports are refused (no
  // journal.signing_key_file). `export_max_bytes`: journal.export_max_bytes.
  JournalService(storage::JournalStore* store, BlockingExecutor blocking,
                 const AccessControl* access, std::shared_ptr<const SigningKey> key,
                 uint64_t export_max_bytes);

  grpc::ServerUnaryReactor* VerifyJournal(grpc::CallbackServerContext* context,
                                          const v1::VerifyJournalRequest* request,
                                          v1::VerifyJournalResponse* response) override;
  grpc::ServerWriteReactor<v1::ExportJournalChunk>* ExportJournal(
      grpc::CallbackServerContext* context, const v1::ExportJournalRequest* request) override;

 private:
  class Export;

  storage::JournalStore* store_;
  BlockingExecutor blocking_;
  const AccessControl* access_;
  std::shared_ptr<const SigningKey> key_;
  uint64_t export_max_bytes_;
  std::atomic<bool> exporting_{false};
};

}  // namespace vigil::server
