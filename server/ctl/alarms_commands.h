// vigilctl alarms: what a command center does with vigil.v1.Alarms — watch
// the live stream, list open alarms, show one with its history, page through
// history, acknowledge, shelve, unshelve. alarms_watch.cc holds `watch`.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "server/ctl/cli.h"
#include "server/ctl/format.h"
#include "vigil/v1/alarms.pb.h"

namespace vigil::ctl {

// `vigilctl alarms --help`.
extern const char kAlarmsHelp[];
// The filter options' help, shared by watch, list and history.
extern const char kFilterHelp[];

// `text`, then the filter options' help when `filters`, the JSON fields when
// `json`, and the exit codes.
std::string CommandHelp(const char* text, bool filters, bool json);

// The subcommands, paths "alarms list" and so on.
std::span<const Command> AlarmCommands();

// The filter options (region, min-severity, enterprise, enterprise-kind, kind)
// and, to extend, a command's own.
std::vector<OptionSpec> FilterOptions(std::vector<OptionSpec> more);
// The filter the options ask for; an error message for a bad value.
std::optional<std::string> FilterFromArgs(const Args& args, v1::AlarmFilter* filter);
// Colour when stdout is a terminal, TERM is not "dumb" and NO_COLOR is unset.
TextStyle StdoutStyle();
// One line for the open alarms as of `seq`: a snapshot object with --json,
// else a header line and one AlarmText line each.
void PrintOpenAlarms(uint64_t seq, const google::protobuf::RepeatedPtrField<v1::Alarm>& alarms,
                     bool json, const TextStyle& style);

// `vigilctl alarms watch` (alarms_watch.cc).
Command WatchCommand();

}  // namespace vigil::ctl
