// Fuzz target: the chunk codec (storage/chunk.h). The first input byte picks
// the mode.
//   odd:  the rest describes readings (see Readings below); they are encoded
//         and must decode back bit for bit, from the finished chunk and from
//         the open encoder, whole and for a sub-range.
//   even: the rest is a stored chunk, decoded as is, or with bit 1 set with a
//         valid CRC32C appended so that the fuzzer gets past the checksum.
//         Decoding must fail cleanly or give readings that agree with the
//         header.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/chunk.h"
#include "tests/fuzz/fuzz_support.h"

namespace vigil::fuzz {
namespace {

using alarm::Reading;
using alarm::TimestampMs;
constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();

// Consumes bytes from the input; zeros once it is used up.
class Input {
 public:
  explicit Input(std::string_view bytes) : bytes_(bytes) {}
  bool empty() const { return bytes_.empty(); }
  uint64_t Take(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n && !bytes_.empty(); ++i) {
      v |= uint64_t{static_cast<uint8_t>(bytes_.front())} << (8 * i);
      bytes_.remove_prefix(1);
    }
    return v;
  }

 private:
  std::string_view bytes_;
};

bool Same(const Reading& a, const Reading& b) {
  return a.at == b.at && std::bit_cast<uint64_t>(a.value) == std::bit_cast<uint64_t>(b.value) &&
         a.quality == b.quality;
}

bool Same(const std::vector<Reading>& a, const std::vector<Reading>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!Same(a[i], b[i])) return false;
  }
  return true;
}

std::vector<Reading> Between(const std::vector<Reading>& readings, TimestampMs from,
                             TimestampMs to) {
  std::vector<Reading> out;
  for (const Reading& r : readings) {
    if (r.at >= from && r.at < to) out.push_back(r);
  }
  return out;
}

// Readings, strictly increasing in time: an 8-byte first timestamp, then per
// reading a control byte c and its operands. c & 3: time step 1..256 (1 byte),
// 1..65536 (2 bytes), any (8 bytes), or the previous step again. (c >> 2) & 3:
// the value unchanged, a short decimal (2 + 1 bytes), any bit pattern (8 bytes),
// or the previous value plus a small integer (1 byte). (c >> 4) & 3: quality
// good, unchanged, one byte or four bytes.
std::vector<Reading> Readings(Input* in) {
  std::vector<Reading> out;
  TimestampMs at = static_cast<TimestampMs>(in->Take(8));
  uint64_t step = 1;
  double value = 0;
  alarm::Quality quality = alarm::kQualityGood;
  while (!in->empty()) {
    const auto c = static_cast<unsigned>(in->Take(1));
    if (!out.empty()) {
      switch (c & 3) {
        case 0:
          step = in->Take(1) + 1;
          break;
        case 1:
          step = in->Take(2) + 1;
          break;
        case 2:
          step = in->Take(8);
          break;
        default:
          break;
      }
      if (step == 0 || static_cast<uint64_t>(kMax) - static_cast<uint64_t>(at) < step) break;
      at = static_cast<TimestampMs>(static_cast<uint64_t>(at) + step);
    }
    switch ((c >> 2) & 3) {
      case 0:
        break;
      case 1: {
        const auto m = static_cast<int16_t>(in->Take(2));
        value = m / std::pow(10.0, static_cast<double>(in->Take(1) % 10));
        break;
      }
      case 2:
        value = std::bit_cast<double>(in->Take(8));
        break;
      default:
        value += static_cast<int8_t>(in->Take(1));
        break;
    }
    switch ((c >> 4) & 3) {
      case 0:
        quality = alarm::kQualityGood;
        break;
      case 1:
        break;
      case 2:
        quality = static_cast<alarm::Quality>(in->Take(1));
        break;
      default:
        quality = static_cast<alarm::Quality>(in->Take(4));
        break;
    }
    out.push_back(Reading{at, value, quality});
  }
  return out;
}

void RoundTrip(Input* in) {
  const std::vector<Reading> readings = Readings(in);
  storage::ChunkEncoder encoder;
  for (const Reading& r : readings) encoder.Append(r.at, r.value, r.quality);
  const std::string chunk = encoder.Finish();

  // A reading at INT64_MAX is stored but outside every [from, to).
  const std::vector<Reading> all = Between(readings, kMin, kMax);
  std::vector<Reading> decoded;
  VIGIL_FUZZ_CHECK(storage::DecodeChunk(chunk, kMin, kMax, &decoded).ok());
  VIGIL_FUZZ_CHECK(Same(decoded, all));
  decoded.clear();
  VIGIL_FUZZ_CHECK(storage::DecodeChunk(encoder, kMin, kMax, &decoded).ok());
  VIGIL_FUZZ_CHECK(Same(decoded, all));

  auto summary = storage::InspectChunk(chunk);
  VIGIL_FUZZ_CHECK(summary.has_value() && summary->count == readings.size());
  if (readings.empty()) return;
  VIGIL_FUZZ_CHECK(summary->first_at == readings.front().at &&
                   summary->last_at == readings.back().at);
  // A sub-range: the middle half of the time span.
  const uint64_t span =
      static_cast<uint64_t>(readings.back().at) - static_cast<uint64_t>(readings.front().at);
  const auto from = static_cast<TimestampMs>(static_cast<uint64_t>(readings.front().at) + span / 4);
  const auto to = static_cast<TimestampMs>(static_cast<uint64_t>(from) + span / 2);
  decoded.clear();
  VIGIL_FUZZ_CHECK(storage::DecodeChunk(chunk, from, to, &decoded).ok());
  VIGIL_FUZZ_CHECK(Same(decoded, Between(readings, from, to)));
}

uint32_t Crc32c(std::string_view bytes) {
  uint32_t crc = ~0u;
  for (char c : bytes) {
    crc ^= static_cast<uint8_t>(c);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
  }
  return ~crc;
}

void Decode(std::string chunk, bool add_crc) {
  if (add_crc) {
    const uint32_t crc = Crc32c(chunk);
    for (int k = 0; k < 4; ++k) chunk.push_back(static_cast<char>(crc >> (8 * k)));
  }
  // Exact-size heap copy: ASan sees any read past the end.
  std::unique_ptr<char[]> copy(new char[chunk.size()]);
  std::memcpy(copy.get(), chunk.data(), chunk.size());
  const std::string_view bytes(copy.get(), chunk.size());

  const Reading sentinel{-1, 0.5, 7};
  std::vector<Reading> decoded = {sentinel};
  const alarm::Status status = storage::DecodeChunk(bytes, kMin, kMax, &decoded);
  auto summary = storage::InspectChunk(bytes);
  if (!status.ok()) {
    // Nothing of a damaged chunk is returned.
    VIGIL_FUZZ_CHECK(decoded.size() == 1 && Same(decoded[0], sentinel));
    return;
  }
  VIGIL_FUZZ_CHECK(summary.has_value());
  decoded.erase(decoded.begin());
  const bool last_excluded = summary->count > 0 && summary->last_at == kMax;
  VIGIL_FUZZ_CHECK(decoded.size() + (last_excluded ? 1 : 0) == summary->count);
  for (size_t i = 0; i < decoded.size(); ++i) {
    VIGIL_FUZZ_CHECK(decoded[i].at >= summary->first_at && decoded[i].at <= summary->last_at);
    if (i > 0) VIGIL_FUZZ_CHECK(decoded[i - 1].at < decoded[i].at);
  }
  if (!decoded.empty()) {
    VIGIL_FUZZ_CHECK(decoded.front().at == summary->first_at);
    if (!last_excluded) VIGIL_FUZZ_CHECK(decoded.back().at == summary->last_at);
  }
  // A sub-range of a good chunk is the matching part of the whole.
  if (decoded.size() >= 2) {
    const TimestampMs from = decoded[decoded.size() / 3].at;
    const TimestampMs to = decoded[2 * decoded.size() / 3].at;
    std::vector<Reading> part;
    VIGIL_FUZZ_CHECK(storage::DecodeChunk(bytes, from, to, &part).ok());
    VIGIL_FUZZ_CHECK(Same(part, Between(decoded, from, to)));
  }
}

}  // namespace
}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    vigil::fuzz::Input in(rest);
    vigil::fuzz::RoundTrip(&in);
  } else {
    vigil::fuzz::Decode(std::string(rest), (data[0] & 2) != 0);
  }
  return 0;
}
