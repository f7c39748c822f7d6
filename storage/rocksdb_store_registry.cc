// RocksDbStore, the RegistryStore: registry entries and the rules in force.
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <string>

#include "storage/rocksdb_store_impl.h"

namespace vigil::storage {

using alarm::Result;
using alarm::Status;

Status RocksDbStore::WriteRegistryEntries(std::span<const RegistryEntryWrite> writes) {
  if (writes.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  for (const RegistryEntryWrite& w : writes) {
    const std::string key = RegistryEntryKey(w.kind, w.id);
    rocksdb::Status s =
        w.blob ? batch.Put(meta(), key, ToSlice(*w.blob)) : batch.Delete(meta(), key);
    if (!s.ok()) return FromRocks(s, "build registry batch");
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;  // rare, and an admin expects a change to stick
  return FromRocks(db_->Write(wo, &batch), "store registry entries");
}

Status RocksDbStore::ForEachRegistryEntry(
    const std::function<Status(RegistryEntryKind, std::string_view, std::string_view)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, meta()));
  for (it->Seek(ToSlice(kRegistryPrefix)); it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    if (!key.starts_with(kRegistryPrefix)) break;
    auto parts = ParseRegistryEntryKey(key);
    if (!parts) return Status::Corruption("malformed registry key '" + std::string(key) + "'");
    Status s = visit(parts->kind, parts->id, ToView(it->value()));
    if (!s.ok()) return s;
  }
  return FromRocks(it->status(), "scan registry");
}

Status RocksDbStore::WriteRules(std::string_view rules) {
  rocksdb::WriteOptions wo;
  wo.sync = true;  // rare, and an admin expects a change to stick
  return FromRocks(db_->Put(wo, meta(), ToSlice(kRulesKey), ToSlice(rules)), "store rules");
}

Result<std::optional<std::string>> RocksDbStore::LoadRules() {
  std::string value;
  rocksdb::Status s = db_->Get({}, meta(), ToSlice(kRulesKey), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read rules");
  return std::optional<std::string>(std::move(value));
}

}  // namespace vigil::storage
