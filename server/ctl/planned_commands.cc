#include "server/ctl/planned_commands.h"

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "alarm/time_text.h"
#include "server/ctl/alarms_commands.h"
#include "server/ctl/format.h"
#include "vigil/v1/planned_work.grpc.pb.h"

namespace vigil::ctl {

const char kPlannedHelp[] =
    R"(usage: vigilctl planned open --enterprise ID [--sensor ID ...] --reason TEXT --owner NAME --for DURATION [--start TIME]
       vigilctl planned list [--enterprise ID] [--json]
       vigilctl planned close ID [--comment TEXT]

Planned work: while a window is in force, the alarms of the sensors it covers
are raised as planned (out of service) -- journaled, but not notified to
subscribers nor sent to Alertmanager; when it ends, a condition still present
becomes a normal alarm (docs/planned-work.md). Readings a gateway flags with
quality 256 (calibration) do the same for their sensor while flagged.
  open    open a window (an operator token); prints its id
  list    the open windows of the token's region
  close   end a window early (an operator token)
)";

namespace {

constexpr char kOpenHelp[] =
    R"(usage: vigilctl planned open --enterprise ID [--sensor ID ...] --reason TEXT --owner NAME --for DURATION [--start TIME]

Open a planned-work window over an enterprise's sensors (all of them, or the
--sensor ones) and print it: id, target, start, end. The journal records it
with the token's identity.
  --enterprise ID   the enterprise (required)
  --sensor ID       repeatable: only these sensors of it
  --reason TEXT     why (required)
  --owner NAME      who is responsible for the work (required)
  --for DURATION    how long (30m, 2h, 1h30m), at most the server's
                    alarms.max_planned_work (default 12h); it then expires
  --start TIME      when it starts (RFC 3339 or epoch ms; default: now)
  --json            the window as one JSON object
)";

constexpr char kListHelp[] = R"(usage: vigilctl planned list [--enterprise ID] [--json]

The open planned-work windows (in force or yet to start) of the token's
region, one per line: id, enterprise, sensors, start, end, owner, reason, who
opened it.
  --enterprise ID   this enterprise's only
  --json            one JSON object per line
)";

constexpr char kCloseHelp[] = R"(usage: vigilctl planned close ID [--comment TEXT]

End planned-work window ID early. Its planned alarms whose condition is still
present become normal alarms at once; the journal records who closed it.
)";

std::unique_ptr<v1::PlannedWorkService::Stub> Stub(Client& client) {
  return v1::PlannedWorkService::NewStub(client.channel());
}

std::string WorkText(const v1::PlannedWork& w) {
  std::string sensors;
  for (const std::string& id : w.sensor_ids()) sensors += (sensors.empty() ? "" : ",") + id;
  return w.id() + " enterprise=" + w.enterprise_id() +
         " sensors=" + (sensors.empty() ? std::string("all") : sensors) + " start=\"" +
         LocalTime(w.start_ms()) + "\" end=\"" + LocalTime(w.end_ms()) +
         "\" owner=" + QuotedString(w.owner()) + " reason=" + QuotedString(w.reason()) +
         " by=" + QuotedString(w.opened_by());
}

std::string WorkJson(const v1::PlannedWork& w) {
  std::string sensors = "[";
  for (const std::string& id : w.sensor_ids()) {
    sensors += (sensors.size() > 1 ? "," : "") + QuotedString(id);
  }
  sensors += "]";
  return "{\"id\":" + QuotedString(w.id()) +
         ",\"enterprise_id\":" + QuotedString(w.enterprise_id()) + ",\"sensor_ids\":" + sensors +
         ",\"start_ms\":" + std::to_string(w.start_ms()) +
         ",\"end_ms\":" + std::to_string(w.end_ms()) + ",\"owner\":" + QuotedString(w.owner()) +
         ",\"reason\":" + QuotedString(w.reason()) +
         ",\"opened_by\":" + QuotedString(w.opened_by()) + "}";
}

const Command& Self(size_t i);

int Open(Client& client, const Args& args) {
  const Command& self = Self(0);
  v1::OpenPlannedWorkRequest request;
  request.set_enterprise_id(args.Get("enterprise").value_or(""));
  if (request.enterprise_id().empty()) return UsageError(self, "--enterprise ID is required");
  for (const std::string& id : args.All("sensor")) request.add_sensor_ids(id);
  request.set_reason(args.Get("reason").value_or(""));
  if (request.reason().empty()) return UsageError(self, "--reason TEXT is required");
  request.set_owner(args.Get("owner").value_or(""));
  if (request.owner().empty()) return UsageError(self, "--owner NAME is required");
  if (!args.Has("for")) return UsageError(self, "--for DURATION is required (30m, 2h, 1h30m)");
  const auto duration = alarm::ParseDuration(*args.Get("for"), std::chrono::milliseconds(1),
                                             std::chrono::milliseconds::max());
  if (!duration) return UsageError(self, "--for: " + duration.error().message());
  request.set_duration_ms(duration->count());
  if (auto start = args.Get("start")) {
    const auto at = alarm::ParseTimeOrEpochMs(*start);
    if (!at) return UsageError(self, "--start: " + at.error().message());
    request.set_start_ms(*at);
  }
  grpc::ClientContext context;
  client.Prepare(&context);
  v1::OpenPlannedWorkResponse response;
  const grpc::Status status = Stub(client)->Open(&context, request, &response);
  if (!status.ok()) return RpcFailed("planned open", status);
  std::cout << (args.Has("json") ? WorkJson(response.work()) : WorkText(response.work())) << "\n";
  return kExitOk;
}

int List(Client& client, const Args& args) {
  v1::ListPlannedWorkRequest request;
  request.set_enterprise_id(args.Get("enterprise").value_or(""));
  grpc::ClientContext context;
  client.Prepare(&context);
  v1::ListPlannedWorkResponse response;
  const grpc::Status status = Stub(client)->List(&context, request, &response);
  if (!status.ok()) return RpcFailed("planned list", status);
  for (const v1::PlannedWork& w : response.work()) {
    std::cout << (args.Has("json") ? WorkJson(w) : WorkText(w)) << "\n";
  }
  if (response.work().empty() && !args.Has("json")) std::cerr << "vigilctl: no planned work\n";
  return kExitOk;
}

int Close(Client& client, const Args& args) {
  v1::ClosePlannedWorkRequest request;
  request.set_id(args.positional()[0]);
  request.set_comment(args.Get("comment").value_or(""));
  grpc::ClientContext context;
  client.Prepare(&context);
  v1::ClosePlannedWorkResponse response;
  const grpc::Status status = Stub(client)->Close(&context, request, &response);
  if (!status.ok()) return RpcFailed("planned close", status);
  if (response.has_event()) std::cout << EventText(response.event(), StdoutStyle()) << "\n";
  return kExitOk;
}

const Command& Self(size_t i) { return PlannedCommands()[i]; }

}  // namespace

std::span<const Command> PlannedCommands() {
  static const std::vector<Command>* commands = new std::vector<Command>{
      {.path = "planned open",
       .help = std::string(kOpenHelp) + "\n" + kExitCodesHelp,
       .options = {{"enterprise", true},
                   {"sensor", true},
                   {"reason", true},
                   {"owner", true},
                   {"for", true},
                   {"start", true},
                   {"json", false}},
       .min_positional = 0,
       .max_positional = 0,
       .run = Open},
      {.path = "planned list",
       .help = std::string(kListHelp) + "\n" + kExitCodesHelp,
       .options = {{"enterprise", true}, {"json", false}},
       .min_positional = 0,
       .max_positional = 0,
       .run = List},
      {.path = "planned close",
       .help = std::string(kCloseHelp) + "\n" + kExitCodesHelp,
       .options = {{"comment", true}},
       .min_positional = 1,
       .max_positional = 1,
       .run = Close},
  };
  return *commands;
}

}  // namespace vigil::ctl
