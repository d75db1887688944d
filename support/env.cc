#include "support/env.h"

#include <charconv>
#include <cstdlib>

#include "ir/strings.h"

namespace kiln {

std::optional<std::string> env_string(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::optional<std::string> env_value(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

absl::StatusOr<int> env_int(const char* name, int fallback, int min, int max) {
  std::optional<std::string> text = env_string(name);
  if (!text) return fallback;
  int value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, err] = std::from_chars(text->data(), end, value);
  if (err != std::errc() || ptr != end || value < min || value > max) {
    std::string shown = text->size() > 40 ? text->substr(0, 40) + "..." : *text;
    return absl::InvalidArgumentError(
        str_cat(name, "=\"", shown, "\" is not an integer in [", min, ", ", max, "]"));
  }
  return value;
}

int debug_level() {
  absl::StatusOr<int> v = env_int("KILN_DEBUG", 0, 0, 1 << 20);
  return v.ok() ? *v : 1;
}

}  // namespace kiln
