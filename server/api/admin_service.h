// vigil.v1.RegistryAdmin: read and change the registry at run time. Changes
// are applied one at a time on the control thread (validate, persist,
// publish), never on a gRPC thread.
#pragma once

#include <functional>
#include <memory>

#include "alarm/registry.h"
#include "server/api/access.h"
#include "server/api/query_service.h"
#include "server/pipeline/registry_holder.h"
#include "vigil/v1/registry.grpc.pb.h"

namespace vigil::server {

// Validates `change` against the current registry, persists and publishes the
// result (with `validate_only`: neither), and returns it. Called on the
// control thread only.
using RegistryApplier = std::function<alarm::Result<std::shared_ptr<const alarm::Registry>>(
    const alarm::RegistryChange& change, bool validate_only)>;

class AdminService final : public v1::RegistryAdmin::CallbackService {
 public:
  // `control` runs tasks on the control thread. Pointers outlive the service.
  // Both calls need the admin role.
  AdminService(RegistryHolder* registry, RegistryApplier apply, BlockingExecutor control,
               const AccessControl* access);

  grpc::ServerUnaryReactor* GetRegistry(grpc::CallbackServerContext* context,
                                        const v1::GetRegistryRequest* request,
                                        v1::Registry* response) override;
  grpc::ServerUnaryReactor* ApplyRegistry(grpc::CallbackServerContext* context,
                                          const v1::ApplyRegistryRequest* request,
                                          v1::ApplyRegistryResponse* response) override;

 private:
  RegistryHolder* registry_;
  RegistryApplier apply_;
  BlockingExecutor control_;
  const AccessControl* access_;
};

}  // namespace vigil::server
