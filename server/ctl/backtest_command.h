// vigilctl rules backtest: a proposed rules file replayed against the
// server's stored history (vigil.v1.RulesBacktest), and the report printed.
#pragma once

#include "server/ctl/cli.h"

namespace vigil::ctl {

// The help of `rules backtest`, part of `rules`'s help.
extern const char kRulesBacktestHelp[];
// Options `rules` takes for its backtest subcommand.
inline constexpr OptionSpec kRulesBacktestOptions[] = {
    {"rules", true},  {"from", true}, {"to", true},   {"region", true},
    {"warmup", true}, {"top", true},  {"json", false}};

// `rules backtest --rules FILE --from TIME --to TIME [...]`.
int RulesBacktest(Client& client, const Args& args);

}  // namespace vigil::ctl
