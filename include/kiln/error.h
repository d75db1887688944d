// The exception thrown at Kiln's public API.
#pragma once

#include <stdexcept>
#include <string>

namespace kiln {

/// What kind of failure an Error is. The values are the canonical status codes
/// (those of absl::StatusCode and gRPC), so they can be logged or compared as numbers.
enum class ErrorCode {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

/// Thrown by every function of the public API; what() says what went wrong and
/// where (the file, layer, argument or op).
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  /// The kind of failure (e.g. kInvalidArgument for a shape mismatch).
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace kiln
