// Dense host tensors: the data users feed to a model and get back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace kiln {

/// Element type of a tensor.
enum class DType : uint8_t { kF32, kI32, kU8 };

/// The sizes of a tensor's axes, outermost first; the batch axis is axis 0.
using Shape = std::vector<int64_t>;

/// Size of one element in bytes (4 for f32).
int dtype_size(DType dtype);

/// The dtype's short name ("f32", "i32", "u8").
std::string dtype_name(DType dtype);

/// Maps a C++ element type to its DType.
template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::kF32;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::kI32;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::kU8;
}

/// A dense, row-major tensor that owns 64-byte aligned storage. Copies are deep.
class Tensor {
 public:
  /// An empty f32 tensor of shape [0].
  Tensor() = default;
  /// A zero-filled tensor.
  Tensor(DType dtype, Shape shape);
  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  /// A tensor holding `values` with `shape` (sizes must agree).
  template <typename T>
  static Tensor from(Shape shape, std::span<const T> values);
  template <typename T>
  static Tensor from(Shape shape, std::initializer_list<T> values) {
    return from<T>(std::move(shape), std::span<const T>(values.begin(), values.size()));
  }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  /// Size of axis `i`.
  int64_t dim(size_t i) const { return shape_.at(i); }
  int rank() const { return static_cast<int>(shape_.size()); }
  /// Number of elements.
  int64_t size() const { return size_; }
  size_t nbytes() const { return static_cast<size_t>(size_) * dtype_size(dtype_); }

  /// Typed element access; throws kiln::Error when T does not match dtype().
  template <typename T>
  T* data();
  template <typename T>
  const T* data() const;
  std::byte* raw() { return storage_.get(); }
  const std::byte* raw() const { return storage_.get(); }

  /// Element `i` of the flattened tensor as float, whatever the dtype.
  float as_float(int64_t i) const;

  /// The same elements with another shape (sizes must agree).
  Tensor reshape(Shape shape) const;
  /// Rows [begin, end) along axis 0 (a copy).
  Tensor slice(int64_t begin, int64_t end) const;
  /// Row `i` along axis 0, with that axis dropped (a copy), like numpy's x[i].
  Tensor operator[](int64_t i) const;
  /// Converts elements to `dtype`.
  Tensor astype(DType dtype) const;
  /// Index of the largest element of the flattened tensor.
  int64_t argmax() const;
  /// "f32[60000,28,28]".
  std::string type_string() const;

 private:
  struct Free {
    void operator()(std::byte* p) const;
  };
  DType dtype_ = DType::kF32;
  Shape shape_{0};
  int64_t size_ = 0;
  std::unique_ptr<std::byte[], Free> storage_;
};

/// Elementwise division by a scalar; the result is f32 (as numpy's x / 255.0).
Tensor operator/(const Tensor& x, float divisor);

/// Prints a tensor numpy-style (elided beyond 1000 elements).
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace kiln
