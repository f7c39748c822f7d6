#include "server/ctl/history_commands.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alarm/time_text.h"
#include "server/ctl/format.h"
#include "vigil/v1/query.grpc.pb.h"

namespace vigil::ctl {
namespace {

constexpr char kReadingsHelp[] =
    R"(usage: vigilctl readings SENSOR [--since D [--until D] | --from TIME [--to TIME]]
                         [--step D | --max-points N] [--origin D] [--csv]

Print a sensor's readings from now - since to now - until (or from .. to):
raw (time value quality), or with --step / --max-points one line per step
(start count min max avg last), after a line naming the sensor's quantity
and unit and its enterprise (not with --csv), e.g.
  # sensor s-1 (methane, %CH4) enterprise e-1 (Zoucheng No. 3 Coal Mine)
Times print in RFC 3339 with the local offset (the TZ environment variable),
as UTC with vigilctl --utc.
  --since D       how far back to start (default 1h)
  --until D       how far back to stop (default 0s: now)
  --from TIME     instead of --since: RFC 3339 (2024-06-01T08:00:00+08:00,
                  2024-06-01T00:00:00Z) or ms since the Unix epoch
  --to TIME       with --from (default: now)
  --step D        step length; steps start at multiples of it since the origin
                  (steps of 5m and more use the stored 5-minute statistics;
                  beyond the raw retention only those work)
  --max-points N  instead of --step: the smallest round step giving at most N steps
  --origin D      step alignment after 1970-01-01T00:00Z (default 0s; -8h aligns
                  days to midnight in China)
  --csv           comma-separated, with a header line
Durations D: an integer and ms, s, m, h or d (250ms, 30s, 5m, 1h, 90d); -D for --origin.
)";

constexpr char kLatestHelp[] =
    R"(usage: vigilctl latest (--enterprise ID | SENSOR...) [--csv]

Print the latest value of every sensor of an enterprise, or of the sensors
named: time value quality and open alarms (kind/level/state/severity), the
sensor's quantity and unit next to its id, after a line naming each
enterprise, e.g.
  # enterprise e-1 (Zoucheng No. 3 Coal Mine)
  --csv   comma-separated, with a header line; ids only, no names
)";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Prints rows as aligned columns (text) or comma-separated (csv), header first.
class Table {
 public:
  Table(std::vector<std::string> header, bool csv) : csv_(csv) {
    rows_.push_back(std::move(header));
  }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const {
    std::vector<size_t> widths(rows_.front().size(), 0);
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) {
        if (csv_) {
          out << (i > 0 ? "," : "") << row[i];
        } else if (i + 1 < row.size()) {
          out << row[i] << std::string(widths[i] - row[i].size() + 2, ' ');
        } else {
          out << row[i];
        }
      }
      out << "\n";
    }
  }

 private:
  bool csv_;
  std::vector<std::vector<std::string>> rows_;
};

struct ReadingsArgs {
  std::string sensor_id;
  int64_t since_ms = 3'600'000;
  int64_t until_ms = 0;
  int64_t step_ms = 0;
  uint32_t max_points = 0;
  int64_t origin_ms = 0;
  bool csv = false;
};

// "# sensor s-1 (methane, %CH4) enterprise e-1 (Name)" from ReadLatest, which
// carries the registry's names to any caller that may read the sensor.
// Prints nothing when that fails: the read that follows reports the error.
void PrintSensorLine(Client& client, const std::string& sensor_id) {
  auto stub = v1::Query::NewStub(client.channel());
  v1::ReadLatestRequest request;
  request.add_sensor_ids(sensor_id);
  v1::ReadLatestResponse response;
  grpc::ClientContext context;
  client.Prepare(&context, std::chrono::seconds(60));
  if (!stub->ReadLatest(&context, request, &response).ok() || response.values_size() != 1) return;
  const v1::LatestValue& v = response.values(0);
  std::cout << "# sensor " << Named(v.sensor_id(), {v.quantity(), v.unit()});
  if (!v.enterprise_id().empty()) {
    std::cout << " enterprise " << Named(v.enterprise_id(), {v.enterprise_name()});
  }
  std::cout << "\n";
}

int RawReadings(Client& client, const ReadingsArgs& args, int64_t from, int64_t to) {
  auto stub = v1::Query::NewStub(client.channel());
  Table table(args.csv ? std::vector<std::string>{"time", "time_ms", "value", "quality"}
                       : std::vector<std::string>{"time", "value", "quality"},
              args.csv);
  if (!args.csv) PrintSensorLine(client, args.sensor_id);
  for (;;) {
    v1::ReadRawRequest request;
    request.set_sensor_id(args.sensor_id);
    request.set_from_ms(from);
    request.set_to_ms(to);
    v1::ReadRawResponse response;
    grpc::ClientContext context;
    client.Prepare(&context, std::chrono::seconds(60));
    const grpc::Status status = stub->ReadRaw(&context, request, &response);
    if (!status.ok()) return RpcFailed("readings", status);
    for (int i = 0; i < response.timestamps_ms_size(); ++i) {
      const int64_t at = response.timestamps_ms(i);
      const std::string quality =
          std::to_string(i < response.quality_size() ? response.quality(i) : 0);
      if (args.csv) {
        table.Add(
            {Rfc3339Local(at), std::to_string(at), FormatNumber(response.values(i)), quality});
      } else {
        table.Add({Rfc3339Local(at), FormatNumber(response.values(i)), quality});
      }
    }
    if (!response.truncated() || response.next_from_ms() <= from) break;
    from = response.next_from_ms();
  }
  table.Print(std::cout);
  return kExitOk;
}

int DownsampledReadings(Client& client, const ReadingsArgs& args, int64_t from, int64_t to) {
  auto stub = v1::Query::NewStub(client.channel());
  v1::ReadDownsampledRequest request;
  request.set_sensor_id(args.sensor_id);
  request.set_from_ms(from);
  request.set_to_ms(to);
  request.set_step_ms(args.step_ms);
  request.set_max_points(args.max_points);
  request.set_origin_ms(args.origin_ms);
  v1::ReadDownsampledResponse r;
  grpc::ClientContext context;
  client.Prepare(&context, std::chrono::seconds(60));
  const grpc::Status status = stub->ReadDownsampled(&context, request, &r);
  if (!status.ok()) return RpcFailed("readings", status);
  if (!args.csv) {
    PrintSensorLine(client, args.sensor_id);
    std::cout << "# step " << alarm::FormatDuration(std::chrono::milliseconds(r.step_ms())) << "\n";
  }
  Table table(args.csv ? std::vector<std::string>{"start", "start_ms", "count", "min", "max", "avg",
                                                  "last", "last_ms"}
                       : std::vector<std::string>{"start", "count", "min", "max", "avg", "last"},
              args.csv);
  for (int i = 0; i < r.start_ms_size(); ++i) {
    std::vector<std::string> row = {Rfc3339Local(r.start_ms(i))};
    if (args.csv) row.push_back(std::to_string(r.start_ms(i)));
    for (std::string cell :
         {std::to_string(r.count(i)), FormatNumber(r.min(i)), FormatNumber(r.max(i)),
          FormatNumber(r.avg(i)), FormatNumber(r.last(i))}) {
      row.push_back(std::move(cell));
    }
    if (args.csv) row.push_back(std::to_string(r.last_ms(i)));
    table.Add(std::move(row));
  }
  table.Print(std::cout);
  return kExitOk;
}

std::string LatestAlarmText(const v1::LatestValue::Alarm& alarm) {
  using Alarm = v1::LatestValue::Alarm;
  std::string kind = Alarm::Kind_Name(alarm.kind()).substr(5);     // KIND_
  std::string state = Alarm::State_Name(alarm.state()).substr(6);  // STATE_
  for (std::string* text : {&kind, &state}) {
    for (char& c : *text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string out = kind;
  if (alarm.level() != Alarm::LEVEL_NONE) out += "/" + Alarm::Level_Name(alarm.level()).substr(6);
  return out + "/" + state + "/sev" + std::to_string(alarm.severity());
}

int Latest(Client& client, const std::string& enterprise, const std::vector<std::string>& sensors,
           bool csv) {
  auto stub = v1::Query::NewStub(client.channel());
  v1::ReadLatestRequest request;
  request.set_enterprise_id(enterprise);
  for (const std::string& id : sensors) request.add_sensor_ids(id);
  v1::ReadLatestResponse response;
  grpc::ClientContext context;
  client.Prepare(&context, std::chrono::seconds(60));
  const grpc::Status status = stub->ReadLatest(&context, request, &response);
  if (!status.ok()) return RpcFailed("latest", status);
  Table table(
      csv ? std::vector<std::string>{"sensor", "time", "time_ms", "value", "quality", "alarms"}
          : std::vector<std::string>{"sensor", "time", "value", "quality", "alarms"},
      csv);
  std::vector<std::string> enterprises;  // distinct, in order
  for (const v1::LatestValue& v : response.values()) {
    const std::string named = Named(v.enterprise_id(), {v.enterprise_name()});
    if (!v.enterprise_id().empty() &&
        std::find(enterprises.begin(), enterprises.end(), named) == enterprises.end()) {
      enterprises.push_back(named);
    }
    std::string alarms;
    for (const auto& alarm : v.alarms())
      alarms += (alarms.empty() ? "" : " ") + LatestAlarmText(alarm);
    const std::string none = csv ? "" : "-";
    std::vector<std::string> row = {
        csv ? v.sensor_id() : Named(v.sensor_id(), {v.quantity(), v.unit()}),
        v.has_reading() ? Rfc3339Local(v.at_ms()) : none};
    if (csv) row.push_back(v.has_reading() ? std::to_string(v.at_ms()) : none);
    row.push_back(v.has_reading() ? FormatNumber(v.value()) : none);
    row.push_back(v.has_reading() ? std::to_string(v.quality()) : none);
    row.push_back(alarms.empty() ? none : alarms);
    table.Add(std::move(row));
  }
  if (!csv) {
    for (const std::string& e : enterprises) std::cout << "# enterprise " << e << "\n";
  }
  table.Print(std::cout);
  return kExitOk;
}

int RunReadings(Client& client, const Args& args) {
  static const Command* self = nullptr;
  for (const Command& c : HistoryCommands()) {
    if (c.path == "readings") self = &c;
  }
  ReadingsArgs readings{.sensor_id = args.positional().at(0), .csv = args.Has("csv")};
  if (args.Has("from") && (args.Has("since") || args.Has("until"))) {
    return UsageError(*self, "give --since/--until or --from/--to, not both");
  }
  if (args.Has("to") && !args.Has("from")) return UsageError(*self, "--to needs --from");
  std::optional<int64_t> from_time;
  std::optional<int64_t> to_time;
  for (auto [name, field] :
       {std::pair<const char*, std::optional<int64_t>*>{"from", &from_time}, {"to", &to_time}}) {
    if (auto value = args.Get(name)) {
      const alarm::Result<int64_t> time = alarm::ParseTimeOrEpochMs(*value);
      if (!time) return UsageError(*self, "--" + std::string(name) + ": " + time.error().message());
      *field = *time;
    }
  }
  for (auto [name, field] : {std::pair<const char*, int64_t*>{"since", &readings.since_ms},
                             {"until", &readings.until_ms},
                             {"step", &readings.step_ms},
                             {"origin", &readings.origin_ms}}) {
    auto value = args.Get(name);
    if (!value) continue;
    // Only --origin may be negative (a shift of the bucket grid).
    std::string_view text = *value;
    const bool negative = std::string_view(name) == "origin" && text.starts_with('-');
    if (negative) text.remove_prefix(1);
    // At most 100 years, so that now - since cannot overflow.
    const auto ms =
        alarm::ParseDuration(text, std::chrono::milliseconds(0), std::chrono::days(36500));
    if (!ms) return UsageError(*self, "--" + std::string(name) + ": " + ms.error().message());
    *field = negative ? -ms->count() : ms->count();
  }
  if (auto text = args.Get("max-points")) {
    uint32_t points = 0;
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), points);
    if (ec != std::errc() || ptr != text->data() + text->size() || points == 0) {
      return UsageError(*self, "--max-points: expected a positive integer, got '" + *text + "'");
    }
    if (readings.step_ms != 0) return UsageError(*self, "give --step or --max-points, not both");
    readings.max_points = points;
  }
  if (args.Has("step") && readings.step_ms <= 0)
    return UsageError(*self, "--step must be positive");
  const int64_t now = NowMs();
  const int64_t from = from_time ? *from_time : now - readings.since_ms;
  const int64_t to = from_time ? to_time.value_or(now) : now - readings.until_ms;
  if (from >= to) {
    return UsageError(*self, from_time ? "--from must be before --to (and before now)"
                                       : "--since must reach further back than --until");
  }
  if (readings.step_ms == 0 && readings.max_points == 0) {
    return RawReadings(client, readings, from, to);
  }
  return DownsampledReadings(client, readings, from, to);
}

int RunLatest(Client& client, const Args& args) {
  const auto enterprise = args.Get("enterprise");
  const std::vector<std::string>& sensors = args.positional();
  if (!enterprise == sensors.empty()) {
    for (const Command& c : HistoryCommands()) {
      if (c.path == "latest") {
        return UsageError(c, "latest takes --enterprise ID or SENSOR..., not both");
      }
    }
  }
  return Latest(client, enterprise.value_or(""), sensors, args.Has("csv"));
}

}  // namespace

std::span<const Command> HistoryCommands() {
  static const std::vector<Command>* commands = new std::vector<Command>{
      {.path = "readings",
       .help = std::string(kReadingsHelp) + "\n" + kExitCodesHelp,
       .options = {{"since", true},
                   {"until", true},
                   {"from", true},
                   {"to", true},
                   {"step", true},
                   {"max-points", true},
                   {"origin", true},
                   {"csv"}},
       .min_positional = 1,
       .max_positional = 1,
       .run = RunReadings},
      {.path = "latest",
       .help = std::string(kLatestHelp) + "\n" + kExitCodesHelp,
       .options = {{"enterprise", true}, {"csv"}},
       .min_positional = 0,
       .max_positional = 1000,
       .run = RunLatest},
  };
  return *commands;
}

}  // namespace vigil::ctl
