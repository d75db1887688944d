// A small JSON value with a strict parser and a compact writer, for the
// safetensors header and saved model configs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln {

/// A JSON value. Numbers are doubles (exact for integers below 2^53).
class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json, std::less<>>;

  Json() : value_(nullptr) {}
  Json(std::nullptr_t) : value_(nullptr) {}
  Json(bool b) : value_(b) {}
  Json(double d) : value_(d) {}
  Json(int64_t i) : value_(static_cast<double>(i)) {}
  Json(int i) : value_(static_cast<double>(i)) {}
  Json(const char* s) : value_(std::string(s)) {}
  Json(std::string s) : value_(std::move(s)) {}
  Json(Array a) : value_(std::move(a)) {}
  Json(Object o) : value_(std::move(o)) {}

  bool is_null() const { return std::holds_alternative<std::nullptr_t>(value_); }
  bool is_number() const { return std::holds_alternative<double>(value_); }
  bool is_string() const { return std::holds_alternative<std::string>(value_); }
  bool is_array() const { return std::holds_alternative<Array>(value_); }
  bool is_object() const { return std::holds_alternative<Object>(value_); }
  bool is_bool() const { return std::holds_alternative<bool>(value_); }

  /// Typed access; the caller checks the kind first.
  double number() const { return std::get<double>(value_); }
  bool boolean() const { return std::get<bool>(value_); }
  const std::string& string() const { return std::get<std::string>(value_); }
  const Array& array() const { return std::get<Array>(value_); }
  const Object& object() const { return std::get<Object>(value_); }
  /// The member `key` of an object, or nullptr.
  const Json* find(std::string_view key) const;

  /// Compact JSON text (object keys sorted).
  std::string dump() const;

 private:
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> value_;
};

/// Parses JSON text; errors give the byte offset.
absl::StatusOr<Json> parse_json(std::string_view text);

}  // namespace kiln
