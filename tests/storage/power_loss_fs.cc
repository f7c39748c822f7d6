#include "tests/storage/power_loss_fs.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

namespace vigil::testing {
namespace {

using rocksdb::DataVerificationInfo;
using rocksdb::DirFsyncOptions;
using rocksdb::FileOptions;
using rocksdb::FSDirectory;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;
using FileState = PowerLossFileSystem::FileState;

// One spelling per file: "a//b/./c" and "a/b/c" are the same file.
std::string Normalize(const std::string& name) {
  std::string s = std::filesystem::path(name).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string ParentOf(const std::string& normalized) {
  return std::filesystem::path(normalized).parent_path().string();
}

// Forwards everything, telling the FileSystem what was written and synced.
class TrackedWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedWritableFile(std::unique_ptr<FSWritableFile> target, PowerLossFileSystem* fs,
                      std::shared_ptr<FileState> state)
      : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs), state_(std::move(state)) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = target()->Append(data, options, dbg);
    if (s.ok()) AddAppended(data.size());
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const DataVerificationInfo& verification_info, IODebugContext* dbg) override {
    IOStatus s = target()->Append(data, options, verification_info, dbg);
    if (s.ok()) AddAppended(data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* dbg) override {
    IOStatus s = target()->PositionedAppend(data, offset, options, dbg);
    if (s.ok()) fs_->OnAppended(*state_, offset + data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            const DataVerificationInfo& verification_info,
                            IODebugContext* dbg) override {
    IOStatus s = target()->PositionedAppend(data, offset, options, verification_info, dbg);
    if (s.ok()) fs_->OnAppended(*state_, offset + data.size());
    return s;
  }
  IOStatus Truncate(uint64_t size, const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = target()->Truncate(size, options, dbg);
    if (s.ok()) fs_->OnTruncated(*state_, size);
    return s;
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    const uint64_t size = fs_->Written(*state_);
    IOStatus s = target()->Sync(options, dbg);
    if (s.ok()) fs_->OnSynced(*state_, size);
    return s;
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    const uint64_t size = fs_->Written(*state_);
    IOStatus s = target()->Fsync(options, dbg);
    if (s.ok()) fs_->OnSynced(*state_, size);
    return s;
  }
  // RangeSync (sync_file_range) is forwarded but makes nothing durable.

 private:
  void AddAppended(uint64_t n) { fs_->OnAppended(*state_, fs_->Written(*state_) + n); }

  PowerLossFileSystem* fs_;
  std::shared_ptr<FileState> state_;
};

class TrackedDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDirectory(std::unique_ptr<FSDirectory> target, PowerLossFileSystem* fs, std::string name)
      : FSDirectoryWrapper(std::move(target)), fs_(fs), name_(std::move(name)) {}

  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = FSDirectoryWrapper::Fsync(options, dbg);
    if (s.ok()) fs_->OnDirSynced(name_);
    return s;
  }
  IOStatus FsyncWithDirOptions(const IOOptions& options, IODebugContext* dbg,
                               const DirFsyncOptions& dir_fsync_options) override {
    IOStatus s = FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_fsync_options);
    if (s.ok()) fs_->OnDirSynced(name_);
    return s;
  }

 private:
  PowerLossFileSystem* fs_;
  std::string name_;
};

}  // namespace

PowerLossFileSystem::PowerLossFileSystem()
    : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}

void PowerLossFileSystem::CutPower() {
  std::lock_guard lock(mu_);
  power_cut_ = true;
}

bool PowerLossFileSystem::SimulatePowerLoss(std::string* error) {
  std::lock_guard lock(mu_);
  power_cut_ = true;
  bool ok = true;
  for (const auto& [name, state] : files_) {
    std::error_code ec;
    if (!state->entry_durable) {
      if (std::filesystem::remove(name, ec)) ++files_deleted_;
      if (ec) {
        *error += "cannot delete " + name + ": " + ec.message() + "\n";
        ok = false;
      }
      continue;
    }
    const uint64_t size = std::filesystem::file_size(name, ec);
    if (ec) {
      *error += "cannot stat " + name + ": " + ec.message() + "\n";
      ok = false;
      continue;
    }
    if (size > state->synced) {
      std::filesystem::resize_file(name, state->synced, ec);
      if (ec) {
        *error += "cannot truncate " + name + ": " + ec.message() + "\n";
        ok = false;
        continue;
      }
      bytes_dropped_ += size - state->synced;
    }
  }
  files_.clear();  // what survived is durable as it is
  power_cut_ = false;
  return ok;
}

uint64_t PowerLossFileSystem::sync_calls() const {
  std::lock_guard lock(mu_);
  return sync_calls_;
}
uint64_t PowerLossFileSystem::dir_fsync_calls() const {
  std::lock_guard lock(mu_);
  return dir_fsync_calls_;
}
uint64_t PowerLossFileSystem::bytes_dropped() const {
  std::lock_guard lock(mu_);
  return bytes_dropped_;
}
uint64_t PowerLossFileSystem::files_deleted() const {
  std::lock_guard lock(mu_);
  return files_deleted_;
}

std::shared_ptr<FileState> PowerLossFileSystem::TrackNew(const std::string& fname) {
  const std::string name = Normalize(fname);
  auto state = std::make_shared<FileState>();
  std::lock_guard lock(mu_);
  // Overwriting a file keeps its directory entry (if that was durable) but
  // none of its old content; a new name needs a directory fsync.
  auto it = files_.find(name);
  if (it != files_.end()) {
    state->entry_durable = it->second->entry_durable;
    it->second = state;
  } else {
    files_.emplace(name, state);
  }
  return state;
}

IOStatus PowerLossFileSystem::NewWritableFile(const std::string& fname, const FileOptions& opts,
                                              std::unique_ptr<FSWritableFile>* result,
                                              IODebugContext* dbg) {
  std::error_code ec;
  const bool existed_untracked = [&] {
    std::lock_guard lock(mu_);
    return files_.count(Normalize(fname)) == 0 && std::filesystem::exists(fname, ec);
  }();
  std::unique_ptr<FSWritableFile> file;
  IOStatus s = target()->NewWritableFile(fname, opts, &file, dbg);
  if (!s.ok()) return s;
  std::shared_ptr<FileState> state = TrackNew(fname);
  if (existed_untracked) {
    std::lock_guard lock(mu_);
    state->entry_durable = true;
  }
  *result = std::make_unique<TrackedWritableFile>(std::move(file), this, std::move(state));
  return s;
}

IOStatus PowerLossFileSystem::ReopenWritableFile(const std::string& fname, const FileOptions& opts,
                                                 std::unique_ptr<FSWritableFile>* result,
                                                 IODebugContext* dbg) {
  std::unique_ptr<FSWritableFile> file;
  IOStatus s = target()->ReopenWritableFile(fname, opts, &file, dbg);
  if (!s.ok()) return s;
  const std::string name = Normalize(fname);
  std::shared_ptr<FileState> state;
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(name);
    if (it != files_.end()) {
      state = it->second;  // keeps its durable size and entry
    } else {
      // Untracked: what is on disk now was there before us; count it durable.
      std::error_code ec;
      const uint64_t size = std::filesystem::file_size(fname, ec);
      state = std::make_shared<FileState>(
          FileState{.written = ec ? 0 : size, .synced = ec ? 0 : size, .entry_durable = true});
      files_.emplace(name, state);
    }
  }
  *result = std::make_unique<TrackedWritableFile>(std::move(file), this, std::move(state));
  return s;
}

IOStatus PowerLossFileSystem::ReuseWritableFile(const std::string& fname,
                                                const std::string& old_fname,
                                                const FileOptions& opts,
                                                std::unique_ptr<FSWritableFile>* result,
                                                IODebugContext* dbg) {
  std::unique_ptr<FSWritableFile> file;
  IOStatus s = target()->ReuseWritableFile(fname, old_fname, opts, &file, dbg);
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    files_.erase(Normalize(old_fname));
    files_.erase(Normalize(fname));  // a renamed-into-place entry: not durable yet
  }
  *result = std::make_unique<TrackedWritableFile>(std::move(file), this, TrackNew(fname));
  return s;
}

IOStatus PowerLossFileSystem::NewDirectory(const std::string& name, const IOOptions& opts,
                                           std::unique_ptr<FSDirectory>* result,
                                           IODebugContext* dbg) {
  std::unique_ptr<FSDirectory> dir;
  IOStatus s = target()->NewDirectory(name, opts, &dir, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<TrackedDirectory>(std::move(dir), this, Normalize(name));
  return s;
}

IOStatus PowerLossFileSystem::DeleteFile(const std::string& fname, const IOOptions& opts,
                                         IODebugContext* dbg) {
  {
    std::lock_guard lock(mu_);
    if (power_cut_) return IOStatus::OK();  // never happened
    files_.erase(Normalize(fname));
  }
  return target()->DeleteFile(fname, opts, dbg);
}

IOStatus PowerLossFileSystem::RenameFile(const std::string& src, const std::string& target_name,
                                         const IOOptions& opts, IODebugContext* dbg) {
  {
    std::lock_guard lock(mu_);
    if (power_cut_) return IOStatus::IOError("power cut (simulated)");
  }
  IOStatus s = target()->RenameFile(src, target_name, opts, dbg);
  if (!s.ok()) return s;
  const std::string from = Normalize(src);
  const std::string to = Normalize(target_name);
  std::lock_guard lock(mu_);
  std::shared_ptr<FileState> state;
  auto it = files_.find(from);
  if (it != files_.end()) {
    state = it->second;
    files_.erase(it);
  } else {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(to, ec);
    state = std::make_shared<FileState>(
        FileState{.written = ec ? 0 : size, .synced = ec ? 0 : size, .entry_durable = false});
  }
  state->entry_durable = false;  // the new name needs a directory fsync
  files_[to] = std::move(state);
  return s;
}

IOStatus PowerLossFileSystem::Truncate(const std::string& fname, size_t size, const IOOptions& opts,
                                       IODebugContext* dbg) {
  IOStatus s = target()->Truncate(fname, size, opts, dbg);
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  auto it = files_.find(Normalize(fname));
  if (it != files_.end()) {
    it->second->written = size;
    it->second->synced = std::min<uint64_t>(it->second->synced, size);
  }
  return s;
}

void PowerLossFileSystem::OnAppended(FileState& state, uint64_t end) {
  std::lock_guard lock(mu_);
  state.written = std::max(state.written, end);
}

void PowerLossFileSystem::OnTruncated(FileState& state, uint64_t size) {
  std::lock_guard lock(mu_);
  state.written = size;
  state.synced = std::min(state.synced, size);
}

uint64_t PowerLossFileSystem::Written(const FileState& state) const {
  std::lock_guard lock(mu_);
  return state.written;
}

void PowerLossFileSystem::OnSynced(FileState& state, uint64_t size) {
  std::lock_guard lock(mu_);
  ++sync_calls_;
  if (power_cut_) return;
  state.synced = std::max(state.synced, std::min(size, state.written));
}

void PowerLossFileSystem::OnDirSynced(const std::string& dir) {
  std::lock_guard lock(mu_);
  ++dir_fsync_calls_;
  if (power_cut_) return;
  for (auto& [name, state] : files_) {
    if (ParentOf(name) == dir) state->entry_durable = true;
  }
}

std::unique_ptr<rocksdb::Env> NewPowerLossEnv(const std::shared_ptr<PowerLossFileSystem>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace vigil::testing
