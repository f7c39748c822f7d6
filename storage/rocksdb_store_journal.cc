// RocksDbStore, the JournalStore: the alarm journal, its indexes, open alarms,
// journal marks and engine snapshots.
#include <rocksdb/iterator.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "storage/rocksdb_store_impl.h"

namespace vigil::storage {

using alarm::Result;
using alarm::Status;

Status RocksDbStore::WriteJournal(const JournalBatch& j) {
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  auto put = [&](rocksdb::ColumnFamilyHandle* cf, const std::string& key, std::string_view value) {
    if (s.ok()) s = batch.Put(cf, key, ToSlice(value));
  };
  for (const JournalAppend& e : j.entries) {
    put(journal(), JournalEntryKey(e.seq), e.entry);
    put(journal(), AlarmHistoryKey(e.alarm_id, e.seq), {});
    put(journal(), JournalTimeKey(e.at, e.seq), {});
    put(journal(), JournalHashKey(e.seq),
        std::string_view(reinterpret_cast<const char*>(e.hash.data()), e.hash.size()));
  }
  // The first chained entries of this store (new, or written by a vigild
  // without the chain): record where the chain starts, in the same write.
  const bool genesis = !chain_recorded_ && !j.entries.empty();
  if (genesis) {
    const uint64_t first = j.entries.front().seq;
    put(meta(), std::string(kJournalChainKey),
        EncodeChainRecord(
            {.genesis_seq = first, .anchor_seq = first, .anchor_hash = kGenesisHash}));
  }
  for (const OpenAlarmWrite& o : j.open) {
    const std::string key = OpenAlarmKey(o.alarm_kind, o.source_id);
    if (o.entry) {
      put(journal(), key, *o.entry);
    } else if (s.ok()) {
      s = batch.Delete(journal(), key);
    }
  }
  if (!j.marks.empty() || !j.snapshots.empty()) {
    if (j.shard_count != shard_count_) {
      // Marks and snapshots of another shard layout no longer apply.
      if (s.ok())
        s = batch.DeleteRange(meta(), ShardKey(kJournalMarkPrefix, 0),
                              ShardKey(kJournalMarkPrefix, UINT32_MAX));
      if (s.ok())
        s = batch.DeleteRange(meta(), ShardKey(kEngineSnapshotPrefix, 0),
                              ShardKey(kEngineSnapshotPrefix, UINT32_MAX));
      std::string count;
      PutBigEndian64(&count, j.shard_count);
      put(meta(), std::string(kJournalShardsKey), count);
    }
    for (const JournalMark& m : j.marks) {
      std::string value;
      PutBigEndian64(&value, m.log_seq);
      put(meta(), ShardKey(kJournalMarkPrefix, m.shard), value);
    }
    for (const SnapshotWrite& w : j.snapshots) {
      put(meta(), ShardKey(kEngineSnapshotPrefix, w.shard), w.bytes);
    }
  }
  if (!s.ok()) return FromRocks(s, "build journal batch");
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  s = db_->Write(wo, &batch);
  if (!s.ok()) return FromRocks(s, "write alarm journal");
  if (!j.marks.empty() || !j.snapshots.empty()) shard_count_ = j.shard_count;
  if (genesis) chain_recorded_ = true;
  return Status::Ok();
}

Result<JournalState> RocksDbStore::LoadJournalState() {
  JournalState state;
  std::string value;
  rocksdb::Status s = db_->Get({}, meta(), ToSlice(kJournalFirstKey), &value);
  if (s.ok() && value.size() == 8) {
    state.first_seq = GetBigEndian64(value.data());
  } else if (!s.ok() && !s.IsNotFound()) {
    return FromRocks(s, "read journal start");
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, journal()));
    const std::string upper(1, 'e' + 1);
    it->SeekForPrev(upper);
    if (it->Valid() && it->key().size() == 9 && it->key()[0] == 'e') {
      state.last_seq = GetBigEndian64(it->key().data() + 1);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scan alarm journal");
    state.last_seq = std::max(state.last_seq, state.first_seq - 1);
    for (it->Seek(std::string(1, 'o')); it->Valid() && it->key()[0] == 'o'; it->Next()) {
      state.open_entries.emplace_back(ToView(it->value()));
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scan open alarms");
  }
  s = db_->Get({}, meta(), ToSlice(kJournalShardsKey), &value);
  if (s.ok() && value.size() == 8) {
    state.shard_count = static_cast<uint32_t>(GetBigEndian64(value.data()));
  } else if (!s.ok() && !s.IsNotFound()) {
    return FromRocks(s, "read journal shards");
  }
  shard_count_ = state.shard_count;
  auto chain = LoadChainRecord(nullptr);
  if (!chain) return chain.error();
  chain_recorded_ = chain->has_value();
  if (*chain) {
    const ChainRecord& record = **chain;
    state.chain_genesis_seq = record.genesis_seq;
    if (state.last_seq + 1 == record.anchor_seq) {
      state.chain_head = record.anchor_hash;
    } else if (state.last_seq >= record.anchor_seq) {
      // One read at start-up; the journal thread keeps the head in memory.
      auto head = LoadChainHash(nullptr, state.last_seq);
      if (!head) return head.error();
      if (*head) state.chain_head = **head;
    }
  }
  state.marks.assign(state.shard_count, 0);
  state.snapshots.assign(state.shard_count, {});
  for (uint32_t shard = 0; shard < state.shard_count; ++shard) {
    s = db_->Get({}, meta(), ShardKey(kJournalMarkPrefix, shard), &value);
    if (s.ok() && value.size() == 8) state.marks[shard] = GetBigEndian64(value.data());
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read journal mark");
    s = db_->Get({}, meta(), ShardKey(kEngineSnapshotPrefix, shard), &state.snapshots[shard]);
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read engine snapshot");
  }
  return state;
}

Status RocksDbStore::ReadJournal(uint64_t from,
                                 const std::function<bool(uint64_t, std::string_view)>& visit) {
  const std::string upper(1, 'e' + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, journal()));
  for (it->Seek(JournalEntryKey(from)); it->Valid(); it->Next()) {
    if (it->key().size() != 9) return Status::Corruption("alarm journal: malformed key");
    if (!visit(GetBigEndian64(it->key().data() + 1), ToView(it->value()))) break;
  }
  return FromRocks(it->status(), "read alarm journal");
}

Status RocksDbStore::ReadAlarmHistory(
    uint64_t alarm_id, const std::function<bool(uint64_t, std::string_view)>& visit) {
  std::string prefix(1, 'a');
  PutBigEndian64(&prefix, alarm_id);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, journal()));
  std::string entry;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != 17) return Status::Corruption("alarm history: malformed key");
    const uint64_t seq = GetBigEndian64(it->key().data() + 9);
    rocksdb::Status s = db_->Get({}, journal(), JournalEntryKey(seq), &entry);
    if (s.IsNotFound()) continue;  // expired
    if (!s.ok()) return FromRocks(s, "read alarm history");
    if (!visit(seq, entry)) break;
  }
  return FromRocks(it->status(), "read alarm history");
}

Status RocksDbStore::ScanJournalByTime(
    alarm::TimestampMs from, alarm::TimestampMs to,
    const std::function<bool(uint64_t, alarm::TimestampMs)>& visit) {
  if (from >= to) return Status::Ok();
  const std::string upper = JournalTimeKey(to, 0);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, journal()));
  for (it->Seek(JournalTimeKey(from, 0)); it->Valid(); it->Next()) {
    if (it->key().size() != 17) return Status::Corruption("journal time index: malformed key");
    if (!visit(GetBigEndian64(it->key().data() + 9), GetOrderedInt64(it->key().data() + 1))) {
      break;
    }
  }
  return FromRocks(it->status(), "scan journal by time");
}

Result<uint64_t> RocksDbStore::ExpireJournal(alarm::TimestampMs before) {
  auto state = LoadJournalFirst();
  if (!state) return state.error();
  uint64_t first = *state;
  // Entries are nearly in time order (a replay after a restart journals
  // events up to a checkpoint interval old). The first kept seq is the
  // smallest seq at or after `before`, looked for within a day past it, so
  // nothing inside the window is ever deleted.
  constexpr alarm::TimestampMs kSkew = 24LL * 3600 * 1000;
  uint64_t keep_from = UINT64_MAX;
  Status s = ScanJournalByTime(before, before > INT64_MAX - kSkew ? INT64_MAX : before + kSkew,
                               [&](uint64_t seq, alarm::TimestampMs) {
                                 keep_from = std::min(keep_from, seq);
                                 return true;
                               });
  if (!s.ok()) return s;
  if (keep_from == UINT64_MAX) {
    // Nothing in the window's first day: keep everything from the newest old entry on.
    uint64_t last_old = 0;
    s = ScanJournalByTime(INT64_MIN, before, [&](uint64_t seq, alarm::TimestampMs) {
      last_old = std::max(last_old, seq);
      return true;
    });
    if (!s.ok()) return s;
    keep_from = last_old + 1;
  }
  if (keep_from <= first) return first;
  rocksdb::WriteBatch batch;
  std::string value;
  PutBigEndian64(&value, keep_from);
  rocksdb::Status rs = batch.Put(meta(), ToSlice(kJournalFirstKey), value);
  // The oldest kept chained entry becomes the anchor, with the hash it
  // follows, so the kept part of the chain still verifies.
  auto chain = LoadChainRecord(nullptr);
  if (!chain) return chain.error();
  if (*chain && keep_from > (*chain)->anchor_seq) {
    ChainRecord record = **chain;
    auto before_hash = LoadChainHash(nullptr, keep_from - 1);
    if (!before_hash) return before_hash.error();
    record.anchor_seq = keep_from;
    record.anchor_hash = before_hash->value_or(ChainHash{});
    if (rs.ok()) rs = batch.Put(meta(), ToSlice(kJournalChainKey), EncodeChainRecord(record));
  }
  if (rs.ok()) rs = batch.DeleteRange(journal(), JournalHashKey(0), JournalHashKey(keep_from));
  if (rs.ok()) rs = batch.DeleteRange(journal(), JournalEntryKey(0), JournalEntryKey(keep_from));
  if (rs.ok()) {
    rs = batch.DeleteRange(journal(), AlarmHistoryKey(0, 0), AlarmHistoryKey(keep_from, 0));
  }
  if (rs.ok()) {
    rs = batch.DeleteRange(journal(), JournalTimeKey(INT64_MIN, 0), JournalTimeKey(before, 0));
  }
  if (!rs.ok()) return FromRocks(rs, "build journal expiry");
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  rs = db_->Write(wo, &batch);
  if (!rs.ok()) return FromRocks(rs, "expire alarm journal");
  return keep_from;
}

Result<uint64_t> RocksDbStore::LoadJournalFirst() {
  std::string value;
  rocksdb::Status s = db_->Get({}, meta(), ToSlice(kJournalFirstKey), &value);
  if (s.IsNotFound()) return uint64_t{1};
  if (!s.ok()) return FromRocks(s, "read journal start");
  if (value.size() != 8) return Status::Corruption("meta journal_first: bad length");
  return GetBigEndian64(value.data());
}

Result<std::optional<ChainRecord>> RocksDbStore::LoadChainRecord(
    const rocksdb::Snapshot* snapshot) {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  std::string value;
  rocksdb::Status s = db_->Get(ro, meta(), ToSlice(kJournalChainKey), &value);
  if (s.IsNotFound()) return std::optional<ChainRecord>();
  if (!s.ok()) return FromRocks(s, "read journal chain");
  auto record = DecodeChainRecord(value);
  if (!record) return Status::Corruption("meta journal_chain: malformed");
  return record;
}

Result<std::optional<ChainHash>> RocksDbStore::LoadChainHash(const rocksdb::Snapshot* snapshot,
                                                             uint64_t seq) {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  std::string value;
  rocksdb::Status s = db_->Get(ro, journal(), JournalHashKey(seq), &value);
  if (s.IsNotFound()) return std::optional<ChainHash>();
  if (!s.ok()) return FromRocks(s, "read journal hash");
  if (value.size() != 32) return std::optional<ChainHash>();
  ChainHash hash{};
  std::memcpy(hash.data(), value.data(), hash.size());
  return std::optional(hash);
}

namespace {

// A RocksDB snapshot released on scope exit.
class ScopedSnapshot {
 public:
  explicit ScopedSnapshot(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~ScopedSnapshot() { db_->ReleaseSnapshot(snapshot_); }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

std::optional<ChainHash> HashOf(rocksdb::Slice value) {
  if (value.size() != 32) return std::nullopt;
  ChainHash hash{};
  std::memcpy(hash.data(), value.data(), hash.size());
  return hash;
}

}  // namespace

Result<ChainCheck> RocksDbStore::VerifyJournalChain(uint64_t from, uint64_t max_entries) {
  ScopedSnapshot snapshot(db_.get());
  ChainCheck check;
  auto chain = LoadChainRecord(snapshot.get());
  if (!chain) return chain.error();
  if (!*chain) return check;  // nothing chained
  const ChainRecord& record = **chain;
  check.genesis_seq = record.genesis_seq;
  const uint64_t start = std::max(from, record.anchor_seq);
  check.first_seq = start;
  check.last_seq = start - 1;
  ChainHash prev = record.anchor_hash;
  if (start > record.anchor_seq) {
    auto stored = LoadChainHash(snapshot.get(), start - 1);
    if (!stored) return stored.error();
    if (!*stored) {
      check.broken = ChainBreak{.seq = start - 1, .problem = "no stored hash for the entry"};
      return check;
    }
    prev = **stored;
  }
  ChainWalker walker(start, prev);
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  const std::string entry_upper(1, 'e' + 1);
  const std::string hash_upper(1, 'h' + 1);
  rocksdb::Slice entry_bound(entry_upper);
  rocksdb::Slice hash_bound(hash_upper);
  rocksdb::ReadOptions entry_ro = ro;
  entry_ro.iterate_upper_bound = &entry_bound;
  rocksdb::ReadOptions hash_ro = ro;
  hash_ro.iterate_upper_bound = &hash_bound;
  std::unique_ptr<rocksdb::Iterator> entries(db_->NewIterator(entry_ro, journal()));
  std::unique_ptr<rocksdb::Iterator> hashes(db_->NewIterator(hash_ro, journal()));
  entries->Seek(JournalEntryKey(start));
  hashes->Seek(JournalHashKey(start));
  for (; entries->Valid() && walker.verified() < max_entries; entries->Next()) {
    if (entries->key().size() != 9) return Status::Corruption("alarm journal: malformed key");
    const uint64_t seq = GetBigEndian64(entries->key().data() + 1);
    // The hash iterator follows the entry iterator; a hash with no entry is
    // an entry deleted (hashes are never written alone).
    std::optional<ChainHash> stored;
    while (hashes->Valid() && hashes->key().size() == 9 &&
           GetBigEndian64(hashes->key().data() + 1) < seq) {
      const uint64_t orphan = GetBigEndian64(hashes->key().data() + 1);
      if (orphan >= walker.next_seq()) {
        walker.Break(orphan, "entry missing (its hash is stored)");
        break;
      }
      hashes->Next();
    }
    if (walker.broken()) break;
    if (hashes->Valid() && hashes->key().size() == 9 &&
        GetBigEndian64(hashes->key().data() + 1) == seq) {
      stored = HashOf(hashes->value());
      hashes->Next();
    }
    if (!walker.Next(seq, ToView(entries->value()), stored)) break;
  }
  if (!entries->status().ok()) return FromRocks(entries->status(), "verify alarm journal");
  if (!hashes->status().ok()) return FromRocks(hashes->status(), "verify alarm journal");
  const bool more = entries->Valid();
  if (!walker.broken() && !more && hashes->Valid() && hashes->key().size() == 9) {
    // Hashes past the last entry: the journal's tail was deleted.
    const uint64_t orphan = GetBigEndian64(hashes->key().data() + 1);
    if (orphan >= walker.next_seq()) walker.Break(orphan, "entry missing (its hash is stored)");
  }
  check.verified = walker.verified();
  check.last_seq = walker.next_seq() - 1;
  check.last_hash = walker.head();
  check.broken = walker.broken();
  check.next_seq = (!check.broken && more) ? walker.next_seq() : 0;
  return check;
}

Status RocksDbStore::ReadChainedJournal(
    uint64_t from, uint64_t to, const std::function<void(const ChainRecord&)>& start_at,
    const std::function<bool(uint64_t, std::string_view, const ChainHash&)>& visit) {
  ScopedSnapshot snapshot(db_.get());
  auto chain = LoadChainRecord(snapshot.get());
  if (!chain) return chain.error();
  if (!*chain) return Status::Ok();
  ChainRecord out = **chain;
  const uint64_t start = std::max(from, out.anchor_seq);
  if (start > out.anchor_seq) {
    auto stored = LoadChainHash(snapshot.get(), start - 1);
    if (!stored) return stored.error();
    out.anchor_hash = stored->value_or(ChainHash{});
  }
  out.anchor_seq = start;
  start_at(out);
  if (start > to) return Status::Ok();
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  const std::string upper = JournalEntryKey(to == UINT64_MAX ? to : to + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions entry_ro = ro;
  if (to != UINT64_MAX) entry_ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(entry_ro, journal()));
  std::string hash_value;
  for (it->Seek(JournalEntryKey(start)); it->Valid() && it->key()[0] == 'e'; it->Next()) {
    if (it->key().size() != 9) return Status::Corruption("alarm journal: malformed key");
    const uint64_t seq = GetBigEndian64(it->key().data() + 1);
    // One Get per entry: exports are off the hot path and bounded in size.
    rocksdb::Status s = db_->Get(ro, journal(), JournalHashKey(seq), &hash_value);
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read journal hash");
    const ChainHash hash = s.ok() ? HashOf(hash_value).value_or(ChainHash{}) : ChainHash{};
    if (!visit(seq, ToView(it->value()), hash)) break;
  }
  return FromRocks(it->status(), "read alarm journal");
}

}  // namespace vigil::storage
