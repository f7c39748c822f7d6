// vigilctl commands for the operator of the server itself: backup, health,
// registry, and hash-token (for auth.tokens in the server config).
#pragma once

#include <span>

#include "server/ctl/cli.h"

namespace vigil::ctl {

std::span<const Command> AdminCommands();

}  // namespace vigil::ctl
