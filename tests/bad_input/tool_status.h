// Runs the `kiln` tool for a catalogue case and turns its exit code and output
// into the status the case returns: exit 1 (invalid input) or 2 (usage) is
// the error a case expects; a crash or any other code is an internal error,
// which fails the case.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "ir/strings.h"
#include "tests/bad_input/catalogue.h"

namespace kiln::bad_input {

inline absl::Status tool_status(const std::string& args) {
  ToolResult r = run_tool(args);
  if (r.exit_code == 0) return absl::OkStatus();
  if (r.exit_code == 1 || r.exit_code == 2) return absl::InvalidArgumentError(r.output);
  return absl::InternalError(str_cat("kiln exited with ", r.exit_code,
                                     r.exit_code >= 128 ? " (killed by a signal)" : "", ": ",
                                     r.output.substr(0, 1000)));
}

}  // namespace kiln::bad_input
