#include "server/api/reflection.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <memory>
#include <vector>

namespace vigil::server {
namespace {

// Drops the reflection plugin from one builder.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    std::erase_if(*plugins, [](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
      return plugin->name() == "proto_server_reflection";
    });
  }
};

}  // namespace

void ConfigureReflection(grpc::ServerBuilder* builder, bool enabled) {
  // Registers the plugin factory (idempotent); builders made after it get one.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  if (!enabled) builder->SetOption(std::make_unique<WithoutReflection>());
}

}  // namespace vigil::server
