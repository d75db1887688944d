#include "runtime/tensor.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <ostream>
#include <type_traits>

#include "ir/strings.h"
#include "support/status.h"

namespace kiln {
namespace {

// Tensors of several huge pages (data sets) ask for transparent huge pages
// (Linux's default "madvise" mode grants them only when asked): reading
// random rows of a data set then misses the TLB once per 2 MiB rather than
// once per 4 KiB, and zeroing it faults once per 2 MiB.
constexpr size_t kHugePage = size_t{2} << 20;

// A failed allocation is a kiln::Error naming the size and the tensor, never a
// bare std::bad_alloc escaping the public API.
std::byte* Allocate(size_t bytes, DType dtype, const Shape& shape) {
  const bool huge = bytes >= 4 * kHugePage;
  const size_t align = huge ? kHugePage : 64;
  size_t rounded = (std::max<size_t>(bytes, 1) + align - 1) / align * align;
  auto* p = static_cast<std::byte*>(std::aligned_alloc(align, rounded));
  if (p && huge) madvise(p, rounded, MADV_HUGEPAGE);  // advice: failing changes nothing
  if (!p) {
    throw to_error(absl::ResourceExhaustedError(str_cat("out of memory: cannot allocate ", bytes,
                                                        " bytes for a tensor of type ",
                                                        ir::type_string({to_ir(dtype), shape}))));
  }
  std::memset(p, 0, rounded);
  return p;
}

// Converts to an integer type, saturating (and NaN -> 0) where C++ would be undefined.
template <typename To, typename From>
To Saturate(From v) {
  if constexpr (std::is_floating_point_v<From>) {
    if (std::isnan(v)) return 0;
    if (v <= static_cast<From>(std::numeric_limits<To>::min()))
      return std::numeric_limits<To>::min();
    if (v >= static_cast<From>(std::numeric_limits<To>::max()))
      return std::numeric_limits<To>::max();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(
        std::clamp<int64_t>(v, std::numeric_limits<To>::min(), std::numeric_limits<To>::max()));
  }
}

template <typename T>
void Store(DType dtype, std::byte* base, int64_t i, T v) {
  switch (dtype) {
    case DType::kF32:
      reinterpret_cast<float*>(base)[i] = static_cast<float>(v);
      break;
    case DType::kI32:
      reinterpret_cast<int32_t*>(base)[i] = Saturate<int32_t>(v);
      break;
    case DType::kU8:
      reinterpret_cast<uint8_t*>(base)[i] = Saturate<uint8_t>(v);
      break;
  }
}

}  // namespace

void Tensor::Free::operator()(std::byte* p) const { std::free(p); }

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  absl::StatusOr<int64_t> bytes = ir::checked_byte_size(to_ir(dtype_), shape_);
  if (!bytes.ok()) {
    throw to_error(absl::Status(bytes.status().code(),
                                str_cat("cannot create a tensor: ", bytes.status().message())));
  }
  size_ = ir::num_elements(shape_);
  storage_.reset(Allocate(static_cast<size_t>(*bytes), dtype_, shape_));
}

Tensor::Tensor(const Tensor& other)
    : dtype_(other.dtype_), shape_(other.shape_), size_(other.size_) {
  if (other.storage_) {
    storage_.reset(Allocate(nbytes(), dtype_, shape_));
    std::memcpy(storage_.get(), other.storage_.get(), nbytes());
  }
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) *this = Tensor(other);
  return *this;
}

template <typename T>
Tensor Tensor::from(Shape shape, std::span<const T> values) {
  Tensor t(dtype_of<T>(), std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.size()) {
    throw to_error(absl::InvalidArgumentError(str_cat(
        "Tensor::from: ", values.size(), " values for shape ", ir::shape_string(t.shape()))));
  }
  if (t.nbytes() > 0) std::memcpy(t.raw(), values.data(), t.nbytes());
  return t;
}

template Tensor Tensor::from<float>(Shape, std::span<const float>);
template Tensor Tensor::from<int32_t>(Shape, std::span<const int32_t>);
template Tensor Tensor::from<uint8_t>(Shape, std::span<const uint8_t>);

template <typename T>
T* Tensor::data() {
  if (dtype_of<T>() != dtype_) {
    throw to_error(absl::InvalidArgumentError(
        str_cat("tensor of type ", type_string(), " accessed as ", dtype_name(dtype_of<T>()))));
  }
  return reinterpret_cast<T*>(storage_.get());
}

template <typename T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}

template float* Tensor::data<float>();
template int32_t* Tensor::data<int32_t>();
template uint8_t* Tensor::data<uint8_t>();
template const float* Tensor::data<float>() const;
template const int32_t* Tensor::data<int32_t>() const;
template const uint8_t* Tensor::data<uint8_t>() const;

float Tensor::as_float(int64_t i) const {
  switch (dtype_) {
    case DType::kF32:
      return reinterpret_cast<const float*>(raw())[i];
    case DType::kI32:
      return static_cast<float>(reinterpret_cast<const int32_t*>(raw())[i]);
    case DType::kU8:
      return static_cast<float>(reinterpret_cast<const uint8_t*>(raw())[i]);
  }
  return 0;
}

Tensor Tensor::reshape(Shape shape) const {
  if (!ir::checked_byte_size(to_ir(dtype_), shape).ok() || ir::num_elements(shape) != size_) {
    throw to_error(absl::InvalidArgumentError(
        str_cat("cannot reshape ", type_string(), " to ", ir::shape_string(shape))));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  if (shape_.empty() || begin < 0 || end < begin || end > shape_[0]) {
    throw to_error(
        absl::OutOfRangeError(str_cat("slice [", begin, ", ", end, ") of tensor ", type_string())));
  }
  Shape s = shape_;
  s[0] = end - begin;
  Tensor t(dtype_, s);
  size_t row = shape_[0] ? nbytes() / shape_[0] : 0;
  if (end > begin && row > 0) std::memcpy(t.raw(), raw() + begin * row, (end - begin) * row);
  return t;
}

Tensor Tensor::operator[](int64_t i) const {
  Tensor row = slice(i, i + 1);
  Shape s(shape_.begin() + 1, shape_.end());
  return row.reshape(s);
}

void gather_rows(const Tensor& src, std::span<const int64_t> rows, std::byte* dst) {
  const size_t bytes = row_bytes(src);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(dst + i * bytes, src.raw() + rows[i] * bytes, bytes);
  }
}

void convert_elements(const std::byte* src, DType from, std::byte* dst, DType to, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    switch (from) {
      case DType::kF32:
        Store(to, dst, i, reinterpret_cast<const float*>(src)[i]);
        break;
      case DType::kI32:
        Store(to, dst, i, reinterpret_cast<const int32_t*>(src)[i]);
        break;
      case DType::kU8:
        Store(to, dst, i, reinterpret_cast<const uint8_t*>(src)[i]);
        break;
    }
  }
}

Tensor Tensor::astype(DType dtype) const {
  Tensor t(dtype, shape_);
  convert_elements(raw(), dtype_, t.raw(), dtype, size_);
  return t;
}

int64_t Tensor::argmax() const {
  int64_t best = 0;
  for (int64_t i = 1; i < size_; ++i) {
    if (as_float(i) > as_float(best)) best = i;
  }
  return best;
}

std::string Tensor::type_string() const { return ir::type_string(type_of(*this)); }

int dtype_size(DType dtype) { return ir::dtype_size(to_ir(dtype)); }

std::string dtype_name(DType dtype) { return std::string(ir::dtype_name(to_ir(dtype))); }

Tensor operator/(const Tensor& x, float divisor) {
  Tensor t(DType::kF32, x.shape());
  float* out = t.data<float>();
  for (int64_t i = 0; i < x.size(); ++i) out[i] = x.as_float(i) / divisor;
  return t;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  os << "[";
  int64_t n = std::min<int64_t>(t.size(), 1000);
  for (int64_t i = 0; i < n; ++i) {
    if (i) os << (t.rank() > 1 && i % t.shape().back() == 0 ? ",\n " : ", ");
    os << t.as_float(i);
  }
  if (n < t.size()) os << ", ...";
  return os << "] " << t.type_string();
}

}  // namespace kiln
