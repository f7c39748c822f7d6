#include "server/ctl/send_command.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/v1/ingest.grpc.pb.h"

namespace vigil::ctl {
namespace {

constexpr char kSendHelp[] =
    R"(usage: vigilctl send SENSOR=VALUE [SENSOR=VALUE ...] [--gateway ID] [--epoch N]
                     [--sequence N] [--at MS]

Send one reading per SENSOR=VALUE as gateway ID, in one batch (Ingest.Write),
and print the ack once the server has stored it durably:
  ack epoch=1733580000000 sequence=1 stored=1 duplicate=false rejected=0
  rejected series=1 sensor=s-9 reason=UNKNOWN_SENSOR: sensor 's-9' is not in the registry

  --gateway ID   the gateway that sends (default: $VIGIL_GATEWAY); it must be in
                 the registry, and a gateway token may send as its own gateway only
  --epoch N      default: the gateway's stored epoch, or now in ms for a gateway
                 that never stored a batch
  --sequence N   default: the gateway's stored sequence + 1 in that epoch
  --at MS        the readings' time, ms since the Unix epoch (default: now)

Sending as a gateway moves its watermark: a live gateway's next batch in the
same epoch with a sequence at or below this one is then taken for a duplicate.
Use a gateway id registered for tests, or let the real gateway move to a new epoch.
Exit 0 when every reading was stored (or the batch was a duplicate), 1 when any
was rejected or the call failed.
)";

bool ParseNumber(std::string_view text, uint64_t* out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

const Command& SendCommand();

int Send(Client& client, const Args& args) {
  v1::IngestBatch batch;
  std::string gateway;
  if (auto g = args.Get("gateway")) {
    gateway = *g;
  } else if (const char* env = std::getenv("VIGIL_GATEWAY"); env != nullptr && *env != '\0') {
    gateway = env;
  }
  if (gateway.empty()) return UsageError(SendCommand(), "name the gateway: --gateway ID");
  batch.set_gateway_id(gateway);

  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  uint64_t at = static_cast<uint64_t>(now_ms);
  if (auto text = args.Get("at"); text && !ParseNumber(*text, &at)) {
    return UsageError(SendCommand(), "--at takes ms since the Unix epoch, got '" + *text + "'");
  }
  for (const std::string& pair : args.positional()) {
    const size_t eq = pair.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == pair.size()) {
      return UsageError(SendCommand(), "expected SENSOR=VALUE, got '" + pair + "'");
    }
    const std::string value_text = pair.substr(eq + 1);
    char* end = nullptr;
    const double value = std::strtod(value_text.c_str(), &end);
    if (end != value_text.c_str() + value_text.size()) {
      return UsageError(SendCommand(), "not a number: '" + value_text + "'");
    }
    v1::Series* series = batch.add_series();
    series->set_sensor_id(pair.substr(0, eq));
    series->add_timestamps_ms(static_cast<int64_t>(at));
    series->add_values(value);
  }

  uint64_t epoch = 0;
  uint64_t sequence = 0;
  const bool has_epoch = args.Get("epoch").has_value();
  const bool has_sequence = args.Get("sequence").has_value();
  if (has_epoch && !ParseNumber(*args.Get("epoch"), &epoch)) {
    return UsageError(SendCommand(), "--epoch takes a number");
  }
  if (has_sequence && (!ParseNumber(*args.Get("sequence"), &sequence) || sequence == 0)) {
    return UsageError(SendCommand(), "--sequence takes a number from 1");
  }
  auto stub = v1::Ingest::NewStub(client.channel());
  if (!has_epoch || !has_sequence) {
    // Continue the gateway's own numbering, so the reading is not taken for
    // a duplicate (nor refused for an epoch going backwards).
    v1::GetWatermarkRequest request;
    request.set_gateway_id(gateway);
    v1::GatewayWatermark mark;
    grpc::ClientContext context;
    client.Prepare(&context);
    const grpc::Status status = stub->GetWatermark(&context, request, &mark);
    if (!status.ok()) return RpcFailed("send (reading the gateway's watermark)", status);
    if (!has_epoch) epoch = mark.stored() ? mark.epoch() : static_cast<uint64_t>(now_ms);
    if (!has_sequence) {
      sequence = mark.stored() && mark.epoch() == epoch ? mark.sequence() + 1 : 1;
    }
  }
  batch.set_epoch(epoch);
  batch.set_sequence(sequence);

  v1::IngestAck ack;
  grpc::ClientContext context;
  client.Prepare(&context);
  const grpc::Status status = stub->Write(&context, batch, &ack);
  if (!status.ok()) return RpcFailed("send", status);
  std::cout << "ack epoch=" << ack.epoch() << " sequence=" << ack.sequence()
            << " stored=" << ack.stored_readings()
            << " duplicate=" << (ack.duplicate() ? "true" : "false")
            << " rejected=" << ack.rejected_readings() << "\n";
  for (const v1::Rejection& r : ack.rejections()) {
    std::string_view reason = v1::RejectReason_Name(r.reason());
    if (reason.starts_with("REJECT_REASON_")) reason.remove_prefix(14);
    std::cout << "rejected series=" << r.series_index() << " sensor=" << r.sensor_id()
              << " reason=" << reason << ": " << r.detail() << "\n";
  }
  return ack.rejected_readings() == 0 ? kExitOk : kExitFailed;
}

const Command& SendCommand() { return SendCommands()[0]; }

}  // namespace

std::span<const Command> SendCommands() {
  static const std::vector<Command>* commands = new std::vector<Command>{
      {.path = "send",
       .help = std::string(kSendHelp) + "\n" + kExitCodesHelp,
       .options = {{"gateway", true}, {"epoch", true}, {"sequence", true}, {"at", true}},
       .min_positional = 1,
       .max_positional = 1000,
       .run = Send},
  };
  return *commands;
}

}  // namespace vigil::ctl
