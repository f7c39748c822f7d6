#include "storage/chunk.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>

namespace vigil::storage {
namespace {

using alarm::Quality;
using alarm::Reading;
using alarm::Status;
using alarm::TimestampMs;

constexpr uint8_t kFormatVersion = 1;
constexpr size_t kCrcBytes = 4;
constexpr uint8_t kNoWindow = 64;  // trailing-zero count meaning "no XOR window yet"
constexpr unsigned kXorMode = 15;  // value mode; 0..kMaxScale are decimal scales
constexpr unsigned kMaxScale = 9;
constexpr double kPow10[kMaxScale + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
constexpr int64_t kPow10Int[kMaxScale + 1] = {
    1, 10, 100, 1000, 10000, 100'000, 1000'000, 10'000'000, 100'000'000, 1000'000'000};
// Decimal integers stay within 2^50, where v * 10^scale rounds to the right m.
constexpr double kMaxDecimal = 0x1p50;
constexpr int64_t kMaxDecimalInt = int64_t{1} << 50;

// --- byte order -------------------------------------------------------------

inline uint64_t HostToBig(uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    return __builtin_bswap64(v);
  } else {
    return v;
  }
}

inline uint64_t LoadBig64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return HostToBig(v);
}

// --- CRC32C (Castagnoli), slicing-by-8 --------------------------------------

using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

constexpr CrcTables MakeCrcTables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[0][i] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
  return t;
}

constexpr CrcTables kCrcTables = MakeCrcTables();

uint32_t Crc32c(const uint8_t* p, size_t n) {
  const auto& t = kCrcTables;
  uint32_t crc = ~0u;
  if constexpr (std::endian::native == std::endian::little) {
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t w;
      std::memcpy(&w, p, sizeof w);
      const uint32_t lo = static_cast<uint32_t>(w) ^ crc;
      const auto hi = static_cast<uint32_t>(w >> 32);
      crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
            t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
  }
  for (; n > 0; ++p, --n) crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
  return ~crc;
}

// --- varints (LEB128) -------------------------------------------------------

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(static_cast<uint8_t>(v) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Parses one varint from [*p, end); false when truncated or longer than 64 bits.
bool GetVarint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  uint64_t result = 0;
  for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
    const uint8_t byte = *(*p)++;
    if (shift == 63 && byte > 1) return false;
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Sign-extends the low n bits of v (1 <= n < 64).
inline int64_t SignExtend(uint64_t v, unsigned n) {
  const unsigned shift = 64 - n;
  return static_cast<int64_t>(v << shift) >> shift;
}

inline bool FitsSigned(int64_t v, unsigned n) {
  const int64_t limit = int64_t{1} << (n - 1);
  return v >= -limit && v < limit;
}

// The value decimal mode decodes m to. Encoder and decoder share it: one
// correctly rounded IEEE division, so the result is the same everywhere.
inline double FromDecimal(int64_t m, unsigned scale) {
  return static_cast<double>(m) / kPow10[scale];
}

// Finds m with FromDecimal(m, scale) bit-identical to v and |m| <= 2^50.
inline bool ToDecimal(double v, unsigned scale, int64_t* m) {
  const double s = v * kPow10[scale];
  if (!(std::fabs(s) <= kMaxDecimal)) return false;  // also NaN
  const auto r = static_cast<int64_t>(s + (s >= 0 ? 0.5 : -0.5));
  if (std::bit_cast<uint64_t>(FromDecimal(r, scale)) != std::bit_cast<uint64_t>(v)) return false;
  *m = r;
  return true;
}

// m * 10^k, when it stays within the decimal range.
inline bool Rescale(int64_t m, unsigned k, int64_t* out) {
  int64_t r;
  if (__builtin_mul_overflow(m, kPow10Int[k], &r) || r > kMaxDecimalInt || r < -kMaxDecimalInt) {
    return false;
  }
  *out = r;
  return true;
}

// --- header -----------------------------------------------------------------

struct Header {
  uint32_t count = 0;
  TimestampMs first_at = 0;
  TimestampMs last_at = 0;
  uint32_t quality_from = 0;
  const uint8_t* bits = nullptr;  // the bit stream
  size_t bits_bytes = 0;
};

Status ParseHeader(std::string_view chunk, Header* h) {
  const auto* p = reinterpret_cast<const uint8_t*>(chunk.data());
  const uint8_t* const end = p + chunk.size();
  if (p == end) return Status::Corruption("chunk: empty");
  if (*p != kFormatVersion) return Status::Corruption("chunk: unknown format version");
  ++p;
  uint64_t count = 0, first_zz = 0, span = 0, quality_from = 0;
  if (!GetVarint(&p, end, &count) || !GetVarint(&p, end, &first_zz) || !GetVarint(&p, end, &span) ||
      !GetVarint(&p, end, &quality_from)) {
    return Status::Corruption("chunk: truncated header");
  }
  if (count > std::numeric_limits<uint32_t>::max() || quality_from > count) {
    return Status::Corruption("chunk: bad header");
  }
  const TimestampMs first_at = UnZigZag(first_zz);
  const auto last_at = static_cast<TimestampMs>(static_cast<uint64_t>(first_at) + span);
  // Strictly increasing timestamps: count readings need a span of at least count - 1.
  if (last_at < first_at || (count == 0 && (first_at != 0 || span != 0)) ||
      (count > 0 && span < count - 1)) {
    return Status::Corruption("chunk: bad time range");
  }
  const auto rest = static_cast<size_t>(end - p);
  if (rest < kCrcBytes) return Status::Corruption("chunk: truncated");
  const size_t bits_bytes = rest - kCrcBytes;
  // Reading 0 takes 68 bits, every later one at least 2 (timestamp, value).
  const uint64_t min_bits = count == 0 ? 0 : 68 + 2 * (count - 1);
  if (static_cast<uint64_t>(bits_bytes) * 8 < min_bits || (count == 0 && bits_bytes != 0)) {
    return Status::Corruption("chunk: size does not match count");
  }
  h->count = static_cast<uint32_t>(count);
  h->first_at = first_at;
  h->last_at = last_at;
  h->quality_from = static_cast<uint32_t>(quality_from);
  h->bits = p;
  h->bits_bytes = bits_bytes;
  return Status::Ok();
}

// --- bit reader ---------------------------------------------------------------

// Reads an MSB-first bit stream from a bounded byte range. Never reads outside
// it: past the end it returns zeros and sets bad().
class BitReader {
 public:
  BitReader(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}

  // REQUIRES: 1 <= n <= 64.
  uint64_t Read(unsigned n) {
    if (n > 56) {
      const uint64_t hi = Read(n - 32);
      return (hi << 32) | Read(32);
    }
    if (avail_ < n) {
      Refill();
      if (avail_ < n) {
        bad_ = true;
        return 0;
      }
    }
    const uint64_t v = buf_ >> (64 - n);
    buf_ <<= n;
    avail_ -= n;
    return v;
  }

  // Number of leading one bits of the stream, at most max (<= 8), not consumed.
  // Bits past the end read as zero.
  unsigned PeekOnes(unsigned max) {
    if (avail_ < max) Refill();
    const auto ones = static_cast<unsigned>(std::countl_one(buf_));
    return ones < max ? ones : max;
  }

  bool bad() const { return bad_; }

  // Bits not consumed yet, and whether all of them are zero (the padding).
  uint64_t remaining_bits() const { return avail_ + 8 * static_cast<uint64_t>(end_ - p_); }
  bool rest_is_zero() const {
    if (avail_ > 0 && (buf_ >> (64 - avail_)) != 0) return false;
    for (const uint8_t* q = p_; q < end_; ++q) {
      if (*q != 0) return false;
    }
    return true;
  }

 private:
  // Tops the buffer up to at least 56 bits when the input allows. Bits of buf_
  // below avail_ are always zero or the true next bits of the stream.
  void Refill() {
    if (end_ - p_ >= 8) {
      buf_ |= LoadBig64(p_) >> avail_;
      p_ += (63 - avail_) >> 3;
      avail_ |= 56;
    } else {
      while (avail_ <= 56 && p_ < end_) {
        buf_ |= static_cast<uint64_t>(*p_++) << (56 - avail_);
        avail_ += 8;
      }
    }
  }

  const uint8_t* p_;
  const uint8_t* end_;
  uint64_t buf_ = 0;    // left-aligned: the top avail_ bits are the next bits
  unsigned avail_ = 0;  // valid bits in buf_
  bool bad_ = false;
};

// Decodes the bit stream described by h; appends readings in [from, to).
// On failure *out is restored to its size on entry.
Status DecodeBits(const Header& h, TimestampMs from, TimestampMs to, std::vector<Reading>* out) {
  if (h.count == 0 || to <= h.first_at || from > h.last_at || from >= to) return Status::Ok();
  const size_t start = out->size();
  // Geometric growth: callers append many chunks to one vector.
  if (from <= h.first_at && to > h.last_at && out->capacity() < start + h.count) {
    out->reserve(std::max<size_t>(start + h.count, 2 * out->capacity()));
  }
  auto fail = [&](const char* what) {
    out->resize(start);
    return Status::Corruption(std::string("chunk: ") + what);
  };

  BitReader r(h.bits, h.bits_bytes);
  TimestampMs at = h.first_at;
  uint64_t delta = 0;
  auto scale = static_cast<unsigned>(r.Read(4));
  uint64_t value_bits = r.Read(64);
  int64_t decimal = 0;
  if (scale != kXorMode) {
    if (scale > kMaxScale) return fail("bad value mode");
    decimal = static_cast<int64_t>(value_bits);
    value_bits = std::bit_cast<uint64_t>(FromDecimal(decimal, scale));
  }
  unsigned leading = 0;
  unsigned trailing = kNoWindow;
  Quality quality = alarm::kQualityGood;
  uint32_t i = 0;
  for (;;) {
    if (i >= h.quality_from && r.Read(1) != 0) {
      uint32_t q = 0;
      for (unsigned shift = 0;; shift += 7) {
        const uint64_t group = r.Read(8);
        if (shift == 28 && group > 0x0f) return fail("bad quality code");
        q |= static_cast<uint32_t>(group & 0x7f) << shift;
        if ((group & 0x80) == 0) break;
      }
      quality = q;
    }
    if (r.bad()) return fail("truncated bit stream");
    if (at >= to) break;
    if (at >= from) out->push_back(Reading{at, std::bit_cast<double>(value_bits), quality});
    if (++i == h.count) break;

    // Timestamp.
    int64_t dod = 0;
    switch (r.PeekOnes(4)) {
      case 0:
        r.Read(1);
        break;
      case 1:
        r.Read(2);
        dod = SignExtend(r.Read(7), 7);
        break;
      case 2:
        r.Read(3);
        dod = SignExtend(r.Read(14), 14);
        break;
      case 3:
        r.Read(4);
        dod = SignExtend(r.Read(24), 24);
        break;
      default:
        r.Read(4);
        dod = static_cast<int64_t>(r.Read(64));
        break;
    }
    delta += static_cast<uint64_t>(dod);
    const auto next = static_cast<TimestampMs>(static_cast<uint64_t>(at) + delta);
    if (next <= at || next > h.last_at) return fail("timestamps out of order");
    at = next;

    // Value.
    bool xor_value = scale == kXorMode;
    while (!xor_value) {
      uint64_t z = 0;
      const unsigned ones = r.PeekOnes(6);
      r.Read(ones < 6 ? ones + 1 : 6);
      constexpr unsigned kWidth[] = {0, 4, 8, 16, 32, 64};
      if (ones == 6) {  // escape
        const auto escape = static_cast<unsigned>(r.Read(4));
        if (escape == kXorMode) {
          scale = kXorMode;
          xor_value = true;
          break;
        }
        if (escape <= scale || escape > kMaxScale ||
            __builtin_mul_overflow(decimal, kPow10Int[escape - scale], &decimal)) {
          return fail("bad decimal scale");
        }
        scale = escape;
        continue;  // the delta follows
      }
      if (ones > 0) z = r.Read(kWidth[ones]) + 1;
      decimal =
          static_cast<int64_t>(static_cast<uint64_t>(decimal) + static_cast<uint64_t>(UnZigZag(z)));
      value_bits = std::bit_cast<uint64_t>(FromDecimal(decimal, scale));
      break;
    }
    if (xor_value && r.Read(1) != 0) {
      if (r.Read(1) != 0) {
        leading = static_cast<unsigned>(r.Read(5));
        const unsigned sig = static_cast<unsigned>(r.Read(6)) + 1;
        if (leading + sig > 64) return fail("bad value window");
        trailing = 64 - leading - sig;
      } else if (trailing == kNoWindow) {
        return fail("value window used before set");
      }
      value_bits ^= r.Read(64 - leading - trailing) << trailing;
    }
  }
  if (i == h.count) {
    if (at != h.last_at) return fail("last timestamp does not match header");
    if (r.remaining_bits() >= 8 || !r.rest_is_zero()) return fail("trailing bits");
  }
  return Status::Ok();
}

}  // namespace

// --- encoder ------------------------------------------------------------------

ChunkEncoder::ChunkEncoder() = default;

void ChunkEncoder::WriteBits(uint64_t bits, unsigned n) {
  if (n <= free_bits_) {
    free_bits_ = static_cast<uint8_t>(free_bits_ - n);
    words_.back() |= HostToBig(bits << free_bits_);
    return;
  }
  const unsigned rest = n - free_bits_;  // bits that go to a new word, 1..64
  if (free_bits_ > 0) words_.back() |= HostToBig(bits >> rest);
  words_.push_back(HostToBig(bits << (64 - rest)));
  free_bits_ = static_cast<uint8_t>(64 - rest);
}

void ChunkEncoder::Append(alarm::TimestampMs at, double value, alarm::Quality quality) {
  assert(count_ == 0 || at > last_at_);
  const auto value_bits = std::bit_cast<uint64_t>(value);
  if (count_ == 0) {
    first_at_ = at;
    last_at_ = at;
    last_delta_ = 0;
    // Decimal mode at the smallest scale that holds the value exactly, else XOR.
    unsigned scale = kXorMode;
    int64_t m = 0;
    for (unsigned s = 0; s <= kMaxScale; ++s) {
      if (ToDecimal(value, s, &m)) {
        scale = s;
        break;
      }
    }
    scale_ = static_cast<uint8_t>(scale);
    WriteBits(scale, 4);
    if (scale == kXorMode) {
      WriteBits(value_bits, 64);
    } else {
      WriteBits(static_cast<uint64_t>(m), 64);
      last_decimal_ = m;
    }
    leading_ = 0;
    trailing_ = kNoWindow;
  } else {
    // Timestamp: delta of delta, in wrapping arithmetic so any int64 pair works.
    const uint64_t delta = static_cast<uint64_t>(at) - static_cast<uint64_t>(last_at_);
    const auto dod = static_cast<int64_t>(delta - last_delta_);
    const auto u = static_cast<uint64_t>(dod);
    if (dod == 0) {
      WriteBits(0, 1);
    } else if (FitsSigned(dod, 7)) {
      WriteBits((uint64_t{0b10} << 7) | (u & 0x7f), 9);
    } else if (FitsSigned(dod, 14)) {
      WriteBits((uint64_t{0b110} << 14) | (u & 0x3fff), 17);
    } else if (FitsSigned(dod, 24)) {
      WriteBits((uint64_t{0b1110} << 24) | (u & 0xffffff), 28);
    } else {
      WriteBits(0b1111, 4);
      WriteBits(u, 64);
    }
    last_delta_ = delta;
    last_at_ = at;

    int64_t m = 0;
    if (value_bits == last_value_bits_) {
      WriteBits(0, 1);  // unchanged: '0' in either mode (the decimal delta is 0)
    } else if (scale_ == kXorMode) {
      WriteXor(value_bits);
    } else if (ToDecimal(value, scale_, &m)) {
      WriteDecimalDelta(m);
    } else {
      // Not a decimal at this scale: a larger scale, or XOR for the rest of the chunk.
      unsigned scale = scale_ + 1u;
      int64_t rescaled = 0;
      for (; scale <= kMaxScale; ++scale) {
        if (ToDecimal(value, scale, &m) && Rescale(last_decimal_, scale - scale_, &rescaled)) break;
      }
      if (scale <= kMaxScale) {
        WriteBits((uint64_t{0b111111} << 4) | scale, 10);
        scale_ = static_cast<uint8_t>(scale);
        last_decimal_ = rescaled;
        WriteDecimalDelta(m);
      } else {
        WriteBits((uint64_t{0b111111} << 4) | kXorMode, 10);
        scale_ = kXorMode;
        WriteXor(value_bits);
      }
    }
  }
  last_value_bits_ = value_bits;

  // Quality: nothing while every reading so far is good.
  if (quality_from_ == count_ && quality == alarm::kQualityGood) {
    ++quality_from_;
  } else if (quality == last_quality_) {
    WriteBits(0, 1);
  } else {
    WriteBits(1, 1);
    uint32_t v = quality;
    while (v >= 0x80) {
      WriteBits(0x80 | (v & 0x7f), 8);
      v >>= 7;
    }
    WriteBits(v, 8);
    last_quality_ = quality;
  }
  ++count_;
}

void ChunkEncoder::WriteXor(uint64_t value_bits) {
  const uint64_t x = value_bits ^ last_value_bits_;
  if (x == 0) {
    WriteBits(0, 1);
    return;
  }
  unsigned leading = static_cast<unsigned>(std::countl_zero(x));
  const auto trailing = static_cast<unsigned>(std::countr_zero(x));
  if (leading > 31) leading = 31;  // 5-bit field
  if (leading >= leading_ && trailing >= trailing_) {
    const unsigned sig = 64u - leading_ - trailing_;
    if (sig <= 62) {
      WriteBits((uint64_t{0b10} << sig) | (x >> trailing_), sig + 2);
    } else {
      WriteBits(0b10, 2);
      WriteBits(x >> trailing_, sig);
    }
    return;
  }
  const unsigned sig = 64 - leading - trailing;
  const uint64_t control = (uint64_t{0b11} << 11) | (uint64_t{leading} << 6) | (sig - 1);
  if (sig <= 51) {
    WriteBits((control << sig) | (x >> trailing), 13 + sig);
  } else {
    WriteBits(control, 13);
    WriteBits(x >> trailing, sig);
  }
  leading_ = static_cast<uint8_t>(leading);
  trailing_ = static_cast<uint8_t>(trailing);
}

void ChunkEncoder::WriteDecimalDelta(int64_t m) {
  const uint64_t d = static_cast<uint64_t>(m) - static_cast<uint64_t>(last_decimal_);
  last_decimal_ = m;
  if (d == 0) {
    WriteBits(0, 1);
    return;
  }
  const uint64_t z = ZigZag(static_cast<int64_t>(d)) - 1;
  if (z < (uint64_t{1} << 4)) {
    WriteBits((uint64_t{0b10} << 4) | z, 6);
  } else if (z < (uint64_t{1} << 8)) {
    WriteBits((uint64_t{0b110} << 8) | z, 11);
  } else if (z < (uint64_t{1} << 16)) {
    WriteBits((uint64_t{0b1110} << 16) | z, 20);
  } else if (z < (uint64_t{1} << 32)) {
    WriteBits((uint64_t{0b11110} << 32) | z, 37);
  } else {
    WriteBits(0b111110, 6);
    WriteBits(z, 64);
  }
}

std::string ChunkEncoder::Finish() const {
  const size_t bits_bytes = (bit_count() + 7) / 8;
  std::string out;
  out.reserve(1 + 4 * 10 + bits_bytes + kCrcBytes);
  out.push_back(static_cast<char>(kFormatVersion));
  PutVarint(&out, count_);
  PutVarint(&out, count_ == 0 ? 0 : ZigZag(first_at_));
  PutVarint(&out,
            count_ == 0 ? 0 : static_cast<uint64_t>(last_at_) - static_cast<uint64_t>(first_at_));
  PutVarint(&out, quality_from_);
  if (bits_bytes > 0) out.append(reinterpret_cast<const char*>(words_.data()), bits_bytes);
  const uint32_t crc = Crc32c(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  for (int k = 0; k < 4; ++k) out.push_back(static_cast<char>(crc >> (8 * k)));
  return out;
}

void ChunkEncoder::Clear() {
  std::vector<uint64_t>().swap(words_);
  first_at_ = 0;
  last_at_ = 0;
  last_delta_ = 0;
  last_value_bits_ = 0;
  last_decimal_ = 0;
  count_ = 0;
  quality_from_ = 0;
  last_quality_ = alarm::kQualityGood;
  free_bits_ = 0;
  leading_ = 0;
  trailing_ = 0;
  scale_ = 0;
}

// --- readers --------------------------------------------------------------------

alarm::Result<ChunkSummary> InspectChunk(std::string_view chunk) {
  Header h;
  if (Status s = ParseHeader(chunk, &h); !s.ok()) return s;
  return ChunkSummary{h.count, h.first_at, h.last_at};
}

alarm::Status DecodeChunk(std::string_view chunk, alarm::TimestampMs from, alarm::TimestampMs to,
                          std::vector<alarm::Reading>* out) {
  Header h;
  if (Status s = ParseHeader(chunk, &h); !s.ok()) return s;
  const size_t body = chunk.size() - kCrcBytes;
  const auto* data = reinterpret_cast<const uint8_t*>(chunk.data());
  const uint32_t stored =
      static_cast<uint32_t>(data[body]) | static_cast<uint32_t>(data[body + 1]) << 8 |
      static_cast<uint32_t>(data[body + 2]) << 16 | static_cast<uint32_t>(data[body + 3]) << 24;
  if (Crc32c(data, body) != stored) return Status::Corruption("chunk: checksum mismatch");
  return DecodeBits(h, from, to, out);
}

alarm::Status DecodeChunk(const ChunkEncoder& head, alarm::TimestampMs from, alarm::TimestampMs to,
                          std::vector<alarm::Reading>* out) {
  Header h;
  h.count = head.count_;
  h.first_at = head.first_at_;
  h.last_at = head.last_at_;
  h.quality_from = head.quality_from_;
  h.bits = reinterpret_cast<const uint8_t*>(head.words_.data());
  h.bits_bytes = (head.bit_count() + 7) / 8;
  return DecodeBits(h, from, to, out);
}

}  // namespace vigil::storage
