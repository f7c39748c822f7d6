// vigil.v1.Admin: online backup. The RocksDB checkpoint (a flush, file links
// and copies: up to seconds) runs on the control thread, never on a gRPC
// thread; backups therefore run one at a time.
#pragma once

#include <filesystem>

#include "server/api/access.h"
#include "server/api/query_service.h"
#include "storage/store.h"
#include "vigil/v1/admin.grpc.pb.h"

namespace vigil::server {

class BackupService final : public v1::Admin::CallbackService {
 public:
  // `control` runs tasks on the control thread. `store` outlives the service
  // and every task it posts (the server closes it after gRPC has stopped);
  // so does `access`. CreateBackup needs the admin role. `log_state_dir`
  // (a shared ingest log's state folder, "<data_dir>/jetstream"; empty:
  // none) is copied into the backup as it was before the database's
  // checkpoint, so a node restored from it applies the stream from there.
  BackupService(storage::Store* store, BlockingExecutor control, const AccessControl* access,
                std::filesystem::path log_state_dir = {});

  grpc::ServerUnaryReactor* CreateBackup(grpc::CallbackServerContext* context,
                                         const v1::CreateBackupRequest* request,
                                         v1::CreateBackupResponse* response) override;

 private:
  storage::Store* store_;
  BlockingExecutor control_;
  const AccessControl* access_;
  const std::filesystem::path log_state_dir_;
};

}  // namespace vigil::server
