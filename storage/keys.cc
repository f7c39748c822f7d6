#include "storage/keys.h"

#include <charconv>
#include <system_error>

namespace vigil::storage {
namespace {
constexpr uint64_t kSignBit = uint64_t{1} << 63;
}

void PutBigEndian64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}

uint64_t GetBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void PutOrderedInt64(std::string* out, int64_t v) {
  PutBigEndian64(out, static_cast<uint64_t>(v) ^ kSignBit);
}

int64_t GetOrderedInt64(const char* p) {
  return static_cast<int64_t>(GetBigEndian64(p) ^ kSignBit);
}

std::string LogKey(uint64_t log_seq) {
  std::string key;
  PutBigEndian64(&key, log_seq);
  return key;
}

std::optional<uint64_t> ParseLogKey(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  return GetBigEndian64(key.data());
}

std::string ChunkSensorPrefix(std::string_view sensor_id) {
  std::string key;
  key.reserve(2 + sensor_id.size() + 16);
  key.push_back(static_cast<char>((sensor_id.size() >> 8) & 0xff));
  key.push_back(static_cast<char>(sensor_id.size() & 0xff));
  key.append(sensor_id);
  return key;
}

std::string ChunkKey(std::string_view sensor_id, alarm::TimestampMs first_at, uint64_t chunk_id) {
  std::string key = ChunkSensorPrefix(sensor_id);
  PutOrderedInt64(&key, first_at);
  PutBigEndian64(&key, chunk_id);
  return key;
}

namespace {

// The sensor id of a key made of ChunkSensorPrefix and `suffix_bytes` more;
// nullopt when the key has another length.
std::optional<std::string_view> SensorOfKey(std::string_view key, size_t suffix_bytes) {
  if (key.size() < 2) return std::nullopt;
  const size_t len = (static_cast<size_t>(static_cast<unsigned char>(key[0])) << 8) |
                     static_cast<unsigned char>(key[1]);
  if (key.size() != 2 + len + suffix_bytes) return std::nullopt;
  return key.substr(2, len);
}

}  // namespace

std::optional<ChunkKeyParts> ParseChunkKey(std::string_view key) {
  const std::optional<std::string_view> sensor = SensorOfKey(key, 16);
  if (!sensor) return std::nullopt;
  const char* suffix = sensor->data() + sensor->size();
  return ChunkKeyParts{.sensor_id = *sensor,
                       .first_at = GetOrderedInt64(suffix),
                       .chunk_id = GetBigEndian64(suffix + 8)};
}

std::string RollupKey(std::string_view sensor_id, alarm::TimestampMs bucket_start) {
  std::string key = ChunkSensorPrefix(sensor_id);
  PutOrderedInt64(&key, bucket_start);
  return key;
}

std::optional<RollupKeyParts> ParseRollupKey(std::string_view key) {
  const std::optional<std::string_view> sensor = SensorOfKey(key, 8);
  if (!sensor) return std::nullopt;
  return RollupKeyParts{.sensor_id = *sensor,
                        .bucket_start = GetOrderedInt64(sensor->data() + sensor->size())};
}

std::string PartitionFamilyName(const PartitionName& name) {
  return std::string(name.base) + "@" + std::to_string(name.start_day) + "+" +
         std::to_string(name.span_days) + "d";
}

std::optional<PartitionName> ParsePartitionFamilyName(std::string_view family) {
  const size_t at = family.find('@');
  const size_t plus = family.find('+', at == std::string_view::npos ? 0 : at);
  if (at == std::string_view::npos || at == 0 || plus == std::string_view::npos ||
      !family.ends_with('d')) {
    return std::nullopt;
  }
  PartitionName name{.base = family.substr(0, at)};
  const std::string_view start = family.substr(at + 1, plus - at - 1);
  const std::string_view span = family.substr(plus + 1, family.size() - plus - 2);
  auto parse = [](std::string_view text, int64_t* out) {
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, *out);
    return !text.empty() && ec == std::errc() && ptr == end;
  };
  if (!parse(start, &name.start_day) || !parse(span, &name.span_days) || name.span_days < 1 ||
      PartitionFamilyName(name) != family) {
    return std::nullopt;
  }
  return name;
}

std::string RegistryEntryKey(RegistryEntryKind kind, std::string_view id) {
  std::string key(kRegistryPrefix);
  key.push_back(static_cast<char>(kind));
  key.append(id);
  return key;
}

std::optional<RegistryEntryKeyParts> ParseRegistryEntryKey(std::string_view key) {
  if (!key.starts_with(kRegistryPrefix) || key.size() < kRegistryPrefix.size() + 2) {
    return std::nullopt;
  }
  const char kind = key[kRegistryPrefix.size()];
  if (kind != 'e' && kind != 'f' && kind != 'g' && kind != 'n' && kind != 's') return std::nullopt;
  return RegistryEntryKeyParts{.kind = static_cast<RegistryEntryKind>(kind),
                               .id = key.substr(kRegistryPrefix.size() + 1)};
}

std::string WatermarkKey(std::string_view gateway_id) {
  std::string key(kWatermarkPrefix);
  key.append(gateway_id);
  return key;
}

std::string EncodeWatermark(const Watermark& w) {
  std::string value;
  PutBigEndian64(&value, w.epoch);
  PutBigEndian64(&value, w.sequence);
  return value;
}

std::optional<Watermark> DecodeWatermark(std::string_view value) {
  if (value.size() != 16) return std::nullopt;
  return Watermark{GetBigEndian64(value.data()), GetBigEndian64(value.data() + 8)};
}

std::string JournalEntryKey(uint64_t seq) {
  std::string key(1, 'e');
  PutBigEndian64(&key, seq);
  return key;
}

std::string JournalHashKey(uint64_t seq) {
  std::string key(1, 'h');
  PutBigEndian64(&key, seq);
  return key;
}

std::string AlarmHistoryKey(uint64_t alarm_id, uint64_t seq) {
  std::string key(1, 'a');
  PutBigEndian64(&key, alarm_id);
  PutBigEndian64(&key, seq);
  return key;
}

std::string JournalTimeKey(alarm::TimestampMs at, uint64_t seq) {
  std::string key(1, 't');
  PutOrderedInt64(&key, at);
  PutBigEndian64(&key, seq);
  return key;
}

std::string OpenAlarmKey(uint8_t alarm_kind, std::string_view source_id) {
  std::string key(1, 'o');
  key.push_back(static_cast<char>(alarm_kind));
  key.append(source_id);
  return key;
}

std::string ShardKey(std::string_view prefix, uint32_t shard) {
  std::string key(prefix);
  for (int shift = 24; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((shard >> shift) & 0xff));
  }
  return key;
}

}  // namespace vigil::storage
