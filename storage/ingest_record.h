// IngestRecord "VGR2": one stored gateway batch (its accepted readings) as the
// ingest log holds it, split by shard so that each shard decodes only the
// series it owns. Compact: at one reading per series a reading takes ~13
// bytes (sensor number, count, timestamp delta, value) where VGR1 took ~45.
// Layout (varint = LEB128 unsigned; zz = zigzag-encoded signed varint):
//   header   u32 magic "VGR2" (little-endian), varint gateway_id_len,
//            gateway_id bytes, varint epoch, varint sequence,
//            varint reading_count, varint shard_count (1..4096),
//            varint section_bytes[shard_count]
//   section  one per shard 0..shard_count-1, in order, each section_bytes
//            long: varint series_count, varint reading_count, series...
//   series   varint tag = number << 1 | has_quality; number 0 means the id
//            follows inline: varint id_len, id bytes; else the id is
//            storage::SensorNumbers' (sensor_numbers.h);
//            varint n (>= 1); then n readings:
//            zz timestamp delta (from the section's previous reading, across
//            series; the section's first from 0), f64 value (8 bytes
//            little-endian, as received),
//            [varint quality when has_quality]
// A series sits in the section of alarm::ShardOf(id, shard_count). A reader
// running another shard count (changed between restarts) reads every
// section and keeps the series it owns. VGR1 records (ingest_record_v1.h)
// are read too: a data folder written by an older server replays.
// Thread-safety: a builder or a reader is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::storage {

class SensorNumbers;

// A growable byte buffer that does not zero what it grows into (a
// std::string would, once per reading's worth of reserve).
class ByteBuffer {
 public:
  char* Reserve(size_t extra);  // room for `extra` more bytes at end()
  char* end() { return data_.get() + size_; }
  void SetEnd(char* end) { size_ = static_cast<size_t>(end - data_.get()); }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }
  void clear() { size_ = 0; }
  void Free() { *this = ByteBuffer(); }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

class IngestRecordBuilder {
 public:
  // Most sections (shards) a record is split for.
  static constexpr uint32_t kMaxSections = 4096;

  // Starts a record split for `shard_count` shards, dropping any previous
  // content. `expected_bytes`: about how long the record will be (each
  // section reserves its share; it grows past it as needed). The builder
  // holds no memory between Release and the next Reset, so that one per
  // ingest stream costs nothing while the stream waits.
  // REQUIRES: 1 <= shard_count <= kMaxSections.
  void Reset(std::string_view gateway_id, uint64_t epoch, uint64_t sequence, uint32_t shard_count,
             size_t expected_bytes = 0);

  // Starts a series of `n` readings in section `shard`; exactly n AddReading
  // calls follow before the next BeginSeries or Release. `sensor_number` is
  // the sensor's SensorNumbers number, or 0 to store `sensor_id` inline.
  // REQUIRES: shard < shard_count, n > 0, sensor_id.size() <= alarm::kMaxIdBytes.
  void BeginSeries(uint32_t shard, uint32_t sensor_number, std::string_view sensor_id, uint32_t n,
                   bool has_quality);
  // `quality` is ignored unless the series has quality.
  void AddReading(alarm::TimestampMs timestamp, double value, alarm::Quality quality) {
    char* p = section_->bytes.end();
    p = PutVarint(p, ZigZag(timestamp - section_->prev_timestamp));
    section_->prev_timestamp = timestamp;
    __builtin_memcpy(p, &value, 8);
    p += 8;
    if (has_quality_) p = PutVarint(p, quality);
    section_->bytes.SetEnd(p);
  }

  uint32_t reading_count() const { return reading_count_; }

  // The finished record; the builder is empty afterwards.
  std::string Release();

  static constexpr uint64_t ZigZag(int64_t v) {
    return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  }
  static char* PutVarint(char* p, uint64_t v) {
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
    return p;
  }

 private:
  struct Section {
    ByteBuffer bytes;  // series only; counts are written by Release
    uint32_t series = 0;
    uint32_t readings = 0;
    alarm::TimestampMs prev_timestamp = 0;  // of its last reading
  };
  std::string gateway_id_;
  uint64_t epoch_ = 0;
  uint64_t sequence_ = 0;
  uint32_t shard_count_ = 1;
  uint32_t reading_count_ = 0;
  std::vector<Section> sections_;  // capacity kept across records
  // The series being added.
  Section* section_ = nullptr;
  bool has_quality_ = false;
};

// What a record's header says; either format.
struct IngestRecordHeader {
  uint32_t format = 2;  // 1: VGR1, 2: VGR2
  std::string_view gateway_id;
  uint64_t epoch = 0;
  uint64_t sequence = 0;
  uint32_t reading_count = 0;
  uint32_t shard_count = 0;  // the shards it was split for; 0 for VGR1 (not split)
};

// The header alone (cheap: replay counts readings with it). kCorruption when
// the bytes are neither format's header.
alarm::Result<IngestRecordHeader> ParseIngestRecordHeader(std::string_view bytes);

// Decodes, for one shard, the series of a record it owns. Keeps its scratch
// across records (no allocation per reading once warm). One per shard thread.
class ShardSeriesReader {
 public:
  // Decodes the series of `record` that shard `shard` of `shard_count` owns
  // (alarm::ShardOf(id, shard_count) == shard): only its own section when the
  // record was split for `shard_count` shards, else every section filtered;
  // every series of a VGR1 record, filtered. Sensor numbers are resolved in
  // `*numbers` (may be null: then a numbered series is an error).
  // Every series returned has at least one reading (a VGR1 record's empty
  // series are skipped). Series come section by section: a sensor's series
  // keep their order.
  // kCorruption: malformed in what was read, or an unknown sensor number;
  // nothing is returned then. Views are valid until the next Read and while
  // `record` and `*numbers` live. VGR1 records must be 8-byte aligned.
  alarm::Status Read(std::string_view record, uint32_t shard, uint32_t shard_count,
                     const SensorNumbers* numbers);

  const IngestRecordHeader& header() const { return header_; }
  std::span<const alarm::SeriesView> series() const { return series_; }

 private:
  alarm::Status ReadSection(std::string_view section, uint32_t shard, uint32_t shard_count,
                            bool filter, const SensorNumbers* numbers);

  IngestRecordHeader header_;
  std::vector<std::string_view> sections_;
  std::vector<alarm::SeriesView> series_;
  std::vector<std::pair<size_t, size_t>> offsets_;  // of series_[i] in the arrays: at, n
  std::vector<alarm::TimestampMs> timestamps_;
  std::vector<double> values_;
  std::vector<alarm::Quality> quality_;
};

}  // namespace vigil::storage
