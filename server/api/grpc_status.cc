#include "server/api/grpc_status.h"

namespace vigil::server {

grpc::Status ToGrpc(const alarm::Status& status) {
  using C = alarm::Status::Code;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (status.code()) {
    case C::kOk:
      return grpc::Status::OK;
    case C::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case C::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case C::kPermissionDenied:
      code = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case C::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case C::kUnavailable:
    case C::kIOError:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case C::kCorruption:
      code = grpc::StatusCode::DATA_LOSS;
      break;
    case C::kInternal:
      code = grpc::StatusCode::INTERNAL;
      break;
    case C::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case C::kOutOfRange:
      code = grpc::StatusCode::OUT_OF_RANGE;
      break;
    case C::kUnauthenticated:
      code = grpc::StatusCode::UNAUTHENTICATED;
      break;
    case C::kAborted:
      code = grpc::StatusCode::ABORTED;
      break;
  }
  // Messages quote client input through alarm::Echo; the cap is a backstop
  // for one that does not, since the message travels in an HTTP/2 trailer
  // (clients refuse metadata over 8 KiB by default).
  if (status.message().size() > kMaxStatusMessageBytes) {
    return {code, alarm::Echo(status.message(), kMaxStatusMessageBytes)};
  }
  return {code, status.message()};
}

}  // namespace vigil::server
