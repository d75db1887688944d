#include "tools/diagnostics.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include "kiln/advanced.h"

namespace kiln::tools {
namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Reads a decimal number at the front of `s` and drops it; -1 if none.
int64_t TakeNumber(std::string_view* s) {
  int64_t v = -1;
  auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc()) return -1;
  s->remove_prefix(end - s->data());
  return v;
}

// At most this many bytes of a message, and of the source line around the
// column, are shown: a hostile file (one 1 MB line, a 1 MB name) must not
// produce megabytes of error text.
constexpr size_t kMaxMessage = 1000;
constexpr int64_t kContext = 60;

std::string Capped(std::string_view message) {
  if (message.size() <= kMaxMessage) return std::string(message);
  return str_cat(message.substr(0, kMaxMessage), "... (", message.size() - kMaxMessage,
                 " more bytes)");
}

// "file:3:7: error: message", then the source line and a caret under column 7.
// Only kContext bytes either side of the column are shown, and bytes a
// terminal would not print are escaped (\xNN) with the caret kept under them.
std::string Located(std::string_view file, std::string_view text, int64_t line, int64_t col,
                    std::string_view message) {
  std::string out =
      str_cat(excerpt(file, 200), ":", line, ":", col, ": error: ", Capped(message), "\n");
  std::vector<std::string_view> lines = Lines(text);
  // An error at the end of the input has no source line worth showing.
  if (line >= 1 && line <= static_cast<int64_t>(lines.size()) &&
      lines[line - 1].find_first_not_of(" \t\r") != std::string_view::npos) {
    std::string_view source = lines[line - 1];
    const auto size = static_cast<int64_t>(source.size());
    int64_t at = std::min(col - 1, size);
    int64_t begin = std::max<int64_t>(0, at - kContext);
    int64_t end = std::min(size, at + kContext);
    std::string shown = begin > 0 ? "..." : "", caret(shown.size(), ' ');
    for (int64_t i = begin; i < end; ++i) {
      char c = source[i];
      // Tabs stay tabs so the caret lines up however the terminal expands them.
      std::string piece = c == '\t' ? "\t" : excerpt(std::string_view(&source[i], 1));
      if (i < at) caret += c == '\t' ? "\t" : std::string(piece.size(), ' ');
      shown += piece;
    }
    if (end < size) shown += "...";
    str_append(&out, shown, "\n", caret, "^\n");
  }
  return out;
}

}  // namespace

std::string parse_diagnostic(std::string_view file, std::string_view text,
                             const absl::Status& error) {
  const std::string message(error.message());
  std::string_view rest = message;
  int64_t line = TakeNumber(&rest);
  if (line > 0 && !rest.empty() && rest[0] == ':') {
    rest.remove_prefix(1);
    int64_t col = TakeNumber(&rest);
    if (col > 0 && rest.substr(0, 2) == ": ") {
      return Located(file, text, line, col, rest.substr(2));
    }
  }
  return str_cat(excerpt(file, 200), ": error: ", Capped(message), "\n");
}

std::string verify_diagnostic(std::string_view file, std::string_view text,
                              const absl::Status& error) {
  const std::string message(error.message());
  // The verifier names the node as `graph "name": %5 = op (layer ...): ...`,
  // or for the memory plan as `graph "name": memory plan: %5 (op): ...`.
  size_t at = message.find("\": %");
  size_t skip = 4;
  if (at == std::string::npos) {
    at = message.find("\": memory plan: %");
    skip = std::string_view("\": memory plan: %").size();
  }
  if (at != std::string_view::npos) {
    std::string_view rest = std::string_view(message).substr(at + skip);
    int64_t id = TakeNumber(&rest);
    if (id >= 0 && (rest.substr(0, 3) == " = " || rest.substr(0, 2) == " (")) {
      std::string def = str_cat("%", id);
      std::vector<std::string_view> lines = Lines(text);
      for (size_t i = 0; i < lines.size(); ++i) {
        std::string_view l = lines[i];
        size_t first = l.find_first_not_of(" \t");
        if (first == std::string_view::npos || l.substr(first, def.size()) != def) continue;
        size_t eq = l.find_first_not_of(" \t", first + def.size());
        if (eq == std::string_view::npos || l[eq] != '=') continue;
        return Located(file, text, static_cast<int64_t>(i) + 1, static_cast<int64_t>(first) + 1,
                       message);
      }
    }
  }
  return str_cat(excerpt(file, 200), ": error: ", Capped(message), "\n");
}

}  // namespace kiln::tools
