// Status -> grpc::Status, in one place, so every RPC maps errors alike.
#pragma once

#include <grpcpp/support/status.h>

#include "alarm/status.h"

namespace vigil::server {

// The longest message ToGrpc passes on; a longer one is cut (alarm::Echo).
inline constexpr size_t kMaxStatusMessageBytes = 2048;

// kIOError maps to UNAVAILABLE (retryable), kCorruption to DATA_LOSS.
grpc::Status ToGrpc(const alarm::Status& status);

}  // namespace vigil::server
