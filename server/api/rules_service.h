// vigil.v1.RulesAdmin: read and change the alarm rules at run time. Changes
// are applied one at a time on the control thread (validate against the
// registry, store, put in force through the ingest log), never on a gRPC
// thread. Admin role only when tokens are configured.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "alarm/status.h"
#include "server/api/access.h"
#include "server/api/query_service.h"
#include "vigil/v1/rules.grpc.pb.h"

namespace vigil::server {

// Control thread only. Returns the rules in force as YAML and their count.
using RulesReader = std::function<std::pair<std::string, size_t>()>;
// Control thread only. Applies `upsert_yaml` (rules file format, may be empty)
// and the removals; returns the count of rules in force, or the error. With
// `validate_only` it changes nothing and returns the count there would be.
using RulesApplier = std::function<alarm::Result<size_t>(
    const std::string& upsert_yaml, const std::vector<std::string>& remove, bool validate_only)>;

class RulesService final : public v1::RulesAdmin::CallbackService {
 public:
  // `control` runs tasks on the control thread. Pointers outlive the service.
  RulesService(const AccessControl* access, RulesReader read, RulesApplier apply,
               BlockingExecutor control);

  grpc::ServerUnaryReactor* GetRules(grpc::CallbackServerContext* context,
                                     const v1::GetRulesRequest* request,
                                     v1::GetRulesResponse* response) override;
  grpc::ServerUnaryReactor* ApplyRules(grpc::CallbackServerContext* context,
                                       const v1::ApplyRulesRequest* request,
                                       v1::ApplyRulesResponse* response) override;

 private:
  // OK, or the status to finish with when the caller is not an admin.
  grpc::Status CheckAdmin(grpc::CallbackServerContext* context) const;

  const AccessControl* access_;
  RulesReader read_;
  RulesApplier apply_;
  BlockingExecutor control_;
};

}  // namespace vigil::server
