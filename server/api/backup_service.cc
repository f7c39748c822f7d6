#include "server/api/backup_service.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>

#include "server/api/grpc_status.h"
#include "server/log/log.h"

namespace vigil::server {
namespace {

// Total size of the regular files under `dir` (hard links count in full).
uint64_t FolderBytes(const std::filesystem::path& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const uintmax_t size = it->file_size(size_ec);
      if (!size_ec) bytes += size;
    }
  }
  return bytes;
}

}  // namespace

BackupService::BackupService(storage::Store* store, BlockingExecutor control,
                             const AccessControl* access)
    : store_(store), control_(std::move(control)), access_(access) {}

grpc::ServerUnaryReactor* BackupService::CreateBackup(grpc::CallbackServerContext* context,
                                                      const v1::CreateBackupRequest* request,
                                                      v1::CreateBackupResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto caller = access_->Require(*context, Role::kAdmin, "create backups"); !caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  const std::filesystem::path dir(request->dir());
  if (dir.empty() || !dir.is_absolute()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "dir must be an absolute path on the server, got '" +
                                     alarm::Echo(request->dir(), 1024) + "'"));
    return reactor;
  }
  control_([this, reactor, response, dir = dir.lexically_normal()] {
    const auto start = std::chrono::steady_clock::now();
    const alarm::Status s = store_->CreateBackup(dir);
    if (!s.ok()) {
      LogError("backup_failed", {{"dir", dir.string()}, {"error", s.ToString()}});
      const grpc::StatusCode code = s.code() == alarm::Status::Code::kInvalidArgument
                                        ? grpc::StatusCode::INVALID_ARGUMENT
                                        : grpc::StatusCode::UNAVAILABLE;
      reactor->Finish(grpc::Status(code, s.message()));
      return;
    }
    const uint64_t bytes = FolderBytes(dir);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    LogInfo("backup_created", {{"dir", dir.string()}, {"bytes", bytes}, {"ms", ms}});
    response->set_dir(dir.string());
    response->set_bytes(bytes);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace vigil::server
