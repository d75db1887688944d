// Keras semantics pinned to hand-computed values: the order fit() visits
// examples in, initialisers, the epoch loss, loss values and the scale of
// their gradients (one plain SGD step), and dropout. Each runs on both
// executors where an executor is involved.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <kiln/kiln.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "test_util.h"

namespace kiln {
namespace {

using namespace layers;
using ::testing::ElementsAreArray;

class PerBackend : public ::testing::TestWithParam<Backend> {
 protected:
  CompileOptions options() const { return {.backend = GetParam()}; }
};

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kJit ? "Jit" : "Interpreter";
}

INSTANTIATE_TEST_SUITE_P(Backend, PerBackend,
                         ::testing::Values(Backend::kJit, Backend::kInterpreter), BackendName);

// A [rows, cols] f32 tensor from a generator of (row, col).
template <typename F>
Tensor Matrix(int64_t rows, int64_t cols, F f) {
  Tensor t(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) t.data<float>()[i * cols + j] = f(i, j);
  }
  return t;
}

double At(const Tensor& t, int64_t i, int64_t j) { return t.data<float>()[i * t.dim(1) + j]; }

// The order fit() visits examples in, per epoch. With batch size 1, a model
// that always predicts 0 (zero input, zero bias, learning rate 0) and MSE
// targets y_i = i + 1, batch t's loss is (i + 1)^2; the running mean in each
// batch's logs gives it back: loss_t = (t + 1) mean_t - t mean_(t-1).
std::vector<std::vector<int>> VisitOrder(uint64_t seed, bool shuffle, int n, int epochs) {
  set_random_seed(seed);
  Sequential model({Dense(1)});
  model.build({1});
  model.compile(optimizers::SGD{.learning_rate = 0.0}, "mean_squared_error");
  Tensor x(DType::kF32, {n, 1});
  Tensor y = Matrix(n, 1, [](int64_t i, int64_t) { return static_cast<float>(i + 1); });
  std::vector<std::vector<int>> orders;
  double previous_mean = 0;
  auto record = callbacks::LambdaCallback(
      {.on_epoch_begin = [&](int, const Logs&) { orders.emplace_back(); },
       .on_train_batch_end =
           [&](int batch, const Logs& logs) {
             double mean = logs.at("loss");
             double loss = (batch + 1) * mean - batch * (batch ? previous_mean : 0.0);
             previous_mean = mean;
             orders.back().push_back(static_cast<int>(std::lround(std::sqrt(loss))) - 1);
           }});
  model.fit(
      x, y,
      {.epochs = epochs, .batch_size = 1, .verbose = 0, .callbacks = {record}, .shuffle = shuffle});
  return orders;
}

TEST(Shuffle, EveryExampleOncePerEpochInAnOrderThatChangesAndFollowsTheSeed) {
  const int n = 12;
  std::vector<std::vector<int>> orders = VisitOrder(3, /*shuffle=*/true, n, 4);
  ASSERT_EQ(orders.size(), 4u);
  std::vector<int> identity(n);
  std::iota(identity.begin(), identity.end(), 0);
  for (const std::vector<int>& order : orders) {
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, identity) << "an epoch must visit every example exactly once";
  }
  EXPECT_EQ(std::set<std::vector<int>>(orders.begin(), orders.end()).size(), 4u)
      << "every epoch must have its own order";
  EXPECT_NE(orders[0], identity);
  EXPECT_EQ(VisitOrder(3, true, n, 4), orders) << "the same seed must give the same orders";
  EXPECT_NE(VisitOrder(4, true, n, 4), orders) << "another seed must give other orders";
  for (const std::vector<int>& order : VisitOrder(3, /*shuffle=*/false, n, 2)) {
    EXPECT_EQ(order, identity);
  }
}

// Keras's defaults: kernel ~ U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)), bias 0.
TEST(Initializers, GlorotUniformKernelsAndZeroBiasesReproducedBySeed) {
  auto weights = [](uint64_t seed) {
    set_random_seed(seed);
    Sequential model({Dense(64), Dense(10)});
    model.build({100});
    return model.get_weights();
  };
  std::vector<Tensor> w = weights(5);
  ASSERT_EQ(w.size(), 4u);
  for (int layer = 0; layer < 2; ++layer) {
    const Tensor& kernel = w[2 * layer];
    const double limit = std::sqrt(6.0 / static_cast<double>(kernel.dim(0) + kernel.dim(1)));
    double lo = 0, hi = 0, sum = 0, squares = 0;
    for (int64_t i = 0; i < kernel.size(); ++i) {
      double v = kernel.data<float>()[i];
      lo = std::min(lo, v), hi = std::max(hi, v), sum += v, squares += v * v;
    }
    const double n = static_cast<double>(kernel.size());
    EXPECT_LE(hi, limit);
    EXPECT_GE(lo, -limit);
    // The values fill the interval: extremes near its ends, uniform variance limit^2 / 3.
    EXPECT_GT(hi, 0.95 * limit);
    EXPECT_LT(lo, -0.95 * limit);
    EXPECT_NEAR(sum / n, 0.0, 5 * limit / std::sqrt(3 * n));
    EXPECT_NEAR(squares / n / (limit * limit / 3), 1.0, 0.15);
    const Tensor& bias = w[2 * layer + 1];
    for (int64_t i = 0; i < bias.size(); ++i) EXPECT_EQ(bias.data<float>()[i], 0.0f);
  }
  std::vector<Tensor> again = weights(5), other = weights(6);
  EXPECT_EQ(testing::values(again[0]), testing::values(w[0]));
  EXPECT_EQ(testing::values(again[2]), testing::values(w[2]));
  EXPECT_NE(testing::values(other[0]), testing::values(w[0]));
}

// History's epoch loss is the sample-weighted mean of the batch losses: a
// partial last batch counts for its rows, not as a whole batch.
TEST_P(PerBackend, EpochLossIsTheSampleWeightedMeanOfBatchLosses) {
  set_random_seed(8);
  Sequential model({Dense(2)});
  model.build({3});
  model.compile(optimizers::SGD{.learning_rate = 0.0}, "mean_squared_error", {}, options());
  const int64_t n = 10;
  Tensor x = Matrix(n, 3, [](int64_t i, int64_t j) { return std::sin(1.0f + i + 3.0f * j); });
  // The partial last batch (rows 8 and 9) has far larger errors than the rest.
  Tensor y = Matrix(n, 2, [](int64_t i, int64_t j) { return i >= 8 ? 10.0f + j : 0.1f * j; });
  History h = model.fit(x, y, {.batch_size = 4, .verbose = 0, .shuffle = false});
  Tensor p = model.predict(x, {.verbose = 0});
  std::vector<double> example(n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < 2; ++j) example[i] += std::pow(At(p, i, j) - At(y, i, j), 2) / 2;
  }
  auto mean = [&](int64_t begin, int64_t end) {
    return std::accumulate(example.begin() + begin, example.begin() + end, 0.0) / (end - begin);
  };
  const double weighted = mean(0, n);
  const double unweighted = (mean(0, 4) + mean(4, 8) + mean(8, 10)) / 3;
  ASSERT_GT(std::fabs(weighted - unweighted), 1.0) << "the data must tell the two apart";
  EXPECT_NEAR(h["loss"][0], weighted, 1e-6 * weighted);
}

// One plain SGD step on a batch of 5: W -= lr * X^T dL/dP and b -= lr *
// sum(dL/dP), with dL/dP = 2 (P - Y) / (batch * units) for MSE (Keras: mean
// over the last axis, then over the batch).
TEST_P(PerBackend, MeanSquaredErrorValueAndOneSgdStep) {
  set_random_seed(9);
  Sequential model({Dense(3)});
  model.build({4});
  const double lr = 0.1;
  model.compile(optimizers::SGD{.learning_rate = lr}, "mean_squared_error", {}, options());
  const int64_t batch = 5, units = 3;
  Tensor x = Matrix(batch, 4, [](int64_t i, int64_t j) { return std::cos(0.7f * i + 1.3f * j); });
  Tensor y = Matrix(batch, units, [](int64_t i, int64_t j) { return 0.25f * (i - j); });
  std::vector<Tensor> before = model.get_weights();
  before[1] = Matrix(1, units, [](int64_t, int64_t j) { return 0.5f - j; }).reshape({units});
  model.set_weights(before);
  History h = model.fit(x, y, {.batch_size = static_cast<int>(batch), .verbose = 0});
  std::vector<Tensor> after = model.get_weights();

  const Tensor& w = before[0];
  double loss = 0;
  std::vector<double> dp(batch * units);
  for (int64_t i = 0; i < batch; ++i) {
    for (int64_t u = 0; u < units; ++u) {
      double pred = before[1].data<float>()[u];
      for (int64_t k = 0; k < 4; ++k) pred += At(x, i, k) * At(w, k, u);
      loss += std::pow(pred - At(y, i, u), 2) / (batch * units);
      dp[i * units + u] = 2 * (pred - At(y, i, u)) / (batch * units);
    }
  }
  EXPECT_NEAR(h["loss"][0], loss, 1e-6 * loss);
  for (int64_t u = 0; u < units; ++u) {
    double db = 0;
    for (int64_t i = 0; i < batch; ++i) db += dp[i * units + u];
    EXPECT_NEAR(after[1].data<float>()[u], before[1].data<float>()[u] - lr * db, 1e-6) << u;
    for (int64_t k = 0; k < 4; ++k) {
      double dw = 0;
      for (int64_t i = 0; i < batch; ++i) dw += At(x, i, k) * dp[i * units + u];
      EXPECT_NEAR(At(after[0], k, u), At(w, k, u) - lr * dw, 1e-6) << k << "," << u;
    }
  }
}

// Categorical cross-entropy of a softmax output on one-hot targets:
// -mean_i sum_j y_ij log softmax(z_i)_j, whose gradient with respect to the
// logits is (softmax - y) / batch.
TEST_P(PerBackend, CategoricalCrossentropyValueAndOneSgdStep) {
  set_random_seed(10);
  Sequential model({Dense(3, "softmax")});
  model.build({4});
  const double lr = 0.5;
  model.compile(optimizers::SGD{.learning_rate = lr}, "categorical_crossentropy", {}, options());
  const int64_t batch = 6, classes = 3;
  Tensor x = Matrix(batch, 4, [](int64_t i, int64_t j) { return std::sin(0.9f * i - 0.4f * j); });
  Tensor y = Matrix(batch, classes, [](int64_t i, int64_t j) { return i % 3 == j ? 1.0f : 0.0f; });
  std::vector<Tensor> before = model.get_weights();
  History h = model.fit(x, y, {.batch_size = static_cast<int>(batch), .verbose = 0});
  std::vector<Tensor> after = model.get_weights();

  double loss = 0;
  std::vector<double> dz(batch * classes);
  for (int64_t i = 0; i < batch; ++i) {
    std::vector<double> z(classes);
    for (int64_t c = 0; c < classes; ++c) {
      z[c] = before[1].data<float>()[c];
      for (int64_t k = 0; k < 4; ++k) z[c] += At(x, i, k) * At(before[0], k, c);
    }
    double top = *std::max_element(z.begin(), z.end()), total = 0;
    for (double v : z) total += std::exp(v - top);
    for (int64_t c = 0; c < classes; ++c) {
      double softmax = std::exp(z[c] - top) / total;
      loss -= At(y, i, c) * std::log(softmax) / batch;
      dz[i * classes + c] = (softmax - At(y, i, c)) / batch;
    }
  }
  EXPECT_NEAR(h["loss"][0], loss, 1e-6 * loss);
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t k = 0; k < 4; ++k) {
      double dw = 0;
      for (int64_t i = 0; i < batch; ++i) dw += At(x, i, k) * dz[i * classes + c];
      EXPECT_NEAR(At(after[0], k, c), At(before[0], k, c) - lr * dw, 1e-6) << k << "," << c;
    }
  }
}

// Dropout at training time keeps each input with probability 1 - rate and
// scales it by 1 / (1 - rate). One SGD step of Dense(1) from a zero kernel on
// an all-ones input with target 1 sets kernel_j = lr * 2 * dropout(x)_j, so
// with lr = 0.5 the kernel after the step is the dropout output itself.
TEST_P(PerBackend, DropoutKeepsABinomialShareScaledByOneOverKeep) {
  const int64_t n = 20000;
  const double rate = 0.3;
  set_random_seed(12);
  Sequential model({Dropout(rate), Dense(1)});
  model.build({n});
  model.compile(optimizers::SGD{.learning_rate = 0.5}, "mean_squared_error", {}, options());
  std::vector<Tensor> w = model.get_weights();
  std::fill_n(w[0].data<float>(), w[0].size(), 0.0f);
  model.set_weights(w);
  Tensor x = Matrix(1, n, [](int64_t, int64_t) { return 1.0f; });
  Tensor y = Matrix(1, 1, [](int64_t, int64_t) { return 1.0f; });
  model.fit(x, y, {.batch_size = 1, .verbose = 0});
  Tensor kernel = model.get_weights()[0];
  int64_t kept = 0;
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  for (int64_t j = 0; j < n; ++j) {
    float v = kernel.data<float>()[j];
    if (v == 0.0f) continue;
    ++kept;
    ASSERT_NEAR(v, scale, 1e-6 * scale) << "kept input " << j << " is not scaled by 1/(1-rate)";
  }
  const double mean = n * (1 - rate), sigma = std::sqrt(n * rate * (1 - rate));
  EXPECT_NEAR(static_cast<double>(kept), mean, 5 * sigma);
  // At inference dropout is the identity: the prediction is sum(kernel) + bias
  // (to float accuracy over 20000 terms; dropping or rescaling would be off by 30%).
  double expected = model.get_weights()[1].data<float>()[0];
  for (int64_t j = 0; j < n; ++j) expected += kernel.data<float>()[j];
  EXPECT_NEAR(model.predict(x, {.verbose = 0}).data<float>()[0], expected, 1e-4 * expected);
}

// Each activation's values against its definition in double precision.
TEST_P(PerBackend, ActivationValuesMatchTheirDefinitions) {
  struct Case {
    std::string name;
    double (*f)(double);
  };
  const std::vector<Case> cases = {
      {"linear", [](double x) { return x; }},
      {"relu", [](double x) { return std::max(x, 0.0); }},
      {"sigmoid", [](double x) { return 1 / (1 + std::exp(-x)); }},
      {"tanh", [](double x) { return std::tanh(x); }},
      {"softplus", [](double x) { return std::log1p(std::exp(x)); }},
  };
  // An identity kernel and zero bias make the layer's output its activation.
  const int64_t n = 41;
  Tensor x = Matrix(1, n, [](int64_t, int64_t j) { return -20.0f + static_cast<float>(j); });
  Tensor eye = Matrix(n, n, [](int64_t i, int64_t j) { return i == j ? 1.0f : 0.0f; });
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Sequential model({Dense(n, c.name)});
    model.build({n});
    model.set_weights({eye, Tensor(DType::kF32, {n})});
    model.compile("sgd", "mean_squared_error", {}, options());
    Tensor y = model.predict(x, {.verbose = 0});
    for (int64_t j = 0; j < n; ++j) {
      const double want = c.f(At(x, 0, j));
      EXPECT_NEAR(At(y, 0, j), want, 2e-7 * std::max(1.0, std::fabs(want)))
          << "x = " << At(x, 0, j);
    }
  }
  try {
    Dense(3, "gelu");
    ADD_FAILURE() << "an unknown activation was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(
                              "unknown activation \"gelu\" (known: linear, relu, sigmoid, softmax, "
                              "softplus, tanh)"));
  }
}

}  // namespace
}  // namespace kiln
