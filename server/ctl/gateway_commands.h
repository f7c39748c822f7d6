// vigilctl commands about one gateway: `gateway watermark` (where its stored
// sequence stands, for a gateway engineer recovering a reset gateway).
#pragma once

#include <span>

#include "server/ctl/cli.h"

namespace vigil::ctl {

std::span<const Command> GatewayCommands();

}  // namespace vigil::ctl
