#include "storage/keys.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace vigil::storage {
namespace {

using alarm::TimestampMs;

constexpr TimestampMs kMin = std::numeric_limits<TimestampMs>::min();
constexpr TimestampMs kMax = std::numeric_limits<TimestampMs>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

const std::vector<uint64_t> kUnsigned = {0,
                                         1,
                                         2,
                                         0x7f,
                                         0x80,
                                         0xff,
                                         0x100,
                                         0x101,
                                         0xffff,
                                         0x10000,
                                         0xffffffff,
                                         0x100000000,
                                         uint64_t{1} << 62,
                                         (uint64_t{1} << 63) - 1,
                                         uint64_t{1} << 63,
                                         (uint64_t{1} << 63) + 1,
                                         kMaxU64 - 1,
                                         kMaxU64};

const std::vector<TimestampMs> kSigned = {
    kMin, kMin + 1, -(TimestampMs{1} << 40), -256,     -255, -2, -1, 0, 1,
    255,  256,      1'700'000'000'000,       kMax - 1, kMax};

// Byte order as RocksDB's default comparator sees it (unsigned bytes).
bool BytesLess(const std::string& a, const std::string& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
  });
}

TEST_CASE("LogKey is 8 bytes whose byte order is numeric order", "[storage][keys]") {
  for (uint64_t a : kUnsigned) {
    CHECK(LogKey(a).size() == 8);
    for (uint64_t b : kUnsigned) {
      CAPTURE(a, b);
      CHECK(BytesLess(LogKey(a), LogKey(b)) == (a < b));
    }
  }
  CHECK(LogKey(0x0102030405060708) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
}

TEST_CASE("ParseLogKey round trips and rejects other lengths", "[storage][keys]") {
  for (uint64_t v : kUnsigned) {
    CAPTURE(v);
    const auto parsed = ParseLogKey(LogKey(v));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == v);
  }
  CHECK_FALSE(ParseLogKey("").has_value());
  CHECK_FALSE(ParseLogKey(std::string(7, '\0')).has_value());
  CHECK_FALSE(ParseLogKey(std::string(9, '\0')).has_value());
  CHECK_FALSE(ParseLogKey(LogKey(5) + "x").has_value());
  CHECK_FALSE(ParseLogKey(LogKey(5).substr(1)).has_value());
}

TEST_CASE("Ordered int64 round trips and sorts negatives first", "[storage][keys]") {
  for (TimestampMs a : kSigned) {
    std::string ka;
    PutOrderedInt64(&ka, a);
    REQUIRE(ka.size() == 8);
    CHECK(GetOrderedInt64(ka.data()) == a);
    for (TimestampMs b : kSigned) {
      std::string kb;
      PutOrderedInt64(&kb, b);
      CAPTURE(a, b);
      CHECK(BytesLess(ka, kb) == (a < b));
    }
  }
  for (uint64_t v : kUnsigned) {
    std::string k;
    PutBigEndian64(&k, v);
    CHECK(GetBigEndian64(k.data()) == v);
  }
}

TEST_CASE("Chunk keys of one sensor sort by first_at, then chunk_id", "[storage][keys]") {
  const std::vector<uint64_t> ids = {0, 1, 2, 255, 256, uint64_t{1} << 63, kMaxU64};
  std::vector<std::tuple<TimestampMs, uint64_t>> parts;
  for (TimestampMs at : kSigned) {
    for (uint64_t id : ids) parts.emplace_back(at, id);
  }
  for (const auto& a : parts) {
    const std::string ka = ChunkKey("tank-1/level", std::get<0>(a), std::get<1>(a));
    for (const auto& b : parts) {
      const std::string kb = ChunkKey("tank-1/level", std::get<0>(b), std::get<1>(b));
      CAPTURE(std::get<0>(a), std::get<1>(a), std::get<0>(b), std::get<1>(b));
      CHECK(BytesLess(ka, kb) == (a < b));
    }
  }
}

TEST_CASE("Chunk keys of negative first_at sort before positive ones", "[storage][keys]") {
  CHECK(BytesLess(ChunkKey("s", -1, kMaxU64), ChunkKey("s", 0, 0)));
  CHECK(BytesLess(ChunkKey("s", kMin, 0), ChunkKey("s", -1, 0)));
  CHECK(BytesLess(ChunkKey("s", -1000, 0), ChunkKey("s", -999, 0)));
  CHECK(BytesLess(ChunkKey("s", 0, kMaxU64), ChunkKey("s", 1, 0)));
  CHECK(BytesLess(ChunkKey("s", kMax - 1, kMaxU64), ChunkKey("s", kMax, 0)));
  CHECK(BytesLess(ChunkKey("s", 5, 1), ChunkKey("s", 5, 2)));
}

TEST_CASE("All chunks of one sensor are contiguous, even when its id prefixes another",
          "[storage][keys]") {
  // "s1" is a prefix of "s10" and "s1\xff"; "s" of all of them; "s2" sorts after "s10" as text.
  const std::vector<std::string> sensors = {
      "s", "s1", "s10", "s100", "s2", "s1\xff", std::string("s1\0", 3), "t", std::string(300, 's')};
  const std::vector<TimestampMs> times = {kMin, -5, 0, 7, kMax};
  const std::vector<uint64_t> ids = {0, 9, kMaxU64};
  struct Key {
    std::string bytes;
    std::string sensor;
    TimestampMs at;
    uint64_t id;
  };
  std::vector<Key> keys;
  for (const std::string& s : sensors) {
    for (TimestampMs at : times) {
      for (uint64_t id : ids) keys.push_back({ChunkKey(s, at, id), s, at, id});
    }
  }
  std::sort(keys.begin(), keys.end(),
            [](const Key& a, const Key& b) { return BytesLess(a.bytes, b.bytes); });

  // Each sensor forms exactly one run, in (first_at, chunk_id) order.
  std::map<std::string, int> runs;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i == 0 || keys[i].sensor != keys[i - 1].sensor) {
      ++runs[keys[i].sensor];
    } else {
      CHECK(std::tie(keys[i - 1].at, keys[i - 1].id) < std::tie(keys[i].at, keys[i].id));
    }
  }
  REQUIRE(runs.size() == sensors.size());
  for (const auto& [sensor, count] : runs) {
    CAPTURE(sensor);
    CHECK(count == 1);
  }

  // A sensor's prefix covers its own keys and no other sensor's.
  for (const std::string& s : sensors) {
    const std::string prefix = ChunkSensorPrefix(s);
    for (const Key& k : keys) {
      CAPTURE(s, k.sensor);
      CHECK(k.bytes.starts_with(prefix) == (k.sensor == s));
    }
  }
}

TEST_CASE("ChunkSensorPrefix is the big-endian length then the id", "[storage][keys]") {
  CHECK(ChunkSensorPrefix("s1") == std::string("\x00\x02s1", 4));
  CHECK(ChunkSensorPrefix("") == std::string("\x00\x00", 2));
  const std::string long_id(0x0102, 'x');
  CHECK(ChunkSensorPrefix(long_id) == std::string("\x01\x02", 2) + long_id);
  const std::string key = ChunkKey("s1", 0, 0);
  CHECK(key.size() == 2 + 2 + 16);
  CHECK(key.starts_with(ChunkSensorPrefix("s1")));
}

TEST_CASE("ParseChunkKey round trips", "[storage][keys]") {
  const std::vector<std::string> sensors = {"",
                                            "s",
                                            "s1",
                                            "s10",
                                            std::string("a\0b", 3),
                                            std::string(255, 'x'),
                                            std::string(256, 'y'),
                                            std::string(65535, 'z')};
  for (const std::string& s : sensors) {
    for (TimestampMs at : kSigned) {
      for (uint64_t id : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 63, kMaxU64}) {
        CAPTURE(s.size(), at, id);
        const std::string key = ChunkKey(s, at, id);
        const auto parts = ParseChunkKey(key);
        REQUIRE(parts.has_value());
        CHECK(parts->sensor_id == s);
        CHECK(parts->first_at == at);
        CHECK(parts->chunk_id == id);
      }
    }
  }
}

TEST_CASE("ParseChunkKey rejects malformed keys", "[storage][keys]") {
  const std::string key = ChunkKey("s10", 1234, 99);
  CHECK_FALSE(ParseChunkKey("").has_value());
  CHECK_FALSE(ParseChunkKey(std::string("\x00", 1)).has_value());
  CHECK_FALSE(ParseChunkKey(ChunkSensorPrefix("s10")).has_value());
  // Every proper prefix and one byte too many.
  for (size_t n = 0; n < key.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(ParseChunkKey(key.substr(0, n)).has_value());
  }
  CHECK_FALSE(ParseChunkKey(key + "x").has_value());
  // A length field that disagrees with the rest.
  std::string longer = key;
  longer[1] = 4;
  CHECK_FALSE(ParseChunkKey(longer).has_value());
  std::string shorter = key;
  shorter[1] = 2;
  CHECK_FALSE(ParseChunkKey(shorter).has_value());
  std::string huge = key;
  huge[0] = '\xff';
  CHECK_FALSE(ParseChunkKey(huge).has_value());
  // Other keys of the database are not chunk keys.
  CHECK_FALSE(ParseChunkKey(LogKey(1)).has_value());
  CHECK_FALSE(ParseChunkKey(WatermarkKey("g1")).has_value());
}

TEST_CASE("WatermarkKey is the prefix then the gateway id", "[storage][keys]") {
  CHECK(WatermarkKey("g1") == "watermark/g1");
  CHECK(WatermarkKey("").starts_with(kWatermarkPrefix));
  CHECK(WatermarkKey("a/b") == "watermark/a/b");
}

TEST_CASE("Watermark encodes to 16 bytes and decodes back", "[storage][keys]") {
  for (uint64_t epoch : kUnsigned) {
    for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{0x1234}, kMaxU64}) {
      const Watermark w{epoch, seq};
      const std::string bytes = EncodeWatermark(w);
      REQUIRE(bytes.size() == 16);
      const auto back = DecodeWatermark(bytes);
      REQUIRE(back.has_value());
      CHECK(back->epoch == epoch);
      CHECK(back->sequence == seq);
    }
  }
  CHECK(EncodeWatermark({1, 2}) == std::string("\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x02", 16));
}

TEST_CASE("DecodeWatermark rejects values that are not 16 bytes", "[storage][keys]") {
  const std::string bytes = EncodeWatermark({3, 4});
  CHECK_FALSE(DecodeWatermark("").has_value());
  CHECK_FALSE(DecodeWatermark(bytes.substr(0, 15)).has_value());
  CHECK_FALSE(DecodeWatermark(bytes.substr(0, 8)).has_value());
  CHECK_FALSE(DecodeWatermark(bytes + "x").has_value());
}

TEST_CASE("Watermarks order by epoch before sequence", "[storage][keys]") {
  CHECK(Watermark{1, 100} < Watermark{2, 1});
  CHECK(Watermark{2, 1} > Watermark{1, kMaxU64});
  CHECK(Watermark{2, 1} < Watermark{2, 2});
  CHECK(Watermark{2, 2} == Watermark{2, 2});
  CHECK(Watermark{2, 2} <= Watermark{2, 2});
  CHECK_FALSE(Watermark{2, 3} <= Watermark{2, 2});
  CHECK(Watermark{0, 0} < Watermark{0, 1});
  // Encoded bytes sort the same way.
  const std::vector<Watermark> marks = {
      {0, 0}, {0, 1}, {1, 0}, {1, kMaxU64}, {2, 1}, {kMaxU64, 0}, {kMaxU64, kMaxU64}};
  for (const Watermark& a : marks) {
    for (const Watermark& b : marks) {
      CAPTURE(a.epoch, a.sequence, b.epoch, b.sequence);
      CHECK(BytesLess(EncodeWatermark(a), EncodeWatermark(b)) == (a < b));
    }
  }
}

TEST_CASE("RollupKey round-trips and orders a sensor's buckets by time", "[storage][keys]") {
  const std::string a = RollupKey("s1", -300'000);
  const std::string b = RollupKey("s1", 0);
  const std::string c = RollupKey("s1", 300'000);
  CHECK(BytesLess(a, b));
  CHECK(BytesLess(b, c));
  CHECK(c.starts_with(ChunkSensorPrefix("s1")));
  auto parts = ParseRollupKey(a);
  REQUIRE(parts.has_value());
  CHECK(parts->sensor_id == "s1");
  CHECK(parts->bucket_start == -300'000);
  CHECK_FALSE(ParseRollupKey(a.substr(1)).has_value());
  CHECK_FALSE(ParseRollupKey(ChunkKey("s1", 0, 1)).has_value());
}

TEST_CASE("Partition family names round-trip, anything else is not one", "[storage][keys]") {
  const PartitionName name{.base = "chunks", .start_day = 19880, .span_days = 7};
  CHECK(PartitionFamilyName(name) == "chunks@19880+7d");
  auto parsed = ParsePartitionFamilyName("chunks@19880+7d");
  REQUIRE(parsed.has_value());
  CHECK(parsed->base == "chunks");
  CHECK(parsed->start_day == 19880);
  CHECK(parsed->span_days == 7);
  auto negative = ParsePartitionFamilyName("rollups@-91+91d");
  REQUIRE(negative.has_value());
  CHECK(negative->start_day == -91);
  for (const char* bad :
       {"chunks", "chunks@", "@1+7d", "chunks@1+7", "chunks@1+0d", "chunks@+1+7d", "chunks@01+7d",
        "chunks@1+-7d", "chunks@x+7d", "ingest_log", "chunks@1+7d "}) {
    CAPTURE(bad);
    CHECK_FALSE(ParsePartitionFamilyName(bad).has_value());
  }
}

}  // namespace
}  // namespace vigil::storage
