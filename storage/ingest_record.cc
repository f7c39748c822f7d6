#include "storage/ingest_record.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "alarm/engine.h"
#include "alarm/registry.h"
#include "storage/ingest_record_v1.h"
#include "storage/sensor_numbers.h"

namespace vigil::storage {
namespace {

static_assert(std::endian::native == std::endian::little,
              "IngestRecord values are stored in host order, which must be little-endian");

constexpr uint32_t kMagic = 0x32524756;  // "VGR2"
constexpr size_t kMaxVarint = 10;
// Most bytes a reading takes: timestamp delta, value, quality.
constexpr size_t kMaxReadingBytes = kMaxVarint + 8 + 5;
// Fewest: a one-byte delta and the value.
constexpr size_t kMinReadingBytes = 9;

using alarm::Status;

constexpr alarm::Quality kQualityMark = 0;

// A bounds-checked cursor over untrusted bytes.
struct Cursor {
  const char* p;
  const char* end;

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
      const auto byte = static_cast<uint8_t>(*p++);
      result |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool Varint32(uint32_t* v) {
    uint64_t w = 0;
    if (!Varint(&w) || w > UINT32_MAX) return false;
    *v = static_cast<uint32_t>(w);
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (static_cast<size_t>(end - p) < n) return false;
    *out = std::string_view(p, n);
    p += n;
    return true;
  }
  size_t left() const { return static_cast<size_t>(end - p); }
};

size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace

char* ByteBuffer::Reserve(size_t extra) {
  if (capacity_ - size_ < extra) {
    const size_t capacity = std::max(size_ + extra, capacity_ * 2);
    std::unique_ptr<char[]> grown(new char[capacity]);
    if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
    data_ = std::move(grown);
    capacity_ = capacity;
  }
  return end();
}

void IngestRecordBuilder::Reset(std::string_view gateway_id, uint64_t epoch, uint64_t sequence,
                                uint32_t shard_count, size_t expected_bytes) {
  gateway_id_.assign(gateway_id);
  epoch_ = epoch;
  sequence_ = sequence;
  shard_count_ = std::max(shard_count, 1u);
  reading_count_ = 0;
  sections_.resize(shard_count_);
  // A section's share, with room for an uneven split.
  const size_t share = expected_bytes == 0 ? 0 : expected_bytes / shard_count_ * 5 / 4 + 64;
  for (Section& s : sections_) {
    s.bytes.clear();
    if (share > 0) s.bytes.Reserve(share);
    s.series = 0;
    s.readings = 0;
    s.prev_timestamp = 0;
  }
  section_ = nullptr;
}

void IngestRecordBuilder::BeginSeries(uint32_t shard, uint32_t sensor_number,
                                      std::string_view sensor_id, uint32_t n, bool has_quality) {
  section_ = &sections_[shard];
  has_quality_ = has_quality;
  char* p = section_->bytes.Reserve(3 * kMaxVarint + sensor_id.size() + n * kMaxReadingBytes);
  p = PutVarint(p, uint64_t{sensor_number} << 1 | (has_quality ? 1 : 0));
  if (sensor_number == 0) {
    p = PutVarint(p, sensor_id.size());
    std::memcpy(p, sensor_id.data(), sensor_id.size());
    p += sensor_id.size();
  }
  p = PutVarint(p, n);
  section_->bytes.SetEnd(p);
  ++section_->series;
  section_->readings += n;
  reading_count_ += n;
}

std::string IngestRecordBuilder::Release() {
  auto section_head_bytes = [](const Section& s) {
    return VarintBytes(s.series) + VarintBytes(s.readings);
  };
  size_t total = 4 + 5 * kMaxVarint + gateway_id_.size();
  for (uint32_t i = 0; i < shard_count_; ++i) {
    total += kMaxVarint + section_head_bytes(sections_[i]) + sections_[i].bytes.size();
  }
  std::string out;
  out.resize(total);
  char* p = out.data();
  std::memcpy(p, &kMagic, 4);
  p += 4;
  p = PutVarint(p, gateway_id_.size());
  std::memcpy(p, gateway_id_.data(), gateway_id_.size());
  p += gateway_id_.size();
  p = PutVarint(p, epoch_);
  p = PutVarint(p, sequence_);
  p = PutVarint(p, reading_count_);
  p = PutVarint(p, shard_count_);
  for (uint32_t i = 0; i < shard_count_; ++i) {
    p = PutVarint(p, section_head_bytes(sections_[i]) + sections_[i].bytes.size());
  }
  for (uint32_t i = 0; i < shard_count_; ++i) {
    const Section& s = sections_[i];
    p = PutVarint(p, s.series);
    p = PutVarint(p, s.readings);
    if (s.bytes.size() > 0) {
      std::memcpy(p, s.bytes.data(), s.bytes.size());
      p += s.bytes.size();
    }
  }
  out.resize(static_cast<size_t>(p - out.data()));
  Reset({}, 0, 0, shard_count_);
  for (Section& s : sections_) s.bytes.Free();
  return out;
}

namespace {

// The VGR2 header; `sections` gets the section bytes, in shard order.
alarm::Result<IngestRecordHeader> ParseV2(std::string_view bytes,
                                          std::vector<std::string_view>* sections) {
  Cursor c{bytes.data() + 4, bytes.data() + bytes.size()};
  IngestRecordHeader h;
  h.format = 2;
  uint64_t gateway_len = 0;
  if (!c.Varint(&gateway_len) || gateway_len > c.left() ||
      !c.Bytes(static_cast<size_t>(gateway_len), &h.gateway_id) || !c.Varint(&h.epoch) ||
      !c.Varint(&h.sequence) || !c.Varint32(&h.reading_count) || !c.Varint32(&h.shard_count) ||
      h.shard_count == 0 || h.shard_count > IngestRecordBuilder::kMaxSections) {
    return Status::Corruption("ingest record: bad header");
  }
  if (sections == nullptr) return h;
  sections->clear();
  // Lengths first (the sections follow the whole table), then the views.
  std::vector<std::string_view>& out = *sections;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < h.shard_count; ++i) {
    uint64_t len = 0;
    if (!c.Varint(&len) || len > c.left() - std::min<uint64_t>(sum, c.left())) {
      return Status::Corruption("ingest record: bad section table");
    }
    sum += len;
    out.emplace_back(bytes.data(), static_cast<size_t>(len));
  }
  if (sum != c.left()) return Status::Corruption("ingest record: section lengths do not add up");
  const char* p = c.p;
  for (std::string_view& s : out) {
    s = std::string_view(p, s.size());
    p += s.size();
  }
  return h;
}

}  // namespace

alarm::Result<IngestRecordHeader> ParseIngestRecordHeader(std::string_view bytes) {
  uint32_t magic = 0;
  if (bytes.size() >= 4) std::memcpy(&magic, bytes.data(), 4);
  if (magic == kMagic) return ParseV2(bytes, nullptr);
  if (magic == kIngestRecordV1Magic && bytes.size() >= 32) {
    IngestRecordHeader h;
    h.format = 1;
    const char* p = bytes.data();
    uint32_t gateway_len = 0;
    std::memcpy(&gateway_len, p + 4, 4);
    std::memcpy(&h.epoch, p + 8, 8);
    std::memcpy(&h.sequence, p + 16, 8);
    std::memcpy(&h.reading_count, p + 28, 4);
    if (gateway_len <= bytes.size() - 32) {
      h.gateway_id = bytes.substr(32, gateway_len);
      return h;
    }
  }
  return Status::Corruption("ingest record: bad header");
}

alarm::Status ShardSeriesReader::Read(std::string_view record, uint32_t shard, uint32_t shard_count,
                                      const SensorNumbers* numbers) {
  series_.clear();
  offsets_.clear();
  timestamps_.clear();
  values_.clear();
  quality_.clear();
  uint32_t magic = 0;
  if (record.size() >= 4) std::memcpy(&magic, record.data(), 4);
  if (magic == kIngestRecordV1Magic) {
    auto view = IngestRecordV1View::Parse(record);
    if (!view) return view.error();
    header_ = IngestRecordHeader{.format = 1,
                                 .gateway_id = view->gateway_id(),
                                 .epoch = view->epoch(),
                                 .sequence = view->sequence(),
                                 .reading_count = view->reading_count(),
                                 .shard_count = 0};
    alarm::SeriesView s;
    for (auto it = view->series(); it.Next(&s);) {
      // VGR1 never wrote an empty series (its builder refuses one), but its
      // parser lets one through; shards are promised series with readings.
      if (s.values.empty()) continue;
      if (alarm::ShardOf(s.sensor_id, shard_count) == shard) series_.push_back(s);
    }
    return Status::Ok();
  }
  auto header = ParseV2(record, &sections_);
  if (!header) return header.error();
  header_ = *header;
  // Every reading lands in the scratch arrays before any view is made, so
  // they are sized once for the record (bounded by its bytes, not by what
  // its header claims).
  const size_t most = std::min<size_t>(header_.reading_count, record.size() / kMinReadingBytes);
  timestamps_.reserve(most);
  values_.reserve(most);
  quality_.reserve(most);
  Status s;
  if (header_.shard_count == shard_count) {
    s = ReadSection(sections_[shard], shard, shard_count, /*filter=*/false, numbers);
  } else {
    for (std::string_view section : sections_) {
      s = ReadSection(section, shard, shard_count, /*filter=*/true, numbers);
      if (!s.ok()) break;
    }
  }
  if (!s.ok()) {
    series_.clear();
    return s;
  }
  // Views into the now complete arrays.
  for (size_t i = 0; i < series_.size(); ++i) {
    alarm::SeriesView& v = series_[i];
    const size_t at = offsets_[i].first;
    const size_t n = offsets_[i].second;
    v.timestamps = {timestamps_.data() + at, n};
    v.values = {values_.data() + at, n};
    if (!v.quality.empty()) v.quality = {quality_.data() + at, n};
  }
  return Status::Ok();
}

alarm::Status ShardSeriesReader::ReadSection(std::string_view section, uint32_t shard,
                                             uint32_t shard_count, bool filter,
                                             const SensorNumbers* numbers) {
  Cursor c{section.data(), section.data() + section.size()};
  uint32_t series_count = 0;
  uint32_t reading_count = 0;
  if (!c.Varint32(&series_count) || !c.Varint32(&reading_count)) {
    return Status::Corruption("ingest record: bad section header");
  }
  alarm::TimestampMs prev = 0;
  uint64_t section_readings = 0;
  const size_t first_series = series_.size();
  for (uint32_t i = 0; i < series_count; ++i) {
    uint64_t tag = 0;
    uint32_t n = 0;
    std::string_view id;
    if (!c.Varint(&tag)) return Status::Corruption("ingest record: series past the end");
    const uint64_t number = tag >> 1;
    const bool has_quality = (tag & 1) != 0;
    if (number == 0) {
      uint64_t len = 0;
      if (!c.Varint(&len) || len > alarm::kMaxIdBytes || !c.Bytes(static_cast<size_t>(len), &id)) {
        return Status::Corruption("ingest record: sensor id past the end");
      }
    } else if (numbers == nullptr || number > UINT32_MAX) {
      return Status::Corruption("ingest record: unknown sensor number " + std::to_string(number));
    } else if (filter) {
      // Records split for another shard count (rare): the id decides the shard.
      id = numbers->IdOf(static_cast<uint32_t>(number));
      if (id.empty()) {
        return Status::Corruption("ingest record: unknown sensor number " + std::to_string(number));
      }
    } else {
      // Resolved after the section (below): the id strings' cache misses overlap.
      numbers->PrefetchId(static_cast<uint32_t>(number));
    }
    if (!c.Varint32(&n) || n == 0 || n > c.left() / kMinReadingBytes) {
      return Status::Corruption("ingest record: reading count past the end");
    }
    section_readings += n;
    const bool keep = !filter || alarm::ShardOf(id, shard_count) == shard;
    const size_t at = timestamps_.size();
    for (uint32_t k = 0; k < n; ++k) {
      uint64_t delta = 0;
      std::string_view value;
      uint32_t quality = 0;
      if (!c.Varint(&delta) || !c.Bytes(8, &value) || (has_quality && !c.Varint32(&quality))) {
        return Status::Corruption("ingest record: reading past the end");
      }
      prev = static_cast<alarm::TimestampMs>(static_cast<uint64_t>(prev) +
                                             static_cast<uint64_t>(UnZigZag(delta)));
      if (!keep) continue;
      double v;
      std::memcpy(&v, value.data(), 8);
      timestamps_.push_back(prev);
      values_.push_back(v);
      quality_.push_back(quality);
    }
    if (!keep) continue;
    // Spans are set by Read once the arrays are complete; a non-empty
    // quality span marks a series with quality until then.
    alarm::SeriesView view;
    view.sensor_id = id;
    view.log_number = static_cast<uint32_t>(number);  // <= UINT32_MAX, checked above
    if (has_quality) view.quality = {&kQualityMark, 1};
    series_.push_back(view);
    offsets_.emplace_back(at, n);
  }
  if (c.left() != 0) return Status::Corruption("ingest record: bytes after the last series");
  if (section_readings != reading_count) {
    return Status::Corruption("ingest record: section reading count mismatch");
  }
  for (size_t i = first_series; i < series_.size(); ++i) {
    alarm::SeriesView& view = series_[i];
    if (view.log_number == 0 || !view.sensor_id.empty()) continue;
    view.sensor_id = numbers->IdOf(view.log_number);
    if (view.sensor_id.empty()) {
      return Status::Corruption("ingest record: unknown sensor number " +
                                std::to_string(view.log_number));
    }
  }
  return Status::Ok();
}

}  // namespace vigil::storage
