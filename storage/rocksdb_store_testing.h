// Test seam for the RocksDB Store: opens it on a caller-supplied rocksdb::Env
// (e.g. a fault-injecting FileSystem wrapped by rocksdb::NewCompositeEnv).
// Only tests include this header; production code uses Store::Open.
// rocksdb::Env is forward-declared so this header stays free of RocksDB
// includes (tests/check_layering.sh allows those only in rocksdb_*.cc).
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "alarm/status.h"
#include "storage/store.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace vigil::storage {

// Store::Open with DBOptions::env = env (nullptr: RocksDB's default Env).
// `env` must outlive the returned Store.
alarm::Result<std::unique_ptr<Store>> OpenStoreWithEnv(const StoreOptions& options,
                                                       rocksdb::Env* env);

// Puts `chunks` into the plain "chunks" family, where stores before time
// partitions kept them, of the database in `dir` (created if missing),
// opened with the Store's own families and options. Not with a Store open.
alarm::Status PutLegacyChunks(const std::filesystem::path& dir,
                              std::span<const SealedChunk> chunks);

// The column families of the database in `dir` as its MANIFEST lists them
// (also while it is open); empty when there is no database.
std::vector<std::string> ColumnFamilyNames(const std::filesystem::path& dir);

}  // namespace vigil::storage
