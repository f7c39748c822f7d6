#include "server/rules_service.h"

#include "server/grpc_status.h"

namespace vigil::server {

RulesService::RulesService(const AccessControl* access, RulesReader read, RulesApplier apply,
                           BlockingExecutor control)
    : access_(access),
      read_(std::move(read)),
      apply_(std::move(apply)),
      control_(std::move(control)) {}

grpc::Status RulesService::CheckAdmin(grpc::CallbackServerContext* context) const {
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  std::string_view value;
  if (it != md.end()) value = std::string_view(it->second.data(), it->second.size());
  auto caller = access_->Authenticate(value);
  if (!caller) return ToGrpc(caller.error());
  if (!caller->May(Role::kAdmin)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "token '" + caller->name + "' is not an admin: it may not change rules");
  }
  return grpc::Status::OK;
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
  control_([this, reactor, response, yaml = request->rules_yaml(), remove = std::move(remove)] {
    auto applied = apply_(yaml, remove);
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
