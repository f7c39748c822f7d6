// Names the calling thread as `top -H`, `ps -L`, perf and gdb show it, so an
// SRE can tell the writer, the shards and the journal apart.
#pragma once

#include <string>

namespace vigil::server {

// Sets the calling thread's name; Linux keeps the first 15 bytes. Best
// effort: a failure is ignored (a name is a diagnostic, nothing depends on it).
void NameThisThread(const std::string& name);

}  // namespace vigil::server
