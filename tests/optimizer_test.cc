// The optimizer pass against Keras 3's update formulas, computed in double.
//
// The graph has two parameters with known gradients:
//   loss = sum(c * w) + 0.5 * sum(b * b)   =>   grad w = c (constant), grad b = b
// so one variable sees a constant gradient and the other one that changes
// with every step. Each test runs three steps and compares every variable and
// slot with a double-precision reference.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "ir/builder.h"
#include "passes/passes.h"
#include "runtime/executor.h"
#include "test_util.h"

namespace kiln {
namespace {

using Config = passes::OptimizerConfig;
using Kind = Config::Kind;
using testing::f32;

const std::vector<float> kW0 = {0.5f, -1.25f, 2.0f, 0.75f};
const std::vector<float> kC = {0.3f, -0.8f, 1.5f, -0.05f};
const std::vector<float> kB0 = {1.5f, -0.4f};

// The double-precision state of one variable and its slots.
struct Reference {
  std::vector<double> w, m, v, avg;
  explicit Reference(const std::vector<float>& w0)
      : w(w0.begin(), w0.end()), m(w0.size()), v(w0.size()), avg(w0.size()) {}
};

// One step of Keras 3's update for `kind`; `t` counts from 1.
void Step(const Config& c, int t, const std::vector<double>& g, Reference& r) {
  for (size_t i = 0; i < g.size(); ++i) {
    switch (c.kind) {
      case Kind::kSgd:
        if (c.momentum == 0.0) {
          r.w[i] -= c.learning_rate * g[i];
        } else {
          r.m[i] = c.momentum * r.m[i] - c.learning_rate * g[i];
          r.w[i] += c.nesterov ? c.momentum * r.m[i] - c.learning_rate * g[i] : r.m[i];
        }
        break;
      case Kind::kAdam: {
        r.m[i] += (g[i] - r.m[i]) * (1 - c.beta_1);
        r.v[i] += (g[i] * g[i] - r.v[i]) * (1 - c.beta_2);
        double alpha =
            c.learning_rate * std::sqrt(1 - std::pow(c.beta_2, t)) / (1 - std::pow(c.beta_1, t));
        r.w[i] -= alpha * r.m[i] / (std::sqrt(r.v[i]) + c.epsilon);
        break;
      }
      case Kind::kRmsprop: {
        r.v[i] = c.rho * r.v[i] + (1 - c.rho) * g[i] * g[i];
        double denominator = r.v[i];
        if (c.centered) {
          r.avg[i] = c.rho * r.avg[i] + (1 - c.rho) * g[i];
          denominator -= r.avg[i] * r.avg[i];
        }
        double increment = c.learning_rate * g[i] / std::sqrt(denominator + c.epsilon);
        if (c.momentum > 0) {
          r.m[i] = c.momentum * r.m[i] + increment;
          increment = r.m[i];
        }
        r.w[i] -= increment;
        break;
      }
    }
  }
}

void ExpectClose(const Tensor* actual, const std::vector<double>& expected,
                 const std::string& what) {
  ASSERT_NE(actual, nullptr) << what << " is not in the store";
  ASSERT_EQ(actual->size(), static_cast<int64_t>(expected.size())) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    double a = actual->data<float>()[i];
    EXPECT_LE(std::fabs(a - expected[i]), 1e-6 * std::fabs(expected[i]) + 1e-9)
        << what << "[" << i << "]: got " << a << ", expected " << expected[i];
  }
}

// Slot names each optimizer keeps per variable.
std::vector<std::string> SlotsOf(const Config& c) {
  switch (c.kind) {
    case Kind::kSgd:
      return c.momentum == 0.0 ? std::vector<std::string>{} : std::vector<std::string>{"momentum"};
    case Kind::kAdam:
      return {"m", "v"};
    case Kind::kRmsprop: {
      std::vector<std::string> slots{"velocity"};
      if (c.centered) slots.push_back("average_gradient");
      if (c.momentum > 0) slots.push_back("momentum");
      return slots;
    }
  }
  return {};
}

const std::vector<double>& SlotValues(const Config& c, const std::string& slot,
                                      const Reference& r) {
  if (slot == "v" || slot == "velocity") return r.v;
  if (slot == "average_gradient") return r.avg;
  return r.m;  // Adam's m and the momentum slots
}

void CheckThreeSteps(const Config& config) {
  ir::Graph g;
  ir::Builder b(&g);
  b.set_layer("dense");
  ir::NodeId w = b.variable("dense/kernel", {2, 2}, true, "glorot_uniform");
  ir::NodeId bias = b.variable("dense/bias", {2}, true, "zeros");
  ir::NodeId c = b.input("c", {ir::DType::kF32, {2, 2}});
  ir::NodeId cw = b.reduce_sum(b.reduce_sum(b.mul(c, w), 0), 0);
  ir::NodeId bb = b.scale(b.reduce_sum(b.mul(bias, bias), 0), 0.5);
  b.output("loss", b.add(cw, bb));
  ASSERT_TRUE(b.status().ok()) << b.status();
  absl::Status s = testing::run_passes(g, {"infer-shapes", "autodiff", "optimizer", "dce"}, config);
  ASSERT_TRUE(s.ok()) << s;
  testing::expect_round_trip(g);

  VariableStore store;
  testing::set_var(store, "dense/kernel", f32({2, 2}, kW0));
  testing::set_var(store, "dense/bias", f32({2}, kB0));
  Rng rng(0);
  ASSERT_TRUE(store.initialize(g, rng).ok());
  // Every slot starts at zero; the learning rate is a variable, so it can change.
  for (const std::string& slot : SlotsOf(config)) {
    for (const char* var : {"dense/kernel", "dense/bias"}) {
      const Tensor* t = store.find(std::string(var) + "/" + slot);
      ASSERT_NE(t, nullptr) << var << "/" << slot;
      for (int64_t i = 0; i < t->size(); ++i) EXPECT_EQ(t->data<float>()[i], 0.0f);
    }
  }
  ASSERT_NE(store.find("optimizer/learning_rate"), nullptr);
  EXPECT_EQ(store.find("optimizer/learning_rate")->data<float>()[0],
            static_cast<float>(config.learning_rate));

  auto exec = make_interpreter()->compile(g);
  ASSERT_TRUE(exec.ok()) << exec.status();
  Tensor c_value = f32({2, 2}, kC);
  Reference rw(kW0), rb(kB0);
  const std::vector<double> grad_w(kC.begin(), kC.end());
  for (int t = 1; t <= 3; ++t) {
    SCOPED_TRACE(t);
    std::vector<double> grad_b = rb.w;
    Outputs out;
    s = (*exec)->run({{"c", &c_value}}, store, t, &out);
    ASSERT_TRUE(s.ok()) << s;
    Step(config, t, grad_w, rw);
    Step(config, t, grad_b, rb);
    ExpectClose(store.find("dense/kernel"), rw.w, "kernel");
    ExpectClose(store.find("dense/bias"), rb.w, "bias");
    for (const std::string& slot : SlotsOf(config)) {
      ExpectClose(store.find("dense/kernel/" + slot), SlotValues(config, slot, rw),
                  "kernel/" + slot);
      ExpectClose(store.find("dense/bias/" + slot), SlotValues(config, slot, rb), "bias/" + slot);
    }
    ASSERT_NE(store.find("optimizer/iterations"), nullptr);
    EXPECT_EQ(store.find("optimizer/iterations")->data<float>()[0], static_cast<float>(t));
  }
}

TEST(Optimizer, SgdPlain) { CheckThreeSteps({.kind = Kind::kSgd, .learning_rate = 0.1}); }

TEST(Optimizer, SgdMomentum) {
  CheckThreeSteps({.kind = Kind::kSgd, .learning_rate = 0.1, .momentum = 0.9});
}

TEST(Optimizer, SgdNesterov) {
  CheckThreeSteps({.kind = Kind::kSgd, .learning_rate = 0.1, .momentum = 0.9, .nesterov = true});
}

TEST(Optimizer, AdamDefaults) { CheckThreeSteps({.kind = Kind::kAdam}); }

TEST(Optimizer, AdamWithBiasCorrectionAtLargerSteps) {
  CheckThreeSteps({.kind = Kind::kAdam, .learning_rate = 0.01, .beta_1 = 0.8, .beta_2 = 0.95});
}

// A large epsilon tells epsilon outside the square root (Adam) from inside it.
TEST(Optimizer, AdamEpsilonIsOutsideTheSquareRoot) {
  CheckThreeSteps({.kind = Kind::kAdam, .learning_rate = 0.05, .epsilon = 0.5});
}

TEST(Optimizer, RmspropDefaults) { CheckThreeSteps({.kind = Kind::kRmsprop}); }

TEST(Optimizer, RmspropEpsilonIsInsideTheSquareRoot) {
  CheckThreeSteps({.kind = Kind::kRmsprop, .learning_rate = 0.05, .epsilon = 0.5});
}

TEST(Optimizer, RmspropMomentum) {
  CheckThreeSteps({.kind = Kind::kRmsprop, .learning_rate = 0.01, .momentum = 0.9});
}

TEST(Optimizer, RmspropCentered) {
  CheckThreeSteps({.kind = Kind::kRmsprop, .learning_rate = 0.01, .rho = 0.8, .centered = true});
}

TEST(Optimizer, RmspropCenteredWithMomentum) {
  CheckThreeSteps(
      {.kind = Kind::kRmsprop, .learning_rate = 0.01, .momentum = 0.5, .centered = true});
}

// The reference itself must tell the variants apart, or the checks above
// could pass with the wrong formula.
TEST(Optimizer, ReferenceVariantsDiffer) {
  auto after = [](const Config& c) {
    Reference r(kW0);
    for (int t = 1; t <= 3; ++t) Step(c, t, std::vector<double>(kC.begin(), kC.end()), r);
    return r.w[0];
  };
  EXPECT_NE(after({.kind = Kind::kSgd, .momentum = 0.9}),
            after({.kind = Kind::kSgd, .momentum = 0.9, .nesterov = true}));
  // One step from zero slots with g = 1: m = 0.1, v = 0.001 (Adam), v = 0.1
  // (RMSprop). Adam adds epsilon to sqrt(v) after bias correction is folded
  // into alpha; RMSprop adds it under the square root.
  Config adam{.kind = Kind::kAdam, .learning_rate = 0.05, .epsilon = 0.5};
  Reference r(kW0);
  Step(adam, 1, {1.0, 1.0, 1.0, 1.0}, r);
  const double alpha = 0.05 * std::sqrt(1 - 0.999) / (1 - 0.9);
  EXPECT_NEAR(r.w[0], 0.5 - alpha * 0.1 / (std::sqrt(0.001) + 0.5), 1e-12);
  Config rms{.kind = Kind::kRmsprop, .learning_rate = 0.05, .epsilon = 0.5};
  Reference q(kW0);
  Step(rms, 1, {1.0, 1.0, 1.0, 1.0}, q);
  EXPECT_NEAR(q.w[0], 0.5 - 0.05 / std::sqrt(0.1 + 0.5), 1e-12);
}

TEST(Optimizer, RequiresGradients) {
  ir::Graph g;
  ir::Builder b(&g);
  b.output("loss", b.reduce_sum(b.variable("w", {2}, true, "zeros"), 0));
  absl::Status s = testing::run_passes(g, {"infer-shapes", "optimizer"});
  EXPECT_THAT(s.message(), ::testing::HasSubstr("run autodiff before the optimizer"));
}

// The training pipeline run again on a training step (found by fuzzing): the
// second update would add a second "optimizer/learning_rate", invalid IR, so
// the pass refuses with the name instead.
TEST(Optimizer, RefusesAGraphThatHasAnUpdateAlready) {
  ir::Graph g;
  ir::Builder b(&g);
  b.output("loss", b.reduce_sum(b.variable("w", {2}, true, "zeros"), 0));
  ASSERT_TRUE(testing::run_passes(g, {"infer-shapes", "autodiff", "optimizer"}).ok());
  absl::Status s = testing::run_passes(g, {"autodiff", "optimizer"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(),
              ::testing::HasSubstr("already has a variable \"optimizer/learning_rate\""));
}

}  // namespace
}  // namespace kiln
