#include "server/ctl/gateway_commands.h"

#include <iostream>
#include <string>
#include <vector>

#include "server/ctl/format.h"
#include "vigil/v1/ingest.grpc.pb.h"

namespace vigil::ctl {
namespace {

constexpr char kWatermarkHelp[] =
    R"(usage: vigilctl gateway watermark GATEWAY_ID [--json]

Print the highest (epoch, sequence) stored for a gateway: a gateway that lost
its own record (or whose epoch went backwards and is refused with
FAILED_PRECONDITION) resumes above it, with a higher epoch at sequence 1.
'none' when no batch of the gateway was ever stored. A gateway token reads its
own gateway; a center's token the gateways of its region.

  --json   one object: {"gateway_id","stored","epoch","sequence"}
)";

int Watermark(Client& client, const Args& args) {
  v1::GetWatermarkRequest request;
  request.set_gateway_id(args.positional()[0]);
  v1::GatewayWatermark mark;
  grpc::ClientContext context;
  client.Prepare(&context);
  const grpc::Status status =
      v1::Ingest::NewStub(client.channel())->GetWatermark(&context, request, &mark);
  if (!status.ok()) return RpcFailed("gateway watermark", status);
  if (args.Has("json")) {
    std::cout << R"({"gateway_id":)" << QuotedString(mark.gateway_id()) << R"(,"stored":)"
              << (mark.stored() ? "true" : "false") << R"(,"epoch":)" << mark.epoch()
              << R"(,"sequence":)" << mark.sequence() << "}\n";
  } else if (mark.stored()) {
    std::cout << mark.gateway_id() << " epoch=" << mark.epoch() << " sequence=" << mark.sequence()
              << "\n";
  } else {
    std::cout << mark.gateway_id() << " none\n";
  }
  return kExitOk;
}

}  // namespace

std::span<const Command> GatewayCommands() {
  static const std::vector<Command>* commands = new std::vector<Command>{
      {.path = "gateway watermark",
       .help = std::string(kWatermarkHelp) + "\n" + kExitCodesHelp,
       .options = {{"json"}},
       .min_positional = 1,
       .max_positional = 1,
       .run = Watermark},
  };
  return *commands;
}

}  // namespace vigil::ctl
