// The reference interpreter: one kernel per op of ir/ops.def, run in order.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ir/strings.h"
#include "ir/verifier.h"
#include "runtime/denormals.h"
#include "runtime/distributed.h"
#include "runtime/executor.h"
#include "runtime/exp.h"
#include "runtime/numerics.h"
#include "runtime/rng.h"

namespace kiln {
namespace {

using ir::DType;
using ir::Node;
using ir::OpKind;

// Everything a kernel sees of one node.
struct Args {
  const Node& node;
  std::vector<const ir::Type*> in_types;
  std::vector<const std::byte*> in;
  std::byte* out;
  uint64_t step_seed;
  int64_t rows;  // the run's row count (0 in a static graph)

  const float* f(size_t i) const { return reinterpret_cast<const float*>(in[i]); }
  float* fout() const { return reinterpret_cast<float*>(out); }
  int64_t out_size() const { return ir::num_elements(node.type.shape); }
  const ir::Shape& in_shape(size_t i) const { return in_types[i]->shape; }
};

using Kernel = absl::Status (*)(const Args&);

template <typename F>
absl::Status Unary(const Args& a, F f) {
  const float* x = a.f(0);
  float* y = a.fout();
  int64_t n = a.out_size();
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
  return absl::OkStatus();
}

template <typename F>
absl::Status Binary(const Args& a, F f) {
  const float* x = a.f(0);
  const float* z = a.f(1);
  float* y = a.fout();
  int64_t n = a.out_size();
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i], z[i]);
  return absl::OkStatus();
}

// Applies `f` to the operands read as their common dtype.
template <typename F>
absl::Status Compare(const Args& a, F f) {
  float* y = a.fout();
  int64_t n = a.out_size();
  auto run = [&](auto* x, auto* z) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(x[i], z[i]) ? 1.0f : 0.0f;
  };
  switch (a.in_types[0]->dtype) {
    case DType::kF32:
      run(a.f(0), a.f(1));
      break;
    case DType::kI32:
      run(reinterpret_cast<const int32_t*>(a.in[0]), reinterpret_cast<const int32_t*>(a.in[1]));
      break;
    case DType::kU8:
      run(reinterpret_cast<const uint8_t*>(a.in[0]), reinterpret_cast<const uint8_t*>(a.in[1]));
      break;
  }
  return absl::OkStatus();
}

absl::Status NoOp(const Args&) { return absl::OkStatus(); }

absl::Status KernelInput(const Args& a) { return NoOp(a); }
absl::Status KernelVariable(const Args& a) { return NoOp(a); }
absl::Status KernelOutput(const Args& a) { return NoOp(a); }
// Stages the new value; run() applies every assign once the step is done, so
// all reads in the step (and swaps such as a <- b, b <- a) see the old values.
absl::Status KernelAssign(const Args& a) {
  size_t bytes = ir::num_elements(a.node.type.shape) * ir::dtype_size(a.node.type.dtype);
  if (bytes > 0) std::memcpy(a.out, a.in[1], bytes);
  return absl::OkStatus();
}
absl::Status KernelReshape(const Args& a) { return NoOp(a); }

absl::Status KernelConstant(const Args& a) {
  std::fill_n(a.fout(), a.out_size(), static_cast<float>(ir::attr_float(a.node.attrs, "value")));
  return absl::OkStatus();
}

absl::Status KernelRandomUniform(const Args& a) {
  uint64_t key =
      mix64(a.step_seed ^ mix64(static_cast<uint64_t>(ir::attr_int(a.node.attrs, "seed"))));
  float* y = a.fout();
  for (int64_t i = 0; i < a.out_size(); ++i) y[i] = uniform_at(key, static_cast<uint64_t>(i));
  return absl::OkStatus();
}

absl::Status KernelRows(const Args& a) {
  a.fout()[0] = static_cast<float>(a.rows);
  return absl::OkStatus();
}

absl::Status KernelNeg(const Args& a) {
  return Unary(a, [](float x) { return -x; });
}
absl::Status KernelExp(const Args& a) {
  return Unary(a, [](float x) { return kiln_exp(x); });
}
absl::Status KernelLog(const Args& a) {
  return Unary(a, [](float x) { return std::log(x); });
}
absl::Status KernelSqrt(const Args& a) {
  return Unary(a, [](float x) { return std::sqrt(x); });
}
absl::Status KernelTanh(const Args& a) {
  return Unary(a, [](float x) { return std::tanh(x); });
}
absl::Status KernelSoftplus(const Args& a) {
  return Unary(a, [](float x) { return std::log1p(kiln_exp(-std::fabs(x))) + (x > 0 ? x : 0.0f); });
}
absl::Status KernelAdd(const Args& a) {
  return Binary(a, [](float x, float y) { return x + y; });
}
absl::Status KernelSub(const Args& a) {
  return Binary(a, [](float x, float y) { return x - y; });
}
absl::Status KernelMul(const Args& a) {
  return Binary(a, [](float x, float y) { return x * y; });
}
absl::Status KernelDiv(const Args& a) {
  return Binary(a, [](float x, float y) { return x / y; });
}
// NaN-propagating, unlike std::max, so a NaN is never silently dropped.
absl::Status KernelMax(const Args& a) {
  return Binary(a, [](float x, float y) { return x > y || std::isnan(x) ? x : y; });
}
absl::Status KernelMin(const Args& a) {
  return Binary(a, [](float x, float y) { return x < y || std::isnan(x) ? x : y; });
}
absl::Status KernelGreater(const Args& a) {
  return Compare(a, [](auto x, auto y) { return x > y; });
}
absl::Status KernelEqual(const Args& a) {
  return Compare(a, [](auto x, auto y) { return x == y; });
}

absl::Status KernelCast(const Args& a) {
  convert_elements(a.in[0], from_ir(a.in_types[0]->dtype), a.out, from_ir(a.node.type.dtype),
                   a.out_size());
  return absl::OkStatus();
}

absl::Status KernelBroadcast(const Args& a) {
  const ir::Shape& out_shape = a.node.type.shape;
  const ir::Shape& in_shape = a.in_shape(0);
  const auto& dims = ir::attr_ints(a.node.attrs, "dims");
  size_t rank = out_shape.size();
  // Stride of each result axis in the operand (0 for the new axes).
  std::vector<int64_t> stride(rank, 0);
  int64_t s = 1;
  for (size_t i = in_shape.size(); i-- > 0;) {
    stride[dims[i]] = s;
    s *= in_shape[i];
  }
  int elem = ir::dtype_size(a.node.type.dtype);
  std::vector<int64_t> idx(rank, 0);
  int64_t n = a.out_size();
  int64_t src = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(a.out + i * elem, a.in[0] + src * elem, elem);
    for (size_t d = rank; d-- > 0;) {
      src += stride[d];
      if (++idx[d] < out_shape[d]) break;
      src -= stride[d] * out_shape[d];
      idx[d] = 0;
    }
  }
  return absl::OkStatus();
}

absl::Status KernelTranspose(const Args& a) {
  int64_t rows = a.in_shape(0)[0], cols = a.in_shape(0)[1];
  int elem = ir::dtype_size(a.node.type.dtype);
  constexpr int64_t kBlock = 32;
  for (int64_t i0 = 0; i0 < rows; i0 += kBlock) {
    for (int64_t j0 = 0; j0 < cols; j0 += kBlock) {
      for (int64_t i = i0; i < std::min(rows, i0 + kBlock); ++i) {
        for (int64_t j = j0; j < std::min(cols, j0 + kBlock); ++j) {
          std::memcpy(a.out + (j * rows + i) * elem, a.in[0] + (i * cols + j) * elem, elem);
        }
      }
    }
  }
  return absl::OkStatus();
}

// i-k-j order keeps the inner loop contiguous so the compiler vectorises it.
// On FMA hosts every product is accumulated with a fused multiply-add, in the
// same k order as the JIT's register tiles, so both executors agree exactly.
template <bool kFused>
__attribute__((always_inline)) inline void MatMulLoops(const float* __restrict x,
                                                       const float* __restrict w,
                                                       float* __restrict y, int64_t m, int64_t k,
                                                       int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    float* __restrict yi = y + i * n;
    for (int64_t p = 0; p < k; ++p) {
      float xv = x[i * k + p];
      const float* __restrict wp = w + p * n;
      for (int64_t j = 0; j < n; ++j) {
        yi[j] = kFused ? __builtin_fmaf(xv, wp[j], yi[j]) : yi[j] + xv * wp[j];
      }
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void MatMulFma(const float* x, const float* w, float* y,
                                                   int64_t m, int64_t k, int64_t n) {
  MatMulLoops<true>(x, w, y, m, k, n);
}
#endif

void MatMulPlain(const float* x, const float* w, float* y, int64_t m, int64_t k, int64_t n) {
  MatMulLoops<false>(x, w, y, m, k, n);
}

// y = x[:, k0:k1] w[k0:k1, :], each element one fused chain from zero.
void MatMulRange(const float* x, const float* w, float* y, int64_t m, int64_t k, int64_t n,
                 int64_t k0, int64_t k1) {
  std::fill_n(y, m * n, 0.0f);
  if (k1 <= k0) return;  // an empty part of a contraction shorter than its parts
  // x's columns k0.. with x's row stride k: a view as an m x (k1 - k0) matrix
  // would need a stride, so the rows are gathered first (cheap next to the product).
  std::vector<float> part;
  const float* xs = x;
  if (k0 != 0 || k1 != k) {
    part.resize(static_cast<size_t>(m * (k1 - k0)));
    for (int64_t i = 0; i < m; ++i) std::copy(x + i * k + k0, x + i * k + k1, &part[i * (k1 - k0)]);
    xs = part.data();
  }
#if defined(__x86_64__)
  static const bool fma = __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
  if (fma) return MatMulFma(xs, w + k0 * n, y, m, k1 - k0, n);
#endif
  MatMulPlain(xs, w + k0 * n, y, m, k1 - k0, n);
}

absl::Status KernelMatMul(const Args& a) {
  int64_t m = a.in_shape(0)[0], k = a.in_shape(0)[1], n = a.in_shape(1)[1];
  if (a.node.split != ir::Split::kContraction) {
    MatMulRange(a.f(0), a.f(1), a.fout(), m, k, n, 0, k);
    return absl::OkStatus();
  }
  // The parts of the contraction, each summed on its own, then added in order.
  std::vector<float> part(static_cast<size_t>(m * n));
  for (int q = 0; q < ir::kContractionParts; ++q) {
    float* y = q == 0 ? a.fout() : part.data();
    MatMulRange(a.f(0), a.f(1), y, m, k, n, ir::contraction_part_begin(k, q),
                ir::contraction_part_begin(k, q + 1));
    if (q > 0) {
      for (int64_t i = 0; i < m * n; ++i) a.fout()[i] += part[static_cast<size_t>(i)];
    }
  }
  return absl::OkStatus();
}

template <typename Init, typename Step, typename Store>
void Reduce(const Args& a, Init init, Step step, Store store) {
  ir::AxisSplit d = ir::split_axis(a.in_shape(0), ir::attr_int(a.node.attrs, "axis"));
  const float* x = a.f(0);
  for (int64_t o = 0; o < d.outer; ++o) {
    for (int64_t i = 0; i < d.inner; ++i) {
      auto acc = init(x[o * d.len * d.inner + i]);
      for (int64_t l = 1; l < d.len; ++l) acc = step(acc, x[(o * d.len + l) * d.inner + i], l);
      store(o * d.inner + i, acc);
    }
  }
}

absl::Status KernelReduceSum(const Args& a) {
  float* y = a.fout();
  Reduce(
      a, [](float v) { return v; }, [](float acc, float v, int64_t) { return acc + v; },
      [&](int64_t i, float acc) { y[i] = acc; });
  return absl::OkStatus();
}

absl::Status KernelReduceMax(const Args& a) {
  float* y = a.fout();
  Reduce(
      a, [](float v) { return v; },
      [](float acc, float v, int64_t) { return v > acc || std::isnan(v) ? v : acc; },
      [&](int64_t i, float acc) { y[i] = acc; });
  return absl::OkStatus();
}

absl::Status KernelArgMax(const Args& a) {
  auto* y = reinterpret_cast<int32_t*>(a.out);
  struct Best {
    float value;
    int64_t index;
  };
  Reduce(
      a,
      [](float v) {
        return Best{v, 0};
      },
      [](Best acc, float v, int64_t l) {
        return v > acc.value ? Best{v, l} : acc;
      },
      [&](int64_t i, Best acc) { y[i] = static_cast<int32_t>(acc.index); });
  return absl::OkStatus();
}

absl::Status KernelOneHot(const Args& a) {
  const auto* labels = reinterpret_cast<const int32_t*>(a.in[0]);
  int64_t depth = ir::attr_int(a.node.attrs, "depth");
  int64_t n = ir::num_elements(a.in_shape(0));
  float* y = a.fout();
  std::fill_n(y, n * depth, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= depth) {
      return absl::OutOfRangeError(
          str_cat("label ", labels[i], " at index ", i, " is outside [0, ", depth, ")"));
    }
    y[i * depth + labels[i]] = 1.0f;
  }
  return absl::OkStatus();
}

// The row's maximum (NaN wins, as in reduce_max) and sum of exp(z - max),
// accumulated in order exactly as the JIT does.
struct RowSoftmax {
  float max;
  float sum;
};

RowSoftmax SoftmaxStats(const float* z, int64_t classes) {
  float m = z[0];
  for (int64_t c = 1; c < classes; ++c) m = z[c] > m || std::isnan(z[c]) ? z[c] : m;
  float sum = kiln_exp(z[0] - m);
  for (int64_t c = 1; c < classes; ++c) sum += kiln_exp(z[c] - m);
  return {m, sum};
}

absl::Status KernelSoftmaxCrossEntropy(const Args& a) {
  int64_t rows = a.in_shape(0)[0], classes = a.in_shape(0)[1];
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = a.f(0) + r * classes;
    const float* t = a.f(1) + r * classes;
    RowSoftmax st = SoftmaxStats(z, classes);
    float log_sum = std::log(st.sum);
    float acc = 0.0f;
    for (int64_t c = 0; c < classes; ++c) acc += t[c] * ((z[c] - st.max) - log_sum);
    a.fout()[r] = -acc;
  }
  return absl::OkStatus();
}

absl::Status KernelSoftmaxCrossEntropyGrad(const Args& a) {
  int64_t rows = a.in_shape(0)[0], classes = a.in_shape(0)[1];
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = a.f(0) + r * classes;
    const float* t = a.f(1) + r * classes;
    float* dz = a.fout() + r * classes;
    RowSoftmax st = SoftmaxStats(z, classes);
    float total = 0.0f;
    for (int64_t c = 0; c < classes; ++c) total += t[c];
    float g = a.f(2)[r];
    for (int64_t c = 0; c < classes; ++c) {
      dz[c] = g * (kiln_exp(z[c] - st.max) / st.sum * total - t[c]);
    }
  }
  return absl::OkStatus();
}

absl::Status KernelConcat(const Args& a) {
  float* y = a.fout();
  for (size_t i = 0; i < a.in.size(); ++i) y = std::copy_n(a.f(i), a.in_shape(i)[0], y);
  return absl::OkStatus();
}

absl::Status KernelSlice(const Args& a) {
  std::copy_n(a.f(0) + ir::attr_int(a.node.attrs, "begin"), a.out_size(), a.fout());
  return absl::OkStatus();
}

absl::Status KernelAllReduce(const Args& a) {
  std::copy_n(a.f(0), a.out_size(), a.fout());
  distributed::all_reduce(a.fout(), a.out_size(),
                          distributed::reduction_of(ir::attr_string(a.node.attrs, "reduction")));
  return absl::OkStatus();
}

constexpr Kernel kKernels[] = {
#define KILN_OP(Enum, ...) &Kernel##Enum,
#include "ir/ops.def"
#undef KILN_OP
};
static_assert(std::size(kKernels) == ir::kNumOps);

class Interpreter : public Executor {
 public:
  Interpreter(ir::Graph graph, bool check_numerics)
      : symbolic_(std::move(graph)), check_numerics_(check_numerics) {
    const size_t n = symbolic_.nodes.size();
    buffers_.resize(n);
    ptrs_.resize(n, nullptr);
    assigns_ = symbolic_.nodes_of(OpKind::kAssign);
    outputs_ = symbolic_.nodes_of(OpKind::kOutput);
  }

  absl::Status run(const Feeds& feeds, VariableStore& variables, uint64_t step_seed,
                   Outputs* outputs) override {
    absl::StatusOr<int64_t> rows = run_rows(symbolic_, feeds);
    if (!rows.ok()) return rows.status();
    Resolve(*rows);
    FlushDenormals flush;
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      if (auto s = Step(static_cast<ir::NodeId>(i), feeds, variables, step_seed); !s.ok()) {
        return absl::Status(
            s.code(), str_cat(ir::describe_node(graph_, static_cast<int>(i)), ": ", s.message()));
      }
      if (check_numerics_) {
        if (auto s = CheckNumerics(static_cast<ir::NodeId>(i)); !s.ok()) return s;
      }
    }
    for (ir::NodeId id : outputs_) {
      const Node& node = graph_.nodes[id];
      Tensor& out = (*outputs)[ir::attr_string(node.attrs, "name")];
      if (!has_type(out, node.type)) {
        out = make_tensor(node.type);
      }
      // Empty tensors (a batch of 0) may have no storage: memcpy wants real pointers.
      if (out.nbytes() > 0) std::memcpy(out.raw(), ptrs_[id], out.nbytes());
    }
    for (ir::NodeId id : assigns_) {
      const Node& node = graph_.nodes[id];
      if (buffers_[id].nbytes() == 0) continue;
      std::memcpy(const_cast<std::byte*>(ptrs_[node.inputs[0]]), buffers_[id].raw(),
                  buffers_[id].nbytes());
    }
    return absl::OkStatus();
  }

  std::unique_ptr<Executor> clone() const override {
    return std::make_unique<Interpreter>(symbolic_, check_numerics_);
  }

 private:
  // The reference runs the static graph of this run's row count, sized
  // exactly, so each kernel sees the shapes of a graph built for that batch.
  void Resolve(int64_t rows) {
    if (resolved_ && rows == rows_) return;
    const bool first = !resolved_;
    graph_ = ir::with_rows(symbolic_, rows);
    rows_ = rows;
    resolved_ = true;
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      const Node& node = graph_.nodes[i];
      if (ir::owns_storage(node.op) && (first || !has_type(buffers_[i], node.type))) {
        buffers_[i] = make_tensor(node.type);
      }
    }
  }

  absl::Status Bind(ir::NodeId id, const Feeds& feeds, VariableStore& variables) {
    absl::StatusOr<std::byte*> storage =
        bind_leaf(symbolic_.nodes[id], rows_, feeds, variables, &buffers_[id]);
    if (!storage.ok()) return storage.status();
    ptrs_[id] = *storage;
    return absl::OkStatus();
  }

  absl::Status Step(ir::NodeId id, const Feeds& feeds, VariableStore& variables,
                    uint64_t step_seed) {
    const Node& node = graph_.nodes[id];
    if (ir::has_traits(node.op, ir::op_traits::kBound)) return Bind(id, feeds, variables);
    if (ir::has_traits(node.op, ir::op_traits::kView)) {
      ptrs_[id] = ptrs_[node.inputs[0]];
      return absl::OkStatus();
    }
    ptrs_[id] = buffers_[id].raw();
    Args args{node, {}, {}, buffers_[id].raw(), step_seed, rows_};
    for (ir::NodeId in : node.inputs) {
      args.in_types.push_back(&graph_.nodes[in].type);
      args.in.push_back(ptrs_[in]);
    }
    return kKernels[static_cast<size_t>(node.op)](args);
  }

  // Every value an op computes; leaves and views hold values checked where made.
  absl::Status CheckNumerics(ir::NodeId id) const {
    const Node& node = graph_.nodes[id];
    if (node.type.dtype != ir::DType::kF32 || !ir::owns_storage(node.op)) return absl::OkStatus();
    return check_finite(graph_, id, reinterpret_cast<const float*>(buffers_[id].raw()), node.type);
  }

  ir::Graph symbolic_;  // as compiled, maybe with the batch dimension ?
  ir::Graph graph_;     // for the current row count
  int64_t rows_ = 0;
  bool resolved_ = false;
  bool check_numerics_;
  std::vector<ir::NodeId> assigns_, outputs_;
  std::vector<Tensor> buffers_;
  std::vector<const std::byte*> ptrs_;
};

class InterpreterEngine : public Engine {
 public:
  explicit InterpreterEngine(InterpreterOptions options) : options_(options) {}
  std::string name() const override { return "interpreter"; }
  absl::StatusOr<std::unique_ptr<Executor>> compile(const ir::Graph& graph) override {
    if (auto s = ir::verify(graph); !s.ok()) return s;
    return std::unique_ptr<Executor>(new Interpreter(graph, options_.check_numerics));
  }

 private:
  InterpreterOptions options_;
};

}  // namespace

std::unique_ptr<Engine> make_interpreter(InterpreterOptions options) {
  return std::make_unique<InterpreterEngine>(options);
}

}  // namespace kiln
