#include "support/json.h"

#include <cmath>

#include "ir/strings.h"

namespace kiln {
namespace {

constexpr int kMaxDepth = 64;

std::string_view TypeName(const Json& v) {
  if (v.is_number_integer() || v.is_number_float()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

}  // namespace

absl::StatusOr<Json> parse_json(std::string_view text, std::string_view what) {
  bool too_deep = false;
  Json::parser_callback_t limit_depth = [&](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxDepth) too_deep = true;
    return !too_deep;
  };
  try {
    Json value = Json::parse(text.begin(), text.end(), limit_depth);
    if (too_deep) {
      return absl::InvalidArgumentError(
          str_cat(what, ": JSON nested deeper than ", kMaxDepth, " levels"));
    }
    return value;
  } catch (const Json::exception& e) {
    // nlohmann's messages read "[json.exception.parse_error.101] parse error at
    // line 1, column 5: ..."; the part after the bracketed id is the useful one.
    std::string_view message = e.what();
    if (size_t close = message.find("] "); close != std::string_view::npos) {
      message.remove_prefix(close + 2);
    }
    return absl::InvalidArgumentError(str_cat(what, ": invalid JSON: ", message));
  }
}

std::string dump_json(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool JsonFields::has(std::string_view key) const {
  return object_.is_object() && object_.find(key) != object_.end();
}

absl::StatusOr<const Json*> JsonFields::Field(std::string_view key) const {
  if (!object_.is_object()) {
    return absl::InvalidArgumentError(
        str_cat(where_, ": expected a JSON object, got ", TypeName(object_)));
  }
  auto it = object_.find(key);
  if (it == object_.end()) {
    return absl::InvalidArgumentError(str_cat(where_, ": missing field \"", key, "\""));
  }
  return &*it;
}

absl::Status JsonFields::Wrong(std::string_view key, std::string_view expected,
                               const Json& got) const {
  std::string shown = dump_json(got);
  if (shown.size() > 40) shown = shown.substr(0, 40) + "...";
  return absl::InvalidArgumentError(str_cat(where_, ": field \"", key, "\" must be ", expected,
                                            ", got ", TypeName(got), " ", shown));
}

absl::StatusOr<double> JsonFields::number(std::string_view key) const {
  auto v = Field(key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_number()) return Wrong(key, "a number", **v);
  double d = (*v)->get<double>();
  if (!std::isfinite(d)) return Wrong(key, "a finite number", **v);
  return d;
}

absl::StatusOr<int64_t> JsonFields::integer(std::string_view key, int64_t min, int64_t max) const {
  auto v = Field(key);
  if (!v.ok()) return v.status();
  return integer_element(key, **v, SIZE_MAX, min, max);
}

absl::StatusOr<int64_t> JsonFields::integer_element(std::string_view key, const Json& element,
                                                    size_t i, int64_t min, int64_t max) const {
  std::string name = i == SIZE_MAX ? std::string(key) : str_cat(key, "[", i, "]");
  std::string range = str_cat("an integer in [", min, ", ", max, "]");
  if (element.is_number_unsigned()) {
    uint64_t u = element.get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return Wrong(name, range, element);
    return static_cast<int64_t>(u);
  }
  if (element.is_number_integer()) {
    int64_t n = element.get<int64_t>();
    if (n < min || n > max) return Wrong(name, range, element);
    return n;
  }
  if (element.is_number_float()) {
    // Written by a tool that stores integers as doubles (2.0): accept exact
    // values in range only; the range check comes before any conversion.
    // INT64_MAX rounds up to 2^63 as a double, which no int64_t holds.
    double d = element.get<double>(), hi = static_cast<double>(max);
    bool in_range = d >= static_cast<double>(min) && (max == INT64_MAX ? d < hi : d <= hi);
    if (!in_range || d != std::floor(d)) {
      return Wrong(name, range, element);
    }
    return static_cast<int64_t>(d);
  }
  return Wrong(name, range, element);
}

absl::StatusOr<std::string> JsonFields::string(std::string_view key) const {
  auto v = Field(key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_string()) return Wrong(key, "a string", **v);
  return (*v)->get<std::string>();
}

absl::StatusOr<bool> JsonFields::boolean(std::string_view key) const {
  auto v = Field(key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_boolean()) return Wrong(key, "a boolean", **v);
  return (*v)->get<bool>();
}

absl::StatusOr<const Json*> JsonFields::array(std::string_view key) const {
  auto v = Field(key);
  if (!v.ok()) return v.status();
  if (!(*v)->is_array()) return Wrong(key, "an array", **v);
  return *v;
}

}  // namespace kiln
