// Compressed chunk of one sensor's readings, after Gorilla (VLDB 2015) and the
// Prometheus TSDB XOR chunk: delta-of-delta timestamps; values as exact decimal
// deltas when they are short decimals, else XOR-compressed; quality codes that
// cost nothing while every reading is good; a CRC32C over the whole chunk.
// Thread-safety: a ChunkEncoder is not thread-safe; it is owned and used by one
// thread (its shard). The free functions only read their arguments.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/status.h"
#include "alarm/types.h"

namespace vigil::storage {

// Storage format constant: a chunk never spans more than this (last_at - first_at).
// Enforced by HeadSet, not by the encoder.
inline constexpr std::chrono::milliseconds kMaxChunkSpan = std::chrono::hours(2);

// Encoded chunk, format version 1 (all varints are LEB128):
//   u8 version=1 | varint count | varint zigzag(first_at) | varint (last_at - first_at)
//   | varint quality_from | bit stream, MSB first, zero-padded to a byte | u32le CRC32C
// The CRC covers every byte before it. `quality_from` is the index of the first
// reading with a quality other than good (count when all are good); readings
// before it carry no quality bits. Per reading i in the bit stream:
//   timestamp (i >= 1): dod = (at_i - at_{i-1}) - (at_{i-1} - at_{i-2}), wrapping
//     (the delta before reading 1 is 0): '0' dod 0 | '10' 7-bit | '110' 14-bit
//     | '1110' 24-bit | '1111' 64-bit two's complement.
//   value, in one of two modes. Reading 0: 4-bit mode, then 64 bits: the raw value
//     in XOR mode (15), else the integer m with value == m / 10^mode exactly
//     (decimal mode, 0 <= mode <= 9: instruments report a few decimals).
//     XOR mode (Gorilla), x = bits_i ^ bits_{i-1}: '0' x == 0 | '10' the significant
//     bits in the previous window | '11' 5-bit leading zeros, 6-bit (significant
//     bits - 1), the significant bits.
//     Decimal mode, d = m_i - m_{i-1}, z = zigzag(d) - 1: '0' d == 0 | '10' 4-bit z
//     | '110' 8-bit z | '1110' 16-bit z | '11110' 32-bit z | '111110' 64-bit z
//     | '111111' 4-bit escape: a larger scale s (m_{i-1} *= 10^(s - mode), then d is
//     coded as above), or 15: the chunk is in XOR mode from this value on.
//   quality (i >= quality_from): '0' same as previous (good before the first)
//     | '1' the code as a varint in 8-bit groups.
// Decimal mode is an addition to Gorilla: a 2-decimal noisy signal costs ~1 byte
// per reading instead of ~6 with XOR, whose mantissas look random.
//
// Appends readings in strictly increasing time order. One per sensor head, so it
// is kept small (80 bytes on LP64): one buffer plus the codec state. Lifecycle:
// Append* -> Finish (any number of times) -> Clear -> Append* ...
class ChunkEncoder {
 public:
  ChunkEncoder();

  // REQUIRES: count() == 0 || at > last_at(). Appends one reading; the value's bit
  // pattern is stored exactly (-0.0, denormals, even NaN payloads). Amortized: no
  // allocation per reading beyond buffer growth.
  void Append(alarm::TimestampMs at, double value, alarm::Quality quality);

  uint32_t count() const { return count_; }
  alarm::TimestampMs first_at() const { return first_at_; }  // REQUIRES: count() > 0
  alarm::TimestampMs last_at() const { return last_at_; }    // REQUIRES: count() > 0
  // A hint that a reading is about to be appended: fetches the word it will
  // go into. No effect on contents.
  void PrefetchTail() const {
    if (!words_.empty()) __builtin_prefetch(&words_.back(), 1);
  }
  // Heap bytes plus the object itself, for memory accounting.
  size_t memory_bytes() const { return sizeof(*this) + words_.capacity() * sizeof(uint64_t); }

  // The encoded chunk (header + bits + CRC). The encoder keeps its content.
  // An empty encoder gives a valid chunk of zero readings.
  std::string Finish() const;

  // Empties the encoder and releases its buffer.
  void Clear();

 private:
  friend alarm::Status DecodeChunk(const ChunkEncoder& head, alarm::TimestampMs from,
                                   alarm::TimestampMs to, std::vector<alarm::Reading>* out);

  void WriteBits(uint64_t bits, unsigned n);  // REQUIRES: 1 <= n <= 64, bits < 2^n
  void WriteXor(uint64_t value_bits);
  void WriteDecimalDelta(int64_t m);
  size_t bit_count() const { return words_.size() * 64 - free_bits_; }

  // Bit stream in 64-bit words whose bytes are stored in stream (big-endian)
  // order, so the memory is the encoded byte stream and decodes in place.
  std::vector<uint64_t> words_;
  alarm::TimestampMs first_at_ = 0;
  alarm::TimestampMs last_at_ = 0;
  uint64_t last_delta_ = 0;       // at_{n-1} - at_{n-2}, wrapping
  uint64_t last_value_bits_ = 0;  // bit pattern of the previous value
  int64_t last_decimal_ = 0;      // decimal mode: previous value * 10^scale_
  uint32_t count_ = 0;
  uint32_t quality_from_ = 0;  // see the format; == count_ while all good
  alarm::Quality last_quality_ = alarm::kQualityGood;
  uint8_t free_bits_ = 0;  // unused low bits of the last word
  uint8_t leading_ = 0;    // previous XOR window: leading zeros
  uint8_t trailing_ = 0;   // previous XOR window: trailing zeros; 64 = no window yet
  uint8_t scale_ = 0;      // value mode: decimal scale 0..9, or 15 = XOR
};

struct ChunkSummary {
  uint32_t count;
  alarm::TimestampMs first_at;
  alarm::TimestampMs last_at;
};

// Reads only the header (the CRC is not checked: DecodeChunk does that).
// kCorruption on a malformed header or a size that cannot hold `count` readings.
alarm::Result<ChunkSummary> InspectChunk(std::string_view chunk);

// Appends to *out every reading with from <= at < to, in time order. Never crashes
// or reads out of bounds on malformed or truncated input. Returns kCorruption
// (bad header, CRC mismatch, inconsistent bit stream) and then leaves *out
// unchanged: nothing of a damaged chunk is ever returned. (A reading at INT64_MAX
// is stored, but no [from, to) can ask for it.)
alarm::Status DecodeChunk(std::string_view chunk, alarm::TimestampMs from, alarm::TimestampMs to,
                          std::vector<alarm::Reading>* out);

// Decode an open encoder's readings overlapping [from,to) into *out; same as
// above, convenience for the head: reads the encoder's buffer in place, without
// Finish()'s copy and CRC.
alarm::Status DecodeChunk(const ChunkEncoder& head, alarm::TimestampMs from, alarm::TimestampMs to,
                          std::vector<alarm::Reading>* out);

}  // namespace vigil::storage
