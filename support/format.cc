#include "support/format.h"

#include <algorithm>
#include <cmath>
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

namespace {

struct Spec {
  char fill = ' ', align = 0, sign = '-', grouping = 0, type = 0;
  bool zero = false;
  int width = 0, precision = -1;
};

constexpr int kMaxWidth = 1000;

bool IsAlign(char c) { return c == '<' || c == '>' || c == '^' || c == '='; }

absl::StatusOr<Spec> ParseSpec(std::string_view text) {
  Spec s;
  size_t i = 0;
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(str_cat("format spec \"", text, "\": ", why));
  };
  if (text.size() >= 2 && IsAlign(text[1])) {
    s.fill = text[0];
    s.align = text[1];
    i = 2;
  } else if (!text.empty() && IsAlign(text[0])) {
    s.align = text[0];
    i = 1;
  }
  if (i < text.size() && (text[i] == '+' || text[i] == '-' || text[i] == ' ')) s.sign = text[i++];
  if (i < text.size() && text[i] == '#') return bad("the alternate form '#' is not supported");
  if (i < text.size() && text[i] == '0') {
    s.zero = true;
    ++i;
  }
  auto number = [&](int* out) {
    int64_t n = 0;
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i++] - '0');
      if (n > kMaxWidth) return false;
    }
    *out = i > start ? static_cast<int>(n) : -1;
    return true;
  };
  int width;
  if (!number(&width)) return bad(str_cat("width or precision over ", kMaxWidth));
  s.width = std::max(width, 0);
  if (i < text.size() && (text[i] == ',' || text[i] == '_')) s.grouping = text[i++];
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!number(&s.precision)) return bad(str_cat("width or precision over ", kMaxWidth));
    if (s.precision < 0) return bad("'.' is not followed by a precision");
  }
  if (i < text.size()) s.type = text[i++];
  if (i < text.size()) return bad("unexpected characters after the type");
  if (s.type && std::string_view("deEfFgG%").find(s.type) == std::string_view::npos) {
    return bad(str_cat("the type '", std::string(1, s.type),
                       "' is not supported (use d, e, E, f, F, g, G or %)"));
  }
  return s;
}

// Python's repr of a float: the shortest round trip, with ".0" on integral values.
std::string FloatRepr(double v) {
  std::string s = str_cat(v);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string Printf(const char* format, int precision, double v) {
  char buf[1200];
  std::snprintf(buf, sizeof(buf), format, precision, v);
  return buf;
}

std::string Group(std::string digits, char separator) {
  size_t start = digits.find_first_of("0123456789");
  size_t end = digits.find_first_not_of("0123456789", start);
  if (start == std::string::npos) return digits;
  if (end == std::string::npos) end = digits.size();
  for (size_t at = end; at > start + 3; at -= 3) digits.insert(at - 3, 1, separator);
  return digits;
}

}  // namespace

absl::StatusOr<std::string> format_field(const FormatValue& value, std::string_view spec_text) {
  absl::StatusOr<Spec> parsed = ParseSpec(spec_text);
  if (!parsed.ok()) return parsed.status();
  const Spec& s = *parsed;
  const char* kind = value.is_int ? "an integer" : "a float";
  if (!value.is_int && s.type == 'd') {
    return absl::InvalidArgumentError(
        str_cat("format spec \"", spec_text, "\": 'd' needs an integer, and the value is ", kind));
  }
  if (s.grouping && (s.type ? s.type != 'd' : !value.is_int)) {
    return absl::InvalidArgumentError(
        str_cat("format spec \"", spec_text, "\": digit grouping works on integers only"));
  }
  if (value.is_int && s.precision >= 0 && (s.type == 0 || s.type == 'd')) {
    return absl::InvalidArgumentError(str_cat(
        "format spec \"", spec_text, "\": an integer takes no precision without a float type"));
  }
  bool negative;
  std::string body;
  if (value.is_int && (s.type == 0 || s.type == 'd')) {
    negative = value.i < 0;
    uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(value.i) : value.i;
    body = std::to_string(magnitude);
  } else {
    double v = value.is_int ? static_cast<double>(value.i) : value.f;
    negative = std::signbit(v) && !std::isnan(v);
    double a = std::fabs(v);
    int p = s.precision < 0 ? 6 : s.precision;
    switch (s.type) {
      case 'e':
      case 'E':
        body = Printf(s.type == 'e' ? "%.*e" : "%.*E", p, a);
        break;
      case 'f':
      case 'F':
        body = Printf(s.type == 'f' ? "%.*f" : "%.*F", p, a);
        break;
      case 'g':
      case 'G':
        body = Printf(s.type == 'g' ? "%.*g" : "%.*G", std::max(p, 1), a);
        break;
      case '%':
        body = Printf("%.*f", p, a * 100) + "%";
        break;
      default:
        if (s.precision < 0) {
          body = FloatRepr(a);
        } else {
          body = Printf("%.*g", std::max(p, 1), a);
          if (body.find_first_of(".en") == std::string::npos) body += ".0";
        }
    }
  }
  if (s.grouping) body = Group(body, s.grouping);
  std::string sign = negative ? "-" : s.sign == '+' ? "+" : s.sign == ' ' ? " " : "";
  char fill = s.zero && !s.align ? '0' : s.fill;
  char align = s.align ? s.align : s.zero ? '=' : '>';
  size_t len = sign.size() + body.size();
  size_t pad = s.width > static_cast<int>(len) ? s.width - len : 0;
  switch (align) {
    case '<':
      return sign + body + std::string(pad, fill);
    case '^':
      return std::string(pad / 2, fill) + sign + body + std::string(pad - pad / 2, fill);
    case '=':
      return sign + std::string(pad, fill) + body;
    default:
      return std::string(pad, fill) + sign + body;
  }
}

}  // namespace kiln
