// vigilctl journal verify | export: the alarm journal's hash chain
// (vigil.v1.JournalIntegrity, docs/journal-integrity.md).
#pragma once

#include <span>

#include "server/ctl/cli.h"

namespace vigil::ctl {

extern const char kJournalHelp[];

std::span<const Command> JournalCommands();

}  // namespace vigil::ctl
