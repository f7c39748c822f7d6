// vigilctl send: one test reading (or a few) sent as a gateway through
// Ingest.Write, the ack printed. For commissioning a sensor and checking a
// rule without a gateway at hand.
#pragma once

#include <span>

#include "server/ctl/cli.h"

namespace vigil::ctl {

std::span<const Command> SendCommands();

}  // namespace vigil::ctl
