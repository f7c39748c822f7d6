// A small file written so that after a crash it holds the old bytes or the
// new ones, never a torn or lost write: write a temporary file beside it,
// fsync it, rename it over the file, fsync the folder. For the few files kept
// outside RocksDB (the JetStream log's checkpoint, its copy in a backup).
// Thread-safety: one writer per file at a time.
#pragma once

#include <filesystem>
#include <string_view>

#include "alarm/status.h"

namespace vigil::storage {

// Replaces `file` with `bytes` durably (above). The folder must exist.
// kIOError naming the step (create, write, fsync, rename) and errno's text.
alarm::Status WriteFileDurably(const std::filesystem::path& file, std::string_view bytes);

}  // namespace vigil::storage
