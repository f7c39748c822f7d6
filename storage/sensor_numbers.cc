#include "storage/sensor_numbers.h"

#include <charconv>

namespace vigil::storage {

SensorNumbers::SensorNumbers() = default;
SensorNumbers::~SensorNumbers() = default;

uint32_t SensorNumbers::Find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? 0 : it->second;
}

alarm::Status SensorNumbers::Add(uint32_t number, std::string_view id) {
  if (number == 0 || number > kMaxNumber) {
    return alarm::Status::InvalidArgument("sensor number " + std::to_string(number) +
                                          " out of range");
  }
  const std::string_view held = IdOf(number);
  const uint32_t had = Find(id);
  if (held == id && had == number) return alarm::Status::Ok();
  if (!held.empty() || had != 0) {
    return alarm::Status::InvalidArgument("sensor number " + std::to_string(number) + " of '" +
                                          std::string(id) + "' is already taken");
  }
  std::atomic<Slot*>& chunk_ref = chunks_[number >> kChunkBits];
  Slot* chunk = chunk_ref.load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    chunk = chunk_storage_.emplace_back(new Slot[size_t{1} << kChunkBits]()).get();
    chunk_ref.store(chunk, std::memory_order_release);
  }
  const std::string* owned = ids_.emplace_back(std::make_unique<const std::string>(id)).get();
  by_id_.emplace(*owned, number);
  chunk[number & kChunkMask].store(owned, std::memory_order_release);
  if (number >= next_) next_ = number + 1;
  return alarm::Status::Ok();
}

std::string SensorNumbers::EncodeNumber(uint32_t number) { return std::to_string(number); }

std::optional<uint32_t> SensorNumbers::DecodeNumber(std::string_view blob) {
  uint32_t number = 0;
  const char* end = blob.data() + blob.size();
  auto [ptr, ec] = std::from_chars(blob.data(), end, number);
  if (ec != std::errc() || ptr != end || number == 0 || number > kMaxNumber) return std::nullopt;
  return number;
}

}  // namespace vigil::storage
