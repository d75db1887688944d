// The public API end to end on small synthetic data (Gaussian blobs).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <kiln/kiln.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <sstream>

#include "frontend/access.h"
#include "frontend/model_impl.h"
#include "test_util.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;
using namespace layers;

// `n` examples of `classes` Gaussian blobs in `dims` dimensions: centres at
// +-2 per axis, unit noise; labels are uint8, as the datasets give them.
struct Blobs {
  Tensor x, y;
};

Blobs MakeBlobs(int64_t n, int64_t dims, int classes, uint64_t seed) {
  Rng centres_rng(1000 + classes * 31 + dims);  // same centres for every seed
  std::vector<float> centres(classes * dims);
  for (float& c : centres) c = centres_rng.uniform() < 0.5f ? -2.0f : 2.0f;
  Rng rng(seed);
  Tensor x(DType::kF32, {n, dims}), y(DType::kU8, {n});
  for (int64_t i = 0; i < n; ++i) {
    int label = static_cast<int>(rng.uniform_int(classes));
    y.data<uint8_t>()[i] = static_cast<uint8_t>(label);
    for (int64_t d = 0; d < dims; ++d) {
      // Box-Muller: a standard normal from two uniforms.
      double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
      double noise = std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
      x.data<float>()[i * dims + d] = centres[label * dims + d] + static_cast<float>(noise);
    }
  }
  return {std::move(x), std::move(y)};
}

const FitOptions kQuiet{.verbose = 0};

std::vector<std::vector<uint8_t>> WeightBytes(const Layer& layer) {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& [name, t] : layer.get_weights()) {
    const auto* p = reinterpret_cast<const uint8_t*>(t.raw());
    out.emplace_back(p, p + t.nbytes());
  }
  return out;
}

Sequential BlobModel(int classes = 3) {
  return Sequential({Dense(16, "relu"), Dense(classes, "softmax")});
}

// Records the hooks fit() calls.
class Recorder : public Callback {
 public:
  void on_train_batch_end(int batch, const Logs& logs) override {
    batches.push_back(batch);
    if (stop_at_batch == static_cast<int>(batches.size()) - 1) model->stop_training = true;
    if (model_layer) weights_after_batch.push_back(WeightBytes(*model_layer));
  }
  void on_epoch_end(int epoch, const Logs& logs) override {
    epochs.push_back(epoch);
    epoch_logs.push_back(logs);
    if (stop_below && logs.at("loss") < *stop_below) model->stop_training = true;
  }
  void on_train_begin(const Logs&) override { ++train_begin; }
  void on_train_end(const Logs&) override { ++train_end; }

  std::vector<int> batches, epochs;
  std::vector<Logs> epoch_logs;
  std::vector<std::vector<std::vector<uint8_t>>> weights_after_batch;
  std::optional<double> stop_below;
  int stop_at_batch = -1;
  std::optional<Layer> model_layer;
  int train_begin = 0, train_end = 0;
};

TEST(Model, FitLowersLossAndRaisesAccuracy) {
  set_random_seed(1);
  Blobs train = MakeBlobs(300, 8, 3, 1), test = MakeBlobs(150, 8, 3, 2);
  Sequential model = BlobModel();
  model.compile(optimizers::Adam{.learning_rate = 0.01}, "sparse_categorical_crossentropy",
                {"accuracy"});
  History h = model.fit(train.x, train.y, {.epochs = 5, .batch_size = 32, .verbose = 0});
  ASSERT_EQ(h["loss"].size(), 5u);
  ASSERT_EQ(h["accuracy"].size(), 5u);
  EXPECT_EQ(h.epoch, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_LT(h["loss"].back(), 0.5 * h["loss"].front());
  EXPECT_GT(h["accuracy"].back(), h["accuracy"].front());
  EXPECT_GT(h["accuracy"].back(), 0.95);
  Evaluation e = model.evaluate(test.x, test.y, {.verbose = 0});
  EXPECT_GT(e.accuracy, 0.95);
  EXPECT_LT(e.loss, h["loss"].front());
  EXPECT_THROW(h["val_loss"], Error);
}

// An unset CompileOptions::backend comes from $KILN_BACKEND, else the JIT;
// an explicit one wins; a bad value is an error naming it.
TEST(Model, BackendFromOptionsOrEnvironment) {
  Sequential model({Dense(2)});
  model.build({3});
  EXPECT_THROW(model.backend(), Error);
  testing::ScopedEnv restore("KILN_BACKEND", std::nullopt);
  model.compile("sgd", "mse");
  EXPECT_EQ(model.backend(), Backend::kJit);
  setenv("KILN_BACKEND", "interpreter", 1);
  model.compile("sgd", "mse");
  EXPECT_EQ(model.backend(), Backend::kInterpreter);
  model.compile("sgd", "mse", {}, {.backend = Backend::kJit});
  EXPECT_EQ(model.backend(), Backend::kJit);
  setenv("KILN_BACKEND", "gpu", 1);
  try {
    model.compile("sgd", "mse");
    ADD_FAILURE() << "KILN_BACKEND=gpu was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("KILN_BACKEND=\"gpu\" is not a backend"));
  }
}

TEST(Model, EvaluateAndPredictShapes) {
  set_random_seed(2);
  Blobs data = MakeBlobs(10, 8, 3, 3);
  Sequential model = BlobModel();
  model.compile("sgd", "sparse_categorical_crossentropy");
  // Batches of 4 leave a partial batch of 2.
  Tensor p = model.predict(data.x, {.batch_size = 4, .verbose = 0});
  ASSERT_EQ(p.shape(), (Shape{10, 3}));
  for (int64_t i = 0; i < 10; ++i) {
    double sum = 0;
    for (int c = 0; c < 3; ++c) sum += p.data<float>()[i * 3 + c];
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << i;
    // Each row is the same whatever batch it is computed in.
    Tensor one = model.predict(data.x.slice(i, i + 1));
    for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(one.data<float>()[c], p.data<float>()[i * 3 + c]);
  }
  Evaluation e = model.evaluate(data.x, data.y, {.batch_size = 4, .verbose = 0});
  EXPECT_TRUE(std::isfinite(e.loss));
  EXPECT_GT(e.loss, 0.0);
  EXPECT_TRUE(std::isnan(e.accuracy)) << "not compiled with accuracy";
  // evaluate's batch size does not change the (sample-weighted) mean.
  Evaluation whole = model.evaluate(data.x, data.y, {.batch_size = 10, .verbose = 0});
  EXPECT_NEAR(whole.loss, e.loss, 1e-6);
}

// Dense on rank-3 inputs folds the batch into its rows, so the step is
// compiled per batch size (no batch dimension ?): fit feeds it the listed
// rows of x like any other step, the partial last batch too, and both
// executors train it alike.
TEST(Model, FitTrainsAModelCompiledPerBatchSize) {
  std::vector<std::vector<Tensor>> weights;
  for (Backend backend : {Backend::kInterpreter, Backend::kJit}) {
    set_random_seed(8);
    Sequential model({Dense(3), Flatten({2, 3}), Dense(2, "softmax")});
    model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"}, {.backend = backend});
    Tensor x(DType::kF32, {10, 2, 2});
    Tensor y(DType::kI32, {10});
    for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = std::sin(0.3f * i);
    for (int64_t i = 0; i < y.size(); ++i) y.data<int32_t>()[i] = static_cast<int32_t>(i % 2);
    History h = model.fit(x, y, {.epochs = 2, .batch_size = 4, .verbose = 0});
    ASSERT_EQ(h["loss"].size(), 2u);
    EXPECT_TRUE(std::isfinite(h["loss"][1]));
    weights.push_back(model.get_weights());
  }
  ASSERT_EQ(weights[0].size(), weights[1].size());
  for (size_t i = 0; i < weights[0].size(); ++i) {
    const std::vector<float> a = testing::values(weights[0][i]), b = testing::values(weights[1][i]);
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) EXPECT_NEAR(a[k], b[k], 1e-5f * (1 + std::fabs(a[k])));
  }
}

TEST(Model, LastPartialBatchIsTrained) {
  set_random_seed(3);
  Blobs data = MakeBlobs(10, 8, 3, 4);
  Sequential model = BlobModel();
  model.compile(optimizers::SGD{.learning_rate = 0.1}, "sparse_categorical_crossentropy");
  auto recorder = std::make_shared<Recorder>();
  recorder->model_layer = Layer(model);
  model.fit(data.x, data.y, {.epochs = 2, .batch_size = 4, .verbose = 0, .callbacks = {recorder}});
  // 10 examples in batches of 4: 4 + 4 + 2.
  EXPECT_EQ(recorder->batches, (std::vector<int>{0, 1, 2, 0, 1, 2}));
  ASSERT_EQ(recorder->weights_after_batch.size(), 6u);
  EXPECT_NE(recorder->weights_after_batch[2], recorder->weights_after_batch[1])
      << "the last partial batch did not update the weights";
  EXPECT_EQ(recorder->train_begin, 1);
  EXPECT_EQ(recorder->train_end, 1);
  EXPECT_EQ(recorder->epochs, (std::vector<int>{0, 1}));
}

TEST(Model, ValidationSplitUsesTheTailBeforeShuffling) {
  set_random_seed(4);
  Blobs data = MakeBlobs(100, 8, 3, 5);
  Sequential model = BlobModel();
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  auto recorder = std::make_shared<Recorder>();
  History h = model.fit(data.x, data.y,
                        {.epochs = 3,
                         .batch_size = 16,
                         .verbose = 0,
                         .callbacks = {recorder},
                         .validation_split = 0.2});
  ASSERT_EQ(h["val_loss"].size(), 3u);
  ASSERT_EQ(h["val_accuracy"].size(), 3u);
  // 80 training examples in batches of 16: 5 steps per epoch.
  EXPECT_EQ(recorder->batches.size(), 15u);
  // The last validation ran on the final weights over the last 20 examples.
  Evaluation tail = model.evaluate(data.x.slice(80, 100), data.y.slice(80, 100),
                                   {.batch_size = 16, .verbose = 0});
  EXPECT_DOUBLE_EQ(h["val_loss"].back(), tail.loss);
  EXPECT_DOUBLE_EQ(h["val_accuracy"].back(), tail.accuracy);
  ASSERT_EQ(recorder->epoch_logs.size(), 3u);
  EXPECT_EQ(recorder->epoch_logs.back().at("val_loss"), h["val_loss"].back());
}

TEST(Model, ValidationData) {
  set_random_seed(5);
  Blobs train = MakeBlobs(60, 8, 3, 6), val = MakeBlobs(30, 8, 3, 7);
  Sequential model = BlobModel();
  model.compile("adam", "sparse_categorical_crossentropy");
  History h =
      model.fit(train.x, train.y,
                {.epochs = 2, .verbose = 0, .validation_data = ValidationData{val.x, val.y}});
  ASSERT_EQ(h["val_loss"].size(), 2u);
  EXPECT_FALSE(h.history.contains("val_accuracy")) << "not compiled with accuracy";
  EXPECT_DOUBLE_EQ(h["val_loss"].back(), model.evaluate(val.x, val.y, {.verbose = 0}).loss);
}

// The tutorial's callback: stop once the training loss is below 0.4.
TEST(Model, StopTrainingInOnEpochEnd) {
  set_random_seed(6);
  Blobs data = MakeBlobs(200, 8, 3, 8);
  Sequential model = BlobModel();
  model.compile(optimizers::SGD{.learning_rate = 0.05}, "sparse_categorical_crossentropy");
  auto recorder = std::make_shared<Recorder>();
  recorder->stop_below = 0.4;
  History h = model.fit(data.x, data.y, {.epochs = 100, .verbose = 0, .callbacks = {recorder}});
  const std::vector<double>& loss = h["loss"];
  ASSERT_GE(loss.size(), 2u) << "the test needs a loss that starts above 0.4";
  ASSERT_LT(loss.size(), 100u) << "training never stopped";
  EXPECT_LT(loss.back(), 0.4);
  for (size_t i = 0; i + 1 < loss.size(); ++i) EXPECT_GE(loss[i], 0.4) << "epoch " << i;
  EXPECT_EQ(recorder->epochs.size(), loss.size());
}

TEST(Model, StopTrainingInOnTrainBatchEnd) {
  set_random_seed(7);
  Blobs data = MakeBlobs(64, 8, 3, 9);
  Sequential model = BlobModel();
  model.compile("adam", "sparse_categorical_crossentropy");
  auto recorder = std::make_shared<Recorder>();
  recorder->stop_at_batch = 1;
  History h = model.fit(data.x, data.y,
                        {.epochs = 3, .batch_size = 8, .verbose = 0, .callbacks = {recorder}});
  EXPECT_EQ(recorder->batches, (std::vector<int>{0, 1}));
  EXPECT_EQ(h.epoch, std::vector<int>{0});
  EXPECT_EQ(recorder->epochs, std::vector<int>{0});
  EXPECT_EQ(recorder->train_end, 1);
  // A new fit() starts again.
  recorder->stop_at_batch = -1;
  recorder->batches.clear();
  model.fit(data.x, data.y, {.epochs = 1, .batch_size = 8, .verbose = 0, .callbacks = {recorder}});
  EXPECT_EQ(recorder->batches.size(), 8u);
}

TEST(ModelErrors, DenseWithoutFlattenOnImagesMentionsFlatten) {
  Sequential model({Dense(16, "relu"), Dense(10)});
  model.compile("adam", losses::SparseCategoricalCrossentropy{.from_logits = true});
  Tensor x(DType::kF32, {8, 28, 28});
  Tensor y(DType::kU8, {8});
  try {
    model.fit(x, y, kQuiet);
    FAIL() << "fit accepted (None, 28, 10) outputs with one label per example";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("(None, 28, 10)"));
    EXPECT_THAT(e.what(), HasSubstr("Flatten"));
  }
}

TEST(ModelErrors, LabelsOutOfRangeNameTheLabelAndTheUnits) {
  Sequential model({Flatten(), Dense(5)});
  model.compile("adam", losses::SparseCategoricalCrossentropy{.from_logits = true});
  Tensor x(DType::kF32, {10, 2, 2});
  Tensor y = Tensor::from<uint8_t>({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  try {
    model.fit(x, y, kQuiet);
    FAIL() << "fit accepted label 9 for 5 units";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfRange);
    EXPECT_THAT(e.what(), HasSubstr("label 5 at y[5]"));
    EXPECT_THAT(e.what(), HasSubstr("5 units"));
  }
  EXPECT_THROW(model.evaluate(x, y, {.verbose = 0}), Error);
}

TEST(ModelErrors, UnknownNamesThrow) {
  try {
    Optimizer o("adamw");
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown optimizer \"adamw\""));
  }
  try {
    Loss l("hinge");
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown loss \"hinge\""));
  }
  try {
    Dense(3, "gelu");
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown activation \"gelu\""));
  }
  Sequential model = BlobModel();
  EXPECT_THROW(model.compile("adam", "mse", {"auc"}), Error);
  EXPECT_THROW(Dense(0), Error);
  EXPECT_THROW(Dropout(1.0), Error);
}

TEST(ModelErrors, FitBeforeCompileAndBadOptions) {
  Blobs data = MakeBlobs(8, 8, 3, 10);
  Sequential model = BlobModel();
  EXPECT_THROW(model.fit(data.x, data.y, kQuiet), Error);
  EXPECT_THROW(model.evaluate(data.x, data.y, {.verbose = 0}), Error);
  model.compile("sgd", "sparse_categorical_crossentropy");
  EXPECT_THROW(model.fit(data.x, data.y, {.batch_size = 0, .verbose = 0}), Error);
  EXPECT_THROW(model.fit(data.x, data.y, {.verbose = 0, .validation_split = 1.0}), Error);
  EXPECT_THROW(model.fit(data.x, data.y.slice(0, 7), kQuiet), Error);
  Tensor wrong_width(DType::kF32, {8, 5});
  EXPECT_THROW(model.predict(wrong_width), Error);
}

// ir(batch, true) documents that it needs compile(); it must say so rather
// than read an empty optimizer and loss.
TEST(ModelErrors, TrainingStepIrBeforeCompileThrows) {
  Sequential model({Flatten({2, 2}), Dense(3)});
  EXPECT_NO_THROW(model.ir(2, /*training_step=*/false));
  EXPECT_THROW(model.ir(2, /*training_step=*/true), Error);
}

TEST(Model, SummaryPrintsTheKerasTable) {
  Sequential model({Flatten({28, 28}), Dense(128, "relu"), Dense(10)});
  std::ostringstream os;
  model.summary(os);
  const std::string s = os.str();
  EXPECT_THAT(s, ::testing::StartsWith("Model: \"" + model.name() + "\"\n"));
  EXPECT_THAT(s, HasSubstr("Layer (type)"));
  EXPECT_THAT(s, HasSubstr("Output Shape"));
  EXPECT_THAT(s, HasSubstr("Param #"));
  EXPECT_THAT(s, HasSubstr("(None, 784)"));
  EXPECT_THAT(s, HasSubstr("(None, 128)"));
  EXPECT_THAT(s, HasSubstr("(None, 10)"));
  EXPECT_THAT(s, HasSubstr("100,480"));
  EXPECT_THAT(s, HasSubstr("1,290"));
  EXPECT_THAT(s, HasSubstr(" Total params: 101,770 (397.54 KB)\n"));
  EXPECT_THAT(s, HasSubstr(" Trainable params: 101,770 (397.54 KB)\n"));
  EXPECT_THAT(s, HasSubstr(" Non-trainable params: 0 (0.00 B)\n"));
  EXPECT_EQ(model.count_params(), 101770);
}

std::vector<float> SoftmaxOf(const float* logits, int n) {
  float m = *std::max_element(logits, logits + n);
  std::vector<float> p(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += p[i] = std::exp(logits[i] - m);
  for (float& v : p) v = static_cast<float>(v / sum);
  return p;
}

TEST(Model, NestedModelPredictsSoftmaxOfLogitsAndSharesWeights) {
  set_random_seed(8);
  Blobs data = MakeBlobs(40, 8, 3, 11);
  Sequential model({Dense(16, "relu"), Dense(3)});
  model.compile("adam", losses::SparseCategoricalCrossentropy{.from_logits = true});
  model.fit(data.x, data.y, {.epochs = 1, .verbose = 0});
  Sequential probability_model({model, Softmax()});

  auto check = [&] {
    Tensor logits = model.predict(data.x);
    Tensor probs = probability_model.predict(data.x);
    ASSERT_EQ(probs.shape(), (Shape{40, 3}));
    for (int64_t i = 0; i < 40; ++i) {
      std::vector<float> expected = SoftmaxOf(logits.data<float>() + i * 3, 3);
      for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(probs.data<float>()[i * 3 + c], expected[c], 1e-6) << i << "," << c;
      }
    }
  };
  check();
  EXPECT_EQ(WeightBytes(Layer(probability_model)), WeightBytes(Layer(model)));
  EXPECT_EQ(probability_model.count_params(), model.count_params());
  // Training the inner model moves the outer model's predictions with it.
  model.fit(data.x, data.y, {.epochs = 2, .verbose = 0});
  check();
}

TEST(Model, DropoutIsTheIdentityInPredictAndActiveInTraining) {
  set_random_seed(9);
  Blobs data = MakeBlobs(32, 8, 3, 12);
  Layer d1 = Dense(16, "relu"), d2 = Dense(3, "softmax");
  Sequential with_dropout({d1, Dropout(0.5), d2});
  Sequential without({d1, d2});
  // Prediction ignores dropout: same layers, same outputs.
  Tensor a = with_dropout.predict(data.x), b = without.predict(data.x);
  EXPECT_EQ(testing::values(a), testing::values(b));
  EXPECT_EQ(testing::values(with_dropout.predict(data.x)), testing::values(a));

  // With a zero learning rate, the training loss differs from the evaluated
  // one only through dropout.
  auto train_vs_eval = [&](Sequential& m) {
    m.compile(optimizers::SGD{.learning_rate = 0.0}, "sparse_categorical_crossentropy");
    History h = m.fit(data.x, data.y, {.batch_size = 32, .verbose = 0, .shuffle = false});
    return std::fabs(h["loss"][0] - m.evaluate(data.x, data.y, {.verbose = 0}).loss);
  };
  EXPECT_LT(train_vs_eval(without), 1e-6);
  EXPECT_GT(train_vs_eval(with_dropout), 1e-3);
}

struct TrainingRun {
  std::vector<std::vector<uint8_t>> weights;
  std::map<std::string, std::vector<double>> history;
};

TrainingRun TrainWithSeed(uint64_t seed, bool dropout) {
  set_random_seed(seed);
  Blobs data = MakeBlobs(64, 8, 3, 13);
  Sequential model =
      dropout ? Sequential({Dense(16, "relu"), Dropout(0.3), Dense(3, "softmax")}) : BlobModel();
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  History h = model.fit(data.x, data.y,
                        {.epochs = 2, .batch_size = 16, .verbose = 0, .validation_split = 0.25});
  return {WeightBytes(Layer(model)), h.history};
}

TEST(Model, SameSeedGivesBitIdenticalTraining) {
  TrainingRun a = TrainWithSeed(42, false), b = TrainWithSeed(42, false);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.history, b.history);
  TrainingRun c = TrainWithSeed(43, false);
  EXPECT_NE(a.weights, c.weights);
}

// Dropout masks are part of what set_random_seed() fixes.
TEST(Model, SameSeedGivesBitIdenticalTrainingWithDropout) {
  TrainingRun a = TrainWithSeed(42, true), b = TrainWithSeed(42, true);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.history, b.history);
}

// compile() starts a fresh optimizer, as in Keras: a new learning rate applies.
TEST(Model, RecompileUsesTheNewOptimizer) {
  set_random_seed(10);
  Blobs data = MakeBlobs(32, 8, 3, 14);
  Sequential model = BlobModel();
  model.compile(optimizers::SGD{.learning_rate = 0.5}, "sparse_categorical_crossentropy");
  model.fit(data.x, data.y, kQuiet);
  auto before = WeightBytes(Layer(model));
  model.compile(optimizers::SGD{.learning_rate = 0.0}, "sparse_categorical_crossentropy");
  model.fit(data.x, data.y, kQuiet);
  EXPECT_EQ(WeightBytes(Layer(model)), before) << "learning rate 0 still changed the weights";
}

// A sigmoid output with cross-entropy takes the clipped-probability path.
TEST(Model, SigmoidOutputTrainsWithCrossentropy) {
  set_random_seed(11);
  Blobs data = MakeBlobs(120, 8, 3, 15);
  Sequential model({Dense(16, "tanh"), Dense(3, "sigmoid")});
  model.compile(optimizers::Adam{.learning_rate = 0.01}, "sparse_categorical_crossentropy",
                {"accuracy"});
  History h = model.fit(data.x, data.y, {.epochs = 5, .verbose = 0});
  EXPECT_LT(h["loss"].back(), h["loss"].front());
  EXPECT_GT(h["accuracy"].back(), 0.9);
}

TEST(Model, OtherLossesTrain) {
  set_random_seed(12);
  Blobs data = MakeBlobs(120, 8, 3, 16);
  Tensor one_hot(DType::kF32, {120, 3});
  for (int64_t i = 0; i < 120; ++i) one_hot.data<float>()[i * 3 + data.y.data<uint8_t>()[i]] = 1;
  for (Loss loss : {Loss("categorical_crossentropy"), Loss("mse")}) {
    SCOPED_TRACE(loss.name());
    Sequential model = BlobModel();
    model.compile(optimizers::Adam{.learning_rate = 0.01}, loss, {"accuracy"});
    History h = model.fit(data.x, one_hot, {.epochs = 5, .verbose = 0});
    EXPECT_LT(h["loss"].back(), h["loss"].front());
    EXPECT_GT(h["accuracy"].back(), 0.9);
  }
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// A learning rate that blows the weights up: with check_numerics, fit stops at
// the first op whose value is not finite and names it, its layer, its phase,
// the epoch and the step; without, training runs on with a NaN loss.
TEST(CheckNumerics, ABlownUpLearningRateNamesTheFirstNonFiniteOp) {
  Blobs data = MakeBlobs(64, 4, 3, 5);
  for (Backend backend : {Backend::kInterpreter, Backend::kJit}) {
    SCOPED_TRACE(backend == Backend::kJit ? "jit" : "interpreter");
    for (bool check : {false, true}) {
      set_random_seed(3);
      Sequential model = BlobModel();
      model.compile(optimizers::SGD{.learning_rate = 1e30}, "sparse_categorical_crossentropy", {},
                    {.backend = backend, .check_numerics = check});
      if (!check) {
        History h = model.fit(data.x, data.y, {.epochs = 2, .batch_size = 16, .verbose = 0});
        EXPECT_FALSE(std::isfinite(h["loss"].back()));
        continue;
      }
      try {
        model.fit(data.x, data.y, {.epochs = 2, .batch_size = 16, .verbose = 0});
        FAIL() << "fit accepted non-finite values";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
        EXPECT_THAT(e.what(), ::testing::MatchesRegex(
                                  "fit: epoch 1, step [0-9]+: check_numerics: %[0-9]+ = [a-z_]+ "
                                  "\\(layer [a-z_0-9]+, (fwd|bwd|upd)\\) produced (-?inf|nan) at "
                                  "element [0-9]+ of f32\\[[0-9,]*\\]"));
      }
    }
  }
}

TEST(CheckNumerics, OnWithTheEnvironmentVariable) {
  Blobs data = MakeBlobs(32, 4, 3, 5);
  testing::ScopedEnv env("KILN_CHECK_NUMERICS", "1");
  set_random_seed(3);
  Sequential model = BlobModel();
  model.compile(optimizers::SGD{.learning_rate = 1e30}, "sparse_categorical_crossentropy");
  EXPECT_THROW(model.fit(data.x, data.y, {.epochs = 2, .batch_size = 16, .verbose = 0}), Error);
}

// Both executors stop at the same step, and the op the JIT names (a kernel's
// stored value) is the interpreter's first non-finite op or a later one in the
// same kernel: the JIT cannot see values kept in registers.
TEST(CheckNumerics, JitAndInterpreterStopAtTheSameStep) {
  Blobs data = MakeBlobs(64, 4, 3, 5);
  std::string messages[2];
  for (Backend backend : {Backend::kInterpreter, Backend::kJit}) {
    set_random_seed(3);
    Sequential model = BlobModel();
    model.compile(optimizers::SGD{.learning_rate = 1e30}, "sparse_categorical_crossentropy", {},
                  {.backend = backend, .check_numerics = true});
    try {
      model.fit(data.x, data.y, {.epochs = 2, .batch_size = 16, .verbose = 0});
    } catch (const Error& e) {
      messages[backend == Backend::kJit] = e.what();
    }
  }
  auto step = [](const std::string& m) { return m.substr(0, m.find(':', 5)); };
  ASSERT_FALSE(messages[0].empty());
  EXPECT_EQ(step(messages[0]), step(messages[1])) << messages[0] << "\n" << messages[1];
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// A model whose layers need a static batch (Dense on rank-3 inputs folds the
// batch into its rows) compiles a graph per batch size; a program predicting
// with ever new sizes keeps at most kMaxExecutors, evicting the least recently used.
TEST(CompiledGraphs, TheCacheIsBoundedAndKeepsTheRecentlyUsed) {
  set_random_seed(1);
  Sequential model({Dense(3)});
  model.build({2, 2});
  const auto& state = detail::Access::state(model);
  const size_t cap = detail::TrainingState::kMaxExecutors;
  Tensor x(DType::kF32, {40, 2, 2});
  Tensor first = model.predict(x.slice(0, 1), {.batch_size = 1, .verbose = 0});
  for (int64_t n = 2; n <= 2 * static_cast<int64_t>(cap); ++n) {
    model.predict(x.slice(0, 1), {.batch_size = 1, .verbose = 0});  // stays recently used
    model.predict(x.slice(0, n), {.batch_size = static_cast<int>(n), .verbose = 0});
    EXPECT_LE(state.executors.size(), cap);
  }
  EXPECT_TRUE(state.executors.count({detail::GraphKind::kPredict, 1, DType::kF32}));
  EXPECT_FALSE(state.executors.count({detail::GraphKind::kPredict, 2, DType::kF32}));
  // An evicted size compiles again and gives the same results.
  Tensor again = model.predict(x.slice(0, 2), {.batch_size = 2, .verbose = 0});
  EXPECT_EQ(testing::values(again).front(), testing::values(first).front());
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// predict() runs every batch, the partial last one too, on one
// batch-polymorphic graph, with the same bits per row as a graph compiled for
// exactly that many rows.
TEST(Predict, OneGraphForAnyNumberOfRowsWithTheExactBatchsBits) {
  for (Backend backend : {Backend::kJit, Backend::kInterpreter}) {
    set_random_seed(4);
    Sequential model({Flatten({3, 5}), Dense(9, "relu"), Dense(4, "softmax")});
    model.compile("sgd", "sparse_categorical_crossentropy", {}, {.backend = backend});
    Tensor x(DType::kF32, {100, 3, 5});
    for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = std::sin(0.37f * i);
    auto& impl = *detail::Access::impl(model);
    auto& state = const_cast<detail::TrainingState&>(detail::Access::state(model));
    for (int64_t n : {1, 7, 31, 32, 33, 100}) {
      SCOPED_TRACE(n);
      Tensor rows = x.slice(0, n);
      Tensor run = model.predict(rows, {.verbose = 0});
      for (int64_t begin = 0; begin < n; begin += 32) {
        int64_t end = std::min(n, begin + 32);
        Tensor xb = rows.slice(begin, end);
        ir::Graph graph = detail::planned_graph(impl, state, detail::GraphKind::kPredict,
                                                end - begin, DType::kF32);
        ASSERT_EQ(graph.capacity, end - begin);
        auto exact = state.engine->compile(graph);
        ASSERT_TRUE(exact.ok()) << exact.status();
        Outputs out;
        ASSERT_TRUE((*exact)->run({{"x", &xb}}, state.store, 0, &out).ok());
        const Tensor& want = out["predictions"];
        EXPECT_EQ(std::memcmp(run.raw() + begin * 16, want.raw(), want.nbytes()), 0);
      }
    }
    ASSERT_EQ(state.executors.size(), 1u);
    EXPECT_EQ(state.executors.begin()->first,
              std::make_tuple(detail::GraphKind::kPredict, int64_t{0}, DType::kF32));
    EXPECT_EQ(state.executors.begin()->second.capacity, 32);
  }
}

}  // namespace
}  // namespace kiln
