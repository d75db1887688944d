// Element types and static shapes of IR values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::ir {

/// Element type of a value.
enum class DType : uint8_t { kF32, kI32, kU8 };

/// A shape; the batch dimension is part of it, either static or kBatch.
using Shape = std::vector<int64_t>;

/// The batch dimension of a batch-polymorphic graph, printed "?": its extent
/// is each run's row count, at most the graph's capacity (Graph::capacity).
/// A shape has at most one.
inline constexpr int64_t kBatch = -1;

/// The axis of `shape` that is kBatch, or -1.
int batch_axis(const Shape& shape);

/// `shape` with its kBatch dimension (if any) set to `rows`.
Shape with_rows(Shape shape, int64_t rows);

/// Short textual name of a dtype ("f32", "i32", "u8").
std::string_view dtype_name(DType dtype);

/// Parses a dtype name; returns false when `name` is not one.
bool parse_dtype(std::string_view name, DType* dtype);

/// Size of one element in bytes.
int dtype_size(DType dtype);

/// Number of elements of a shape (1 for a scalar). The shape must be valid
/// (checked_byte_size accepted it), so without kBatch: callers resolve it
/// with with_rows first.
int64_t num_elements(const Shape& shape);

/// The most bytes one value may take (1 TiB): beyond any host's memory, so a
/// larger declared size is an error before anything is allocated.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 40;

/// Bytes of a value of `dtype` and `shape`, or an error when a dimension is
/// negative (kBatch included: resolve it first) or the size exceeds
/// kMaxTensorBytes (computed without overflow).
absl::StatusOr<int64_t> checked_byte_size(DType dtype, const Shape& shape);

/// The type of a value: element type plus shape.
struct Type {
  DType dtype = DType::kF32;
  Shape shape;

  bool operator==(const Type&) const = default;
};

/// `type` with its kBatch dimension (if any) set to `rows`.
Type with_rows(Type type, int64_t rows);

/// A shape seen as [outer, len, inner] around one axis: how reductions and
/// argmax walk their operand. The shape must be resolved (no kBatch).
struct AxisSplit {
  int64_t outer = 1, len = 1, inner = 1;
};
AxisSplit split_axis(const Shape& shape, int64_t axis);

/// Formats a shape as "[32,784]", or "[?,784]" with the batch dimension.
std::string shape_string(const Shape& shape);

/// Formats a type as "f32[32,784]".
std::string type_string(const Type& type);

}  // namespace kiln::ir
