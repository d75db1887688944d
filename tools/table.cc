#include "tools/table.h"

#include <algorithm>
#include <cstdio>

#include "kiln/advanced.h"

namespace kiln::tools {

std::string Table::render(const std::string& indent) const {
  std::vector<size_t> width;
  for (const auto& row : rows_) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  size_t total = 0;
  for (size_t w : width) total += w;
  total += width.empty() ? 0 : 2 * (width.size() - 1);
  std::string out;
  for (size_t r = 0; r < rows_.size(); ++r) {
    if (std::find(rules_.begin(), rules_.end(), r) != rules_.end()) {
      str_append(&out, indent, std::string(total, '-'), "\n");
    }
    std::string line = indent;
    for (size_t c = 0; c < rows_[r].size(); ++c) {
      const std::string& cell = rows_[r][c];
      std::string pad(width[c] - cell.size(), ' ');
      bool right = c < right_.size() && right_[c];
      str_append(&line, c ? "  " : "", right ? pad : "", cell, right ? "" : pad);
    }
    while (line.size() > indent.size() && line.back() == ' ') line.pop_back();
    str_append(&out, line, "\n");
  }
  return out;
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string human_bytes(int64_t bytes) {
  if (bytes < 1024) return str_cat(bytes, " B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace kiln::tools
