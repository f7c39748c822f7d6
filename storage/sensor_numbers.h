// SensorNumbers: the ingest log's names for sensors. A sensor gets a number
// (1, 2, ...) when it first enters the registry and keeps it for good: the
// number is never reused, and stays when the sensor is deleted, so replay of
// an older log entry (IngestRecord VGR2 names sensors by number) still
// resolves it. The server stores each number as a registry entry of kind
// kSensorNumber (key: the sensor id, blob: EncodeNumber) in the same synced
// write as the registry change that brings the sensor, and loads them all
// before replaying the log.
// Thread-safety: IdOf may be called from any thread, concurrently with Add;
// Find, next and Add from one thread at a time (the server's control thread).
// A number is visible to IdOf once Add returned (release/acquire).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "alarm/status.h"

namespace vigil::storage {

class SensorNumbers {
 public:
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunks = 4096;
  // Numbers are 1..kMaxNumber (16.7 M sensors over the server's life).
  static constexpr uint32_t kMaxNumber = (kChunks << kChunkBits) - 1;

  SensorNumbers();
  ~SensorNumbers();
  SensorNumbers(const SensorNumbers&) = delete;
  SensorNumbers& operator=(const SensorNumbers&) = delete;

  // The id numbered `number`; empty when none (0, unknown, out of range).
  // Lock-free; the view lives as long as this table.
  std::string_view IdOf(uint32_t number) const {
    if (number == 0 || number > kMaxNumber) return {};
    const Slot* chunk = chunks_[number >> kChunkBits].load(std::memory_order_acquire);
    if (chunk == nullptr) return {};
    const std::string* id = chunk[number & kChunkMask].load(std::memory_order_acquire);
    return id == nullptr ? std::string_view() : std::string_view(*id);
  }

  // A hint that IdOf(number) comes soon: fetches the id's string so that a
  // batch's misses overlap. No effect otherwise; lock-free.
  void PrefetchId(uint32_t number) const {
    if (number == 0 || number > kMaxNumber) return;
    const Slot* chunk = chunks_[number >> kChunkBits].load(std::memory_order_acquire);
    if (chunk != nullptr)
      __builtin_prefetch(chunk[number & kChunkMask].load(std::memory_order_acquire));
  }

  // The number of `id`; 0 when it has none.
  uint32_t Find(std::string_view id) const;
  // The lowest number never given (higher than every number added).
  uint32_t next() const { return next_; }
  // Numbers `id`. kInvalidArgument when `number` is 0 or over kMaxNumber,
  // or the number or the id already has another; adding a pair again is ok.
  alarm::Status Add(uint32_t number, std::string_view id);

  // The stored form of a number (its registry entry's blob) and back;
  // nullopt when `blob` is not one.
  static std::string EncodeNumber(uint32_t number);
  static std::optional<uint32_t> DecodeNumber(std::string_view blob);

 private:
  static constexpr uint32_t kChunkMask = (1u << kChunkBits) - 1;
  using Slot = std::atomic<const std::string*>;

  std::array<std::atomic<Slot*>, kChunks> chunks_{};
  // Owned storage of the chunks and ids; writer only.
  std::vector<std::unique_ptr<Slot[]>> chunk_storage_;
  std::vector<std::unique_ptr<const std::string>> ids_;
  std::unordered_map<std::string_view, uint32_t> by_id_;  // views into ids_
  uint32_t next_ = 1;
};

}  // namespace vigil::storage
