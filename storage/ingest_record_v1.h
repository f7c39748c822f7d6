// The ingest record's first format, "VGR1" (before the compact "VGR2" of
// storage/ingest_record.h): still read, so that a data folder written by an
// older server replays; no longer written by the server (tests and the
// format bench write it). One stored gateway batch, read zero-copy. Layout, host
// little-endian, every array 8-byte aligned relative to the record start:
//   header  u32 magic "VGR1", u32 gateway_id_len, u64 epoch, u64 sequence,
//           u32 series_count, u32 reading_count, gateway_id padded to 8
//   series  u32 sensor_id_len, u32 n, u32 flags (bit 0: has quality), u32 0,
//           sensor_id padded to 8, i64 timestamps[n], f64 values[n],
//           [u32 quality[n] padded to 8]
// Thread-safety: a builder is used by one thread; a view of an immutable
// buffer may be read by any number of threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::storage {

// The first four bytes of a VGR1 record ("VGR1" little-endian).
inline constexpr uint32_t kIngestRecordV1Magic = 0x31524756;

class IngestRecordV1Builder {
 public:
  // Starts a new record, dropping any previous content.
  void Reset(std::string_view gateway_id, uint64_t epoch, uint64_t sequence,
             size_t expected_bytes = 0);

  // Space for one series of `n` readings, to be filled by the caller before
  // the next call on this builder (the pointers die with the next growth).
  struct SeriesSlots {
    alarm::TimestampMs* timestamps;
    double* values;
    alarm::Quality* quality;  // nullptr unless has_quality
  };
  // REQUIRES: n > 0, sensor_id.size() < 2^16.
  SeriesSlots AddSeries(std::string_view sensor_id, uint32_t n, bool has_quality);

  // Bytes a series of this shape adds; for sizing Reset's expected_bytes.
  static size_t SeriesBytes(size_t sensor_id_len, size_t n, bool has_quality);

  uint32_t series_count() const { return series_count_; }
  uint32_t reading_count() const { return reading_count_; }

  // The finished record; the builder is empty afterwards.
  std::string Release();

 private:
  std::string buffer_;
  uint32_t series_count_ = 0;
  uint32_t reading_count_ = 0;
};

// A parsed, bounds-checked record over a buffer the caller keeps alive.
class IngestRecordV1View {
 public:
  // kCorruption when the bytes are not a complete, well-formed record or the
  // buffer is not 8-byte aligned (copy it into a std::string first).
  static alarm::Result<IngestRecordV1View> Parse(std::string_view bytes);

  std::string_view gateway_id() const { return gateway_id_; }
  uint64_t epoch() const { return epoch_; }
  uint64_t sequence() const { return sequence_; }
  uint32_t series_count() const { return series_count_; }
  uint32_t reading_count() const { return reading_count_; }

  // Walks the series in order. Usage:
  //   for (auto it = view.series(); it.Next(&s);) { ... }
  class SeriesIterator {
   public:
    // False once every series was returned.
    bool Next(alarm::SeriesView* series);

   private:
    friend class IngestRecordV1View;
    const char* pos_ = nullptr;
    uint32_t left_ = 0;
  };
  SeriesIterator series() const;

 private:
  std::string_view gateway_id_;
  uint64_t epoch_ = 0;
  uint64_t sequence_ = 0;
  uint32_t series_count_ = 0;
  uint32_t reading_count_ = 0;
  const char* first_series_ = nullptr;
};

}  // namespace vigil::storage
