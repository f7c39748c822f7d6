// Test hooks of rocksdb_store_testing.h that change a closed database's
// alarm journal behind the Store's back (tamper and upgrade tests).
#include "storage/rocksdb_store_testing.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <string>
#include <vector>

#include "storage/keys.h"
#include "storage/rocksdb_partitions.h"

namespace vigil::storage {
namespace {

// The database in `dir` with every family it has, default options; closed
// on scope exit. Good for point edits of the journal and meta only.
class RawDb {
 public:
  alarm::Status Open(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies({}, dir.string(), &names);
    if (!s.ok()) return FromRocks(s, "list families");
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    families.reserve(names.size());
    for (const std::string& name : names)
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    s = rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), families, &handles_, &raw);
    if (!s.ok()) return FromRocks(s, "open " + dir.string());
    db_.reset(raw);
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == kAlarmJournalFamily) journal_ = handles_[i];
      if (names[i] == kMetaFamily) meta_ = handles_[i];
    }
    if (journal_ == nullptr || meta_ == nullptr) return alarm::Status::Corruption("no journal");
    return alarm::Status::Ok();
  }
  ~RawDb() {
    if (!db_) return;
    for (rocksdb::ColumnFamilyHandle* h : handles_)
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* journal() const { return journal_; }
  rocksdb::ColumnFamilyHandle* meta() const { return meta_; }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* journal_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
};

}  // namespace

alarm::Status EditJournalRecord(const std::filesystem::path& dir, JournalRecord record,
                                uint64_t seq,
                                const std::function<void(std::optional<std::string>*)>& edit) {
  RawDb db;
  if (alarm::Status s = db.Open(dir); !s.ok()) return s;
  const std::string key =
      record == JournalRecord::kEntry ? JournalEntryKey(seq) : JournalHashKey(seq);
  std::string value;
  rocksdb::Status s = db.db()->Get({}, db.journal(), key, &value);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read journal record");
  std::optional<std::string> edited;
  if (s.ok()) edited = std::move(value);
  edit(&edited);
  s = edited ? db.db()->Put({}, db.journal(), key, *edited)
             : db.db()->Delete({}, db.journal(), key);
  return FromRocks(s, "write journal record");
}

alarm::Status DropJournalChain(const std::filesystem::path& dir) {
  RawDb db;
  if (alarm::Status s = db.Open(dir); !s.ok()) return s;
  rocksdb::Status s =
      db.db()->DeleteRange({}, db.journal(), std::string(1, 'h'), std::string(1, 'h' + 1));
  if (s.ok()) s = db.db()->Delete({}, db.meta(), ToSlice(kJournalChainKey));
  return FromRocks(s, "drop journal chain");
}

}  // namespace vigil::storage
