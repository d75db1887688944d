// String concatenation that accepts std::string_view (Debian's Abseil is built
// with its own string_view type, so absl::StrCat rejects std::string_view).
#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace kiln {

namespace detail {
inline void append_one(std::string* out, std::string_view s) { out->append(s); }
inline void append_one(std::string* out, const char* s) { out->append(s); }
inline void append_one(std::string* out, const std::string& s) { out->append(s); }
inline void append_one(std::string* out, char c) { out->push_back(c); }
template <typename T>
requires std::same_as<T, absl::string_view> &&
    (!std::same_as<T, std::string_view>)void append_one(std::string* out, T s) {
  out->append(s.data(), s.size());
}
template <typename T>
requires(std::is_arithmetic_v<T> && !std::same_as<T, char> &&
         !std::same_as<T, bool>) void append_one(std::string* out, T v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}
inline void append_one(std::string* out, bool b) { out->append(b ? "true" : "false"); }
}  // namespace detail

/// Appends the text of each argument (strings, chars, numbers) to `out`.
template <typename... Args>
void str_append(std::string* out, const Args&... args) {
  (detail::append_one(out, args), ...);
}

/// Concatenates the text of each argument; floats use the shortest exact form.
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::string out;
  str_append(&out, args...);
  return out;
}

/// Hostile input quoted in an error message: bytes outside printable ASCII
/// become \xNN, and text beyond `max_chars` is cut with "...", so a binary
/// file or a megabyte token makes a short, terminal-safe message.
inline std::string excerpt(std::string_view s, size_t max_chars = 40) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  size_t shown = 0;
  for (char ch : s) {
    if (shown == max_chars) return out + "...";
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    ++shown;
  }
  return out;
}

}  // namespace kiln
