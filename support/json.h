// JSON for model configs and safetensors headers: Debian's nlohmann-json, with
// readers that check a field's presence, type and range and name it in the
// error, because both kinds of document come from files a user may hand us.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kiln {

/// A JSON value; objects keep their keys sorted, so dumps are canonical.
using Json = nlohmann::json;

/// Parses `text`; the error names `what` (e.g. "safetensors header of f.kiln")
/// and the byte where parsing failed. Nesting deeper than 64 levels is rejected.
absl::StatusOr<Json> parse_json(std::string_view text, std::string_view what);

/// Compact text of `value` (no spaces), invalid UTF-8 replaced rather than thrown.
std::string dump_json(const Json& value);

/// Reads fields of one JSON object; each error names `where` and the field.
class JsonFields {
 public:
  /// `where` names the object in errors ("layer dense_1 of model.kiln").
  JsonFields(const Json& object, std::string where) : object_(object), where_(std::move(where)) {}

  /// Whether the object has `key`.
  bool has(std::string_view key) const;
  /// A finite number.
  absl::StatusOr<double> number(std::string_view key) const;
  /// A number with an integer value in [min, max].
  absl::StatusOr<int64_t> integer(std::string_view key, int64_t min, int64_t max) const;
  absl::StatusOr<std::string> string(std::string_view key) const;
  absl::StatusOr<bool> boolean(std::string_view key) const;
  /// An array (its elements checked by the caller with element()).
  absl::StatusOr<const Json*> array(std::string_view key) const;
  /// Element `i` of array field `key` as an integer in [min, max].
  absl::StatusOr<int64_t> integer_element(std::string_view key, const Json& element, size_t i,
                                          int64_t min, int64_t max) const;

 private:
  absl::StatusOr<const Json*> Field(std::string_view key) const;
  absl::Status Wrong(std::string_view key, std::string_view expected, const Json& got) const;

  const Json& object_;
  std::string where_;
};

}  // namespace kiln
