#include "ir/types.h"

#include <limits>
#include <utility>

#include "ir/strings.h"

namespace kiln::ir {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kI32:
      return "i32";
    case DType::kU8:
      return "u8";
  }
  return "?";
}

bool parse_dtype(std::string_view name, DType* dtype) {
  for (DType d : {DType::kF32, DType::kI32, DType::kU8}) {
    if (dtype_name(d) == name) {
      *dtype = d;
      return true;
    }
  }
  return false;
}

int batch_axis(const Shape& shape) {
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == kBatch) return static_cast<int>(i);
  }
  return -1;
}

Shape with_rows(Shape shape, int64_t rows) {
  for (int64_t& d : shape) {
    if (d == kBatch) d = rows;
  }
  return shape;
}

Type with_rows(Type type, int64_t rows) {
  type.shape = with_rows(std::move(type.shape), rows);
  return type;
}

int dtype_size(DType dtype) { return dtype == DType::kU8 ? 1 : 4; }

int64_t num_elements(const Shape& shape) {
  for (int64_t d : shape) {
    if (d == 0) return 0;
  }
  // Saturates instead of overflowing, so even an unchecked shape is no UB.
  int64_t n = 1;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
  }
  return n;
}

absl::StatusOr<int64_t> checked_byte_size(DType dtype, const Shape& shape) {
  int64_t bytes = dtype_size(dtype);
  bool too_large = false, empty = false;
  for (int64_t d : shape) {
    if (d < 0) {
      // Numbers, not "?": a tensor's shape has no batch dimension.
      std::string dims;
      for (size_t i = 0; i < shape.size(); ++i) str_append(&dims, i ? "," : "", shape[i]);
      return absl::InvalidArgumentError(str_cat("shape [", dims, "] has a negative dimension"));
    }
    if (d == 0) empty = true;
    // Dividing first keeps the product below kMaxTensorBytes, so it never overflows.
    if (!too_large && d > 0 && bytes > kMaxTensorBytes / d) too_large = true;
    if (!too_large) bytes *= d;
  }
  if (empty) return 0;
  if (too_large) {
    return absl::ResourceExhaustedError(str_cat("shape ", shape_string(shape), " of ",
                                                dtype_name(dtype), " exceeds the limit of ",
                                                kMaxTensorBytes >> 30, " GiB per tensor"));
  }
  return bytes;
}

AxisSplit split_axis(const Shape& shape, int64_t axis) {
  AxisSplit d;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    (i < axis ? d.outer : i == axis ? d.len : d.inner) *= shape[i];
  }
  return d;
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += shape[i] == kBatch ? std::string("?") : std::to_string(shape[i]);
  }
  return s + "]";
}

std::string type_string(const Type& type) {
  return std::string(dtype_name(type.dtype)) + shape_string(type.shape);
}

}  // namespace kiln::ir
