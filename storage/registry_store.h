// RegistryStore: what operators configure and expect to stick: the registry
// (enterprises, gateways, sensors; one key per entry) and the alarm rules in
// force. Every write is synced. Implemented by the RocksDB Store (store.h).
//
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "alarm/status.h"
#include "storage/keys.h"

namespace vigil::storage {

// One registry entry to store (blob set) or delete (blob empty optional).
struct RegistryEntryWrite {
  RegistryEntryKind kind;
  std::string_view id;
  std::optional<std::string_view> blob;
};

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;

  // Registry entries, one key each, so a change writes only what changed.
  // Applies every write in one synced, atomic write. Blobs are opaque here.
  virtual alarm::Status WriteRegistryEntries(std::span<const RegistryEntryWrite> writes) = 0;
  // Calls `visit` for every stored entry, kinds in the order enterprise,
  // gateway, sensor number, sensor and ids in byte order within a kind. Stops at, and
  // returns, the first error `visit` returns.
  virtual alarm::Status ForEachRegistryEntry(
      const std::function<alarm::Status(RegistryEntryKind, std::string_view id,
                                        std::string_view blob)>& visit) = 0;

  // The alarm rules in force, as the server encodes them (rules file
  // format); nullopt when never stored. WriteRules is synced.
  virtual alarm::Status WriteRules(std::string_view rules) = 0;
  virtual alarm::Result<std::optional<std::string>> LoadRules() = 0;
};

}  // namespace vigil::storage
