#include "server/api/rules_service.h"

#include "server/api/grpc_status.h"

namespace vigil::server {

RulesService::RulesService(const AccessControl* access, RulesReader read, RulesApplier apply,
                           BlockingExecutor control)
    : access_(access),
      read_(std::move(read)),
      apply_(std::move(apply)),
      control_(std::move(control)) {}

grpc::Status RulesService::CheckAdmin(grpc::CallbackServerContext* context) const {
  auto caller = access_->Require(*context, Role::kAdmin, "read or change rules");
  return caller ? grpc::Status::OK : ToGrpc(caller.error());
}

grpc::ServerUnaryReactor* RulesService::GetRules(grpc::CallbackServerContext* context,
                                                 const v1::GetRulesRequest* /*request*/,
                                                 v1::GetRulesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status s = CheckAdmin(context); !s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  control_([this, reactor, response] {
    auto [yaml, count] = read_();
    response->set_rules_yaml(std::move(yaml));
    response->set_rules(static_cast<uint32_t>(count));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* RulesService::ApplyRules(grpc::CallbackServerContext* context,
                                                   const v1::ApplyRulesRequest* request,
                                                   v1::ApplyRulesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status s = CheckAdmin(context); !s.ok()) {
    reactor->Finish(s);
    return reactor;
  }
  std::vector<std::string> remove(request->remove_rule_ids().begin(),
                                  request->remove_rule_ids().end());
  control_([this, reactor, response, yaml = request->rules_yaml(), remove = std::move(remove),
            validate_only = request->validate_only()] {
    auto applied = apply_(yaml, remove, validate_only);
    if (!applied) {
      reactor->Finish(ToGrpc(applied.error()));
      return;
    }
    response->set_rules(static_cast<uint32_t>(*applied));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace vigil::server
