// A float64 reference evaluator of Kiln IR for tests.
//
// Every op is written from its mathematical definition (ir/ops.def), sharing
// no code with runtime/: tests check the interpreter's kernels against it, and
// its double precision makes finite differences accurate enough for tight
// gradient checks. Values of every dtype are held as doubles (i32 and u8
// exactly); a f32 -> f32 cast is the identity, so nothing is rounded to float.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/strings.h"

namespace kiln::testing {

/// Values by name, each row-major.
using RefValues = std::map<std::string, std::vector<double>, std::less<>>;

/// Evaluates `graph` in double: `input` and `variable` nodes read `inputs` and
/// `variables` by name. Returns the `output` values by name; ops with effects
/// or randomness (assign, random_uniform) are errors.
inline absl::StatusOr<RefValues> reference_eval(const ir::Graph& graph, const RefValues& inputs,
                                                const RefValues& variables) {
  using ir::OpKind;
  std::vector<std::vector<double>> v(graph.nodes.size());
  RefValues outputs;
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    const ir::Node& n = graph.nodes[id];
    const ir::Shape& shape = n.type.shape;
    const int64_t size = ir::num_elements(shape);
    auto fail = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          str_cat("reference_eval: node %", id, " (", ir::op_name(n.op), "): ", why));
    };
    auto x = [&](size_t i) -> const std::vector<double>& { return v[n.inputs[i]]; };
    auto x_shape = [&](size_t i) -> const ir::Shape& {
      return graph.nodes[n.inputs[i]].type.shape;
    };
    auto map1 = [&](auto f) {
      std::vector<double> r(size);
      for (int64_t i = 0; i < size; ++i) r[i] = f(x(0)[i]);
      return r;
    };
    auto map2 = [&](auto f) {
      std::vector<double> r(size);
      for (int64_t i = 0; i < size; ++i) r[i] = f(x(0)[i], x(1)[i]);
      return r;
    };
    // The operand seen as [outer, len, inner] around the `axis` attribute.
    auto around_axis = [&](int64_t* outer, int64_t* len, int64_t* inner) {
      const ir::Shape& s = x_shape(0);
      const int64_t axis = ir::attr_int(n.attrs, "axis");
      *outer = *inner = 1;
      *len = s[axis];
      for (int64_t d = 0; d < axis; ++d) *outer *= s[d];
      for (size_t d = axis + 1; d < s.size(); ++d) *inner *= s[d];
    };
    std::vector<double>& out = v[id];
    switch (n.op) {
      case OpKind::kInput:
      case OpKind::kVariable: {
        const RefValues& from = n.op == OpKind::kInput ? inputs : variables;
        const std::string& name = ir::attr_string(n.attrs, "name");
        auto it = from.find(name);
        if (it == from.end()) return fail(str_cat("no value for \"", name, "\""));
        if (static_cast<int64_t>(it->second.size()) != size) {
          return fail(str_cat("\"", name, "\" has ", it->second.size(), " values, not ", size));
        }
        out = it->second;
        break;
      }
      case OpKind::kConstant:
        out.assign(size, ir::attr_float(n.attrs, "value"));
        break;
      case OpKind::kNeg:
        out = map1([](double a) { return -a; });
        break;
      case OpKind::kExp:
        out = map1([](double a) { return std::exp(a); });
        break;
      case OpKind::kLog:
        out = map1([](double a) { return std::log(a); });
        break;
      case OpKind::kSqrt:
        out = map1([](double a) { return std::sqrt(a); });
        break;
      case OpKind::kTanh:
        out = map1([](double a) { return std::tanh(a); });
        break;
      case OpKind::kSoftplus:  // log(1 + exp(a)), written so exp cannot overflow
        out = map1([](double a) { return std::max(a, 0.0) + std::log1p(std::exp(-std::fabs(a))); });
        break;
      case OpKind::kAdd:
        out = map2([](double a, double b) { return a + b; });
        break;
      case OpKind::kSub:
        out = map2([](double a, double b) { return a - b; });
        break;
      case OpKind::kMul:
        out = map2([](double a, double b) { return a * b; });
        break;
      case OpKind::kDiv:
        out = map2([](double a, double b) { return a / b; });
        break;
      // A NaN in either operand wins; a tie yields the second operand, which
      // the gradient rules rely on to send a tie's gradient there.
      case OpKind::kMax:
        out = map2([](double a, double b) { return std::isnan(a) || a > b ? a : b; });
        break;
      case OpKind::kMin:
        out = map2([](double a, double b) { return std::isnan(a) || a < b ? a : b; });
        break;
      case OpKind::kGreater:
        out = map2([](double a, double b) { return a > b ? 1.0 : 0.0; });
        break;
      case OpKind::kEqual:
        out = map2([](double a, double b) { return a == b ? 1.0 : 0.0; });
        break;
      case OpKind::kCast: {
        // To an integer: truncate toward zero, saturate, NaN -> 0.
        const bool u8 = n.type.dtype == ir::DType::kU8;
        const double lo = u8 ? 0.0 : -2147483648.0, hi = u8 ? 255.0 : 2147483647.0;
        const bool to_int = n.type.dtype != ir::DType::kF32;
        out = map1([&](double a) {
          return !to_int ? a : std::isnan(a) ? 0.0 : std::clamp(std::trunc(a), lo, hi);
        });
        break;
      }
      case OpKind::kReshape:
        out = x(0);
        break;
      case OpKind::kBroadcast: {
        // Result element (i_0, ..., i_r) reads operand element (i_dims[0], i_dims[1], ...).
        const auto& dims = ir::attr_ints(n.attrs, "dims");
        const ir::Shape& from = x_shape(0);
        out.resize(size);
        for (int64_t flat = 0; flat < size; ++flat) {
          std::vector<int64_t> idx(shape.size());
          for (int64_t d = static_cast<int64_t>(shape.size()) - 1, rest = flat; d >= 0; --d) {
            idx[d] = rest % shape[d];
            rest /= shape[d];
          }
          int64_t src = 0;
          for (size_t a = 0; a < from.size(); ++a) src = src * from[a] + idx[dims[a]];
          out[flat] = x(0)[src];
        }
        break;
      }
      case OpKind::kTranspose: {
        const int64_t rows = x_shape(0)[0], cols = x_shape(0)[1];
        out.resize(size);
        for (int64_t i = 0; i < rows; ++i) {
          for (int64_t j = 0; j < cols; ++j) out[j * rows + i] = x(0)[i * cols + j];
        }
        break;
      }
      case OpKind::kMatMul: {
        const int64_t m = x_shape(0)[0], k = x_shape(0)[1], cols = x_shape(1)[1];
        out.assign(size, 0.0);
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < cols; ++j) {
            for (int64_t p = 0; p < k; ++p)
              out[i * cols + j] += x(0)[i * k + p] * x(1)[p * cols + j];
          }
        }
        break;
      }
      case OpKind::kReduceSum:
      case OpKind::kReduceMax:
      case OpKind::kArgMax: {
        int64_t outer, len, inner;
        around_axis(&outer, &len, &inner);
        out.resize(size);
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t i = 0; i < inner; ++i) {
            auto at = [&](int64_t l) { return x(0)[(o * len + l) * inner + i]; };
            double sum = 0.0, best = at(0);
            int64_t best_at = 0;
            for (int64_t l = 0; l < len; ++l) {
              sum += at(l);
              if (at(l) > best || (std::isnan(at(l)) && n.op == OpKind::kReduceMax)) {
                best = at(l), best_at = l;  // argmax: the first maximum, ignoring NaN
              }
            }
            out[o * inner + i] = n.op == OpKind::kReduceSum   ? sum
                                 : n.op == OpKind::kReduceMax ? best
                                                              : static_cast<double>(best_at);
          }
        }
        break;
      }
      case OpKind::kOneHot: {
        const int64_t depth = ir::attr_int(n.attrs, "depth");
        out.assign(size, 0.0);
        for (size_t i = 0; i < x(0).size(); ++i) {
          const double label = x(0)[i];
          if (!(label >= 0 && label < static_cast<double>(depth))) {
            return fail(str_cat("label ", label, " is outside [0, ", depth, ")"));
          }
          out[i * depth + static_cast<int64_t>(label)] = 1.0;
        }
        break;
      }
      // Per row, with lse = log(sum(exp(z))): cross_entropy = -sum(t (z - lse)),
      // and its gradient g * (softmax(z) sum(t) - t).
      case OpKind::kSoftmaxCrossEntropy:
      case OpKind::kSoftmaxCrossEntropyGrad: {
        const int64_t rows = x_shape(0)[0], classes = x_shape(0)[1];
        out.resize(size);
        for (int64_t r = 0; r < rows; ++r) {
          const double* z = x(0).data() + r * classes;
          const double* t = x(1).data() + r * classes;
          const double m = *std::max_element(z, z + classes);
          double sum_exp = 0.0, total = 0.0, t_dot_z = 0.0;
          for (int64_t c = 0; c < classes; ++c) {
            sum_exp += std::exp(z[c] - m);
            total += t[c];
            t_dot_z += t[c] * z[c];
          }
          const double lse = m + std::log(sum_exp);
          if (n.op == OpKind::kSoftmaxCrossEntropy) {
            out[r] = total * lse - t_dot_z;
            continue;
          }
          for (int64_t c = 0; c < classes; ++c) {
            out[r * classes + c] = x(2)[r] * (std::exp(z[c] - lse) * total - t[c]);
          }
        }
        break;
      }
      case OpKind::kConcat:
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          out.insert(out.end(), x(i).begin(), x(i).end());
        }
        break;
      case OpKind::kSlice: {
        const int64_t begin = ir::attr_int(n.attrs, "begin");
        out.assign(x(0).begin() + begin, x(0).begin() + begin + ir::num_elements(n.type.shape));
        break;
      }
      case OpKind::kAllReduce:  // over the processes of a job of one
        out = x(0);
        break;
      case OpKind::kOutput:
        out = x(0);
        outputs[ir::attr_string(n.attrs, "name")] = out;
        break;
      default:
        return absl::UnimplementedError(
            str_cat("reference_eval: op ", ir::op_name(n.op), " is not supported"));
    }
  }
  return outputs;
}

}  // namespace kiln::testing
