// Compiler-style diagnostics for IR read from a file: "file:line:col: error:
// message", the offending source line and a caret under the column.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kiln::tools {

/// Formats an ir::parse error ("LINE:COL: message (at 'text')") read from
/// `file` whose contents are `text`.
std::string parse_diagnostic(std::string_view file, std::string_view text,
                             const absl::Status& error);

/// Formats an ir::verify error, pointing at the line that defines the node it
/// names ("%5 = ...") when that line is found in `text`.
std::string verify_diagnostic(std::string_view file, std::string_view text,
                              const absl::Status& error);

}  // namespace kiln::tools
