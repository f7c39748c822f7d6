// Store: Vigil's durable state in one RocksDB database (column families and
// key layouts in keys.h), one interface per concern so that each consumer
// holds the slice it uses: IngestLog (ingest_log.h: the storage writer,
// replay, checkpoints), ChunkStore (chunk_store.h: the shards, queries,
// retention), JournalStore (journal_store.h: the journal thread, the alarm
// service), RegistryStore (registry_store.h: registry and rules). Store adds
// opening, statistics and backups. RocksDB stays behind these headers.
//
// Thread-safety: as each slice states; GetStats and CreateBackup may be
// called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "alarm/status.h"
#include "storage/chunk_store.h"
#include "storage/ingest_log.h"
#include "storage/journal_store.h"
#include "storage/registry_store.h"

namespace vigil::storage {

struct StoreOptions {
  // Database folder; created if missing.
  std::filesystem::path dir;
  // fsync the WAL before an ingest-log Append completes (survives power loss). Otherwise
  // the WAL is written but not synced (survives a process crash). Default: false.
  bool sync = false;
  // Memtable size per column family, bytes. Default: 64 MiB.
  size_t write_buffer_bytes = size_t{64} << 20;
  RetentionOptions retention{};
};

struct StoreStats {
  uint64_t sst_bytes = 0;       // live SST files, all families
  uint64_t memtable_bytes = 0;  // all memtables
  uint64_t wal_bytes = 0;       // live WAL files
  uint64_t pending_compaction_bytes = 0;
  bool writes_stopped = false;      // RocksDB stopped writes (too many L0 files, memtables)
  uint64_t delayed_write_rate = 0;  // bytes/s RocksDB throttles writes to; 0 = not delayed
  // Opening the database skipped this many bytes of corrupt or torn write-ahead
  // log (the tail a crash left half written), in this many places. Records
  // before them were recovered; those after were never acknowledged when the
  // WAL is synced before acks (durability fsync).
  uint64_t wal_bytes_dropped_at_open = 0;
  uint64_t wal_corruptions_at_open = 0;
  // Since open: readings written into chunks, and readings WriteChunks left
  // out because the same reading (time, value, quality) was stored already
  // (a replay after a crash sealing again what was sealed before it).
  uint64_t chunk_readings_written = 0;
  uint64_t chunk_readings_repeated = 0;
};

class Store : public IngestLog, public ChunkStore, public JournalStore, public RegistryStore {
 public:
  // Opens or creates the database. Errors: kIOError (folder not writable, or
  // locked by another process), kCorruption (unreadable database).
  static alarm::Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store() override = default;

  virtual StoreStats GetStats() = 0;

  // Writes a consistent copy of the database into `dir` (a RocksDB
  // checkpoint) while writes go on: every write that returned before the call
  // is in it, whole; a later one either whole or not at all, in log order. The
  // copy is a database Store::Open opens as is. `dir` must not exist; its
  // parent folders are created if missing. SST files are hard links when `dir`
  // is on the same filesystem as the database, copies otherwise; MANIFEST,
  // OPTIONS and the WAL tail are always copied. May take seconds (flush, file
  // copies): call it off latency-sensitive threads. Errors: kInvalidArgument
  // (`dir` exists), kIOError (anything else: cannot create, disk full, ...).
  virtual alarm::Status CreateBackup(const std::filesystem::path& dir) = 0;
};

}  // namespace vigil::storage
