// The runtime's view of tensors: conversions between the public element types
// and the IR's, and element conversion shared by Tensor::astype and the executors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ir/types.h"
#include "kiln/tensor.h"

namespace kiln {

// The public DType mirrors the IR's enumerator for enumerator, so conversion is
// a cast; the IR keeps its own because ir/ depends on nothing else of Kiln.
static_assert(static_cast<int>(DType::kF32) == static_cast<int>(ir::DType::kF32) &&
              static_cast<int>(DType::kI32) == static_cast<int>(ir::DType::kI32) &&
              static_cast<int>(DType::kU8) == static_cast<int>(ir::DType::kU8));

/// The IR element type of a tensor dtype.
constexpr ir::DType to_ir(DType dtype) { return static_cast<ir::DType>(dtype); }
/// The tensor dtype of an IR element type.
constexpr DType from_ir(ir::DType dtype) { return static_cast<DType>(dtype); }

/// A zero-filled tensor of an IR value's type.
inline Tensor make_tensor(const ir::Type& type) { return Tensor(from_ir(type.dtype), type.shape); }
/// Whether `t` has exactly the IR type `type`.
inline bool has_type(const Tensor& t, const ir::Type& type) {
  return to_ir(t.dtype()) == type.dtype && t.shape() == type.shape;
}
/// Whether `t` has the IR type `type` with its batch dimension taken as
/// `rows`; compared in place, since executors check every bound tensor and
/// output every step.
inline bool has_type(const Tensor& t, const ir::Type& type, int64_t rows) {
  const ir::Shape& want = type.shape;
  if (to_ir(t.dtype()) != type.dtype || t.shape().size() != want.size()) return false;
  for (size_t d = 0; d < want.size(); ++d) {
    if (t.shape()[d] != (want[d] == ir::kBatch ? rows : want[d])) return false;
  }
  return true;
}
/// The IR type of a tensor.
inline ir::Type type_of(const Tensor& t) { return {to_ir(t.dtype()), t.shape()}; }

/// Converts `n` elements from `from` to `to`, saturating float-to-integer
/// conversions (NaN becomes 0) where C++ casts would be undefined.
void convert_elements(const std::byte* src, DType from, std::byte* dst, DType to, int64_t n);

/// Bytes per row of `t` along its first axis (0 for no rows).
inline size_t row_bytes(const Tensor& t) { return t.dim(0) ? t.nbytes() / t.dim(0) : 0; }

/// Copies rows `rows` of `src` (along its first axis), in that order, one
/// after another to `dst`.
void gather_rows(const Tensor& src, std::span<const int64_t> rows, std::byte* dst);

}  // namespace kiln
