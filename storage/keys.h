// Every RocksDB key and value layout Vigil writes, in one place. Integers in
// keys are big-endian so that byte order is numeric order; signed integers
// have their sign bit flipped first so negative values sort before positive.
//
// Column families:
//   ingest_log     BE64(log_seq) -> IngestRecord (ingest_record.h). One
//                  record per stored gateway batch; log_seq is gap-free and
//                  increasing. Records below the checkpoint are deleted.
//   chunks@P       ChunkKey -> compressed chunk (chunk.h), one family per time
//                  partition P (PartitionFamilyName) holding the chunks whose
//                  first_at falls in P.
//                  ChunkKey = BE16(len(sensor_id)) sensor_id BE64s(first_at) BE64(chunk_id)
//                  All chunks of one sensor are adjacent, in first_at order.
//   rollups@P      RollupKey -> StepStats of one sensor's readings in one 5-minute
//                  bucket (step_stats.h), one family per time partition P of
//                  bucket starts. Values are merge operands (per-chunk partial
//                  statistics) that RocksDB folds together; a Put replaces them.
//                  RollupKey = BE16(len(sensor_id)) sensor_id BE64s(bucket_start)
//   chunks         the chunk family before time partitions: read once at open,
//                  moved into chunks@P (and its rollups written), then dropped.
//   meta           "watermark/" gateway_id -> BE64(epoch) BE64(sequence)
//                  "checkpoint"            -> BE64(replay_from_log_seq)
//                  "registry/" kind id     -> one registry entry, opaque (server-encoded);
//                                             kind is 'e' enterprise, 'g' gateway, 's' sensor
//                  "journal_shards"        -> BE32(shard count of the two below)
//                  "journal_mark/" BE32(shard) -> BE64(log seq whose events are journaled)
//                  "engine_snapshot/" BE32(shard) -> ShardSnapshot (alarm_codec.h)
//                  "journal_first"         -> BE64(first journal seq kept)
//                  "journal_chain"         -> BE64(genesis seq) BE64(anchor seq) hash(32):
//                                             where the hash chain starts (journal_chain.h)
//                  "rules"                 -> the alarm rules in force (server-encoded)
//   alarm_journal  'e' BE64(seq)                   -> JournalEntry (alarm_codec.h)
//                  'a' BE64(alarm_id) BE64(seq)    -> "" (an alarm's entries)
//                  't' BE64s(at) BE64(seq)         -> "" (entries by event time)
//                  'h' BE64(seq)                   -> SHA-256 chain hash of entry seq (32 bytes,
//                                                     journal_chain.h); none before the genesis seq
//                  'o' u8(alarm kind) source_id    -> latest JournalEntry of an open alarm
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "alarm/types.h"

namespace vigil::storage {

inline constexpr const char* kIngestLogFamily = "ingest_log";
inline constexpr const char* kChunksFamily = "chunks";
inline constexpr const char* kRollupsFamily = "rollups";
inline constexpr const char* kMetaFamily = "meta";
inline constexpr const char* kAlarmJournalFamily = "alarm_journal";

inline constexpr std::string_view kWatermarkPrefix = "watermark/";
inline constexpr std::string_view kCheckpointKey = "checkpoint";
inline constexpr std::string_view kRegistryPrefix = "registry/";
inline constexpr std::string_view kJournalShardsKey = "journal_shards";
inline constexpr std::string_view kJournalMarkPrefix = "journal_mark/";
inline constexpr std::string_view kEngineSnapshotPrefix = "engine_snapshot/";
inline constexpr std::string_view kJournalFirstKey = "journal_first";
inline constexpr std::string_view kJournalChainKey = "journal_chain";
inline constexpr std::string_view kRulesKey = "rules";

// Alarm journal keys (column family alarm_journal).
std::string JournalEntryKey(uint64_t seq);
std::string AlarmHistoryKey(uint64_t alarm_id, uint64_t seq);
std::string JournalTimeKey(alarm::TimestampMs at, uint64_t seq);
std::string JournalHashKey(uint64_t seq);
std::string OpenAlarmKey(uint8_t alarm_kind, std::string_view source_id);
// meta keys of a shard: kJournalMarkPrefix or kEngineSnapshotPrefix + BE32(shard).
std::string ShardKey(std::string_view prefix, uint32_t shard);

// kSensorNumber: a sensor's ingest-log number (storage/sensor_numbers.h),
// kept after the sensor is deleted.
enum class RegistryEntryKind : char {
  kEnterprise = 'e',
  kFacility = 'f',  // with its monitoring items
  kGateway = 'g',
  kSensorNumber = 'n',
  kSensor = 's',
};
std::string RegistryEntryKey(RegistryEntryKind kind, std::string_view id);
struct RegistryEntryKeyParts {
  RegistryEntryKind kind;
  std::string_view id;
};
// nullopt unless `key` is a well-formed registry entry key.
std::optional<RegistryEntryKeyParts> ParseRegistryEntryKey(std::string_view key);

void PutBigEndian64(std::string* out, uint64_t v);
uint64_t GetBigEndian64(const char* p);
// Sign bit flipped so that signed order equals byte order.
void PutOrderedInt64(std::string* out, int64_t v);
int64_t GetOrderedInt64(const char* p);

std::string LogKey(uint64_t log_seq);
// nullopt unless `key` is exactly 8 bytes.
std::optional<uint64_t> ParseLogKey(std::string_view key);

// REQUIRES: sensor_id.size() <= 65535.
std::string ChunkKey(std::string_view sensor_id, alarm::TimestampMs first_at, uint64_t chunk_id);
// The key prefix shared by every chunk of `sensor_id`.
std::string ChunkSensorPrefix(std::string_view sensor_id);
struct ChunkKeyParts {
  std::string_view sensor_id;
  alarm::TimestampMs first_at;
  uint64_t chunk_id;
};
std::optional<ChunkKeyParts> ParseChunkKey(std::string_view key);

// The key of one sensor's 5-minute bucket starting at `bucket_start`.
// REQUIRES: sensor_id.size() <= 65535.
std::string RollupKey(std::string_view sensor_id, alarm::TimestampMs bucket_start);
struct RollupKeyParts {
  std::string_view sensor_id;
  alarm::TimestampMs bucket_start;
};
std::optional<RollupKeyParts> ParseRollupKey(std::string_view key);

// A time partition of a family: "<base>@<start_day>+<span_days>d", days since
// 1970-01-01 UTC; e.g. "chunks@19880+7d" holds 2024-06-06T00:00Z up to
// 2024-06-13T00:00Z.
struct PartitionName {
  std::string_view base;
  int64_t start_day = 0;
  int64_t span_days = 0;  // >= 1
};
std::string PartitionFamilyName(const PartitionName& name);
// nullopt unless `family` is a well-formed partition family name.
std::optional<PartitionName> ParsePartitionFamilyName(std::string_view family);

std::string WatermarkKey(std::string_view gateway_id);

// A gateway's highest stored (epoch, sequence); ordered lexicographically.
struct Watermark {
  uint64_t epoch = 0;
  uint64_t sequence = 0;
  friend auto operator<=>(const Watermark&, const Watermark&) = default;
};
std::string EncodeWatermark(const Watermark& w);
std::optional<Watermark> DecodeWatermark(std::string_view value);

}  // namespace vigil::storage
