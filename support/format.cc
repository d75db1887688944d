#include "support/format.h"

#include <algorithm>
#include <cstdio>

#include "ir/strings.h"

namespace kiln {
namespace {

// `bytes` divided down to the largest of `units` (powers of 1024) that keeps it
// at least 1, formatted with `decimals`.
std::string ScaledBytes(int64_t bytes, const std::vector<const char*>& units, int decimals) {
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < units.size()) {
    v /= 1024;
    ++u;
  }
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f %s", decimals, v, units[u]);
  return buf;
}

}  // namespace

std::string TextTable::render(const std::string& indent, const std::string& separator) const {
  std::vector<size_t> width;
  for (const auto& row : rows_) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  size_t total = 0;
  for (size_t w : width) total += w;
  total += width.empty() ? 0 : separator.size() * (width.size() - 1);
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
      str_append(&line, c ? separator : "", right ? pad : "", cell, right ? "" : pad);
    }
    while (line.size() > indent.size() && line.back() == ' ') line.pop_back();
    str_append(&out, line, "\n");
  }
  return out;
}

std::string with_commas(int64_t n) {
  // Through uint64_t, so INT64_MIN has a magnitude too.
  uint64_t magnitude = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  std::string digits = std::to_string(magnitude);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string human_bytes(int64_t bytes) {
  if (bytes < 1024) return str_cat(bytes, " B");
  return ScaledBytes(bytes, {"B", "KiB", "MiB", "GiB", "TiB"}, 1);
}

std::string keras_bytes(int64_t bytes) { return ScaledBytes(bytes, {"B", "KB", "MB", "GB"}, 2); }

std::string format_ms(double seconds, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, seconds * 1e3);
  return buf;
}

}  // namespace kiln
