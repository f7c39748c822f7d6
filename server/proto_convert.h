// Conversions between the public API (vigil.v1 protobuf) and domain types:
// the one place that sees both. Pure functions; thread-safe.
#pragma once

#include "alarm/registry.h"
#include "alarm/status.h"
#include "alarm/validation.h"
#include "vigil/v1/ingest.pb.h"
#include "vigil/v1/registry.pb.h"

namespace vigil::server {

// Errors (kInvalidArgument) for an unknown enterprise kind or a negative interval.
alarm::Result<alarm::RegistryEntries> RegistryFromProto(const v1::Registry& proto);
void RegistryToProto(const alarm::RegistryEntries& entries, v1::Registry* proto);
alarm::Result<alarm::RegistryChange> RegistryChangeFromProto(const v1::ApplyRegistryRequest& req);

v1::RejectReason RejectReasonToProto(alarm::RejectReason reason);

}  // namespace vigil::server
