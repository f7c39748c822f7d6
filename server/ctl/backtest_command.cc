#include "server/ctl/backtest_command.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "alarm/time_text.h"
#include "server/ctl/format.h"
#include "vigil/v1/backtest.grpc.pb.h"

namespace vigil::ctl {

const char kRulesBacktestHelp[] =
    R"(usage: vigilctl rules backtest --rules FILE --from TIME --to TIME [--region PREFIX]
                              [--warmup DURATION] [--top N] [--json]

Replay the stored readings of [--from, --to) on the server through the alarm
engine with the rules of FILE (a whole rules file, as rules_file), and compare
what they would have raised with what was raised (the alarm journal):
counts per rule and per sensor, chattering points (3 or more raises within a
minute), floods (10 or more raises within 10 minutes), the top bad actors,
alarms raised live that FILE would have missed, alarms FILE adds, and the
transitions found on one side only. Backtesting the rules in force gives no
difference when the conditions of docs/backtest.md hold. Admin token needed.
  --rules FILE       the proposed rules
  --from, --to TIME  the period: RFC 3339, a date, or ms since the epoch
  --region PREFIX    sensors of enterprises whose region code starts with it
  --warmup DURATION  replayed before --from, not compared (default 1h)
  --top N            list lengths (default 10)
  --json             the report as one JSON object (vigil.v1.BacktestReport)
)";

namespace {

constexpr char kCommand[] = "rules backtest";

std::string Help() { return std::string(kRulesBacktestHelp) + "\n" + kExitCodesHelp; }

void PrintCounts(const char* title,
                 const google::protobuf::RepeatedPtrField<v1::BacktestCount>& counts) {
  if (counts.empty()) return;
  std::cout << title << " (backtest / live raised):\n";
  for (const v1::BacktestCount& c : counts) {
    std::cout << "  " << c.key() << "  " << c.backtest_raised() << " / " << c.live_raised() << "\n";
  }
}

void PrintAlarms(const char* title, uint64_t total,
                 const google::protobuf::RepeatedPtrField<v1::BacktestAlarm>& alarms) {
  std::cout << title << ": " << total << "\n";
  for (const v1::BacktestAlarm& a : alarms) {
    std::cout << "  " << a.source_id() << " " << a.alarm_kind() << " " << a.level() << " sev "
              << a.severity() << " rule " << a.rule_id() << " raised "
              << (a.raised_at_ms() == 0 ? std::string("before --from")
                                        : Rfc3339Local(a.raised_at_ms()))
              << " cleared "
              << (a.cleared_at_ms() == 0 ? std::string("-") : Rfc3339Local(a.cleared_at_ms()));
    if (a.alarm_id() != 0) std::cout << " alarm " << a.alarm_id();
    std::cout << "\n";
  }
}

void PrintReport(const v1::BacktestReport& r) {
  std::cout << "replayed sensors=" << r.sensors() << " readings=" << r.readings()
            << " actions_applied=" << r.actions_applied()
            << " actions_skipped=" << r.actions_skipped() << " ms=" << r.elapsed_ms()
            << " page_readings=" << r.page_readings()
            << " max_buffered_readings=" << r.max_buffered_readings()
            << " engine_state_bytes=" << r.engine_state_bytes() << "\n";
  std::cout << "raised backtest=" << r.backtest_raised() << " live=" << r.live_raised() << "\n";
  std::cout << "transitions matched=" << r.transitions_matched()
            << " matched_by_clock=" << r.transitions_matched_by_clock()
            << " only_backtest=" << r.transitions_only_backtest()
            << " only_live=" << r.transitions_only_live()
            << " max_at_offset_ms=" << r.max_at_offset_ms() << "\n";
  PrintCounts("per rule", r.per_rule());
  PrintCounts("per sensor", r.per_sensor());
  if (!r.bad_actors().empty()) {
    std::cout << "top bad actors (backtest / live raised):\n";
    for (const v1::BacktestPoint& p : r.bad_actors()) {
      std::cout << "  " << p.source_id() << " " << p.alarm_kind() << "  " << p.backtest_raised()
                << " / " << p.live_raised() << "\n";
    }
  }
  std::cout << "chattering points: " << r.chattering_size() << "\n";
  for (const v1::BacktestPoint& p : r.chattering()) {
    std::cout << "  " << p.source_id() << " " << p.alarm_kind()
              << "  most raises in a minute: backtest " << p.backtest_max_per_minute() << ", live "
              << p.live_max_per_minute() << "\n";
  }
  std::cout << "floods: " << r.floods_size() << "\n";
  for (const v1::BacktestFlood& f : r.floods()) {
    std::cout << "  " << (f.live() ? "live" : "backtest") << " " << Rfc3339Local(f.start_ms())
              << " .. " << Rfc3339Local(f.end_ms()) << " raised " << f.raised() << " peak "
              << f.peak_per_10min() << " per 10 min\n";
  }
  PrintAlarms("missed (raised live, not by the proposal)", r.missed_total(), r.missed());
  PrintAlarms("added (raised by the proposal, not live)", r.added_total(), r.added());
  if (!r.differences().empty()) {
    std::cout << "transitions on one side only (first " << r.differences_size() << "):\n";
    for (const v1::BacktestTransition& t : r.differences()) {
      std::cout << "  " << (t.live() ? "live    " : "backtest") << " " << Rfc3339Local(t.at_ms())
                << " " << t.source_id() << " " << t.alarm_kind() << " " << t.event() << " "
                << t.level() << " reading " << Rfc3339Local(t.reading_at_ms()) << " value "
                << t.value() << "\n";
    }
  }
  for (const std::string& c : r.caveats()) std::cout << "caveat: " << c << "\n";
}

}  // namespace

int RulesBacktest(Client& client, const Args& args) {
  if (args.positional().size() != 1) {
    return UsageError(kCommand, Help(), "rules backtest takes no FILE argument: use --rules FILE");
  }
  const auto file = args.Get("rules");
  const auto from = args.Get("from");
  const auto to = args.Get("to");
  if (!file || !from || !to) {
    return UsageError(kCommand, Help(), "--rules, --from and --to are required");
  }
  v1::BacktestRequest request;
  std::ifstream in(*file, std::ios::binary);
  if (!in) return UsageError(kCommand, Help(), "cannot read " + *file);
  request.set_rules_yaml(
      std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  auto from_ms = alarm::ParseTimeOrEpochMs(*from);
  if (!from_ms) return UsageError(kCommand, Help(), "--from: " + from_ms.error().message());
  auto to_ms = alarm::ParseTimeOrEpochMs(*to);
  if (!to_ms) return UsageError(kCommand, Help(), "--to: " + to_ms.error().message());
  request.set_from_ms(*from_ms);
  request.set_to_ms(*to_ms);
  if (auto region = args.Get("region")) request.set_region_prefix(*region);
  if (auto warmup = args.Get("warmup")) {
    auto d = alarm::ParseDuration(*warmup);
    if (!d) return UsageError(kCommand, Help(), "--warmup: " + d.error().message());
    if (d->count() == 0) return UsageError(kCommand, Help(), "--warmup must be more than 0");
    request.set_warmup_ms(d->count());
  }
  if (auto top = args.Get("top")) {
    try {
      const unsigned long n = std::stoul(*top);
      if (n == 0 || n > 1000) throw std::out_of_range("top");
      request.set_top(static_cast<uint32_t>(n));
    } catch (const std::exception&) {
      return UsageError(kCommand, Help(), "--top must be 1 .. 1000");
    }
  }
  auto stub = v1::RulesBacktest::NewStub(client.channel());
  grpc::ClientContext context;
  // A week of a large enterprise takes minutes: allow an hour.
  client.Prepare(&context, std::chrono::seconds(3600));
  v1::BacktestReport report;
  const grpc::Status status = stub->Run(&context, request, &report);
  if (!status.ok()) return RpcFailed(kCommand, status);
  if (args.Has("json")) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    if (!google::protobuf::util::MessageToJsonString(report, &json, options).ok()) {
      std::cerr << "vigilctl: cannot print the report as JSON\n";
      return kExitFailed;
    }
    std::cout << json << "\n";
    return kExitOk;
  }
  PrintReport(report);
  return kExitOk;
}

}  // namespace vigil::ctl
