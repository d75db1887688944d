// The exception thrown at Kiln's public API; it carries an absl::Status message.
#pragma once

#include <stdexcept>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln {

/// Thrown by the Keras-style API; what() is the same message as the Status.
class Error : public std::runtime_error {
 public:
  explicit Error(const absl::Status& status)
      : std::runtime_error(std::string(status.message())), code_(status.code()) {}
  absl::StatusCode code() const { return code_; }

 private:
  absl::StatusCode code_;
};

/// Throws kiln::Error if `status` is not OK.
inline void throw_if_error(const absl::Status& status) {
  if (!status.ok()) throw Error(status);
}

/// Returns the value or throws kiln::Error.
template <typename T>
T value_or_throw(absl::StatusOr<T> value) {
  throw_if_error(value.status());
  return *std::move(value);
}

}  // namespace kiln
