// RocksDbStore: database options and families, open (and the open that a full
// disk needs), start-up, the move of legacy chunks; the test seams.
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "storage/chunk.h"
#include "storage/rocksdb_store_impl.h"
#include "storage/rocksdb_store_testing.h"

namespace vigil::storage {

using alarm::Result;
using alarm::Status;

// `handles`: the fixed families (OpenRocksDbStore); `others`: every other
// family found at open (time partitions, and any unknown ones, kept as is).
RocksDbStore::RocksDbStore(const StoreOptions& options, std::unique_ptr<rocksdb::DB> db,
                           std::vector<rocksdb::ColumnFamilyHandle*> handles,
                           const std::vector<rocksdb::ColumnFamilyHandle*>& others,
                           const rocksdb::ColumnFamilyOptions& chunk_options,
                           const rocksdb::ColumnFamilyOptions& rollup_options)
    : options_(options),
      db_(std::move(db)),
      handles_(std::move(handles)),
      chunk_parts_(std::make_unique<PartitionedFamily>(db_.get(), kChunksFamily,
                                                       kChunkPartitionDays, chunk_options)),
      rollup_parts_(std::make_unique<PartitionedFamily>(db_.get(), kRollupsFamily,
                                                        kRollupPartitionDays, rollup_options)) {
  for (rocksdb::ColumnFamilyHandle* h : others) {
    const auto name = ParsePartitionFamilyName(h->GetName());
    if (name && name->base == chunk_parts_->base()) {
      chunk_parts_->Adopt(*name, h);
    } else if (name && name->base == rollup_parts_->base()) {
      rollup_parts_->Adopt(*name, h);
    } else {
      handles_.push_back(h);
    }
  }
}

RocksDbStore::~RocksDbStore() {
  chunk_parts_.reset();  // their handles go before the database closes
  rollup_parts_.reset();
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
}

Status RocksDbStore::Init() {
  std::string value;
  rocksdb::Status s = db_->Get({}, meta(), ToSlice(kCheckpointKey), &value);
  if (s.ok()) {
    if (value.size() != 8) return Status::Corruption("meta checkpoint: bad length");
    replay_from_ = GetBigEndian64(value.data());
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "read checkpoint");
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, log()));
  it->SeekToLast();
  uint64_t next = replay_from_;
  if (it->Valid()) {
    auto seq = ParseLogKey(ToView(it->key()));
    if (!seq) return Status::Corruption("ingest log: malformed key");
    next = std::max(next, *seq + 1);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan ingest log");
  next_log_seq_.store(std::max<uint64_t>(next, 1), std::memory_order_relaxed);
  if (replay_from_ == 0) replay_from_ = 1;
  return MoveLegacyChunks();
}

// Moves the chunks of a database written before time partitions into them
// (with their statistics), then deletes them. Idempotent: after a crash
// midway, the chunks moved already are found as repeats, not counted twice.
Status RocksDbStore::MoveLegacyChunks() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, legacy_chunks()));
  it->SeekToFirst();
  if (!it->Valid()) return FromRocks(it->status(), "scan legacy chunks");
  const std::string first_key(ToView(it->key()));
  std::string last_key;
  std::vector<SealedChunk> group;
  size_t group_bytes = 0;
  for (; it->Valid(); it->Next()) {
    auto parts = ParseChunkKey(ToView(it->key()));
    auto summary = InspectChunk(ToView(it->value()));
    if (!parts || !summary) return Status::Corruption("legacy chunk: malformed key or header");
    group.push_back(SealedChunk{.sensor_id = std::string(parts->sensor_id),
                                .first_at = summary->first_at,
                                .last_at = summary->last_at,
                                .chunk_id = parts->chunk_id,
                                .bytes = std::string(ToView(it->value()))});
    group_bytes += group.back().bytes.size();
    last_key.assign(it->key().data(), it->key().size());
    if (group_bytes >= (size_t{4} << 20)) {
      Status s = WriteChunks(group);
      if (!s.ok()) return s;
      group.clear();
      group_bytes = 0;
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan legacy chunks");
  Status s = WriteChunks(group);
  if (!s.ok()) return s;
  last_key.push_back('\0');  // just past the last key
  s = FromRocks(db_->DeleteRange({}, legacy_chunks(), first_key, last_key), "delete legacy chunks");
  if (!s.ok()) return s;
  return FromRocks(db_->CompactRange({}, legacy_chunks(), nullptr, nullptr),
                   "compact legacy chunks");
}

namespace {

// Store::Open and the test seam OpenStoreWithEnv; env nullptr = RocksDB's default.
// The database's families and options; a database that exists may hold
// time partitions (and families this version does not know): all are listed.
struct Layout {
  rocksdb::DBOptions db;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;  // the fixed ones first
  size_t fixed = 0;
  rocksdb::ColumnFamilyOptions chunk;
  rocksdb::ColumnFamilyOptions rollup;
};

Layout DatabaseLayout(const StoreOptions& options, rocksdb::Env* env) {
  Layout layout;
  rocksdb::DBOptions& db_options = layout.db;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  db_options.max_total_wal_size = size_t{512} << 20;
  db_options.keep_log_file_num = 5;
  // No preallocation (a WAL reserved 1.1 write buffers, ~70 MiB, at once):
  // on a nearly full disk it hid how full the disk was from
  // storage.min_free_space and took what an operator freed for a restart.
  db_options.allow_fallocate = false;
  if (env != nullptr) db_options.env = env;

  rocksdb::ColumnFamilyOptions log_options;
  log_options.write_buffer_size = options.write_buffer_bytes;
  log_options.max_write_buffer_number = 4;
  // The log lives minutes before its range is deleted, but under load its
  // flushes dominate disk traffic: LZ4 costs ~10 % CPU and cuts them ~2.5x
  // (measured: without it p99 ack latency at 3 M/s rose from ~14 ms to ~340 ms).
  log_options.compression = rocksdb::kLZ4Compression;

  rocksdb::ColumnFamilyOptions& chunk_options = layout.chunk;
  chunk_options.write_buffer_size = options.write_buffer_bytes;
  chunk_options.compression = rocksdb::kNoCompression;  // chunks are compressed already
  chunk_options.level_compaction_dynamic_level_bytes = true;

  rocksdb::ColumnFamilyOptions meta_options;
  meta_options.write_buffer_size = size_t{8} << 20;

  // 49-byte statistics, merged per (sensor, bucket) by compaction; LZ4 for
  // the doubles and the repeated key prefixes.
  rocksdb::ColumnFamilyOptions& rollup_options = layout.rollup;
  rollup_options.write_buffer_size = std::max<size_t>(options.write_buffer_bytes / 4, 1 << 20);
  rollup_options.compression = rocksdb::kLZ4Compression;
  rollup_options.level_compaction_dynamic_level_bytes = true;
  rollup_options.merge_operator = NewStepStatsMergeOperator();

  layout.families = {
      {rocksdb::kDefaultColumnFamilyName, meta_options},
      {kIngestLogFamily, log_options},
      {kChunksFamily, chunk_options},
      {kMetaFamily, meta_options},
      {kAlarmJournalFamily, meta_options},
  };
  layout.fixed = layout.families.size();
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, options.dir.string(), &existing).ok()) {
    for (const std::string& name : existing) {
      const auto fixed_end = layout.families.begin() + static_cast<ptrdiff_t>(layout.fixed);
      if (std::any_of(layout.families.begin(), fixed_end,
                      [&](const auto& f) { return f.name == name; })) {
        continue;
      }
      const auto partition = ParsePartitionFamilyName(name);
      const bool rollups = partition && partition->base == kRollupsFamily;
      layout.families.emplace_back(name, rollups ? rollup_options : chunk_options);
    }
  }
  return layout;
}

// RocksDB's info log file (LOG in the data folder), written with plain
// write(2). RocksDB 7.8's own (EnvLogger) fails an assertion, which Debian's
// build keeps, on the first line after a write that failed: a truly full disk
// aborted vigild (upstream fixed it in 8.1, facebook/rocksdb#11314). Here a
// line that cannot be written is lost, nothing more. Bounded, so that neither
// a long run nor a loop of failed starts fills the disk: at open and past
// kMaxBytes, LOG becomes LOG.old (replacing the one before) and a new LOG
// begins; RocksDB removes the LOG.old.<time> files it wrote itself.
class InfoLogFile final : public rocksdb::Logger {
 public:
  static constexpr off_t kMaxBytes = off_t{16} << 20;

  explicit InfoLogFile(std::filesystem::path dir)
      : Logger(rocksdb::InfoLogLevel::INFO_LEVEL),
        path_(std::move(dir) / "LOG"),
        old_path_(path_.string() + ".old") {
    MutexLock lock(&mu_);
    RollLocked();
  }
  ~InfoLogFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  // Every line is written at once: nothing to flush or close early.
  void Flush() override {}

 protected:
  rocksdb::Status CloseImpl() override { return rocksdb::Status::OK(); }

 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char buf[4096];
    timeval now{};
    ::gettimeofday(&now, nullptr);
    tm t{};
    ::localtime_r(&now.tv_sec, &t);
    int n = std::snprintf(buf, sizeof buf, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %ld ",
                          t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                          static_cast<long>(now.tv_usec), static_cast<long>(::gettid()));
    if (n < 0) return;
    size_t len = std::min(static_cast<size_t>(n), sizeof buf - 1);
    va_list copy;
    va_copy(copy, ap);
    n = std::vsnprintf(buf + len, sizeof buf - len, format, copy);
    va_end(copy);
    if (n < 0) return;
    len = std::min(len + static_cast<size_t>(n), sizeof buf - 1);  // a long line is cut
    if (buf[len - 1] != '\n') buf[len++] = '\n';
    MutexLock lock(&mu_);
    if (size_ >= kMaxBytes) RollLocked();
    if (fd_ < 0) return;
    const ssize_t wrote = ::write(fd_, buf, len);
    if (wrote > 0) size_ += wrote;
  }

 private:
  void RollLocked() VIGIL_REQUIRES(mu_) {
    if (fd_ >= 0) ::close(fd_);
    std::error_code ec;
    std::filesystem::rename(path_, old_path_, ec);  // none yet: fine
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_ = 0;
  }

  const std::filesystem::path path_;
  const std::filesystem::path old_path_;
  Mutex mu_;
  int fd_ VIGIL_GUARDED_BY(mu_) = -1;     // -1: not open (lines are dropped)
  off_t size_ VIGIL_GUARDED_BY(mu_) = 0;  // bytes written to fd_
};

// Forwards RocksDB's info log to its usual LOG file and counts, while the
// database opens, the write-ahead log it drops as corrupt ("dropping N bytes"):
// a torn tail after a crash is skipped, not fatal, and the operator is told.
class RecoveryLogger final : public rocksdb::Logger {
 public:
  explicit RecoveryLogger(std::shared_ptr<rocksdb::Logger> inner)
      : Logger(inner ? inner->GetInfoLogLevel() : rocksdb::InfoLogLevel::INFO_LEVEL),
        inner_(std::move(inner)) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level >= rocksdb::InfoLogLevel::WARN_LEVEL) {
      char buf[1024];
      va_list copy;
      va_copy(copy, ap);
      std::vsnprintf(buf, sizeof buf, format, copy);
      va_end(copy);
      const std::string_view text(buf);
      constexpr std::string_view kDropping = "dropping ";
      const size_t at = text.find(kDropping);
      if (at != std::string_view::npos && text.find(" bytes", at) != std::string_view::npos) {
        int64_t bytes = 0;
        const char* begin = buf + at + kDropping.size();
        std::from_chars(begin, buf + text.size(), bytes);
        if (bytes > 0) dropped_bytes_.fetch_add(static_cast<uint64_t>(bytes));
        corruptions_.fetch_add(1);
      }
    }
    if (inner_) inner_->Logv(level, format, ap);
  }
  rocksdb::Status Close() override { return inner_ ? inner_->Close() : rocksdb::Status::OK(); }
  void Flush() override {
    if (inner_) inner_->Flush();
  }

  // Forgets the counts (an open tried again reads the same logs again).
  void ResetCounts() {
    dropped_bytes_.store(0);
    corruptions_.store(0);
  }
  uint64_t dropped_bytes() const { return dropped_bytes_.load(); }
  uint64_t corruptions() const { return corruptions_.load(); }

 private:
  std::shared_ptr<rocksdb::Logger> inner_;
  std::atomic<uint64_t> dropped_bytes_{0};
  std::atomic<uint64_t> corruptions_{0};
};

// Bytes of the write-ahead log files (*.log) in `dir`.
uint64_t WalBytes(const std::filesystem::path& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".log" && entry.is_regular_file(ec)) {
      bytes += entry.file_size(ec);
    }
  }
  return bytes;
}

Result<std::unique_ptr<Store>> OpenRocksDbStore(const StoreOptions& options, rocksdb::Env* env) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return Status::IOError("cannot create data folder " + options.dir.string() + ": " +
                           ec.message());
  }
  Layout layout = DatabaseLayout(options, env);
  auto logger = std::make_shared<RecoveryLogger>(std::make_shared<InfoLogFile>(options.dir));
  layout.db.info_log = logger;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(layout.db, options.dir.string(), layout.families, &handles, &raw);
  std::vector<size_t> write_buffers;  // as configured, when the open had to raise them
  if (s.IsNoSpace()) {
    // Recovery flushes what the write-ahead logs hold into level-0 files, and
    // found no room: a full disk could then be left only by freeing as much
    // as the memtables held, and each try left files behind. Opened again
    // without that flush (avoid_flush_during_recovery) and with memtables
    // large enough for all the logs, the open writes nothing but a MANIFEST;
    // they shrink back once open, and are flushed when there is room.
    const uint64_t wal_bytes = WalBytes(options.dir);
    layout.db.avoid_flush_during_recovery = true;
    for (rocksdb::ColumnFamilyDescriptor& f : layout.families) {
      write_buffers.push_back(f.options.write_buffer_size);
      f.options.write_buffer_size =
          std::max<size_t>(f.options.write_buffer_size, static_cast<size_t>(wal_bytes) + (1 << 20));
    }
    handles.clear();
    logger->ResetCounts();
    s = rocksdb::DB::Open(layout.db, options.dir.string(), layout.families, &handles, &raw);
  }
  if (!s.ok()) return FromRocks(s, "open " + options.dir.string());
  for (size_t i = 0; i < write_buffers.size() && i < handles.size(); ++i) {
    raw->SetOptions(handles[i], {{"write_buffer_size", std::to_string(write_buffers[i])}})
        .PermitUncheckedError();  // a larger memtable until restart at worst
  }
  std::vector<rocksdb::ColumnFamilyHandle*> others(
      handles.begin() + static_cast<ptrdiff_t>(layout.fixed), handles.end());
  handles.resize(layout.fixed);
  auto store =
      std::make_unique<RocksDbStore>(options, std::unique_ptr<rocksdb::DB>(raw), std::move(handles),
                                     others, layout.chunk, layout.rollup);
  Status init = store->Init();
  if (!init.ok()) return init;
  store->SetRecoveryCounts(logger->dropped_bytes(), logger->corruptions());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  return OpenRocksDbStore(options, nullptr);
}

Result<std::unique_ptr<Store>> OpenStoreWithEnv(const StoreOptions& options, rocksdb::Env* env) {
  return OpenRocksDbStore(options, env);
}

Status PutLegacyChunks(const std::filesystem::path& dir, std::span<const SealedChunk> chunks) {
  const Layout layout = DatabaseLayout(StoreOptions{.dir = dir}, nullptr);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  Status s = FromRocks(rocksdb::DB::Open(layout.db, dir.string(), layout.families, &handles, &raw),
                       "open " + dir.string());
  if (!s.ok()) return s;
  std::unique_ptr<rocksdb::DB> db(raw);
  for (const SealedChunk& c : chunks) {
    if (!s.ok()) break;
    s = FromRocks(db->Put({}, handles[2], ChunkKey(c.sensor_id, c.first_at, c.chunk_id), c.bytes),
                  "put legacy chunk");
  }
  for (rocksdb::ColumnFamilyHandle* h : handles)
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  const Status closed = FromRocks(db->Close(), "close");
  return s.ok() ? closed : s;
}

std::vector<std::string> ColumnFamilyNames(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies({}, dir.string(), &names).ok()) names.clear();
  return names;
}

}  // namespace vigil::storage
