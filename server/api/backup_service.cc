#include "server/api/backup_service.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "server/api/grpc_status.h"
#include "server/log/log.h"
#include "storage/durable_file.h"

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

// The regular files directly in `dir` (none when it does not exist).
alarm::Result<std::vector<std::pair<std::string, std::string>>> ReadFiles(
    const std::filesystem::path& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return alarm::Status::IOError("read " + entry.path().string());
    files.emplace_back(entry.path().filename().string(), std::move(bytes));
  }
  if (ec) return alarm::Status::IOError("list " + dir.string() + ": " + ec.message());
  return files;
}

alarm::Status WriteFiles(const std::filesystem::path& dir,
                         const std::vector<std::pair<std::string, std::string>>& files) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return alarm::Status::IOError("create " + dir.string() + ": " + ec.message());
  // Durable like the RocksDB checkpoint beside them: a backup taken just
  // before a power loss must not hold a torn or empty log checkpoint.
  for (const auto& [name, bytes] : files) {
    if (alarm::Status s = storage::WriteFileDurably(dir / name, bytes); !s.ok()) return s;
  }
  return alarm::Status::Ok();
}

}  // namespace

BackupService::BackupService(storage::Store* store, BlockingExecutor control,
                             const AccessControl* access, std::filesystem::path log_state_dir)
    : store_(store),
      control_(std::move(control)),
      access_(access),
      log_state_dir_(std::move(log_state_dir)) {}

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
    // The log's state first: the database checkpoint taken after it holds
    // at least what it claims (both are written on this thread).
    auto log_state = log_state_dir_.empty()
                         ? alarm::Result<std::vector<std::pair<std::string, std::string>>>(
                               std::vector<std::pair<std::string, std::string>>())
                         : ReadFiles(log_state_dir_);
    alarm::Status s = log_state ? store_->CreateBackup(dir) : log_state.error();
    if (s.ok() && !log_state->empty()) s = WriteFiles(dir / log_state_dir_.filename(), *log_state);
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
