// gRPC server reflection (grpc.reflection.v1alpha) behind server.reflection.
// Linking gRPC::grpc++_reflection registers its plugin for every server the
// process builds, so "off" has to take it out again. Start-up only.
#pragma once

namespace grpc {
class ServerBuilder;
}

namespace vigil::server {

// Before builder->BuildAndStart(): serve reflection or make sure it is not.
void ConfigureReflection(grpc::ServerBuilder* builder, bool enabled);

}  // namespace vigil::server
