// Finite-difference checks of every gradient rule in passes/autodiff.cc, and
// of the forward formulas and the interpreter's kernels against independent
// references.
//
// Each case builds a graph whose trainable variables feed the op under test,
// reduces the result to a scalar with fixed random weights (sum(w * op(x))),
// and differentiates it with the autodiff pass. The differentiated graph is
// evaluated twice: by the float32 interpreter and by the float64 reference
// evaluator of reference_eval.h, which shares no code with runtime/.
//  - Each "grad/<var>" output of the reference is compared with central
//    differences of the reference's loss, to 1e-6 relative + 1e-9 absolute
//    (kGradTol). In double with a step h = 1e-5, the truncation error
//    (h^2 f''' / 6) and the rounding error (1e-16 |loss| / h) are both near
//    1e-10 for these inputs (the largest differences seen are 4e-10 absolute,
//    2e-9 relative), so a rule off by even 1e-5 fails. A float32 loss would
//    need h near 1e-2 and a tolerance near 1e-2.
//  - Every output of the interpreter (loss, gradients, forward values) must
//    match the reference to float32 accuracy (kF32Tol), which checks the
//    kernels against code that shares nothing with them.
//  - Forward values and gradients are compared with closed forms written out
//    below from the definitions (softmax, sigmoid, cross-entropy...), so a
//    graph computing the wrong function fails even if its gradient is right.
//
// Kinks: max/min at a tie send the whole gradient to the second operand, so
// relu(x) = max(x, 0) has gradient 0 at x == 0 (as TensorFlow and PyTorch).
// Central differences are meaningless there, so random inputs keep away from
// kinks (|x| > 0.05, |a - b| > 0.05) and ties are tested with exact values.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "frontend/access.h"
#include "frontend/layer_impl.h"
#include "frontend/loss_impl.h"
#include "ir/builder.h"
#include "ir/strings.h"
#include "kiln/layers.h"
#include "passes/passes.h"
#include "reference_eval.h"
#include "runtime/executor.h"
#include "runtime/rng.h"
#include "test_util.h"

namespace kiln {
namespace {

using ir::NodeId;
using ir::Shape;
using testing::f32;
using testing::HasSubstr;
using testing::i32;
using testing::RefValues;
using testing::set_var;

// |got - want| <= rel * max(|got|, |want|) + abs.
struct Tolerance {
  double rel, abs;
};
// Autodiff against central differences, both in double (see the top).
constexpr Tolerance kGradTol{1e-6, 1e-9};
constexpr double kStep = 1e-5;
// The float32 interpreter against the float64 reference: a few roundings of
// 6e-8 each on values of order 1, summed over a handful of terms.
constexpr Tolerance kF32Tol{1e-5, 1e-6};
// The float64 reference against a closed form: only double rounding differs.
constexpr Tolerance kExactTol{1e-12, 1e-12};

bool Near(double got, double want, Tolerance tol) {
  return std::fabs(got - want) <= tol.rel * std::max(std::fabs(got), std::fabs(want)) + tol.abs;
}

void ExpectNear(const std::string& what, const std::vector<double>& got,
                const std::vector<double>& want, Tolerance tol) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(Near(got[i], want[i], tol))
        << what << "[" << i << "]: " << got[i] << " vs " << want[i] << " (difference "
        << got[i] - want[i] << ")";
  }
}

std::vector<double> Doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.size()));
  for (int64_t i = 0; i < t.size(); ++i) v[i] = t.as_float(i);
  return v;
}

// One gradient-check graph: parameters, feeds, and the checks on its gradients.
class GradCase {
 public:
  explicit GradCase(uint64_t seed = 1) : rng_(seed) {}

  ir::Builder& b() { return b_; }
  ir::Graph& graph() { return graph_; }
  VariableStore& store() { return store_; }
  // The weights of the last weighted_sum.
  const std::vector<double>& last_weights() const { return last_weights_; }

  // `n` uniform values in [lo, hi]; with `min_abs` > 0 they keep that far from 0.
  std::vector<float> uniform(int64_t n, float lo, float hi, float min_abs = 0.0f) {
    std::vector<float> v;
    while (static_cast<int64_t>(v.size()) < n) {
      float x = lo + (hi - lo) * rng_.uniform();
      if (std::fabs(x) >= min_abs) v.push_back(x);
    }
    return v;
  }

  // Distinct values with gaps of 0.1 in random order, so no perturbation of
  // the finite differences can change which element is the maximum.
  std::vector<float> distinct(int64_t n) {
    std::vector<float> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = -1.0f + 0.1f * static_cast<float>(i);
    for (int64_t i = n; i > 1; --i) std::swap(v[i - 1], v[rng_.uniform_int(i)]);
    return v;
  }

  // A trainable variable holding `values`, whose gradient is checked.
  NodeId param(const std::string& name, Shape shape, const std::vector<float>& values) {
    register_param(name, shape, values);
    // The initializer is never used: the store already holds the values.
    std::string init = shape.size() == 2 ? "glorot_uniform" : "zeros";
    return b_.variable(name, std::move(shape), /*trainable=*/true, init);
  }

  // Gives a trainable variable recorded elsewhere (by a layer) its values.
  void register_param(const std::string& name, const Shape& shape,
                      const std::vector<float>& values) {
    set_var(store_, name, f32(shape, values));
    params_.push_back(name);
  }

  // A trainable variable with values in [lo, hi], away from 0 by `min_abs`.
  NodeId param(const std::string& name, Shape shape, float lo = -1.0f, float hi = 1.0f,
               float min_abs = 0.05f) {
    return param(name, shape, uniform(ir::num_elements(shape), lo, hi, min_abs));
  }

  NodeId feed(const std::string& name, Tensor t) {
    ir::Type type = type_of(t);
    feeds_[name] = std::move(t);
    return b_.input(name, type);
  }

  // sum(w * y) with fixed random weights w (a non-trainable variable), so
  // every element of y gets a distinct, nonzero output gradient.
  NodeId weighted_sum(NodeId y) {
    if (y < 0) return -1;
    Shape shape = b_.shape_of(y);
    std::string name = str_cat("weights/", weights_++);
    std::vector<float> w = uniform(ir::num_elements(shape), -1.5f, 1.5f, 0.5f);
    set_var(store_, name, f32(shape, w));
    last_weights_.assign(w.begin(), w.end());
    NodeId weighted = b_.mul(b_.variable(name, shape, /*trainable=*/false, "zeros"), y);
    while (!b_.shape_of(weighted).empty()) weighted = b_.reduce_sum(weighted, 0);
    return weighted;
  }

  // Differentiates `loss` and runs the step once with the interpreter, whose
  // outputs must all match the float64 reference's; returns them.
  absl::StatusOr<Outputs> differentiate(NodeId loss) {
    b_.output("loss", loss);
    if (!b_.status().ok()) return b_.status();
    testing::expect_round_trip(graph_);
    if (auto s = testing::run_passes(graph_, {"infer-shapes", "autodiff", "dce"}); !s.ok()) {
      return s;
    }
    testing::expect_round_trip(graph_);
    auto exec = make_interpreter()->compile(graph_);
    if (!exec.ok()) return exec.status();
    Feeds feeds;
    for (const auto& [name, t] : feeds_) feeds[name] = &t;
    Outputs out;
    if (auto s = (*exec)->run(feeds, store_, 0, &out); !s.ok()) return s;

    for (const auto& [name, t] : feeds_) ref_inputs_[name] = Doubles(t);
    for (const auto& [name, t] : store_.all()) ref_variables_[name] = Doubles(*t);
    auto ref = testing::reference_eval(graph_, ref_inputs_, ref_variables_);
    if (!ref.ok()) return ref.status();
    reference_ = *std::move(ref);
    EXPECT_EQ(reference_.size(), out.size());
    for (const auto& [name, t] : out) {
      EXPECT_TRUE(reference_.contains(name)) << name;
      if (reference_.contains(name)) {
        ExpectNear("interpreter " + name, Doubles(t), reference_.at(name), kF32Tol);
      }
    }
    return out;
  }

  // Checks that exactly the parameters received a gradient output, and each
  // one against central differences; then the outputs named in `closed_form`
  // (in the reference and the interpreter) against those values.
  void check(NodeId loss, const RefValues& closed_form = {}) {
    auto out = differentiate(loss);
    ASSERT_TRUE(out.ok()) << out.status();
    std::vector<std::string> grads;
    for (const auto& [name, t] : *out) {
      if (name.starts_with("grad/")) grads.push_back(name.substr(5));
    }
    std::vector<std::string> expected = params_;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(grads, expected);
    for (const std::string& name : params_) {
      SCOPED_TRACE(name);
      ASSERT_TRUE(reference_.contains("grad/" + name));
      const std::vector<double>& analytic = reference_.at("grad/" + name);
      std::vector<double>& v = ref_variables_.at(name);
      ASSERT_EQ(analytic.size(), v.size());
      for (size_t i = 0; i < v.size(); ++i) {
        const double original = v[i];
        v[i] = original + kStep * std::max(1.0, std::fabs(original));
        const double plus = v[i], loss_plus = RefLoss();
        v[i] = original - kStep * std::max(1.0, std::fabs(original));
        const double minus = v[i], loss_minus = RefLoss();
        v[i] = original;
        const double numeric = (loss_plus - loss_minus) / (plus - minus);
        EXPECT_TRUE(Near(analytic[i], numeric, kGradTol))
            << name << "[" << i << "] at " << original << ": autodiff " << analytic[i]
            << ", numeric " << numeric << " (difference " << analytic[i] - numeric << ")";
      }
    }
    for (const auto& [name, want] : closed_form) {
      ASSERT_TRUE(out->contains(name)) << name;
      ExpectNear("reference " + name, reference_.at(name), want, kExactTol);
      ExpectNear("interpreter " + name, Doubles(out->at(name)), want, kF32Tol);
    }
  }

 private:
  double RefLoss() {
    auto ref = testing::reference_eval(graph_, ref_inputs_, ref_variables_);
    EXPECT_TRUE(ref.ok()) << ref.status();
    return ref.ok() ? ref->at("loss")[0] : std::nan("");
  }

  ir::Graph graph_;
  ir::Builder b_{&graph_};
  VariableStore store_;
  std::map<std::string, Tensor> feeds_;
  std::vector<std::string> params_;
  RefValues ref_inputs_, ref_variables_, reference_;
  std::vector<double> last_weights_;
  Rng rng_;
  int weights_ = 0;
};

// Checks d/dx sum(w * f(x)) for a unary op with x drawn from [lo, hi].
template <typename F>
void CheckUnary(F f, float lo, float hi, float min_abs = 0.05f) {
  GradCase c;
  NodeId x = c.param("x", {2, 3}, lo, hi, min_abs);
  c.check(c.weighted_sum(f(c.b(), x)));
}

TEST(GradCheck, Neg) {
  CheckUnary([](ir::Builder& b, NodeId x) { return b.neg(x); }, -1, 1);
}

TEST(GradCheck, Exp) {
  CheckUnary([](ir::Builder& b, NodeId x) { return b.exp(x); }, -1, 1);
}

TEST(GradCheck, LogOfPositiveInputs) {
  CheckUnary([](ir::Builder& b, NodeId x) { return b.log(x); }, 0.5f, 2.0f);
}

TEST(GradCheck, SqrtOfPositiveInputs) {
  CheckUnary([](ir::Builder& b, NodeId x) { return b.sqrt(x); }, 0.5f, 2.0f);
}

TEST(GradCheck, Tanh) {
  CheckUnary([](ir::Builder& b, NodeId x) { return b.tanh(x); }, -1.5f, 1.5f);
}

TEST(GradCheck, Softplus) {
  CheckUnary([](ir::Builder& b, NodeId x) { return b.emit(ir::OpKind::kSoftplus, {x}); }, -3, 3);
}

// In a job of one process the reduction is the identity, and so is its
// gradient rule's all_reduce; under mpirun tests/distributed checks the sum.
TEST(GradCheck, AllReduceInOneProcess) {
  CheckUnary([](ir::Builder& b, NodeId x) { return b.all_reduce(x, "sum"); }, -1, 1);
  CheckUnary([](ir::Builder& b, NodeId x) { return b.all_reduce(x, "mean"); }, -1, 1);
}

// Pieces of a flat vector and back: each operand's gradient is its piece.
TEST(GradCheck, ConcatAndSlice) {
  CheckUnary(
      [](ir::Builder& b, NodeId x) {
        NodeId flat = b.reshape(x, {ir::num_elements(b.shape_of(x))});
        const int64_t n = b.shape_of(flat)[0];
        NodeId head = b.slice(flat, 0, 1), tail = b.slice(flat, 1, n - 1);
        // Reordered and one piece twice: fan-in through concat.
        return b.reshape(b.slice(b.concat({tail, head, b.tanh(tail)}), 0, n), b.shape_of(x));
      },
      -1, 1);
}

TEST(GradCheck, CastF32ToF32) {
  CheckUnary([](ir::Builder& b, NodeId x) { return b.cast(x, ir::DType::kF32); }, -1, 1);
}

// Checks d/da and d/db of sum(w * f(a, b)); b = a + offset, |offset| in
// [0.1, 1], so max/min never sit at a tie and a divisor b stays away from 0.
template <typename F>
void CheckBinary(F f, bool positive_b = false) {
  GradCase c;
  std::vector<float> a = c.uniform(6, -1, 1, 0.05f);
  std::vector<float> b = c.uniform(6, -1, 1, 0.1f);
  for (size_t i = 0; i < a.size(); ++i) {
    b[i] = positive_b ? 0.5f + std::fabs(b[i]) : a[i] + b[i];
  }
  NodeId na = c.param("a", {2, 3}, a);
  NodeId nb = c.param("b", {2, 3}, b);
  c.check(c.weighted_sum(f(c.b(), na, nb)));
}

TEST(GradCheck, Add) {
  CheckBinary([](ir::Builder& b, NodeId x, NodeId y) { return b.add(x, y); });
}

TEST(GradCheck, Sub) {
  CheckBinary([](ir::Builder& b, NodeId x, NodeId y) { return b.sub(x, y); });
}

TEST(GradCheck, Mul) {
  CheckBinary([](ir::Builder& b, NodeId x, NodeId y) { return b.mul(x, y); });
}

TEST(GradCheck, DivWithDenominatorAwayFromZero) {
  CheckBinary([](ir::Builder& b, NodeId x, NodeId y) { return b.div(x, y); },
              /*positive_b=*/true);
  GradCase c(7);
  NodeId num = c.param("num", {4}, -1, 1);
  NodeId den = c.param("den", {4}, {-1.5f, -0.6f, 0.7f, 1.2f});
  c.check(c.weighted_sum(c.b().div(num, den)));
}

TEST(GradCheck, Max) {
  CheckBinary([](ir::Builder& b, NodeId x, NodeId y) { return b.max(x, y); });
}

TEST(GradCheck, Min) {
  CheckBinary([](ir::Builder& b, NodeId x, NodeId y) { return b.min(x, y); });
}

// A value used twice must receive the sum of both gradients.
TEST(GradCheck, FanInSumsGradients) {
  GradCase c;
  NodeId x = c.param("x", {2, 3});
  ir::Builder& b = c.b();
  c.check(c.weighted_sum(b.add(b.mul(x, x), b.tanh(x))));
}

TEST(GradCheck, Reshape) {
  for (Shape to : {Shape{3, 2}, Shape{6}, Shape{1, 6, 1}}) {
    SCOPED_TRACE(ir::shape_string(to));
    GradCase c;
    NodeId x = c.param("x", {2, 3});
    // The tanh makes the upstream gradient depend on the position.
    c.check(c.weighted_sum(c.b().tanh(c.b().reshape(x, to))));
  }
}

TEST(GradCheck, Broadcast) {
  struct Case {
    Shape from, to;
    std::vector<int64_t> dims;
  };
  const Case cases[] = {
      {{}, {2, 3}, {}},             // scalar -> matrix
      {{3}, {2, 3}, {1}},           // [n] -> [b, n] (a bias)
      {{2}, {2, 3}, {0}},           // [b] -> [b, n] (a per-row max)
      {{2, 3}, {2, 4, 3}, {0, 2}},  // new middle axis
      {{4}, {2, 4, 3}, {1}},        // only the middle axis kept
      {{2, 3}, {2, 3}, {0, 1}},     // identity
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(ir::shape_string(k.from) + " -> " + ir::shape_string(k.to));
    GradCase c;
    NodeId x = c.param("x", k.from);
    c.check(c.weighted_sum(c.b().broadcast(x, k.to, k.dims)));
  }
}

TEST(GradCheck, Transpose) {
  GradCase c;
  NodeId x = c.param("x", {2, 3});
  c.check(c.weighted_sum(c.b().transpose(x)));
}

TEST(GradCheck, MatMul) {
  GradCase c;
  NodeId a = c.param("a", {2, 3});
  NodeId b = c.param("b", {3, 4});
  c.check(c.weighted_sum(c.b().matmul(a, b)));
}

TEST(GradCheck, ReduceSumEachAxis) {
  for (int64_t axis = 0; axis < 3; ++axis) {
    SCOPED_TRACE(axis);
    GradCase c;
    NodeId x = c.param("x", {2, 3, 4});
    c.check(c.weighted_sum(c.b().reduce_sum(x, axis)));
  }
}

TEST(GradCheck, ReduceMaxEachAxisWithDistinctValues) {
  for (int64_t axis = 0; axis < 3; ++axis) {
    SCOPED_TRACE(axis);
    GradCase c(10 + axis);
    NodeId x = c.param("x", {2, 3, 4}, c.distinct(24));
    c.check(c.weighted_sum(c.b().reduce_max(x, axis)));
  }
}

TEST(GradCheck, DenseLayerWithRelu) {
  Layer dense = layers::Dense(4, "relu");
  Rng init(3);
  ASSERT_TRUE(detail::Access::impl(dense)->build({5}, init).ok());
  const std::string kernel = dense.name() + "/kernel", bias = dense.name() + "/bias";
  // Redraw until no pre-activation is near the relu kink.
  for (uint64_t seed = 1;; ++seed) {
    ASSERT_LT(seed, 100u) << "no draw keeps the pre-activations away from 0";
    GradCase c(seed);
    std::vector<float> x = c.uniform(15, -1, 1), k = c.uniform(20, -1, 1),
                       bv = c.uniform(4, -0.5f, 0.5f);
    bool near_kink = false;
    for (int r = 0; r < 3; ++r) {
      for (int u = 0; u < 4; ++u) {
        double pre = bv[u];
        for (int i = 0; i < 5; ++i) pre += double{x[r * 5 + i]} * k[i * 4 + u];
        near_kink |= std::fabs(pre) < 0.1;
      }
    }
    if (near_kink) continue;
    NodeId in = c.feed("x", f32({3, 5}, x));
    c.register_param(kernel, {5, 4}, k);
    c.register_param(bias, {4}, bv);
    ir::Builder& b = c.b();
    b.set_layer(dense.name());
    detail::Recorded y = detail::Access::impl(dense)->record(b, {in}, /*training=*/true);
    c.check(c.weighted_sum(y.out));
    break;
  }
}

TEST(GradCheck, Activations) {
  for (const char* activation : {"linear", "relu", "tanh", "sigmoid", "softplus", "softmax"}) {
    SCOPED_TRACE(activation);
    GradCase c;
    NodeId x = c.param("x", {3, 4}, -2, 2, /*min_abs=*/0.1f);
    c.check(c.weighted_sum(detail::record_activation(c.b(), activation, {x}).out));
  }
}

// Row-wise softmax of a [rows, cols] matrix, from the definition.
std::vector<double> SoftmaxRows(const std::vector<float>& x, size_t cols) {
  std::vector<double> s(x.size());
  for (size_t r = 0; r < x.size(); r += cols) {
    double sum = 0.0;
    for (size_t k = r; k < r + cols; ++k) sum += std::exp(double{x[k]});
    for (size_t k = r; k < r + cols; ++k) s[k] = std::exp(double{x[k]}) / sum;
  }
  return s;
}

// A Dense layer's output y = act(x k + bias) and the gradients of sum(w y),
// against closed forms: sigmoid s = 1 / (1 + exp(-p)) with derivative
// s (1 - s), tanh with 1 - tanh^2, softplus log(1 + exp(p)) with s, softmax
// e with dL/dp = e (w - sum(w e)) per row.
TEST(GradCheck, DenseActivationsMatchClosedForms) {
  for (const std::string activation :
       {"linear", "relu", "tanh", "sigmoid", "softplus", "softmax"}) {
    SCOPED_TRACE(activation);
    Layer dense = layers::Dense(4, activation);
    Rng init(3);
    ASSERT_TRUE(detail::Access::impl(dense)->build({5}, init).ok());
    const std::string kernel = dense.name() + "/kernel", bias = dense.name() + "/bias";
    GradCase c;
    std::vector<float> x = c.uniform(15, -1, 1), k = c.uniform(20, -1, 1),
                       bv = c.uniform(4, -0.5f, 0.5f);
    NodeId in = c.feed("x", f32({3, 5}, x));
    c.register_param(kernel, {5, 4}, k);
    c.register_param(bias, {4}, bv);
    ir::Builder& b = c.b();
    b.set_layer(dense.name());
    NodeId y = detail::Access::impl(dense)->record(b, {in}, /*training=*/true).out;
    b.output("y", y);
    NodeId loss = c.weighted_sum(y);
    const std::vector<double>& w = c.last_weights();

    std::vector<double> pre(12), act(12), dpre(12), dk(20, 0.0), db(4, 0.0);
    for (int r = 0; r < 3; ++r) {
      for (int u = 0; u < 4; ++u) {
        double p = bv[u];
        for (int i = 0; i < 5; ++i) p += double{x[r * 5 + i]} * k[i * 4 + u];
        pre[r * 4 + u] = p;
      }
    }
    for (int r = 0; r < 12; r += 4) {
      double sum_exp = 0.0, ws = 0.0;
      for (int j = r; j < r + 4; ++j) sum_exp += std::exp(pre[j]);
      for (int j = r; j < r + 4; ++j) {
        const double p = pre[j];
        const double e = std::exp(p) / sum_exp, s = 1 / (1 + std::exp(-p)), t = std::tanh(p);
        act[j] = activation == "relu"       ? std::max(p, 0.0)
                 : activation == "tanh"     ? t
                 : activation == "sigmoid"  ? s
                 : activation == "softmax"  ? e
                 : activation == "softplus" ? std::log1p(std::exp(p))
                                            : p;
        dpre[j] = w[j] * (activation == "relu"       ? (p > 0 ? 1.0 : 0.0)
                          : activation == "tanh"     ? 1 - t * t
                          : activation == "sigmoid"  ? s * (1 - s)
                          : activation == "softplus" ? s
                                                     : 1.0);
        ws += w[j] * e;
      }
      if (activation == "softmax") {
        for (int j = r; j < r + 4; ++j) dpre[j] = act[j] * (w[j] - ws);
      }
    }
    for (int r = 0; r < 3; ++r) {
      for (int u = 0; u < 4; ++u) {
        db[u] += dpre[r * 4 + u];
        for (int i = 0; i < 5; ++i) dk[i * 4 + u] += x[r * 5 + i] * dpre[r * 4 + u];
      }
    }
    c.check(loss, {{"y", act}, {"grad/" + kernel, dk}, {"grad/" + bias, db}});
  }
}

// y = softmax(x); d/dx sum(w y) = y (w - sum(w y)) per row.
TEST(GradCheck, Softmax) {
  GradCase c;
  std::vector<float> x = c.uniform(12, -2, 2, 0.05f);
  NodeId y = detail::record_softmax(c.b(), c.param("x", {3, 4}, x)).out;
  c.b().output("y", y);
  NodeId loss = c.weighted_sum(y);
  const std::vector<double>& w = c.last_weights();
  std::vector<double> s = SoftmaxRows(x, 4), grad(12);
  for (size_t r = 0; r < 12; r += 4) {
    double ws = 0.0;
    for (size_t j = r; j < r + 4; ++j) ws += w[j] * s[j];
    for (size_t j = r; j < r + 4; ++j) grad[j] = s[j] * (w[j] - ws);
  }
  c.check(loss, {{"y", s}, {"grad/x", grad}});
}

// y = log(softmax(x)); d/dx sum(w y) = w - softmax(x) sum(w) per row.
TEST(GradCheck, LogSoftmax) {
  GradCase c;
  std::vector<float> x = c.uniform(12, -2, 2, 0.05f);
  NodeId y = c.b().log_softmax(c.param("x", {3, 4}, x));
  c.b().output("y", y);
  NodeId loss = c.weighted_sum(y);
  const std::vector<double>& w = c.last_weights();
  std::vector<double> s = SoftmaxRows(x, 4), log_s(12), grad(12);
  for (size_t r = 0; r < 12; r += 4) {
    double sum_w = 0.0;
    for (size_t j = r; j < r + 4; ++j) sum_w += w[j];
    for (size_t j = r; j < r + 4; ++j) log_s[j] = std::log(s[j]), grad[j] = w[j] - s[j] * sum_w;
  }
  c.check(loss, {{"y", log_s}, {"grad/x", grad}});
}

// Soft targets (rows not summing to 1 included) exercise every term of both
// the logits' and the target's gradient. Per row, with s = softmax(z) and
// T = sum(t): y = -sum(t log s), dy/dz = s T - t, dy/dt = -log s.
TEST(GradCheck, SoftmaxCrossEntropy) {
  GradCase c;
  std::vector<float> z = c.uniform(15, -2, 2, 0.05f);
  NodeId nz = c.param("z", {3, 5}, z);
  std::vector<float> t = c.uniform(15, 0, 1, 0.05f);
  NodeId nt = c.param("t", {3, 5}, t);
  NodeId y = c.b().softmax_cross_entropy(nz, nt);
  c.b().output("y", y);
  NodeId loss = c.weighted_sum(y);
  const std::vector<double>& w = c.last_weights();
  std::vector<double> s = SoftmaxRows(z, 5), ce(3, 0.0), dz(15), dt(15);
  for (size_t r = 0; r < 3; ++r) {
    double total = 0.0;
    for (size_t j = r * 5; j < r * 5 + 5; ++j) total += t[j], ce[r] -= t[j] * std::log(s[j]);
    for (size_t j = r * 5; j < r * 5 + 5; ++j) {
      dz[j] = w[r] * (s[j] * total - t[j]);
      dt[j] = -w[r] * std::log(s[j]);
    }
  }
  c.check(loss, {{"y", ce}, {"grad/z", dz}, {"grad/t", dt}});
}

// The gradient op is differentiable too (for second-order use), in all three
// operands; its value is g (softmax(z) sum(t) - t) per row.
TEST(GradCheck, SoftmaxCrossEntropyGrad) {
  GradCase c;
  std::vector<float> z = c.uniform(15, -2, 2, 0.05f);
  NodeId nz = c.param("z", {3, 5}, z);
  std::vector<float> t = c.uniform(15, 0, 1, 0.05f);
  NodeId nt = c.param("t", {3, 5}, t);
  std::vector<float> g = c.uniform(3, -1, 1, 0.05f);
  NodeId y = c.b().softmax_cross_entropy_grad(nz, nt, c.param("g", {3}, g));
  c.b().output("y", y);
  std::vector<double> s = SoftmaxRows(z, 5), value(15);
  for (size_t r = 0; r < 3; ++r) {
    double total = 0.0;
    for (size_t j = r * 5; j < r * 5 + 5; ++j) total += t[j];
    for (size_t j = r * 5; j < r * 5 + 5; ++j) value[j] = g[r] * (s[j] * total - t[j]);
  }
  c.check(c.weighted_sum(y), {{"y", value}});
}

// The losses are scalars already, so they are checked without extra weights.
// Closed forms of the batch mean over 3 rows, with t the target distribution
// (one-hot for sparse labels) and T = sum(t) per row: from logits z,
// T logsumexp(z) - sum(t z) with gradient (softmax(z) T - t) / 3; from
// probabilities p, renormalised as Keras does, T log(sum(p)) - sum(t log p)
// with gradient (T / sum(p) - t / p) / 3; mean squared error mean((t - p)^2).
void CheckLoss(const Loss& loss, bool softmax_output, bool probabilities) {
  GradCase c;
  ir::Builder& b = c.b();
  std::vector<float> x =
      probabilities ? c.uniform(12, 0.05f, 0.95f, 0.05f) : c.uniform(12, -2, 2, 0.05f);
  NodeId nx = c.param("out", {3, 4}, x);
  detail::Recorded out{nx};
  if (softmax_output) out = detail::record_softmax(b, nx);
  NodeId labels;
  std::vector<float> t(12, 0.0f);
  const bool mse = std::holds_alternative<losses::MeanSquaredError>(loss.value());
  if (std::holds_alternative<losses::SparseCategoricalCrossentropy>(loss.value())) {
    labels = c.feed("y", i32({3}, {2, 0, 3}));
    t[2] = t[4] = t[11] = 1.0f;
  } else if (!mse) {
    // Soft labels exercise every class's term, not only the picked one.
    t = {0, 0, 1, 0, 0.25f, 0.25f, 0.5f, 0, 0.1f, 0.2f, 0.3f, 0.4f};
    labels = c.feed("y", f32({3, 4}, t));
  } else {
    t = c.uniform(12, -1, 1);
    labels = c.feed("y", f32({3, 4}, t));
  }
  double value = 0.0;
  std::vector<double> grad(12);
  const std::vector<double> s = SoftmaxRows(x, 4);
  for (size_t r = 0; r < 12; r += 4) {
    double total = 0.0, sum_p = 0.0, sum_exp = 0.0;
    for (size_t j = r; j < r + 4; ++j)
      total += t[j], sum_p += x[j], sum_exp += std::exp(double{x[j]});
    if (!mse) value += total * std::log(probabilities ? sum_p : sum_exp) / 3;
    for (size_t j = r; j < r + 4; ++j) {
      const double p = x[j], d = p - t[j];
      if (mse) {
        value += d * d / 12;
        grad[j] = 2 * d / 12;
      } else if (!probabilities) {
        value -= t[j] * p / 3;
        grad[j] = (s[j] * total - t[j]) / 3;
      } else {
        value -= t[j] * std::log(p) / 3;
        grad[j] = (total / sum_p - t[j] / p) / 3;
      }
    }
  }
  c.check(detail::record_loss(b, loss, out, labels), {{"loss", {value}}, {"grad/out", grad}});
}

TEST(GradCheck, SparseCategoricalCrossentropyFromLogits) {
  CheckLoss(losses::SparseCategoricalCrossentropy{.from_logits = true}, /*softmax_output=*/false,
            /*probabilities=*/false);
}

TEST(GradCheck, SparseCategoricalCrossentropyOnProbabilities) {
  CheckLoss(losses::SparseCategoricalCrossentropy{}, /*softmax_output=*/false,
            /*probabilities=*/true);
}

TEST(GradCheck, SparseCategoricalCrossentropyOnSoftmaxOutput) {
  CheckLoss(losses::SparseCategoricalCrossentropy{}, /*softmax_output=*/true,
            /*probabilities=*/false);
}

TEST(GradCheck, CategoricalCrossentropyFromLogits) {
  CheckLoss(losses::CategoricalCrossentropy{.from_logits = true}, /*softmax_output=*/false,
            /*probabilities=*/false);
}

TEST(GradCheck, CategoricalCrossentropyOnProbabilities) {
  CheckLoss(losses::CategoricalCrossentropy{}, /*softmax_output=*/false,
            /*probabilities=*/true);
}

TEST(GradCheck, CategoricalCrossentropyOnSoftmaxOutput) {
  CheckLoss(losses::CategoricalCrossentropy{}, /*softmax_output=*/true,
            /*probabilities=*/false);
}

// Keras 3 values on probabilities that do not sum to 1 (0.2, 0.3, 0.1 for
// class 1): sparse takes log(clip(p)) as logits and categorical renormalises
// first, so both give -log(0.3 / 0.6) = log 2, not -log(0.3).
TEST(LossValues, CrossEntropyOnUnnormalisedProbabilitiesMatchesKeras) {
  for (const Loss& loss :
       {Loss(losses::SparseCategoricalCrossentropy{}), Loss(losses::CategoricalCrossentropy{})}) {
    SCOPED_TRACE(loss.name());
    ir::Graph g;
    ir::Builder b(&g);
    Tensor p = f32({1, 3}, {0.2f, 0.3f, 0.1f});
    bool sparse = loss.name() == "sparse_categorical_crossentropy";
    Tensor y = sparse ? i32({1}, {1}) : f32({1, 3}, {0, 1, 0});
    NodeId out = b.input("p", {ir::DType::kF32, {1, 3}});
    NodeId labels = b.input("y", type_of(y));
    b.output("loss", detail::record_loss(b, loss, {out}, labels));
    ASSERT_TRUE(b.status().ok()) << b.status();
    auto exec = make_interpreter()->compile(g);
    ASSERT_TRUE(exec.ok()) << exec.status();
    VariableStore vars;
    Outputs result;
    ASSERT_TRUE((*exec)->run({{"p", &p}, {"y", &y}}, vars, 0, &result).ok());
    EXPECT_NEAR(result.at("loss").data<float>()[0], std::log(2.0), 1e-6);
  }
}

// As in Keras 3, a softmax output layer's logits are used even when the loss
// says from_logits=True: the loss is not the softmax of the probabilities.
TEST(LossValues, FromLogitsOnASoftmaxOutputUsesItsLogits) {
  ir::Graph g;
  ir::Builder b(&g);
  NodeId z = b.input("z", {ir::DType::kF32, {1, 3}});
  NodeId y = b.input("y", {ir::DType::kI32, {1}});
  detail::Recorded out = detail::record_softmax(b, z);
  Loss from_logits(losses::SparseCategoricalCrossentropy{.from_logits = true});
  b.output("loss", detail::record_loss(b, from_logits, out, y));
  ASSERT_TRUE(b.status().ok()) << b.status();
  auto exec = make_interpreter()->compile(g);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Tensor zv = f32({1, 3}, {0.0f, std::log(3.0f), 0.0f}), yv = i32({1}, {1});
  VariableStore vars;
  Outputs result;
  ASSERT_TRUE((*exec)->run({{"z", &zv}, {"y", &yv}}, vars, 0, &result).ok());
  EXPECT_NEAR(result.at("loss").data<float>()[0], -std::log(0.6), 1e-6);  // softmax(z)[1] = 3/5
}

TEST(GradCheck, MeanSquaredError) {
  CheckLoss(losses::MeanSquaredError{}, /*softmax_output=*/false,
            /*probabilities=*/false);
}

// Runs autodiff on sum(w * f(x, y)) with exact values and returns the gradients.
template <typename F>
absl::StatusOr<Outputs> GradientsAt(std::vector<float> x, std::vector<float> y, F f) {
  GradCase c;
  Shape shape{static_cast<int64_t>(x.size())};
  NodeId nx = c.param("x", shape, x);
  NodeId ny = c.param("y", shape, y);
  set_var(c.store(), "w", f32(shape, std::vector<float>(x.size(), 1.0f)));
  NodeId w = c.b().variable("w", shape, false, "zeros");
  return c.differentiate(c.b().reduce_sum(c.b().mul(w, f(c.b(), nx, ny)), 0));
}

TEST(GradCheck, MaxAndMinAtATieSendTheGradientToTheSecondOperand) {
  auto max = GradientsAt({0.5f, -1.0f}, {0.5f, -1.0f},
                         [](ir::Builder& b, NodeId x, NodeId y) { return b.max(x, y); });
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_THAT(testing::values(max->at("grad/x")), ::testing::ElementsAre(0.0f, 0.0f));
  EXPECT_THAT(testing::values(max->at("grad/y")), ::testing::ElementsAre(1.0f, 1.0f));
  auto min = GradientsAt({0.5f, -1.0f}, {0.5f, -1.0f},
                         [](ir::Builder& b, NodeId x, NodeId y) { return b.min(x, y); });
  ASSERT_TRUE(min.ok()) << min.status();
  EXPECT_THAT(testing::values(min->at("grad/x")), ::testing::ElementsAre(0.0f, 0.0f));
  EXPECT_THAT(testing::values(min->at("grad/y")), ::testing::ElementsAre(1.0f, 1.0f));
}

TEST(GradCheck, ReluHasZeroGradientAtZero) {
  GradCase c;
  NodeId x = c.param("x", {3}, {0.0f, 0.5f, -0.5f});
  ir::Builder& b = c.b();
  detail::Recorded relu = detail::record_activation(b, "relu", {x});
  auto out = c.differentiate(b.reduce_sum(relu.out, 0));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(testing::values(out->at("grad/x")), ::testing::ElementsAre(0.0f, 1.0f, 0.0f));
}

// loss = sum(w * x) + g(y), where y reaches the loss only through `g`: x gets
// exactly w and y gets no gradient output at all.
template <typename F>
void CheckNoGradientThrough(F g) {
  GradCase c;
  std::vector<float> w = {0.5f, -1.25f, 2.0f};
  NodeId x = c.param("x", {3});
  NodeId y = c.param("y", {3}, {0.3f, -0.7f, 0.9f});
  set_var(c.store(), "w", f32({3}, w));
  ir::Builder& b = c.b();
  NodeId wx = b.reduce_sum(b.mul(b.variable("w", {3}, false, "zeros"), x), 0);
  NodeId through = g(b, y);
  while (through >= 0 && !b.shape_of(through).empty()) through = b.reduce_sum(through, 0);
  auto out = c.differentiate(b.add(wx, through));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->contains("grad/y"));
  ASSERT_TRUE(out->contains("grad/x"));
  EXPECT_EQ(testing::values(out->at("grad/x")), w);

  // With the differentiable path gone, nothing reaches a parameter.
  GradCase only;
  NodeId y2 = only.param("y", {3}, {0.3f, -0.7f, 0.9f});
  NodeId through2 = g(only.b(), y2);
  while (through2 >= 0 && !only.b().shape_of(through2).empty()) {
    through2 = only.b().reduce_sum(through2, 0);
  }
  auto err = only.differentiate(through2);
  ASSERT_FALSE(err.ok());
  EXPECT_THAT(err.status().message(), HasSubstr("no parameter"));
}

TEST(GradCheck, GreaterHasNoGradient) {
  CheckNoGradientThrough(
      [](ir::Builder& b, NodeId y) { return b.greater(y, b.constant(0.0, {3})); });
}

TEST(GradCheck, EqualHasNoGradient) {
  CheckNoGradientThrough([](ir::Builder& b, NodeId y) { return b.equal(y, y); });
}

TEST(GradCheck, ArgMaxHasNoGradient) {
  CheckNoGradientThrough([](ir::Builder& b, NodeId y) {
    NodeId rows = b.reshape(y, {1, 3});
    return b.cast(b.argmax(rows, 1), ir::DType::kF32);
  });
}

TEST(GradCheck, OneHotHasNoGradient) {
  CheckNoGradientThrough([](ir::Builder& b, NodeId y) {
    return b.one_hot(b.cast(b.greater(y, b.constant(0.0, {3})), ir::DType::kI32), 2);
  });
}

TEST(GradCheck, CastToAnotherDtypeHasNoGradient) {
  CheckNoGradientThrough(
      [](ir::Builder& b, NodeId y) { return b.cast(b.cast(y, ir::DType::kI32), ir::DType::kF32); });
}

// Every op of ops.def is either checked above or known not to be differentiable;
// a new op fails here until it gets a gradient check.
TEST(GradCheck, EveryOpIsCovered) {
  const std::set<std::string_view> checked = {"neg",
                                              "exp",
                                              "log",
                                              "sqrt",
                                              "tanh",
                                              "softplus",
                                              "add",
                                              "sub",
                                              "mul",
                                              "div",
                                              "max",
                                              "min",
                                              "cast",
                                              "reshape",
                                              "broadcast",
                                              "transpose",
                                              "matmul",
                                              "reduce_sum",
                                              "reduce_max",
                                              "softmax_cross_entropy",
                                              "softmax_cross_entropy_grad",
                                              "all_reduce",
                                              "concat",
                                              "slice"};
  const std::set<std::string_view> not_differentiable = {
      "input", "variable", "constant", "random_uniform", "rows",  "greater",
      "equal", "argmax",   "one_hot",  "output",         "assign"};
  for (int i = 0; i < ir::kNumOps; ++i) {
    std::string_view name = ir::op_name(static_cast<ir::OpKind>(i));
    EXPECT_TRUE(checked.contains(name) != not_differentiable.contains(name))
        << "op " << name << " has no gradient check";
  }
}

TEST(AutodiffErrors, NoLossOutput) {
  GradCase c;
  NodeId x = c.param("x", {2});
  c.b().output("predictions", x);
  ir::Graph g = c.graph();
  absl::Status s = testing::run_passes(g, {"infer-shapes", "autodiff"});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("pass autodiff"));
  EXPECT_THAT(s.message(), HasSubstr("no loss"));
}

TEST(AutodiffErrors, LossDependsOnNoTrainableVariable) {
  GradCase c;
  ir::Builder& b = c.b();
  NodeId frozen = b.variable("frozen", {2}, /*trainable=*/false, "zeros");
  NodeId x = b.input("x", {ir::DType::kF32, {2}});
  auto out = c.differentiate(b.reduce_sum(b.mul(frozen, x), 0));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("no parameter"));
}

TEST(AutodiffErrors, LossMustBeAScalar) {
  GradCase c;
  NodeId x = c.param("x", {2});
  auto out = c.differentiate(c.b().exp(x));
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("the loss must be a f32 scalar, got f32[2]"));
}

}  // namespace
}  // namespace kiln
