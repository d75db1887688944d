// Text formatting for reports: aligned tables, grouped digits, byte sizes and
// milliseconds, one of each for the summary, the pass timings and `kiln stats`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln {

/// Rows of cells printed in aligned columns; the first row is the header.
class TextTable {
 public:
  /// `right_aligned[c]` right-aligns column c (numbers); others are left-aligned.
  explicit TextTable(std::vector<bool> right_aligned) : right_(std::move(right_aligned)) {}
  void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  /// A horizontal rule before the next row (e.g. above a total).
  void add_rule() { rules_.push_back(rows_.size()); }
  /// The table, each line prefixed with `indent`, columns separated by
  /// `separator`, trailing spaces trimmed, each line ended with a newline.
  std::string render(const std::string& indent = "", const std::string& separator = "  ") const;

 private:
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<size_t> rules_;
};

/// 1234567 -> "1,234,567".
std::string with_commas(int64_t n);

/// 407080 -> "397.5 KiB"; under 1 KiB, "812 B".
std::string human_bytes(int64_t bytes);

/// Keras's summary style: 407080 -> "397.54 KB", 0 -> "0.00 B" (units of 1024).
std::string keras_bytes(int64_t bytes);

/// 0.0123 (seconds) -> "12.300": milliseconds with `decimals` decimals.
std::string format_ms(double seconds, int decimals = 3);

/// A value for format_field: an int (as Keras's epoch) or a float (as a log).
struct FormatValue {
  bool is_int;
  int64_t i;
  double f;
};

/// Formats `value` with a Python format spec ("02d", ".4f", ">8.2e", "+.1%"):
/// [[fill]align][sign][0][width][,|_][.precision][type] with the types
/// Python accepts for that value among d e E f F g G % (and none). Anything
/// else ("s", "n", "d" for a float, "#", widths over 1000) is an error that
/// names the spec, as Python's str.format raises, never undefined output.
absl::StatusOr<std::string> format_field(const FormatValue& value, std::string_view spec);

}  // namespace kiln
