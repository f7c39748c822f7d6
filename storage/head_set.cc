#include "storage/head_set.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <limits>
#include <utility>

namespace vigil::storage {
namespace {

size_t EncoderHeapBytes(const ChunkEncoder& e) { return e.memory_bytes() - sizeof(ChunkEncoder); }

// Min-heap order on log_seq for the std heap algorithms (which build max-heaps).
template <class T>
bool LaterSeq(const T& a, const T& b) {
  return a.log_seq > b.log_seq;
}

}  // namespace

HeadSet::HeadSet(HeadSetOptions options)
    : options_(options), next_chunk_id_(options.first_chunk_id) {
  if (options_.max_readings_per_chunk == 0) options_.max_readings_per_chunk = 1;
  assert(options_.chunk_id_stride > 0);
}

void HeadSet::Append(std::string_view sensor_id, uint64_t id_hash,
                     std::span<const alarm::TimestampMs> timestamps, std::span<const double> values,
                     std::span<const alarm::Quality> quality, uint64_t log_seq,
                     std::vector<SealedChunk>* sealed) {
  if (timestamps.empty()) return;
  AppendAt(FindOrAdd(sensor_id, id_hash), timestamps, values, quality, log_seq, sealed);
}

void HeadSet::Locate(std::span<const alarm::SeriesView> series, std::vector<uint32_t>* slots) {
  slots->resize(series.size());
  for (size_t i = 0; i < series.size(); ++i) {
    const uint32_t number = series[i].log_number;
    uint32_t slot = alarm::IdIndex::kNone;
    if (number != 0 && number < slot_by_number_.size()) slot = slot_by_number_[number];
    if (slot == alarm::IdIndex::kNone) {
      // First series of a numbered sensor since this HeadSet began, or one
      // named by id: by the id's hash.
      slot = FindOrAdd(series[i].sensor_id, alarm::IdIndex::Hash(series[i].sensor_id));
      if (number != 0) {
        if (number >= slot_by_number_.size()) {
          slot_by_number_.resize(std::max<size_t>(number + 1, 2 * slot_by_number_.size()),
                                 alarm::IdIndex::kNone);
        }
        slot_by_number_[number] = slot;
      }
    }
    (*slots)[i] = slot;
  }
  PrefetchHeads(*slots);
}

void HeadSet::PrefetchHeads(std::span<const uint32_t> slots) const {
  // The head (an Entry spans a few cache lines), then the encoder's tail.
  for (const uint32_t slot : slots) {
    const char* entry = reinterpret_cast<const char*>(&heads_[slot]);
    __builtin_prefetch(entry);
    __builtin_prefetch(entry + 64);
  }
  for (const uint32_t slot : slots) heads_[slot].second.encoder.PrefetchTail();
}

void HeadSet::AppendAt(uint32_t slot, std::span<const alarm::TimestampMs> timestamps,
                       std::span<const double> values, std::span<const alarm::Quality> quality,
                       uint64_t log_seq, std::vector<SealedChunk>* sealed) {
  assert(timestamps.size() == values.size());
  assert(quality.empty() || quality.size() == timestamps.size());
  if (timestamps.empty()) return;

  Entry* entry = &heads_[slot];
  ChunkEncoder& enc = entry->second.encoder;
  // Records normally arrive in log order; if not, the head's oldest record is
  // the smaller one (the older heap entry goes stale with the generation).
  if (enc.count() > 0 && log_seq < entry->second.oldest_log_seq) {
    --open_heads_;
    Open(entry, log_seq);
  }
  constexpr auto kSpan = static_cast<uint64_t>(kMaxChunkSpan.count());
  // A head's first chunk is cut short by up to half, by a hash of the sensor
  // id: sensors that start together at one cadence would otherwise all fill
  // their chunks in the same batch, and their seal would stall the shard (and
  // every alarm behind it) at once, every chunk length. Later chunks keep the
  // offset.
  uint32_t max_readings = options_.max_readings_per_chunk;
  if (entry->second.generation <= 1) max_readings -= entry->second.first_cut;

  // encoder_heap_bytes_ currently includes `accounted` bytes of this encoder.
  size_t accounted = EncoderHeapBytes(enc);
  auto seal = [&] {
    encoder_heap_bytes_ += EncoderHeapBytes(enc) - accounted;
    Seal(entry, sealed);
    accounted = 0;
  };
  for (size_t i = 0; i < timestamps.size(); ++i) {
    const alarm::TimestampMs at = timestamps[i];
    if (enc.count() > 0 &&
        (at <= enc.last_at() ||
         static_cast<uint64_t>(at) - static_cast<uint64_t>(enc.first_at()) > kSpan)) {
      seal();
    }
    if (enc.count() == 0) Open(entry, log_seq);
    const alarm::Quality q = quality.empty() ? alarm::kQualityGood : quality[i];
    enc.Append(at, values[i], q);
    Head& head = entry->second;
    if (!head.has_latest || at >= head.latest_at) {
      head.latest_at = at;
      head.latest_value = values[i];
      head.latest_quality = q;
      head.has_latest = true;
    }
    ++readings_in_heads_;
    if (enc.count() >= max_readings) seal();
  }
  encoder_heap_bytes_ += EncoderHeapBytes(enc) - accounted;
  PruneOpen();
}

void HeadSet::SealThrough(uint64_t through_log_seq, std::vector<SealedChunk>* sealed) {
  while (!open_.empty() && open_.front().log_seq <= through_log_seq) {
    const OpenEntry top = open_.front();
    PopOpen();
    if (Live(top)) Seal(top.entry, sealed);
  }
  PruneOpen();
}

void HeadSet::SealAll(std::vector<SealedChunk>* sealed) {
  SealThrough(std::numeric_limits<uint64_t>::max(), sealed);
  assert(open_.empty() && open_heads_ == 0 && readings_in_heads_ == 0);
}

void HeadSet::ReadHead(std::string_view sensor_id, alarm::TimestampMs from, alarm::TimestampMs to,
                       std::vector<alarm::Reading>* out) const {
  const Entry* entry = Find(sensor_id);
  if (entry == nullptr) return;
  // The encoder's own buffer cannot be damaged; a failure here is a codec bug.
  const alarm::Status status = DecodeChunk(entry->second.encoder, from, to, out);
  assert(status.ok());
  (void)status;
}

std::optional<alarm::Reading> HeadSet::Latest(std::string_view sensor_id) const {
  const Entry* entry = Find(sensor_id);
  if (entry == nullptr || !entry->second.has_latest) return std::nullopt;
  const Head& head = entry->second;
  return alarm::Reading{
      .at = head.latest_at, .value = head.latest_value, .quality = head.latest_quality};
}

bool HeadSet::LatestSeeded(std::string_view sensor_id) const {
  const Entry* entry = Find(sensor_id);
  return entry != nullptr && entry->second.latest_seeded;
}

void HeadSet::SeedLatest(std::string_view sensor_id, const std::optional<alarm::Reading>& stored) {
  Head& head = heads_[FindOrAdd(sensor_id, alarm::IdIndex::Hash(sensor_id))].second;
  head.latest_seeded = true;
  if (!stored || (head.has_latest && head.latest_at >= stored->at)) return;
  head.latest_at = stored->at;
  head.latest_value = stored->value;
  head.latest_quality = stored->quality;
  head.has_latest = true;
}

std::optional<uint64_t> HeadSet::OldestUnsealedLogSeq() const {
  if (open_.empty()) return std::nullopt;
  return open_.front().log_seq;
}

size_t HeadSet::memory_bytes() const {
  // libstdc++'s deque: 512-byte blocks (at least one entry each) and a map of
  // block pointers.
  constexpr size_t kPerBlock = sizeof(Entry) < 512 ? 512 / sizeof(Entry) : 1;
  const size_t blocks = heads_.size() / kPerBlock + 1;
  return sizeof(*this) + blocks * (kPerBlock * sizeof(Entry) + sizeof(void*)) + id_heap_bytes_ +
         encoder_heap_bytes_ + open_.capacity() * sizeof(OpenEntry) + index_.bytes() +
         slot_by_number_.capacity() * sizeof(uint32_t);
}

uint32_t HeadSet::SlotOf(std::string_view sensor_id, uint64_t id_hash) const {
  return index_.Find(sensor_id, id_hash,
                     [&](uint32_t s) -> std::string_view { return heads_[s].first; });
}

void HeadSet::Prefetch(std::span<const uint64_t> id_hashes) const {
  for (const uint64_t h : id_hashes) index_.PrefetchEntry(h);
  // Scratch of the caller's thread (a HeadSet has one user), no allocation per batch.
  thread_local std::vector<uint32_t> slots;
  slots.clear();
  for (const uint64_t h : id_hashes) {
    if (const uint32_t slot = index_.Candidate(h); slot != alarm::IdIndex::kNone) {
      slots.push_back(slot);
    }
  }
  PrefetchHeads(slots);
}

const HeadSet::Entry* HeadSet::Find(std::string_view sensor_id) const {
  const uint32_t slot = SlotOf(sensor_id);
  return slot == alarm::IdIndex::kNone ? nullptr : &heads_[slot];
}

uint32_t HeadSet::FindOrAdd(std::string_view sensor_id, uint64_t id_hash) {
  if (const uint32_t slot = SlotOf(sensor_id, id_hash); slot != alarm::IdIndex::kNone) {
    return slot;
  }
  const auto slot = static_cast<uint32_t>(heads_.size());
  Entry& entry = heads_.emplace_back(std::string(sensor_id), Head{});
  if (const uint32_t max = options_.max_readings_per_chunk; max >= 4) {
    entry.second.first_cut = static_cast<uint32_t>(id_hash % (max / 2));
  }
  const size_t cap = entry.first.capacity();
  if (cap > std::string().capacity()) id_heap_bytes_ += cap + 1;
  if (index_.Full()) {
    // Grows by doubling: rare, and amortized over the sensors added.
    index_.Reset(2 * heads_.size() + 16);
    for (uint32_t s = 0; s < slot; ++s) index_.Insert(heads_[s].first, s);
  }
  index_.Insert(entry.first, slot);
  return slot;
}

void HeadSet::Open(Entry* entry, uint64_t log_seq) {
  Head& head = entry->second;
  head.oldest_log_seq = log_seq;
  ++head.generation;
  ++open_heads_;
  open_.push_back(OpenEntry{log_seq, entry, head.generation});
  std::push_heap(open_.begin(), open_.end(), LaterSeq<OpenEntry>);
}

void HeadSet::Seal(Entry* entry, std::vector<SealedChunk>* sealed) {
  ChunkEncoder& enc = entry->second.encoder;
  assert(enc.count() > 0);
  SealedChunk chunk;
  chunk.sensor_id = entry->first;
  chunk.first_at = enc.first_at();
  chunk.last_at = enc.last_at();
  chunk.chunk_id = next_chunk_id_;
  chunk.bytes = enc.Finish();
  sealed->push_back(std::move(chunk));
  next_chunk_id_ += options_.chunk_id_stride;
  readings_in_heads_ -= enc.count();
  encoder_heap_bytes_ -= EncoderHeapBytes(enc);
  --open_heads_;
  enc.Clear();  // its heap entry goes stale: emptiness
}

void HeadSet::PopOpen() {
  std::pop_heap(open_.begin(), open_.end(), LaterSeq<OpenEntry>);
  open_.pop_back();
}

void HeadSet::PruneOpen() {
  while (!open_.empty() && !Live(open_.front())) PopOpen();
  // Stale entries below a long-lived top would pile up: rebuild when they dominate.
  if (open_.size() > 2 * open_heads_ + 64) {
    std::erase_if(open_, [](const OpenEntry& e) { return !Live(e); });
    std::make_heap(open_.begin(), open_.end(), LaterSeq<OpenEntry>);
  }
}

}  // namespace vigil::storage
