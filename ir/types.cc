#include "ir/types.h"

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

int dtype_size(DType dtype) { return dtype == DType::kU8 ? 1 : 4; }

int64_t num_elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
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
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string type_string(const Type& type) {
  return std::string(dtype_name(type.dtype)) + shape_string(type.shape);
}

}  // namespace kiln::ir
