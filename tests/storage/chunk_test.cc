#include "storage/chunk.h"

#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace vigil::storage {
namespace {

using alarm::Quality;
using alarm::Reading;
using alarm::Status;
using alarm::TimestampMs;

constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
constexpr TimestampMs kT0 = 1'700'000'000'000;  // 2023-11-14, ms

static_assert(sizeof(ChunkEncoder) <= 80, "one encoder per sensor: keep it small");

std::string Encode(const std::vector<Reading>& readings) {
  ChunkEncoder enc;
  for (const Reading& r : readings) enc.Append(r.at, r.value, r.quality);
  return enc.Finish();
}

std::vector<Reading> DecodeAll(const std::string& chunk) {
  std::vector<Reading> out;
  const Status s = DecodeChunk(chunk, kMin, kMax, &out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

bool SameBits(const Reading& a, const Reading& b) {
  return a.at == b.at && std::bit_cast<uint64_t>(a.value) == std::bit_cast<uint64_t>(b.value) &&
         a.quality == b.quality;
}

void RequireSame(const std::vector<Reading>& got, const std::vector<Reading>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("reading " << i << " at " << want[i].at);
    REQUIRE(got[i].at == want[i].at);
    REQUIRE(std::bit_cast<uint64_t>(got[i].value) == std::bit_cast<uint64_t>(want[i].value));
    REQUIRE(got[i].quality == want[i].quality);
  }
}

// Readings at INT64_MAX are stored but unreachable through [from, to).
void RequireRoundTrip(const std::vector<Reading>& readings) {
  const std::string chunk = Encode(readings);
  std::vector<Reading> want;
  for (const Reading& r : readings) {
    if (r.at != kMax) want.push_back(r);
  }
  RequireSame(DecodeAll(chunk), want);
  const auto summary = InspectChunk(chunk);
  REQUIRE(summary.has_value());
  REQUIRE(summary->count == readings.size());
  REQUIRE(summary->first_at == readings.front().at);
  REQUIRE(summary->last_at == readings.back().at);
  // The head path (decode in place from the encoder) agrees.
  ChunkEncoder enc;
  for (const Reading& r : readings) enc.Append(r.at, r.value, r.quality);
  std::vector<Reading> head;
  REQUIRE(DecodeChunk(enc, kMin, kMax, &head).ok());
  RequireSame(head, want);
}

std::vector<Reading> Regular(size_t n, TimestampMs start, TimestampMs step,
                             const std::function<double(size_t)>& value) {
  std::vector<Reading> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(Reading{start + static_cast<TimestampMs>(i) * step, value(i), 0});
  }
  return out;
}

std::vector<Reading> RandomWalk(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0.0, 0.05);
  std::uniform_int_distribution<TimestampMs> jitter(-20, 20);
  std::vector<Reading> out;
  double v = 25.0;
  for (size_t i = 0; i < n; ++i) {
    v += step(rng);
    out.push_back(Reading{kT0 + static_cast<TimestampMs>(i) * 1000 + jitter(rng), v, 0});
  }
  return out;
}

// Bitwise CRC32C, independent of the codec's table version.
uint32_t TestCrc32c(const std::string& data) {
  uint32_t crc = ~0u;
  for (const char ch : data) {
    crc ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

// Replaces a chunk's trailing CRC so mutated bodies reach the bit-stream decoder.
std::string Reseal(std::string chunk) {
  if (chunk.size() < 4) return chunk;
  chunk.resize(chunk.size() - 4);
  const uint32_t crc = TestCrc32c(chunk);
  for (int k = 0; k < 4; ++k) chunk.push_back(static_cast<char>(crc >> (8 * k)));
  return chunk;
}

// After a decode of damaged input: Corruption leaves *out untouched; success
// must be sound (strictly increasing times inside the header's range).
void RequireSafeResult(const Status& s, const std::string& chunk, const std::vector<Reading>& out,
                       const std::vector<Reading>& sentinel) {
  if (!s.ok()) {
    REQUIRE(s.code() == Status::Code::kCorruption);
    RequireSame(out, sentinel);
    return;
  }
  const auto summary = InspectChunk(chunk);
  REQUIRE(summary.has_value());
  for (size_t i = sentinel.size(); i < out.size(); ++i) {
    REQUIRE(out[i].at >= summary->first_at);
    REQUIRE(out[i].at <= summary->last_at);
    if (i > sentinel.size()) REQUIRE(out[i].at > out[i - 1].at);
  }
}

TEST_CASE("Chunk round trip is bit exact for random walks", "[storage][chunk]") {
  for (uint64_t seed = 1; seed <= 5; ++seed) RequireRoundTrip(RandomWalk(1000, seed));
}

TEST_CASE("Chunk round trip is bit exact for 10k readings", "[storage][chunk]") {
  RequireRoundTrip(RandomWalk(10'000, 42));
}

TEST_CASE("Chunk round trip of a single reading", "[storage][chunk]") {
  RequireRoundTrip({Reading{kT0, 3.25, 0}});
  RequireRoundTrip({Reading{-5, -0.0, 7}});
  RequireRoundTrip({Reading{kMin, std::numeric_limits<double>::denorm_min(), 0}});
}

TEST_CASE("Chunk of zero readings decodes to nothing", "[storage][chunk]") {
  ChunkEncoder enc;
  const std::string chunk = enc.Finish();
  const auto summary = InspectChunk(chunk);
  REQUIRE(summary.has_value());
  CHECK(summary->count == 0);
  std::vector<Reading> out;
  REQUIRE(DecodeChunk(chunk, kMin, kMax, &out).ok());
  CHECK(out.empty());
}

TEST_CASE("Chunk round trip preserves special doubles bit for bit", "[storage][chunk]") {
  using L = std::numeric_limits<double>;
  const std::vector<double> specials = {
      0.0,
      -0.0,
      0.0,
      -0.0,
      L::denorm_min(),
      -L::denorm_min(),
      L::min(),
      L::min() - L::denorm_min(),  // largest denormal
      L::max(),
      -L::max(),
      L::lowest(),
      L::epsilon(),
      1e-300,
      1e300,
      -1e-308,
      1.0,
      1.0 + L::epsilon(),
      1.0,
      std::nextafter(1.0, 0.0),
      123456789.123456789,
      -0.0,
      L::infinity(),
      -L::infinity(),
      std::bit_cast<double>(uint64_t{0x7ff8'0000'dead'beef}),  // NaN with a payload
      42.0};
  std::vector<Reading> readings;
  for (size_t i = 0; i < specials.size(); ++i) {
    readings.push_back(Reading{kT0 + static_cast<TimestampMs>(i) * 1000, specials[i], 0});
  }
  RequireRoundTrip(readings);
  const std::vector<Reading> decoded = DecodeAll(Encode(readings));
  CHECK(std::signbit(decoded[1].value));
  CHECK(decoded[1].value == 0.0);
}

TEST_CASE("Chunk round trip preserves arbitrary 64-bit value patterns", "[storage][chunk]") {
  std::mt19937_64 rng(7);
  std::vector<Reading> readings;
  for (size_t i = 0; i < 2000; ++i) {
    uint64_t bits = rng();
    // Mix in near-repeats so every XOR window path is taken.
    if (i % 3 == 1) bits = std::bit_cast<uint64_t>(readings.back().value) ^ (rng() & 0xff);
    if (i % 7 == 3) bits = std::bit_cast<uint64_t>(readings.back().value);
    if (i % 11 == 5) bits = std::bit_cast<uint64_t>(readings.back().value) ^ (uint64_t{1} << 63);
    readings.push_back(Reading{kT0 + static_cast<TimestampMs>(i), std::bit_cast<double>(bits), 0});
  }
  RequireRoundTrip(readings);
}

TEST_CASE("Chunk round trip is bit exact for decimal-valued signals", "[storage][chunk]") {
  auto at = [](size_t i) { return kT0 + static_cast<TimestampMs>(i) * 1000; };
  auto from_values = [&](const std::vector<double>& values) {
    std::vector<Reading> r;
    for (size_t i = 0; i < values.size(); ++i) r.push_back(Reading{at(i), values[i], 0});
    return r;
  };
  SECTION("2-decimal noisy instrument") {
    std::mt19937_64 rng(31);
    std::normal_distribution<double> noise(0.0, 0.05);
    std::vector<double> v;
    for (size_t i = 0; i < 2000; ++i) v.push_back(std::round((20 + noise(rng)) * 100) / 100);
    RequireRoundTrip(from_values(v));
  }
  SECTION("integers, negatives and crossing zero") {
    RequireRoundTrip(from_values({0, 1, -1, 2, -7, 100, -100, 0, 3, 3, 3, -2}));
    RequireRoundTrip(from_values({-0.5, -0.25, 0.25, 0.0, -1.75, 12.125}));
  }
  SECTION("the scale grows when later values have more decimals") {
    RequireRoundTrip(from_values({23.0, 23.5, 23.47, 23.471, 23.4, 23.4712345, 0.000000001, 1}));
    RequireRoundTrip(from_values({1e6, 0.5, 1234567.891}));
    RequireRoundTrip(from_values({1e15, 1.5, 2}));  // 1e15 * 10 leaves the decimal range: XOR
  }
  SECTION("values that are not short decimals switch the chunk to XOR") {
    RequireRoundTrip(from_values({20.5, -0.0, 20.5, 20.25}));
    RequireRoundTrip(from_values({20.5, std::numeric_limits<double>::quiet_NaN(), 20.5}));
    RequireRoundTrip(from_values({20.5, 1e300, 20.5}));
    RequireRoundTrip(from_values({20.5, 0.1 + 0.2, 20.5}));  // 0.30000000000000004
    RequireRoundTrip(from_values({1, static_cast<float>(20.1), 3}));
    RequireRoundTrip(from_values({-0.0, 1, 2}));  // XOR from the start
  }
  SECTION("deltas of every size, up to the edge of the decimal range") {
    const double edge = std::ldexp(1.0, 50);
    RequireRoundTrip(from_values({0, 1, 9, -8, 20, 300, -70'000, 5e9, -5e9, 4e14, -4e14, edge,
                                  -edge, edge + 2, 0, 1e-9, 0}));
  }
  SECTION("random decimals with occasional other doubles") {
    std::mt19937_64 rng(32);
    std::vector<double> v;
    for (size_t i = 0; i < 5000; ++i) {
      if (i % 480 == 0) v.clear();  // fresh chunks, each starting in a new mode
      const unsigned scale = static_cast<unsigned>(rng() % 10);
      const auto m = static_cast<int64_t>(rng() % 2'000'001) - 1'000'000;
      double x = static_cast<double>(m) / std::pow(10.0, scale);
      if (rng() % 200 == 0) x = std::bit_cast<double>(rng());
      v.push_back(x);
      if (v.size() % 97 == 0) RequireRoundTrip(from_values(v));
    }
  }
}

TEST_CASE("Chunk round trip handles negative, irregular and huge timestamp gaps",
          "[storage][chunk]") {
  SECTION("negative timestamps") {
    RequireRoundTrip(Regular(100, -1'000'000, 1000, [](size_t i) { return double(i); }));
  }
  SECTION("crossing zero") {
    RequireRoundTrip(Regular(100, -50'000, 997, [](size_t i) { return double(i) * 0.5; }));
  }
  SECTION("the whole int64 range") {
    RequireRoundTrip({Reading{kMin, 1, 0}, Reading{kMin + 1, 2, 0}, Reading{-1, 3, 0},
                      Reading{0, 4, 0}, Reading{kMax - 1, 5, 0}, Reading{kMax, 6, 0}});
    RequireRoundTrip({Reading{kMin, 1, 0}, Reading{kMax, 2, 0}});
  }
  SECTION("backfill gaps of months and 1 ms steps") {
    const TimestampMs month = TimestampMs{31} * 24 * 3600 * 1000;
    std::vector<Reading> r;
    TimestampMs at = kT0;
    for (int i = 0; i < 300; ++i) {
      at += (i % 50 == 49) ? 3 * month : (i % 5 == 0 ? 1 : 10'000);
      r.push_back(Reading{at, 20.0 + i * 0.01, 0});
    }
    RequireRoundTrip(r);
  }
  SECTION("random irregular gaps of every magnitude") {
    std::mt19937_64 rng(99);
    std::vector<Reading> r;
    TimestampMs at = -(TimestampMs{1} << 40);
    for (int i = 0; i < 3000; ++i) {
      const unsigned magnitude = static_cast<unsigned>(rng() % 40);
      at += 1 + static_cast<TimestampMs>(rng() % (uint64_t{1} << magnitude));
      r.push_back(Reading{at, static_cast<double>(i), 0});
    }
    RequireRoundTrip(r);
  }
}

TEST_CASE("Chunk preserves quality codes", "[storage][chunk]") {
  SECTION("all good") {
    const auto r = RandomWalk(200, 3);
    for (const Reading& x : DecodeAll(Encode(r))) REQUIRE(x.quality == alarm::kQualityGood);
  }
  SECTION("mixed, including the largest code") {
    std::mt19937 rng(5);
    auto r = RandomWalk(1000, 4);
    for (size_t i = 0; i < r.size(); ++i) {
      const auto pick = static_cast<uint32_t>(rng() % 10);
      r[i].quality = pick < 6 ? 0 : pick < 8 ? 192 : pick < 9 ? 1 : 0xffff'ffffu;
    }
    RequireRoundTrip(r);
  }
  SECTION("bad from the first reading, good at the end") {
    auto r = RandomWalk(50, 6);
    for (size_t i = 0; i < 40; ++i) r[i].quality = 3;
    RequireRoundTrip(r);
  }
  SECTION("only the last reading bad") {
    auto r = RandomWalk(50, 7);
    r.back().quality = 128;
    RequireRoundTrip(r);
  }
  SECTION("all-good chunks spend no bits on quality") {
    auto good = Regular(480, kT0, 1000, [](size_t) { return 1.0; });
    auto bad = good;
    for (Reading& x : bad) x.quality = 5;
    // Bad quality costs a bit per reading; good costs nothing (but a header varint).
    CHECK(Encode(bad).size() >= Encode(good).size() + 480 / 8 - 2);
    // Value 0: 4 + 64 bits; the first delta (1000 ms): 17 bits; then 1 bit for
    // each unchanged timestamp delta and 1 bit for each unchanged value.
    const size_t value_and_time_bytes = (4 + 64 + 17 + 478 + 479 + 7) / 8;
    // Header: version, count, first_at, span, quality_from; then the CRC.
    CHECK(Encode(good).size() == value_and_time_bytes + 1 + 2 + 6 + 3 + 2 + 4);
  }
}

TEST_CASE("DecodeChunk returns only readings from from up to before to", "[storage][chunk]") {
  const auto r = Regular(100, 1000, 10, [](size_t i) { return double(i); });  // at 1000..1990
  const std::string chunk = Encode(r);
  auto expect = [&](TimestampMs from, TimestampMs to) {
    std::vector<Reading> want;
    for (const Reading& x : r) {
      if (x.at >= from && x.at < to) want.push_back(x);
    }
    std::vector<Reading> got;
    REQUIRE(DecodeChunk(chunk, from, to, &got).ok());
    INFO("[" << from << "," << to << ")");
    RequireSame(got, want);
    // Appends after existing content, leaving it alone.
    std::vector<Reading> prefixed = {Reading{1, 2, 3}};
    REQUIRE(DecodeChunk(chunk, from, to, &prefixed).ok());
    REQUIRE(prefixed.size() == want.size() + 1);
    REQUIRE(SameBits(prefixed[0], Reading{1, 2, 3}));
  };
  expect(kMin, kMax);
  expect(1000, 1001);  // first only
  expect(1990, 2000);  // last only
  expect(1005, 1055);  // from between readings
  expect(1500, 1500);  // empty range
  expect(1600, 1500);  // inverted range
  expect(0, 1000);     // ends right before the first reading
  expect(1991, kMax);  // starts after the last
  expect(1010, 1990);  // `to` is exclusive
  for (TimestampMs from = 990; from <= 2000; from += 37) expect(from, from + 123);
}

TEST_CASE("InspectChunk reads count and time range from the header", "[storage][chunk]") {
  const auto r = RandomWalk(480, 8);
  const auto summary = InspectChunk(Encode(r));
  REQUIRE(summary.has_value());
  CHECK(summary->count == 480);
  CHECK(summary->first_at == r.front().at);
  CHECK(summary->last_at == r.back().at);

  const auto negative = InspectChunk(Encode({Reading{kMin, 0, 0}, Reading{-3, 0, 0}}));
  REQUIRE(negative.has_value());
  CHECK(negative->first_at == kMin);
  CHECK(negative->last_at == -3);

  for (const std::string& bad : {std::string(), std::string("\x02", 1), std::string("\x01", 1),
                                 std::string("\x01\x80", 2), std::string("garbage!")}) {
    const auto s = InspectChunk(bad);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().code() == Status::Code::kCorruption);
  }
}

TEST_CASE("DecodeChunk rejects every truncation of a valid chunk", "[storage][chunk]") {
  auto r = RandomWalk(300, 9);
  r[17].quality = 4;
  const std::string chunk = Encode(r);
  const std::vector<Reading> sentinel = {Reading{-1, -1, 9}};
  for (size_t len = 0; len < chunk.size(); ++len) {
    INFO("prefix " << len << " of " << chunk.size());
    const std::string prefix = chunk.substr(0, len);
    std::vector<Reading> out = sentinel;
    const Status s = DecodeChunk(prefix, kMin, kMax, &out);
    REQUIRE(s.code() == Status::Code::kCorruption);
    RequireSame(out, sentinel);
    // Even with a matching checksum the bit-stream decoder must not overrun.
    out = sentinel;
    const std::string resealed = Reseal(prefix);
    RequireSafeResult(DecodeChunk(resealed, kMin, kMax, &out), resealed, out, sentinel);
    (void)InspectChunk(prefix);
  }
}

TEST_CASE("DecodeChunk on random byte flips never crashes nor returns damaged data",
          "[storage][chunk]") {
  auto r = RandomWalk(200, 10);
  for (size_t i = 0; i < r.size(); i += 13) r[i].quality = static_cast<Quality>(i);
  const std::string chunk = Encode(r);
  const std::vector<Reading> sentinel = {Reading{-1, -1, 9}};
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string damaged = chunk;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      damaged[rng() % damaged.size()] ^= static_cast<char>(1 + rng() % 255);
    }
    INFO("trial " << trial);
    std::vector<Reading> out = sentinel;
    const Status s = DecodeChunk(damaged, kMin, kMax, &out);
    if (s.ok()) {
      // Only possible if the damage left a valid chunk: the data must be intact.
      std::vector<Reading> want = sentinel;
      want.insert(want.end(), r.begin(), r.end());
      RequireSame(out, want);
    } else {
      REQUIRE(s.code() == Status::Code::kCorruption);
      RequireSame(out, sentinel);
    }
    // With a recomputed checksum the damage reaches the bit-stream decoder.
    const std::string resealed = Reseal(damaged);
    out = sentinel;
    RequireSafeResult(DecodeChunk(resealed, kMin, kMax, &out), resealed, out, sentinel);
  }
}

// A hand-made version 1 chunk of 3 XOR-mode readings at 0, t1, t2 (value 0),
// with a valid header (first 0, last t2) and CRC, to reach the decoder's checks.
std::string HandMadeChunk(TimestampMs t1, TimestampMs t2) {
  std::string bits;
  auto put = [&bits](uint64_t v, unsigned n) {
    for (unsigned k = n; k-- > 0;) bits.push_back(((v >> k) & 1) ? '1' : '0');
  };
  put(15, 4);  // XOR mode
  put(0, 64);  // value 0
  const TimestampMs dod1 = t1;
  const TimestampMs dod2 = (t2 - t1) - t1;
  REQUIRE(dod1 >= -64);
  REQUIRE(dod1 < 64);
  REQUIRE(dod2 >= -64);
  REQUIRE(dod2 < 64);
  put(0b10, 2), put(static_cast<uint64_t>(dod1) & 0x7f, 7), put(0, 1);  // time, same value
  put(0b10, 2), put(static_cast<uint64_t>(dod2) & 0x7f, 7), put(0, 1);
  while (bits.size() % 8 != 0) bits.push_back('0');
  std::string chunk = {1, 3, 0, static_cast<char>(t2), 3};  // t2 < 128: one-byte varint
  for (size_t i = 0; i < bits.size(); i += 8) {
    chunk.push_back(static_cast<char>(std::stoi(bits.substr(i, 8), nullptr, 2)));
  }
  return Reseal(chunk + "CRC!");
}

TEST_CASE("DecodeChunk rejects checksummed chunks whose timestamps do not increase",
          "[storage][chunk]") {
  std::vector<Reading> out;
  REQUIRE(DecodeChunk(HandMadeChunk(5, 10), kMin, kMax, &out).ok());  // the control
  CHECK(out.size() == 3);
  const std::vector<Reading> sentinel = {Reading{7, 7, 7}};
  for (const auto& [t1, t2] : {std::pair<TimestampMs, TimestampMs>{-5, 10}, {0, 10}, {10, 10}}) {
    INFO("times 0, " << t1 << ", " << t2);
    out = sentinel;
    const Status s = DecodeChunk(HandMadeChunk(t1, t2), kMin, kMax, &out);
    CHECK(s.code() == Status::Code::kCorruption);
    RequireSame(out, sentinel);
  }
}

// Found by tests/fuzz/chunk_fuzzer: decoding stops at `to`, and no `to` is past
// INT64_MAX, so a checksummed chunk whose header counted more readings than
// followed its reading at INT64_MAX was never checked to the end and decoded
// "ok" with part of its readings.
TEST_CASE("DecodeChunk rejects a reading at last_at that is not the last", "[storage][chunk]") {
  ChunkEncoder encoder;
  encoder.Append(0, 1.5, 0);
  encoder.Append(1, 2.5, 0);
  encoder.Append(kMax, 3.5, 0);
  std::string chunk = encoder.Finish();
  std::vector<Reading> out;
  REQUIRE(DecodeChunk(chunk, kMin, kMax, &out).ok());  // the control
  CHECK(out.size() == 2);                              // INT64_MAX is past every `to`

  REQUIRE(chunk[1] == 3);  // varint count
  chunk[1] = 5;
  chunk = Reseal(chunk);
  REQUIRE(InspectChunk(chunk).has_value());
  const std::vector<Reading> sentinel = {Reading{7, 7, 7}};
  out = sentinel;
  CHECK(DecodeChunk(chunk, kMin, kMax, &out).code() == Status::Code::kCorruption);
  RequireSame(out, sentinel);
}

TEST_CASE("DecodeChunk on random bytes with a valid checksum never crashes", "[storage][chunk]") {
  std::mt19937_64 rng(12);
  const std::vector<Reading> sentinel;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes(4 + rng() % 60, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    bytes[0] = 1;                              // right version
    bytes[1] = static_cast<char>(rng() % 20);  // small count
    const std::string chunk = Reseal(bytes);
    std::vector<Reading> out;
    RequireSafeResult(DecodeChunk(chunk, kMin, kMax, &out), chunk, out, sentinel);
  }
}

TEST_CASE("ChunkEncoder Finish keeps content and Clear empties it", "[storage][chunk]") {
  ChunkEncoder enc;
  CHECK(enc.count() == 0);
  const auto r = RandomWalk(100, 13);
  for (size_t i = 0; i < 50; ++i) enc.Append(r[i].at, r[i].value, r[i].quality);
  const std::string half = enc.Finish();
  CHECK(enc.count() == 50);
  for (size_t i = 50; i < 100; ++i) enc.Append(r[i].at, r[i].value, r[i].quality);
  CHECK(enc.count() == 100);
  CHECK(enc.first_at() == r.front().at);
  CHECK(enc.last_at() == r.back().at);
  RequireSame(DecodeAll(half), std::vector<Reading>(r.begin(), r.begin() + 50));
  RequireSame(DecodeAll(enc.Finish()), r);

  CHECK(enc.memory_bytes() > sizeof(ChunkEncoder));
  enc.Clear();
  CHECK(enc.count() == 0);
  CHECK(enc.memory_bytes() == sizeof(ChunkEncoder));
  // Reusable after Clear, including timestamps earlier than before.
  const auto again = Regular(10, -100, 7, [](size_t i) { return -double(i); });
  for (const Reading& x : again) enc.Append(x.at, x.value, x.quality);
  RequireSame(DecodeAll(enc.Finish()), again);
}

TEST_CASE("Chunk compresses typical sensor signals", "[storage][chunk]") {
  auto bytes_per_reading = [](const std::vector<Reading>& r) {
    return static_cast<double>(Encode(r).size()) / static_cast<double>(r.size());
  };
  SECTION("constant at 1 s cadence: at most 1 byte") {
    const auto r = Regular(480, kT0, 1000, [](size_t) { return 21.5; });
    CHECK(bytes_per_reading(r) <= 1.0);
  }
  SECTION("slowly drifting value of a 0.01-resolution instrument at 1 s: at most 4 bytes") {
    const auto r = Regular(480, kT0, 1000, [](size_t i) {
      return std::round((40.0 + 2.0 * std::sin(static_cast<double>(i) / 300.0)) * 100.0) / 100.0;
    });
    CHECK(bytes_per_reading(r) <= 4.0);
  }
  SECTION("noisy 2-decimal instrument at 1 s: at most 2 bytes") {
    std::mt19937_64 rng(15);
    std::normal_distribution<double> noise(0.0, 0.05);
    const auto r = Regular(480, kT0, 1000, [&](size_t i) {
      const double drift = 40.0 + 2.0 * std::sin(static_cast<double>(i) / 300.0);
      return std::round((drift + noise(rng)) * 100.0) / 100.0;
    });
    CHECK(bytes_per_reading(r) <= 2.0);
  }
  SECTION("integer counts at 10 s with timestamp jitter: at most 4 bytes") {
    std::mt19937 rng(14);
    std::vector<Reading> r;
    double v = 100;
    for (size_t i = 0; i < 480; ++i) {
      v += static_cast<double>(rng() % 3) - 1.0;
      const auto jitter = static_cast<TimestampMs>(rng() % 5);
      r.push_back(Reading{kT0 + static_cast<TimestampMs>(i) * 10'000 + jitter, v, 0});
    }
    CHECK(bytes_per_reading(r) <= 4.0);
  }
}

}  // namespace
}  // namespace vigil::storage
