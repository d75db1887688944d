// Aligned text tables for the tool's reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::tools {

/// Rows of cells printed in aligned columns; the first row is the header.
class Table {
 public:
  /// `right_aligned[c]` right-aligns column c (numbers); others are left-aligned.
  explicit Table(std::vector<bool> right_aligned) : right_(std::move(right_aligned)) {}
  void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  /// A horizontal rule before the next row (e.g. above a total).
  void add_rule() { rules_.push_back(rows_.size()); }
  /// The table, each line prefixed with `indent` and ended with a newline.
  std::string render(const std::string& indent = "") const;

 private:
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<size_t> rules_;
};

/// 1234567 -> "1,234,567".
std::string with_commas(int64_t n);

/// 407080 -> "397.5 KiB"; under 1 KiB, "812 B".
std::string human_bytes(int64_t bytes);

}  // namespace kiln::tools
