// vigilctl planned open | list | close: planned-work windows
// (vigil.v1.PlannedWorkService, docs/planned-work.md).
#pragma once

#include <span>

#include "server/ctl/cli.h"

namespace vigil::ctl {

extern const char kPlannedHelp[];

std::span<const Command> PlannedCommands();

}  // namespace vigil::ctl
