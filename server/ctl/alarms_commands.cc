#include "server/ctl/alarms_commands.h"

#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>

#include "alarm/time_text.h"
#include "vigil/v1/alarms.grpc.pb.h"

namespace vigil::ctl {

const char kAlarmsHelp[] = R"(usage: vigilctl [OPTIONS] alarms SUBCOMMAND [ARGS]

Command-center alarms through vigil.v1.Alarms, as the token's region sees them.
  watch          the live stream: open alarms, then every event; resumable
  list           the open alarms
  show ID        one alarm and its full transition history
  history        journaled events in a time range
  ack ID         acknowledge an alarm
  shelve ID      shelve an alarm (suppress notifications) for a while
  unshelve ID    end shelving early
Run 'vigilctl alarms SUBCOMMAND --help' for each one's options. Alarms raised
under planned work are left out unless --include-planned ('vigilctl planned').

Options (every command):
  --server HOST:PORT   vigild's gRPC address (default 127.0.0.1:7070)
  --token-file FILE    bearer token, sent as 'authorization: Bearer <token>';
                       default: $VIGIL_TOKEN. (No --token flag: it would show in ps.)
)";

const char kFilterHelp[] = R"(Filters (each narrows; default: all the token may see):
  --region CODE          region-code prefix: 37 a province, 3701 a city, 370105 a county
  --min-severity N       reached at least severity N: 1 red, 2 orange, 3 yellow, 4 blue
                         (or the colour's name)
  --enterprise ID        repeatable
  --enterprise-kind K    hazardous_chemical|coal_mine|tailings|other; repeatable
  --kind K               threshold|rate_of_change|no_data|sensor_fault|gateway_offline|stuck_value|
                         planned_work (a planned-work window's entries); repeatable
  --include-planned      also planned work: alarms raised under a planned-work window
                         or a calibration (state planned) and the windows' entries,
                         left out by default ('vigilctl planned --help')
)";

namespace {

constexpr char kListHelp[] = R"(usage: vigilctl alarms list [FILTERS] [--json]

The open alarms (active, or cleared but not yet acknowledged), by alarm id,
with the journal seq the list is current at.
  --json   one snapshot object: {"type":"snapshot","seq","alarms":[...]}
)";

constexpr char kShowHelp[] = R"(usage: vigilctl alarms show ID [--json]

One alarm as it is now, then every event of it still in the journal (raised,
escalated, acknowledged by whom, shelved, cleared, ...), oldest first.
  --json   one object: {"alarm":ALARM,"history":[EVENT...]}
)";

constexpr char kHistoryHelp[] =
    R"(usage: vigilctl alarms history [--since 24h | --from TIME [--to TIME]] [FILTERS] [--limit N] [--json]

Journaled events whose server time is in [from, to), in time order, following
the server's pages.
  --since DURATION   from that long ago until now (default 24h): 90m, 2h, 7d, 1h30m
  --from TIME        RFC 3339 (2024-06-01T08:00:00+08:00, 2024-06-01T00:00:00Z)
  --to TIME          or ms since the Unix epoch; --to defaults to no end
  --limit N          print at most N events (default: all)
  --page-size N      events asked per call, 1..10000 (default 1000)
  --json             one event object per line
)";

constexpr char kAckHelp[] = R"(usage: vigilctl alarms ack ID [--by NAME] [--comment TEXT]

Acknowledge alarm ID (needs an operator or admin token of its region).
Acknowledging an alarm already acknowledged changes nothing and exits 0.
The journal records the token's name (or certificate) as who acted.
  --by NAME        the person at the console, when several share a token:
                   recorded in the comment as "by NAME: ..." (not verified)
  --comment TEXT   recorded with it
)";

constexpr char kShelveHelp[] =
    R"(usage: vigilctl alarms shelve ID --for DURATION --reason TEXT [--by NAME]

Shelve alarm ID: notifications suppressed until the time is up (the server
unshelves it then) or someone unshelves it. DURATION: 30m, 2h, 1h30m; at most
the server's alarms.max_shelve (default 8h).
  --for DURATION   required
  --reason TEXT    why; required
  --by NAME        the person, as with ack (recorded before the reason)
)";

constexpr char kUnshelveHelp[] = R"(usage: vigilctl alarms unshelve ID [--by NAME] [--comment TEXT]

End the shelving of alarm ID now. An alarm that is not shelved:
FAILED_PRECONDITION (exit 1).
  --by NAME        the person, as with ack
  --comment TEXT
)";

std::optional<uint64_t> ParseId(std::string_view text) {
  uint64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id == 0) return std::nullopt;
  return id;
}

std::optional<uint32_t> ParseCount(std::string_view text, uint32_t max) {
  uint32_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n == 0 || n > max) {
    return std::nullopt;
  }
  return n;
}

std::unique_ptr<v1::Alarms::Stub> Stub(Client& client) {
  return v1::Alarms::NewStub(client.channel());
}

// Ack, shelve and unshelve: the alarm id and --by into `request`, then the
// call; prints the journaled event, or that nothing changed.
template <class Request>
int Act(Client& client, const Args& args, const char* path, const char* help, Request request,
        grpc::Status (v1::Alarms::Stub::*method)(grpc::ClientContext*, const Request&,
                                                 v1::AlarmActionResponse*)) {
  const auto id = ParseId(args.positional()[0]);
  if (!id) {
    return UsageError(
        path, help,
        "ID must be an alarm id (a positive number), got '" + args.positional()[0] + "'");
  }
  const std::string by = args.Get("by").value_or("");
  request.set_alarm_id(*id);
  request.set_operator_id(by);
  grpc::ClientContext context;
  client.Prepare(&context);
  v1::AlarmActionResponse response;
  const grpc::Status status = (*Stub(client).*method)(&context, request, &response);
  if (!status.ok()) return RpcFailed(path, status);
  if (response.has_event()) {
    std::cout << EventText(response.event(), StdoutStyle()) << "\n";
  } else {
    std::cout << "alarm=" << *id << " unchanged (already acknowledged)\n";
  }
  return kExitOk;
}

int Ack(Client& client, const Args& args) {
  v1::AcknowledgeRequest request;
  request.set_comment(args.Get("comment").value_or(""));
  return Act(client, args, "alarms ack", kAckHelp, std::move(request),
             &v1::Alarms::Stub::Acknowledge);
}

int Shelve(Client& client, const Args& args) {
  if (!args.Has("for")) {
    return UsageError("alarms shelve", kShelveHelp, "--for DURATION is required (30m, 2h, 1h30m)");
  }
  const auto duration = alarm::ParseDuration(*args.Get("for"), std::chrono::milliseconds(1),
                                             std::chrono::milliseconds::max());
  if (!duration) {
    return UsageError("alarms shelve", kShelveHelp, "--for: " + duration.error().message());
  }
  v1::ShelveRequest request;
  request.set_reason(args.Get("reason").value_or(""));
  if (request.reason().empty()) {
    return UsageError("alarms shelve", kShelveHelp, "--reason TEXT is required");
  }
  request.set_duration_ms(duration->count());
  return Act(client, args, "alarms shelve", kShelveHelp, std::move(request),
             &v1::Alarms::Stub::Shelve);
}

int Unshelve(Client& client, const Args& args) {
  v1::UnshelveRequest request;
  request.set_comment(args.Get("comment").value_or(""));
  return Act(client, args, "alarms unshelve", kUnshelveHelp, std::move(request),
             &v1::Alarms::Stub::Unshelve);
}

int List(Client& client, const Args& args) {
  v1::ListActiveRequest request;
  if (auto error = FilterFromArgs(args, request.mutable_filter())) {
    return UsageError("alarms list", kListHelp, *error);
  }
  grpc::ClientContext context;
  client.Prepare(&context);
  v1::ListActiveResponse response;
  const grpc::Status status = Stub(client)->ListActive(&context, request, &response);
  if (!status.ok()) return RpcFailed("alarms list", status);
  PrintOpenAlarms(response.seq(), response.alarms(), args.Has("json"), StdoutStyle());
  return kExitOk;
}

int Show(Client& client, const Args& args) {
  const auto id = ParseId(args.positional()[0]);
  if (!id) {
    return UsageError(
        "alarms show", kShowHelp,
        "ID must be an alarm id (a positive number), got '" + args.positional()[0] + "'");
  }
  v1::GetAlarmRequest request;
  request.set_alarm_id(*id);
  grpc::ClientContext context;
  client.Prepare(&context);
  v1::GetAlarmResponse response;
  const grpc::Status status = Stub(client)->GetAlarm(&context, request, &response);
  if (!status.ok()) return RpcFailed("alarms show", status);
  if (args.Has("json")) {
    std::cout << "{\"alarm\":" << AlarmJson(response.alarm()) << ",\"history\":[";
    for (int i = 0; i < response.history_size(); ++i) {
      std::cout << (i == 0 ? "" : ",") << EventJson(response.history(i));
    }
    std::cout << "]}\n";
    return kExitOk;
  }
  const TextStyle style = StdoutStyle();
  std::cout << AlarmText(response.alarm(), style) << "\nhistory (" << response.history_size()
            << " events):\n";
  for (const v1::AlarmEvent& event : response.history()) {
    std::cout << "  " << EventText(event, style) << "\n";
  }
  return kExitOk;
}

int History(Client& client, const Args& args) {
  auto usage = [](const std::string& error) {
    return UsageError("alarms history", kHistoryHelp, error);
  };
  v1::HistoryRequest request;
  if (auto error = FilterFromArgs(args, request.mutable_filter())) return usage(*error);
  if (args.Has("since") && (args.Has("from") || args.Has("to"))) {
    return usage("--since goes alone; or give --from (and --to)");
  }
  int64_t from = 0;
  int64_t to = std::numeric_limits<int64_t>::max();
  if (args.Has("from")) {
    const auto t = alarm::ParseTimeOrEpochMs(*args.Get("from"));
    if (!t) return usage("--from: " + t.error().message());
    from = *t;
  } else if (args.Has("to")) {
    return usage("--to needs --from");
  } else {
    const auto since =
        alarm::ParseDuration(args.Get("since").value_or("24h"), std::chrono::milliseconds(1),
                             std::chrono::milliseconds::max());
    if (!since) return usage("--since: " + since.error().message());
    from = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch() - *since)
               .count();
  }
  if (args.Has("to")) {
    const auto t = alarm::ParseTimeOrEpochMs(*args.Get("to"));
    if (!t) return usage("--to: " + t.error().message());
    to = *t;
  }
  if (from >= to) return usage("--from must be before --to");
  constexpr uint32_t kMax = 10'000;
  std::optional<uint32_t> limit;
  if (args.Has("limit")) {
    limit = ParseCount(*args.Get("limit"), std::numeric_limits<uint32_t>::max());
    if (!limit) return usage("--limit must be a positive number");
  }
  const auto page_size = ParseCount(args.Get("page-size").value_or("1000"), kMax);
  if (!page_size) return usage("--page-size must be 1..10000");

  request.set_from_ms(from);
  request.set_to_ms(to);
  const bool json = args.Has("json");
  const TextStyle style = StdoutStyle();
  uint64_t printed = 0;
  while (true) {
    const uint64_t left = limit ? *limit - printed : kMax;
    request.set_limit(static_cast<uint32_t>(std::min<uint64_t>(*page_size, left)));
    grpc::ClientContext context;
    client.Prepare(&context);
    v1::HistoryResponse response;
    const grpc::Status status = Stub(client)->History(&context, request, &response);
    if (!status.ok()) return RpcFailed("alarms history", status);
    for (const v1::AlarmEvent& event : response.events()) {
      if (limit && printed == *limit) break;
      std::cout << (json ? EventJson(event) : EventText(event, style)) << "\n";
      ++printed;
    }
    if (response.next_page_token().empty()) break;
    if (limit && printed == *limit) {
      std::cerr << "vigilctl: stopped at --limit " << *limit << "; there are more events\n";
      break;
    }
    request.set_page_token(response.next_page_token());
  }
  if (printed == 0 && !json) std::cerr << "vigilctl: no matching events\n";
  return kExitOk;
}

}  // namespace

std::string CommandHelp(const char* text, bool filters, bool json) {
  std::string help = text;
  if (filters) help += std::string("\n") + kFilterHelp;
  if (json) help += std::string("\n") + kJsonFieldsHelp;
  return help + "\n" + kExitCodesHelp;
}

std::vector<OptionSpec> FilterOptions(std::vector<OptionSpec> more) {
  more.insert(more.end(), {{"region", true},
                           {"min-severity", true},
                           {"enterprise", true},
                           {"enterprise-kind", true},
                           {"kind", true},
                           {"include-planned", false}});
  return more;
}

std::optional<std::string> FilterFromArgs(const Args& args, v1::AlarmFilter* filter) {
  if (auto region = args.Get("region")) {
    if (region->size() > 6 || region->find_first_not_of("0123456789") != std::string::npos) {
      return "--region: a region-code prefix is up to 6 digits, got '" + *region + "'";
    }
    filter->set_region_prefix(*region);
  }
  if (auto severity = args.Get("min-severity")) {
    const auto s = ParseSeverity(*severity);
    if (!s) return "--min-severity: 1..4 or red|orange|yellow|blue, got '" + *severity + "'";
    filter->set_min_severity(*s);
  }
  for (const std::string& id : args.All("enterprise")) filter->add_enterprise_ids(id);
  for (const std::string& name : args.All("enterprise-kind")) {
    const auto kind = ParseEnterpriseKind(name);
    if (!kind) {
      return "--enterprise-kind: hazardous_chemical|coal_mine|tailings|other, got '" + name + "'";
    }
    filter->add_enterprise_kinds(*kind);
  }
  for (const std::string& name : args.All("kind")) {
    const auto kind = ParseAlarmKind(name);
    if (!kind) {
      return "--kind: threshold|rate_of_change|no_data|sensor_fault|gateway_offline|stuck_value|"
             "planned_work, got '" +
             name + "'";
    }
    filter->add_alarm_kinds(*kind);
  }
  filter->set_include_planned(args.Has("include-planned"));
  return std::nullopt;
}

TextStyle StdoutStyle() {
  const char* term = std::getenv("TERM");
  return TextStyle{.color = isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr &&
                            (term == nullptr || std::strcmp(term, "dumb") != 0)};
}

void PrintOpenAlarms(uint64_t seq, const google::protobuf::RepeatedPtrField<v1::Alarm>& alarms,
                     bool json, const TextStyle& style) {
  if (json) {
    std::cout << "{\"type\":\"snapshot\",\"seq\":" << seq << ",\"alarms\":[";
    for (int i = 0; i < alarms.size(); ++i)
      std::cout << (i == 0 ? "" : ",") << AlarmJson(alarms[i]);
    std::cout << "]}\n";
    return;
  }
  std::cout << "open alarms at seq " << seq << ": " << alarms.size() << "\n";
  for (const v1::Alarm& alarm : alarms) std::cout << "  " << AlarmText(alarm, style) << "\n";
}

std::span<const Command> AlarmCommands() {
  static const std::vector<Command>* commands = new std::vector<Command>{
      WatchCommand(),
      {.path = "alarms list",
       .help = CommandHelp(kListHelp, true, true),
       .options = FilterOptions({{"json"}}),
       .run = List},
      {.path = "alarms show",
       .help = CommandHelp(kShowHelp, false, true),
       .options = {{"json"}},
       .min_positional = 1,
       .max_positional = 1,
       .run = Show},
      {.path = "alarms history",
       .help = CommandHelp(kHistoryHelp, true, true),
       .options = FilterOptions({{"since", true},
                                 {"from", true},
                                 {"to", true},
                                 {"limit", true},
                                 {"page-size", true},
                                 {"json"}}),
       .run = History},
      {.path = "alarms ack",
       .help = CommandHelp(kAckHelp, false, false),
       .options = {{"by", true}, {"comment", true}},
       .min_positional = 1,
       .max_positional = 1,
       .run = Ack},
      {.path = "alarms shelve",
       .help = CommandHelp(kShelveHelp, false, false),
       .options = {{"for", true}, {"reason", true}, {"by", true}},
       .min_positional = 1,
       .max_positional = 1,
       .run = Shelve},
      {.path = "alarms unshelve",
       .help = CommandHelp(kUnshelveHelp, false, false),
       .options = {{"by", true}, {"comment", true}},
       .min_positional = 1,
       .max_positional = 1,
       .run = Unshelve},
  };
  return *commands;
}

}  // namespace vigil::ctl
