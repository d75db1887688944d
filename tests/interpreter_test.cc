// Interpreter kernels against hand-computed values, and the step semantics of
// assign (updates land after the step; every read in the step sees the old value).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "ir/builder.h"
#include "runtime/executor.h"
#include "test_util.h"

namespace kiln {
namespace {

using ir::NodeId;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::f32;
using ::testing::HasSubstr;
using testing::i32;
using testing::values;

// Builds a graph with a builder, then runs it on the given feeds.
class Runner {
 public:
  Runner() : b_(&graph_) {}
  ir::Builder& b() { return b_; }
  VariableStore& store() { return store_; }

  NodeId feed(const std::string& name, Tensor t) {
    ir::Type type = type_of(t);
    feeds_[name] = std::move(t);
    return b_.input(name, type);
  }

  absl::Status run(uint64_t step_seed = 0) {
    if (!b_.status().ok()) return b_.status();
    if (!exec_) {
      testing::expect_round_trip(graph_);
      auto exec = make_interpreter()->compile(graph_);
      if (!exec.ok()) return exec.status();
      exec_ = *std::move(exec);
    }
    Feeds feeds;
    for (const auto& [name, t] : feeds_) feeds[name] = &t;
    return exec_->run(feeds, store_, step_seed, &out_);
  }

  // Runs once and returns output `name` (failing the test on error).
  Tensor get(const std::string& name) {
    absl::Status s = run();
    EXPECT_TRUE(s.ok()) << s;
    return s.ok() ? out_.at(name) : Tensor();
  }

  const Outputs& outputs() const { return out_; }

 private:
  ir::Graph graph_;
  ir::Builder b_;
  VariableStore store_;
  std::map<std::string, Tensor> feeds_;
  std::unique_ptr<Executor> exec_;
  Outputs out_;
};

TEST(Kernels, Elementwise) {
  Runner r;
  ir::Builder& b = r.b();
  NodeId x = r.feed("x", f32({4}, {1.0f, -2.0f, 0.25f, 4.0f}));
  NodeId y = r.feed("y", f32({4}, {2.0f, -4.0f, 0.5f, -1.0f}));
  b.output("add", b.add(x, y));
  b.output("sub", b.sub(x, y));
  b.output("mul", b.mul(x, y));
  b.output("div", b.div(x, y));
  b.output("max", b.max(x, y));
  b.output("min", b.min(x, y));
  b.output("neg", b.neg(x));
  b.output("greater", b.greater(x, y));
  b.output("equal", b.equal(x, b.constant(0.25, {4})));
  ASSERT_TRUE(r.run().ok());
  const Outputs& o = r.outputs();
  EXPECT_THAT(values(o.at("add")), ElementsAre(3.0f, -6.0f, 0.75f, 3.0f));
  EXPECT_THAT(values(o.at("sub")), ElementsAre(-1.0f, 2.0f, -0.25f, 5.0f));
  EXPECT_THAT(values(o.at("mul")), ElementsAre(2.0f, 8.0f, 0.125f, -4.0f));
  EXPECT_THAT(values(o.at("div")), ElementsAre(0.5f, 0.5f, 0.5f, -4.0f));
  EXPECT_THAT(values(o.at("max")), ElementsAre(2.0f, -2.0f, 0.5f, 4.0f));
  EXPECT_THAT(values(o.at("min")), ElementsAre(1.0f, -4.0f, 0.25f, -1.0f));
  EXPECT_THAT(values(o.at("neg")), ElementsAre(-1.0f, 2.0f, -0.25f, -4.0f));
  EXPECT_THAT(values(o.at("greater")), ElementsAre(0.0f, 1.0f, 0.0f, 1.0f));
  EXPECT_THAT(values(o.at("equal")), ElementsAre(0.0f, 0.0f, 1.0f, 0.0f));
}

TEST(Kernels, UnaryMath) {
  Runner r;
  ir::Builder& b = r.b();
  NodeId x = r.feed("x", f32({3}, {0.5f, 1.0f, 4.0f}));
  b.output("exp", b.exp(x));
  b.output("log", b.log(x));
  b.output("sqrt", b.sqrt(x));
  b.output("tanh", b.tanh(x));
  ASSERT_TRUE(r.run().ok());
  const Outputs& o = r.outputs();
  for (int i = 0; i < 3; ++i) {
    double v = std::vector<double>{0.5, 1.0, 4.0}[i];
    EXPECT_FLOAT_EQ(o.at("exp").data<float>()[i], std::exp(v));
    EXPECT_NEAR(o.at("log").data<float>()[i], std::log(v), 1e-6);
    EXPECT_FLOAT_EQ(o.at("sqrt").data<float>()[i], std::sqrt(v));
    EXPECT_FLOAT_EQ(o.at("tanh").data<float>()[i], std::tanh(v));
  }
}

// Max, min and reduce_max propagate NaN instead of dropping it.
TEST(Kernels, MaxMinPropagateNan) {
  Runner r;
  ir::Builder& b = r.b();
  const float nan = std::nanf("");
  NodeId x = r.feed("x", f32({2}, {nan, 1.0f}));
  NodeId y = r.feed("y", f32({2}, {1.0f, nan}));
  b.output("max", b.max(x, y));
  b.output("min", b.min(x, y));
  b.output("reduce_max", b.reduce_max(x, 0));
  ASSERT_TRUE(r.run().ok());
  for (const char* name : {"max", "min"}) {
    EXPECT_TRUE(std::isnan(r.outputs().at(name).data<float>()[0])) << name;
    EXPECT_TRUE(std::isnan(r.outputs().at(name).data<float>()[1])) << name;
  }
  EXPECT_TRUE(std::isnan(r.outputs().at("reduce_max").data<float>()[0]));
}

TEST(Kernels, BroadcastPatterns) {
  Runner r;
  ir::Builder& b = r.b();
  NodeId s = r.feed("s", f32({}, {7.0f}));
  NodeId row = r.feed("row", f32({3}, {1, 2, 3}));
  NodeId col = r.feed("col", f32({2}, {10, 20}));
  NodeId m = r.feed("m", f32({2, 3}, {1, 2, 3, 4, 5, 6}));
  b.output("scalar", b.broadcast(s, {2, 3}, {}));
  b.output("row", b.broadcast(row, {2, 3}, {1}));
  b.output("col", b.broadcast(col, {2, 3}, {0}));
  b.output("middle", b.broadcast(m, {2, 2, 3}, {0, 2}));
  b.output("last", b.broadcast(m, {2, 3, 2}, {0, 1}));
  b.output("to", b.broadcast_to(row, {2, 2, 3}));
  ASSERT_TRUE(r.run().ok()) << r.run();
  const Outputs& o = r.outputs();
  EXPECT_THAT(values(o.at("scalar")), ElementsAre(7, 7, 7, 7, 7, 7));
  EXPECT_THAT(values(o.at("row")), ElementsAre(1, 2, 3, 1, 2, 3));
  EXPECT_THAT(values(o.at("col")), ElementsAre(10, 10, 10, 20, 20, 20));
  EXPECT_THAT(values(o.at("middle")), ElementsAre(1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6));
  EXPECT_THAT(values(o.at("last")), ElementsAre(1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6));
  EXPECT_THAT(values(o.at("to")), ElementsAre(1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3));
  EXPECT_EQ(o.at("middle").shape(), (Shape{2, 2, 3}));
}

TEST(Kernels, BroadcastIntegers) {
  Runner r;
  NodeId x = r.feed("x", i32({2}, {-3, 5}));
  r.b().output("y", r.b().broadcast(x, {2, 2}, {1}));
  Tensor y = r.get("y");
  ASSERT_EQ(y.dtype(), DType::kI32);
  EXPECT_THAT(values(y), ElementsAre(-3, 5, -3, 5));
}

TEST(Kernels, TransposeAndReshape) {
  Runner r;
  ir::Builder& b = r.b();
  NodeId m = r.feed("m", f32({2, 3}, {1, 2, 3, 4, 5, 6}));
  b.output("t", b.transpose(m));
  b.output("r", b.reshape(m, {3, 2}));
  // Larger than one 32x32 block, so the blocked loop's edges are covered.
  std::vector<float> big(40 * 35);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
  NodeId bm = r.feed("big", f32({40, 35}, big));
  b.output("big_t", b.transpose(bm));
  ASSERT_TRUE(r.run().ok());
  const Outputs& o = r.outputs();
  EXPECT_EQ(o.at("t").shape(), (Shape{3, 2}));
  EXPECT_THAT(values(o.at("t")), ElementsAre(1, 4, 2, 5, 3, 6));
  EXPECT_EQ(o.at("r").shape(), (Shape{3, 2}));
  EXPECT_THAT(values(o.at("r")), ElementsAre(1, 2, 3, 4, 5, 6));
  const float* t = o.at("big_t").data<float>();
  for (int i = 0; i < 40; ++i) {
    for (int j = 0; j < 35; ++j) ASSERT_EQ(t[j * 40 + i], big[i * 35 + j]) << i << "," << j;
  }
}

TEST(Kernels, MatMul) {
  Runner r;
  NodeId a = r.feed("a", f32({2, 3}, {1, 2, 3, 4, 5, 6}));
  NodeId w = r.feed("w", f32({3, 2}, {7, 8, 9, 10, 11, 12}));
  r.b().output("y", r.b().matmul(a, w));
  EXPECT_THAT(values(r.get("y")), ElementsAre(58, 64, 139, 154));
}

// x[i][j][k] = 100 i + 10 j + k, reduced along each axis.
TEST(Kernels, ReduceEachAxisOf3D) {
  std::vector<float> x(2 * 3 * 4);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) x[(i * 3 + j) * 4 + k] = 100.0f * i + 10.0f * j + k;
    }
  }
  Runner r;
  ir::Builder& b = r.b();
  NodeId n = r.feed("x", f32({2, 3, 4}, x));
  for (int axis = 0; axis < 3; ++axis) {
    b.output("sum" + std::to_string(axis), b.reduce_sum(n, axis));
    b.output("max" + std::to_string(axis), b.reduce_max(n, axis));
  }
  ASSERT_TRUE(r.run().ok());
  const Outputs& o = r.outputs();
  EXPECT_EQ(o.at("sum0").shape(), (Shape{3, 4}));
  EXPECT_THAT(values(o.at("sum0")),
              ElementsAre(100, 102, 104, 106, 120, 122, 124, 126, 140, 142, 144, 146));
  EXPECT_THAT(values(o.at("max0")),
              ElementsAre(100, 101, 102, 103, 110, 111, 112, 113, 120, 121, 122, 123));
  EXPECT_EQ(o.at("sum1").shape(), (Shape{2, 4}));
  EXPECT_THAT(values(o.at("sum1")), ElementsAre(30, 33, 36, 39, 330, 333, 336, 339));
  EXPECT_THAT(values(o.at("max1")), ElementsAre(20, 21, 22, 23, 120, 121, 122, 123));
  EXPECT_EQ(o.at("sum2").shape(), (Shape{2, 3}));
  EXPECT_THAT(values(o.at("sum2")), ElementsAre(6, 46, 86, 406, 446, 486));
  EXPECT_THAT(values(o.at("max2")), ElementsAre(3, 13, 23, 103, 113, 123));
}

TEST(Kernels, ArgMaxTiesPickTheFirst) {
  Runner r;
  ir::Builder& b = r.b();
  NodeId x = r.feed("x", f32({3, 3}, {1, 3, 3, 2, 2, 1, -1, -5, -1}));
  b.output("rows", b.argmax(x, 1));
  b.output("cols", b.argmax(x, 0));
  ASSERT_TRUE(r.run().ok());
  ASSERT_EQ(r.outputs().at("rows").dtype(), DType::kI32);
  EXPECT_THAT(values(r.outputs().at("rows")), ElementsAre(1, 0, 0));
  EXPECT_THAT(values(r.outputs().at("cols")), ElementsAre(1, 0, 0));
}

TEST(Kernels, OneHot) {
  Runner r;
  NodeId labels = r.feed("labels", i32({3}, {2, 0, 1}));
  r.b().output("y", r.b().one_hot(labels, 3));
  Tensor y = r.get("y");
  EXPECT_EQ(y.shape(), (Shape{3, 3}));
  EXPECT_THAT(values(y), ElementsAre(0, 0, 1, 1, 0, 0, 0, 1, 0));
}

TEST(Kernels, OneHotOutOfRangeLabelIsAnErrorNamingTheLabel) {
  for (int32_t bad : {7, -1}) {
    Runner r;
    NodeId labels = r.feed("labels", i32({3}, {2, bad, 1}));
    r.b().set_layer("loss");
    r.b().output("y", r.b().one_hot(labels, 3));
    absl::Status s = r.run();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
    EXPECT_THAT(s.message(), HasSubstr("%1 = one_hot (layer loss, fwd)"));
    EXPECT_THAT(s.message(),
                HasSubstr("label " + std::to_string(bad) + " at index 1 is outside [0, 3)"));
  }
}

// From the logits, so huge logits neither overflow nor take log(0): row 0
// picks the largest (loss 0), row 1 a logit 2000 below it (loss 2000).
TEST(Kernels, SoftmaxCrossEntropyIsStableForHugeLogits) {
  Runner r;
  ir::Builder& b = r.b();
  NodeId z = r.feed("z", f32({2, 3}, {1000, 0, -1000, 1000, 0, -1000}));
  NodeId t = r.feed("t", f32({2, 3}, {1, 0, 0, 0, 0, 1}));
  NodeId g = r.feed("g", f32({2}, {0.5f, 0.5f}));
  b.output("loss", b.softmax_cross_entropy(z, t));
  b.output("dz", b.softmax_cross_entropy_grad(z, t, g));
  ASSERT_TRUE(r.run().ok());
  EXPECT_THAT(values(r.outputs().at("loss")), ElementsAre(0, 2000));
  // (softmax - one-hot) / 2, with softmax = (1, 0, 0) in both rows.
  EXPECT_THAT(values(r.outputs().at("dz")), ElementsAre(0, 0, 0, 0.5, 0, -0.5));
}

// Soft targets: loss = -sum(t log softmax(z)); gradient g (softmax sum(t) - t).
TEST(Kernels, SoftmaxCrossEntropyOfSoftTargets) {
  Runner r;
  ir::Builder& b = r.b();
  NodeId z = r.feed("z", f32({1, 2}, {0, std::log(3.0f)}));  // softmax = (1/4, 3/4)
  NodeId t = r.feed("t", f32({1, 2}, {0.5f, 1.0f}));
  NodeId g = r.feed("g", f32({1}, {2}));
  b.output("loss", b.softmax_cross_entropy(z, t));
  b.output("dz", b.softmax_cross_entropy_grad(z, t, g));
  ASSERT_TRUE(r.run().ok());
  float loss = -(0.5f * std::log(0.25f) + std::log(0.75f));
  EXPECT_NEAR(values(r.outputs().at("loss"))[0], loss, 1e-6);
  auto dz = values(r.outputs().at("dz"));
  EXPECT_NEAR(dz[0], 2 * (0.25 * 1.5 - 0.5), 1e-6);
  EXPECT_NEAR(dz[1], 2 * (0.75 * 1.5 - 1.0), 1e-6);
}

TEST(Kernels, SoftmaxCrossEntropyOperandErrors) {
  auto error = [](auto record) {
    ir::Graph g;
    ir::Builder b(&g);
    record(b);
    return std::string(b.status().message());
  };
  EXPECT_THAT(error([](ir::Builder& b) {
                b.softmax_cross_entropy(b.input("z", {ir::DType::kF32, {4}}),
                                        b.input("t", {ir::DType::kF32, {4}}));
              }),
              HasSubstr("logits must be [batch, classes], got f32[4]"));
  EXPECT_THAT(error([](ir::Builder& b) {
                b.softmax_cross_entropy(b.input("z", {ir::DType::kF32, {2, 3}}),
                                        b.input("t", {ir::DType::kF32, {2, 4}}));
              }),
              HasSubstr("operand types differ: f32[2,3] vs f32[2,4]"));
  EXPECT_THAT(error([](ir::Builder& b) {
                NodeId z = b.input("z", {ir::DType::kF32, {2, 3}});
                b.softmax_cross_entropy_grad(z, z, b.input("g", {ir::DType::kF32, {3}}));
              }),
              HasSubstr("the upstream gradient must be f32[2], got f32[3]"));
}

TEST(Kernels, Cast) {
  Runner r;
  ir::Builder& b = r.b();
  NodeId x = r.feed("x", f32({4}, {2.75f, -2.75f, 0.0f, 255.0f}));
  NodeId u = r.feed("u", Tensor::from<uint8_t>({3}, {0, 128, 255}));
  NodeId n = r.feed("n", i32({2}, {-7, 1 << 20}));
  // Only in-range values: a negative float to u8 has no defined result.
  NodeId p = r.feed("p", f32({3}, {2.75f, 0.0f, 255.0f}));
  b.output("f2i", b.cast(x, ir::DType::kI32));
  b.output("f2u", b.cast(p, ir::DType::kU8));
  b.output("u2f", b.cast(u, ir::DType::kF32));
  b.output("i2f", b.cast(n, ir::DType::kF32));
  b.output("f2f", b.cast(x, ir::DType::kF32));
  ASSERT_TRUE(r.run().ok());
  const Outputs& o = r.outputs();
  ASSERT_EQ(o.at("f2i").dtype(), DType::kI32);
  EXPECT_THAT(values(o.at("f2i")), ElementsAre(2, -2, 0, 255));  // toward zero
  ASSERT_EQ(o.at("f2u").dtype(), DType::kU8);
  EXPECT_THAT(values(o.at("f2u")), ElementsAre(2, 0, 255));
  EXPECT_THAT(values(o.at("u2f")), ElementsAre(0, 128, 255));
  EXPECT_THAT(values(o.at("i2f")), ElementsAre(-7, 1 << 20));
  EXPECT_THAT(values(o.at("f2f")), ElementsAre(2.75f, -2.75f, 0.0f, 255.0f));
}

TEST(Kernels, Constant) {
  Runner r;
  r.b().output("c", r.b().constant(0.1, {2}));
  EXPECT_THAT(values(r.get("c")), ElementsAre(0.1f, 0.1f));
}

TEST(Kernels, RandomUniformIsKeyedByStepAndNodeSeed) {
  Runner r;
  ir::Builder& b = r.b();
  b.output("a", b.random_uniform(1, {1000}));
  b.output("b", b.random_uniform(2, {1000}));
  ASSERT_TRUE(r.run(5).ok());
  const std::vector<float> a5 = values(r.outputs().at("a"));
  const std::vector<float> b5 = values(r.outputs().at("b"));
  ASSERT_TRUE(r.run(5).ok());
  EXPECT_EQ(values(r.outputs().at("a")), a5);
  ASSERT_TRUE(r.run(6).ok());
  EXPECT_NE(values(r.outputs().at("a")), a5);
  EXPECT_NE(a5, b5);
  double sum = 0;
  for (float v : a5) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LT(v, 1.0f);
    sum += v;
  }
  EXPECT_NEAR(sum / a5.size(), 0.5, 0.05);

  // A separately compiled graph with the same seed draws the same numbers.
  Runner other;
  other.b().output("a", other.b().random_uniform(1, {1000}));
  ASSERT_TRUE(other.run(5).ok());
  EXPECT_EQ(values(other.outputs().at("a")), a5);
}

TEST(Assign, TakesEffectAfterTheStep) {
  Runner r;
  ir::Builder& b = r.b();
  testing::set_var(r.store(), "w", f32({2}, {1.0f, 2.0f}));
  NodeId w = b.variable("w", {2}, false, "zeros");
  b.output("before", b.mul(w, b.constant(2.0, {2})));
  b.assign(w, b.add(w, b.constant(1.0, {2})));
  // Recorded after the assign, but still reads the value of the step's start.
  b.output("after", b.mul(w, b.constant(3.0, {2})));
  ASSERT_TRUE(r.run().ok());
  EXPECT_THAT(values(r.outputs().at("before")), ElementsAre(2.0f, 4.0f));
  EXPECT_THAT(values(r.outputs().at("after")), ElementsAre(3.0f, 6.0f));
  EXPECT_THAT(values(*r.store().find("w")), ElementsAre(2.0f, 3.0f));
  ASSERT_TRUE(r.run().ok());
  EXPECT_THAT(values(r.outputs().at("before")), ElementsAre(4.0f, 6.0f));
  EXPECT_THAT(values(*r.store().find("w")), ElementsAre(3.0f, 4.0f));
}

// An output of the variable itself is a read in the step too.
TEST(Assign, OutputOfTheAssignedVariableSeesTheOldValue) {
  Runner r;
  ir::Builder& b = r.b();
  testing::set_var(r.store(), "w", f32({2}, {1.0f, 2.0f}));
  NodeId w = b.variable("w", {2}, false, "zeros");
  b.output("w", w);
  b.output("w_reshaped", b.reshape(w, {2, 1}));
  b.assign(w, b.add(w, b.constant(1.0, {2})));
  ASSERT_TRUE(r.run().ok());
  EXPECT_THAT(values(*r.store().find("w")), ElementsAre(2.0f, 3.0f));
  EXPECT_THAT(values(r.outputs().at("w")), ElementsAre(1.0f, 2.0f));
  EXPECT_THAT(values(r.outputs().at("w_reshaped")), ElementsAre(1.0f, 2.0f));
}

// Assigns are simultaneous: one assign's target is not another's new value.
TEST(Assign, SwapReadsOldValues) {
  Runner r;
  ir::Builder& b = r.b();
  testing::set_var(r.store(), "a", f32({2}, {1.0f, 2.0f}));
  testing::set_var(r.store(), "b", f32({2}, {3.0f, 4.0f}));
  NodeId a = b.variable("a", {2}, false, "zeros");
  NodeId bv = b.variable("b", {2}, false, "zeros");
  b.assign(a, bv);
  b.assign(bv, a);
  ASSERT_TRUE(r.run().ok());
  EXPECT_THAT(values(*r.store().find("a")), ElementsAre(3.0f, 4.0f));
  EXPECT_THAT(values(*r.store().find("b")), ElementsAre(1.0f, 2.0f));
}

TEST(Executor, FeedAndVariableErrorsNameTheTensor) {
  {
    Runner r;
    r.b().set_layer("input");
    r.b().output("y", r.b().input("x", {ir::DType::kF32, {2}}));
    absl::Status s = r.run();
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("%0 = input (layer input, fwd)"));
    EXPECT_THAT(s.message(), HasSubstr("\"x\""));
  }
  {
    Runner r;
    r.b().output("y", r.b().variable("dense/kernel", {2, 2}, true, "glorot_uniform"));
    absl::Status s = r.run();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(s.message(), HasSubstr("\"dense/kernel\""));
  }
}

TEST(Executor, WrongFeedShapeIsAnError) {
  ir::Graph g;
  ir::Builder b(&g);
  b.output("y", b.input("x", {ir::DType::kF32, {2}}));
  auto exec = make_interpreter()->compile(g);
  ASSERT_TRUE(exec.ok());
  Tensor x = f32({3}, {1, 2, 3});
  VariableStore store;
  Outputs out;
  absl::Status s = (*exec)->run({{"x", &x}}, store, 0, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("\"x\" is f32[3], expected f32[2]"));
}

TEST(Executor, CompileVerifiesTheGraph) {
  ir::Graph g;
  ir::Node bad{.op = ir::OpKind::kNeg, .inputs = {}, .type = {ir::DType::kF32, {2}}};
  g.add(bad);
  auto exec = make_interpreter()->compile(g);
  ASSERT_FALSE(exec.ok());
  EXPECT_THAT(exec.status().message(), HasSubstr("%0 = neg"));
  EXPECT_THAT(exec.status().message(), HasSubstr("expects 1 operand, got 0"));
}

}  // namespace
}  // namespace kiln
