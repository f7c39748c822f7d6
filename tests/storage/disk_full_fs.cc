#include "tests/storage/disk_full_fs.h"

#include <utility>

namespace vigil::testing {
namespace {

class DiskFullFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  DiskFullFile(std::unique_ptr<rocksdb::FSWritableFile> file, DiskFullFileSystem* fs)
      : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->Refuse(); !s.ok()) return s;
    return target()->Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->Refuse(); !s.ok()) return s;
    return target()->Append(data, options, info, dbg);
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->Refuse(); !s.ok()) return s;
    return target()->Flush(options, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->Refuse(); !s.ok()) return s;
    return target()->Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->Refuse(); !s.ok()) return s;
    return target()->Fsync(options, dbg);
  }

 private:
  DiskFullFileSystem* fs_;
};

}  // namespace

DiskFullFileSystem::DiskFullFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {
  // The Env shares ownership of nothing: this object outlives it.
  env_ = rocksdb::NewCompositeEnv(std::shared_ptr<rocksdb::FileSystem>(this, [](auto*) {}));
}

rocksdb::IOStatus DiskFullFileSystem::Refuse() {
  if (!full_.load()) return rocksdb::IOStatus::OK();
  refused_.fetch_add(1);
  return rocksdb::IOStatus::NoSpace("simulated: no space left on device");
}

rocksdb::IOStatus DiskFullFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  if (auto s = Refuse(); !s.ok()) return s;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = target()->NewWritableFile(fname, options, &file, dbg);
  if (s.ok()) *result = std::make_unique<DiskFullFile>(std::move(file), this);
  return s;
}

rocksdb::IOStatus DiskFullFileSystem::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  if (auto s = Refuse(); !s.ok()) return s;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = target()->ReopenWritableFile(fname, options, &file, dbg);
  if (s.ok()) *result = std::make_unique<DiskFullFile>(std::move(file), this);
  return s;
}

}  // namespace vigil::testing
