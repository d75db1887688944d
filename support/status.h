// The bridge between absl::Status, which Kiln's layers return internally, and
// kiln::Error, which the public API throws.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kiln/error.h"

namespace kiln {

/// The Error carrying `status`'s code and message.
inline Error to_error(const absl::Status& status) {
  return Error(static_cast<ErrorCode>(status.code()), std::string(status.message()));
}

/// The Status carrying `error`'s code and message.
inline absl::Status to_status(const Error& error) {
  return absl::Status(static_cast<absl::StatusCode>(error.code()), error.what());
}

/// Throws kiln::Error if `status` is not OK.
inline void throw_if_error(const absl::Status& status) {
  if (!status.ok()) throw to_error(status);
}

/// Returns the value or throws kiln::Error.
template <typename T>
T value_or_throw(absl::StatusOr<T> value) {
  throw_if_error(value.status());
  return *std::move(value);
}

}  // namespace kiln
