#include "server/ctl/gateway_commands.h"

#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/ctl/alarms_commands.h"
#include "server/ctl/format.h"
#include "vigil/v1/alarms.grpc.pb.h"
#include "vigil/v1/ingest.grpc.pb.h"
#include "vigil/v1/query.grpc.pb.h"

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

constexpr char kStatusHelp[] = R"(usage: vigilctl gateway status GATEWAY_ID

What an operator asks about a gateway: its enterprise, the highest (epoch,
sequence) stored for it ('none' when no batch was ever stored), then the open
alarms of its enterprise (its own gateway-offline alarm among them, as
gateway=ID) as 'alarms list' prints them. A center's token reads the gateways
of its region; NOT_FOUND (exit 3) for one outside it.
  gateway gw-qilu-3 enterprise=e-1 (Qilu Chemical) epoch=2 sequence=81234
  open alarms at seq 912: 1
    alarm=907 threshold orange active_unacked sensor=...
)";

// Ingest.GetWatermark for `gateway_id` into *mark; the exit code when it
// failed (reported as `what`).
std::optional<int> FetchWatermark(Client& client, const std::string& gateway_id,
                                  std::string_view what, v1::GatewayWatermark* mark) {
  v1::GetWatermarkRequest request;
  request.set_gateway_id(gateway_id);
  grpc::ClientContext context;
  client.Prepare(&context);
  const grpc::Status status =
      v1::Ingest::NewStub(client.channel())->GetWatermark(&context, request, mark);
  if (!status.ok()) return RpcFailed(what, status);
  return std::nullopt;
}

int Watermark(Client& client, const Args& args) {
  v1::GatewayWatermark mark;
  if (auto failed = FetchWatermark(client, args.positional()[0], "gateway watermark", &mark)) {
    return *failed;
  }
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

int Status(Client& client, const Args& args) {
  v1::GatewayWatermark mark;
  if (auto failed = FetchWatermark(client, args.positional()[0], "gateway status", &mark)) {
    return *failed;
  }
  if (mark.enterprise_id().empty()) {
    return RpcFailed("gateway status",
                     grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                  "the server does not name the gateway's enterprise (older "
                                  "than vigilctl)"));
  }
  // The enterprise's name, as every sensor's latest value carries it; none
  // when it has no sensors.
  std::string enterprise_name;
  {
    v1::ReadLatestRequest latest_request;
    latest_request.set_enterprise_id(mark.enterprise_id());
    v1::ReadLatestResponse latest;
    grpc::ClientContext context;
    client.Prepare(&context);
    if (v1::Query::NewStub(client.channel())->ReadLatest(&context, latest_request, &latest).ok() &&
        latest.values_size() > 0) {
      enterprise_name = latest.values(0).enterprise_name();
    }
  }
  v1::ListActiveRequest list_request;
  list_request.mutable_filter()->add_enterprise_ids(mark.enterprise_id());
  v1::ListActiveResponse list;
  {
    grpc::ClientContext context;
    client.Prepare(&context);
    const grpc::Status status =
        v1::Alarms::NewStub(client.channel())->ListActive(&context, list_request, &list);
    if (!status.ok()) return RpcFailed("gateway status", status);
  }
  std::cout << "gateway " << mark.gateway_id()
            << " enterprise=" << Named(mark.enterprise_id(), {enterprise_name});
  if (mark.stored()) {
    std::cout << " epoch=" << mark.epoch() << " sequence=" << mark.sequence() << "\n";
  } else {
    std::cout << " none\n";
  }
  PrintOpenAlarms(list.seq(), list.alarms(), /*json=*/false, StdoutStyle());
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
      {.path = "gateway status",
       .help = std::string(kStatusHelp) + "\n" + kExitCodesHelp,
       .options = {},
       .min_positional = 1,
       .max_positional = 1,
       .run = Status},
  };
  return *commands;
}

}  // namespace vigil::ctl
