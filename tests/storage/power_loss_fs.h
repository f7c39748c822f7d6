// Test helper: a RocksDB FileSystem that can simulate a power loss by dropping
// every byte that was not made durable.
//
// Fault model (what "durable" means here):
//   - File data: bytes appended to a writable file are durable once a later
//     FSWritableFile::Sync or Fsync returns OK (the size at the call counts).
//     RangeSync (sync_file_range) and Close/Flush do not make data durable.
//   - Directory entries: a file created, reused or renamed into place through
//     this FileSystem exists after a power loss only once NewDirectory(dir)
//     ->Fsync (or FsyncWithDirOptions) has returned after the creation/rename.
//     A file that existed before this FileSystem saw it keeps its entry.
//   - At power loss, every tracked file whose entry is not durable is deleted,
//     and every other tracked file is truncated to its durable size. Unsynced
//     bytes are dropped entirely: no torn or partially kept tails (a separate
//     fault), no reordering beyond "everything unsynced is gone".
// Simplifications (documented, all in the conservative or neutral direction):
//   - Files this FileSystem never opened for writing (existing before it was
//     used, LOCK) are left as they are.
//   - DeleteFile is durable at once (a deleted file never comes back).
//   - An unsynced rename loses the target, even if an older file of that name
//     had a durable entry (real disks would keep the old target).
//   - NewRandomRWFile and memory-mapped writes are not tracked (RocksDB does
//     not use them for the WAL, SSTs or MANIFEST with default options).
//
// Usage: wrap the default FileSystem, build an Env with Env(), open the DB on
// it, then CutPower() at the moment of the simulated outage (the durable state
// is frozen: later syncs, creations and deletions no longer count or happen;
// later renames fail; later appends still reach the disk and are dropped),
// close the DB, and call SimulatePowerLoss() to apply the loss to disk. Calling
// SimulatePowerLoss() without CutPower() cuts the power at that moment.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace vigil::testing {

class PowerLossFileSystem : public rocksdb::FileSystemWrapper {
 public:
  // Per-file durable state, shared with the open file handles.
  struct FileState {
    uint64_t written = 0;        // bytes appended so far
    uint64_t synced = 0;         // bytes known durable
    bool entry_durable = false;  // the directory entry survives a power loss
  };

  PowerLossFileSystem();  // wraps rocksdb::FileSystem::Default()

  static const char* kClassName() { return "VigilPowerLossFileSystem"; }
  const char* Name() const override { return kClassName(); }

  // Freezes the durable state now: later syncs make nothing durable, later
  // creations never survive, later deletions are not carried out.
  void CutPower();
  // REQUIRES: no DB is open on this FileSystem. Cuts the power if not cut yet,
  // applies the loss to disk (truncates and deletes, see above), then resets:
  // the surviving files count as fully durable and the power is back on.
  // Returns false (and says why in *error) if a file could not be changed.
  bool SimulatePowerLoss(std::string* error);

  // Counters for assertions and reports, since construction.
  uint64_t sync_calls() const;
  uint64_t dir_fsync_calls() const;
  uint64_t bytes_dropped() const;  // by SimulatePowerLoss
  uint64_t files_deleted() const;  // by SimulatePowerLoss

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size, const rocksdb::IOOptions& opts,
                             rocksdb::IODebugContext* dbg) override;

  // Called by the file and directory wrappers.
  void OnAppended(FileState& state, uint64_t end);  // end: file size after the write
  void OnTruncated(FileState& state, uint64_t size);
  uint64_t Written(const FileState& state) const;
  void OnSynced(FileState& state, uint64_t size);  // size: written when the sync began
  void OnDirSynced(const std::string& dir);

 private:
  // Starts tracking fname as a newly created (or reused) file of size 0.
  std::shared_ptr<FileState> TrackNew(const std::string& fname);

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> files_;  // by normalized path
  bool power_cut_ = false;
  uint64_t sync_calls_ = 0;
  uint64_t dir_fsync_calls_ = 0;
  uint64_t bytes_dropped_ = 0;
  uint64_t files_deleted_ = 0;
};

// An Env whose file operations go through `fs` (rocksdb::NewCompositeEnv).
std::unique_ptr<rocksdb::Env> NewPowerLossEnv(const std::shared_ptr<PowerLossFileSystem>& fs);

}  // namespace vigil::testing
