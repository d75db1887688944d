// Kiln's environment variables (KILN_DEBUG, KILN_BACKEND, KILN_NUM_THREADS, ...),
// read in one way: unset and empty mean the same, and a malformed number is an
// error that names the variable rather than a silent zero.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace kiln {

/// The value of `name`, or nullopt when it is unset or empty.
std::optional<std::string> env_string(const char* name);

/// The value of `name` even when it is set and empty; nullopt only when unset
/// (for variables where "set to nothing" means "off", as KILN_CACHE_DIR=).
std::optional<std::string> env_value(const char* name);

/// The integer value of `name` in [min, max]; `fallback` when unset or empty.
absl::StatusOr<int> env_int(const char* name, int fallback, int min, int max);

/// KILN_DEBUG: 0 (quiet) unless set to a positive level; 1 reports each
/// compilation. A malformed value counts as 1, since the user asked for output.
int debug_level();

}  // namespace kiln
