#include "server/api/admin_service.h"

#include "server/api/grpc_status.h"
#include "server/api/proto_convert.h"
#include "server/config/registry_yaml.h"

namespace vigil::server {

AdminService::AdminService(RegistryHolder* registry, RegistryApplier apply,
                           BlockingExecutor control, const AccessControl* access)
    : registry_(registry),
      apply_(std::move(apply)),
      control_(std::move(control)),
      access_(access) {}

grpc::ServerUnaryReactor* AdminService::GetRegistry(grpc::CallbackServerContext* context,
                                                    const v1::GetRegistryRequest* /*request*/,
                                                    v1::Registry* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto caller = access_->Require(*context, Role::kAdmin, "read the registry"); !caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  RegistryToProto(registry_->Get()->entries(), response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ApplyRegistry(grpc::CallbackServerContext* context,
                                                      const v1::ApplyRegistryRequest* request,
                                                      v1::ApplyRegistryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto caller = access_->Require(*context, Role::kAdmin, "change the registry"); !caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  auto change = RegistryChangeFromProto(*request);
  if (!change) {
    reactor->Finish(ToGrpc(change.error()));
    return reactor;
  }
  if (!request->registry_yaml().empty()) {
    if (request->has_upsert()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "give upsert or registry_yaml, not both"));
      return reactor;
    }
    // As the registry file is read on SIGHUP: a registry on its own.
    auto entries = ParseRegistryYaml(request->registry_yaml(), "request");
    if (!entries) {
      reactor->Finish(ToGrpc(entries.error()));
      return reactor;
    }
    change->upsert = std::move(*entries);
  }
  control_([this, reactor, response, change = std::move(*change),
            validate_only = request->validate_only()] {
    auto applied = apply_(change, validate_only);
    if (!applied) {
      reactor->Finish(ToGrpc(applied.error()));
      return;
    }
    const alarm::RegistryEntries& e = (*applied)->entries();
    response->set_enterprises(static_cast<uint32_t>(e.enterprises.size()));
    response->set_sensors(static_cast<uint32_t>(e.sensors.size()));
    response->set_gateways(static_cast<uint32_t>(e.gateways.size()));
    response->set_facilities(static_cast<uint32_t>(e.facilities.size()));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace vigil::server
