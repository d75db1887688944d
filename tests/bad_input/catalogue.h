// The bad-input catalogue: hostile files, IR text, command lines and API calls,
// each with the error it must produce. Every case registers itself here; one
// parameterized test (bad_input_test.cc) runs them all under the ctest label
// `bad-input`. Cases generate their inputs in a fresh directory: no large
// files live in the repository.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace kiln::bad_input {

/// One hostile input.
struct Case {
  /// "idx/wrong-magic": the group, a slash, what is wrong.
  std::string name;
  /// Writes what the case needs under `dir` and runs Kiln on it, returning the
  /// error Kiln reported (a kiln::Error thrown at the public API counts as its
  /// status). An OK status fails the case.
  std::function<absl::Status(const std::string& dir)> run;
  /// Substrings the message must contain: what is wrong and where (the file,
  /// field, layer, argument, or line:col). "{dir}" stands for the case's directory.
  std::vector<std::string> message_has;
};

/// gtest prints a case by its name.
inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

/// Every registered case, in registration order per file.
std::vector<Case>& cases();

/// Adds `more` to the catalogue; returns their count (for a static registrar).
int add(std::vector<Case> more);

/// Writes `bytes` to `path` (a helper for the cases).
void write_file(const std::string& path, const std::string& bytes);

/// Runs the `kiln` command-line tool with `args` (stdin from /dev/null) and
/// returns its exit code and combined stdout and stderr.
struct ToolResult {
  int exit_code;
  std::string output;
};
ToolResult run_tool(const std::string& args);

/// The status of running `fn`, with a kiln::Error it throws turned into its
/// status, and any other exception an internal error naming its type (so a
/// case fails, with a clear message, if anything but kiln::Error escapes).
absl::Status status_of(const std::function<void()>& fn);

}  // namespace kiln::bad_input
