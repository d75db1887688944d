// Files written so that a crash never leaves a half-written one behind.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kiln {

/// Writes `bytes` to a temporary file beside `path` ("<path>.tmp.<pid>.<n>"),
/// fsyncs it, renames it over `path` and fsyncs the directory, so readers see
/// the old or the new file only. Temporaries of the same path left by a process
/// that died mid-save (its pid no longer runs) are removed first.
absl::Status write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace kiln
