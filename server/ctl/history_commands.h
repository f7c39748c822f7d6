// vigilctl commands for history: a sensor's readings (raw or downsampled) and
// the latest values of an enterprise's sensors, as aligned text or CSV.
#pragma once

#include <span>

#include "server/ctl/cli.h"

namespace vigil::ctl {

std::span<const Command> HistoryCommands();

}  // namespace vigil::ctl
