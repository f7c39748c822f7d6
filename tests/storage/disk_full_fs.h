// Test helper: a RocksDB FileSystem whose disk can be made "full": while full,
// creating files and appending, syncing or flushing writable files fail with
// IOStatus::NoSpace, as ENOSPC would; reads keep working. SetFull(false) is
// "space was freed". Thread-safety: every method may be called from any thread.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>

namespace vigil::testing {

class DiskFullFileSystem : public rocksdb::FileSystemWrapper {
 public:
  DiskFullFileSystem();  // wraps rocksdb::FileSystem::Default()

  static const char* kClassName() { return "VigilDiskFullFileSystem"; }
  const char* Name() const override { return kClassName(); }

  void SetFull(bool full) { full_.store(full); }
  bool full() const { return full_.load(); }
  // Writes refused so far.
  uint64_t refused() const { return refused_.load(); }

  // An Env using this FileSystem; valid while this object lives.
  rocksdb::Env* env() { return env_.get(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname,
                                       const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;

  // Internal: the check every wrapped write makes.
  rocksdb::IOStatus Refuse();

 private:
  std::atomic<bool> full_{false};
  std::atomic<uint64_t> refused_{0};
  std::unique_ptr<rocksdb::Env> env_;
};

}  // namespace vigil::testing
