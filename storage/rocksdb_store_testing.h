// Test seam for the RocksDB Store: opens it on a caller-supplied rocksdb::Env
// (e.g. a fault-injecting FileSystem wrapped by rocksdb::NewCompositeEnv).
// Only tests include this header; production code uses Store::Open.
// rocksdb::Env is forward-declared so this header stays free of RocksDB
// includes (tests/check_layering.sh allows those only in rocksdb_*.cc).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
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

// What a tamperer with the database can change in the alarm journal: an
// entry's stored bytes, or its stored chain hash (keys.h 'e' / 'h').
enum class JournalRecord { kEntry, kHash };
// Opens the database in `dir` (not with a Store open), calls `edit` with the
// stored value of `record` of `seq` (nullopt when none) and writes back what
// it leaves (nullopt: deletes it). kNotFound-like misses are not errors.
alarm::Status EditJournalRecord(const std::filesystem::path& dir, JournalRecord record,
                                uint64_t seq,
                                const std::function<void(std::optional<std::string>*)>& edit);
// Removes every chain hash and the "journal_chain" record of the database in
// `dir` (not with a Store open): the journal as a vigild before the chain left it.
alarm::Status DropJournalChain(const std::filesystem::path& dir);

}  // namespace vigil::storage
