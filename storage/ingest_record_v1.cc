#include "storage/ingest_record_v1.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace vigil::storage {
namespace {

static_assert(std::endian::native == std::endian::little,
              "IngestRecord is stored in host order, which must be little-endian");

constexpr uint32_t kMagic = kIngestRecordV1Magic;
constexpr size_t kHeaderBytes = 32;
constexpr size_t kSeriesHeaderBytes = 16;
constexpr uint32_t kHasQuality = 1;

constexpr size_t Pad8(size_t n) { return (n + 7) & ~size_t{7}; }

template <class T>
void Store(char* p, T v) {
  std::memcpy(p, &v, sizeof v);
}
template <class T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

void IngestRecordV1Builder::Reset(std::string_view gateway_id, uint64_t epoch, uint64_t sequence,
                                  size_t expected_bytes) {
  buffer_.clear();
  buffer_.reserve(std::max(expected_bytes, kHeaderBytes + Pad8(gateway_id.size())));
  buffer_.resize(kHeaderBytes + Pad8(gateway_id.size()), '\0');
  char* p = buffer_.data();
  Store<uint32_t>(p, kMagic);
  Store<uint32_t>(p + 4, static_cast<uint32_t>(gateway_id.size()));
  Store<uint64_t>(p + 8, epoch);
  Store<uint64_t>(p + 16, sequence);
  std::memcpy(p + kHeaderBytes, gateway_id.data(), gateway_id.size());
  series_count_ = 0;
  reading_count_ = 0;
}

size_t IngestRecordV1Builder::SeriesBytes(size_t sensor_id_len, size_t n, bool has_quality) {
  return kSeriesHeaderBytes + Pad8(sensor_id_len) + 16 * n + (has_quality ? Pad8(4 * n) : 0);
}

IngestRecordV1Builder::SeriesSlots IngestRecordV1Builder::AddSeries(std::string_view sensor_id,
                                                                    uint32_t n, bool has_quality) {
  const size_t start = buffer_.size();
  buffer_.resize(start + SeriesBytes(sensor_id.size(), n, has_quality), '\0');
  char* p = buffer_.data() + start;
  Store<uint32_t>(p, static_cast<uint32_t>(sensor_id.size()));
  Store<uint32_t>(p + 4, n);
  Store<uint32_t>(p + 8, has_quality ? kHasQuality : 0);
  std::memcpy(p + kSeriesHeaderBytes, sensor_id.data(), sensor_id.size());
  char* arrays = p + kSeriesHeaderBytes + Pad8(sensor_id.size());
  ++series_count_;
  reading_count_ += n;
  return SeriesSlots{
      .timestamps = reinterpret_cast<alarm::TimestampMs*>(arrays),
      .values = reinterpret_cast<double*>(arrays + 8 * size_t{n}),
      .quality = has_quality ? reinterpret_cast<alarm::Quality*>(arrays + 16 * size_t{n}) : nullptr,
  };
}

std::string IngestRecordV1Builder::Release() {
  Store<uint32_t>(buffer_.data() + 24, series_count_);
  Store<uint32_t>(buffer_.data() + 28, reading_count_);
  series_count_ = 0;
  reading_count_ = 0;
  return std::move(buffer_);
}

alarm::Result<IngestRecordV1View> IngestRecordV1View::Parse(std::string_view bytes) {
  using alarm::Status;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % 8 != 0) {
    return Status::Corruption("ingest record: buffer not 8-byte aligned");
  }
  if (bytes.size() < kHeaderBytes || Load<uint32_t>(bytes.data()) != kMagic) {
    return Status::Corruption("ingest record: bad header");
  }
  IngestRecordV1View view;
  const char* p = bytes.data();
  const size_t gateway_len = Load<uint32_t>(p + 4);
  view.epoch_ = Load<uint64_t>(p + 8);
  view.sequence_ = Load<uint64_t>(p + 16);
  view.series_count_ = Load<uint32_t>(p + 24);
  view.reading_count_ = Load<uint32_t>(p + 28);
  size_t pos = kHeaderBytes;
  if (gateway_len > bytes.size() - pos || Pad8(gateway_len) > bytes.size() - pos) {
    return Status::Corruption("ingest record: gateway id past the end");
  }
  view.gateway_id_ = bytes.substr(pos, gateway_len);
  pos += Pad8(gateway_len);
  view.first_series_ = p + pos;
  uint64_t readings = 0;
  for (uint32_t i = 0; i < view.series_count_; ++i) {
    if (bytes.size() - pos < kSeriesHeaderBytes) {
      return Status::Corruption("ingest record: series header past the end");
    }
    const size_t id_len = Load<uint32_t>(p + pos);
    const size_t n = Load<uint32_t>(p + pos + 4);
    const bool has_quality = (Load<uint32_t>(p + pos + 8) & kHasQuality) != 0;
    const size_t need = IngestRecordV1Builder::SeriesBytes(id_len, n, has_quality);
    if (id_len > 0xffff || need > bytes.size() - pos) {
      return Status::Corruption("ingest record: series past the end");
    }
    pos += need;
    readings += n;
  }
  if (pos != bytes.size() || readings != view.reading_count_) {
    return Status::Corruption("ingest record: length or reading count mismatch");
  }
  return view;
}

IngestRecordV1View::SeriesIterator IngestRecordV1View::series() const {
  SeriesIterator it;
  it.pos_ = first_series_;
  it.left_ = series_count_;
  return it;
}

bool IngestRecordV1View::SeriesIterator::Next(alarm::SeriesView* series) {
  if (left_ == 0) return false;
  --left_;
  const size_t id_len = Load<uint32_t>(pos_);
  const size_t n = Load<uint32_t>(pos_ + 4);
  const bool has_quality = (Load<uint32_t>(pos_ + 8) & kHasQuality) != 0;
  const char* arrays = pos_ + kSeriesHeaderBytes + Pad8(id_len);
  series->sensor_id = std::string_view(pos_ + kSeriesHeaderBytes, id_len);
  series->timestamps = {reinterpret_cast<const alarm::TimestampMs*>(arrays), n};
  series->values = {reinterpret_cast<const double*>(arrays + 8 * n), n};
  series->quality = has_quality ? std::span<const alarm::Quality>(
                                      reinterpret_cast<const alarm::Quality*>(arrays + 16 * n), n)
                                : std::span<const alarm::Quality>();
  pos_ += IngestRecordV1Builder::SeriesBytes(id_len, n, has_quality);
  return true;
}

}  // namespace vigil::storage
