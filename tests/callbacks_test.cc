// Semantics of each built-in callback and of the test/predict hooks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <kiln/kiln.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_util.h"

namespace kiln {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace layers;

namespace fs = std::filesystem;

// Four well-separated points per class in 2-D, so every model learns them.
struct Data {
  Tensor x, y;
};

Data Points(int n = 48) {
  Tensor x(DType::kF32, {n, 2}), y(DType::kI32, {n});
  for (int i = 0; i < n; ++i) {
    int label = i % 2;
    x.data<float>()[2 * i] = (label ? 1.5f : -1.5f) + 0.1f * static_cast<float>(i % 5);
    x.data<float>()[2 * i + 1] = 0.3f * static_cast<float>(i % 3) - 0.3f;
    y.data<int32_t>()[i] = label;
  }
  return {std::move(x), std::move(y)};
}

Sequential Compiled(Optimizer opt = "adam") {
  set_random_seed(5);
  Sequential model({Dense(4, "relu"), Dense(2, "softmax")});
  model.build({2});
  model.compile(opt, "sparse_categorical_crossentropy", {"accuracy"});
  return model;
}

// Drives a callback's epoch hooks with a scripted metric, as fit() would.
struct Driver {
  Sequential& model;
  std::shared_ptr<Callback> cb;

  // Returns the epoch after which training stopped, or -1.
  int run(const std::string& key, const std::vector<double>& values,
          std::vector<Tensor>* weights_at_epoch = nullptr) {
    cb->model = &model;
    model.stop_training = false;
    cb->on_train_begin({});
    int stopped = -1;
    for (size_t e = 0; e < values.size(); ++e) {
      // Give each epoch distinct weights so restoring can be checked.
      std::vector<Tensor> w = model.get_weights();
      w[1].data<float>()[0] = static_cast<float>(e);
      model.set_weights(w);
      if (weights_at_epoch) weights_at_epoch->push_back(w[1]);
      cb->on_epoch_end(static_cast<int>(e), {{key, values[e]}});
      if (model.stop_training) {
        stopped = static_cast<int>(e);
        break;
      }
    }
    cb->on_train_end({});
    return stopped;
  }
  float bias0() const { return model.get_weights()[1].data<float>()[0]; }
};

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutImprovement) {
  Sequential model = Compiled();
  Driver d{model, callbacks::EarlyStopping({.monitor = "val_loss", .patience = 2})};
  EXPECT_EQ(d.run("val_loss", {1.0, 0.8, 0.9, 0.85, 0.7}), 3);
}

TEST(EarlyStopping, MinDeltaCountsSmallGainsAsNoImprovement) {
  Sequential model = Compiled();
  Driver d{model, callbacks::EarlyStopping({.monitor = "loss", .min_delta = 0.1, .patience = 1})};
  EXPECT_EQ(d.run("loss", {1.0, 0.95, 0.92, 0.5}), 1);
}

TEST(EarlyStopping, AutoModeMaximisesAccuracy) {
  Sequential model = Compiled();
  Driver d{model, callbacks::EarlyStopping({.monitor = "val_accuracy", .patience = 1})};
  EXPECT_EQ(d.run("val_accuracy", {0.5, 0.6, 0.7, 0.65}), 3);
  Driver forced{model,
                callbacks::EarlyStopping(
                    {.monitor = "val_accuracy", .patience = 1, .mode = callbacks::Mode::kMin})};
  EXPECT_EQ(forced.run("val_accuracy", {0.5, 0.6}), 1);
}

TEST(EarlyStopping, BaselineMustBeBeatenToResetPatience) {
  Sequential model = Compiled();
  Driver d{model,
           callbacks::EarlyStopping({.monitor = "val_loss", .patience = 2, .baseline = 0.5})};
  // Improving but never below the baseline: patience runs out.
  EXPECT_EQ(d.run("val_loss", {0.9, 0.8, 0.7, 0.6}), 1);
}

TEST(EarlyStopping, StartFromEpochIgnoresEarlyEpochs) {
  Sequential model = Compiled();
  Driver d{model, callbacks::EarlyStopping({.monitor = "loss", .start_from_epoch = 3})};
  EXPECT_EQ(d.run("loss", {1.0, 2.0, 3.0, 4.0, 5.0}), 4);
}

TEST(EarlyStopping, RestoresBestWeightsAfterEarlyStop) {
  Sequential model = Compiled();
  Driver d{model, callbacks::EarlyStopping(
                      {.monitor = "val_loss", .patience = 1, .restore_best_weights = true})};
  EXPECT_EQ(d.run("val_loss", {1.0, 0.5, 0.9, 0.8}), 2);
  EXPECT_EQ(d.bias0(), 1.0f);  // epoch 1 had the best val_loss
}

// Keras users expect this too: restoring applies even when training ran to the end.
TEST(EarlyStopping, RestoresBestWeightsWithoutEarlyStop) {
  Sequential model = Compiled();
  Driver d{model, callbacks::EarlyStopping(
                      {.monitor = "val_loss", .patience = 10, .restore_best_weights = true})};
  EXPECT_EQ(d.run("val_loss", {1.0, 0.3, 0.6, 0.7}), -1);
  EXPECT_EQ(d.bias0(), 1.0f);
}

TEST(EarlyStopping, StopsRealTrainingAndPrintsTheEpoch) {
  Sequential model = Compiled(optimizers::SGD{.learning_rate = 0.0});
  Data data = Points();
  ::testing::internal::CaptureStdout();
  // No shuffling: with a zero learning rate every epoch's loss is then identical.
  History h = model.fit(
      data.x, data.y,
      {.epochs = 10,
       .verbose = 0,
       .callbacks = {callbacks::EarlyStopping({.monitor = "loss", .patience = 2, .verbose = 1})},
       .shuffle = false});
  std::string out = ::testing::internal::GetCapturedStdout();
  // With a zero learning rate the loss never improves after epoch 0.
  EXPECT_EQ(h.epoch.size(), 3u);
  EXPECT_THAT(out, HasSubstr("Epoch 3: early stopping"));
}

TEST(ModelCheckpoint, FormatsThePathAndSavesEachEpoch) {
  testing::TempDir temp;
  const fs::path& dir = temp.dir();
  Sequential model = Compiled();
  Data data = Points();
  model.fit(
      data.x, data.y,
      {.epochs = 3,
       .verbose = 0,
       .callbacks = {callbacks::ModelCheckpoint(
           (dir / "w-{epoch:02d}-{loss:.2f}.safetensors").string(), {.save_weights_only = true})}});
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 3u);
  EXPECT_THAT(names[0], ::testing::StartsWith("w-01-"));
  EXPECT_THAT(names[2], ::testing::StartsWith("w-03-"));
  // The last checkpoint holds the final weights.
  Sequential other = Compiled();
  other.load_weights((dir / names[2]).string());
  auto a = model.get_weights(), b = other.get_weights();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(std::memcmp(a[i].raw(), b[i].raw(), a[i].nbytes()), 0);
  }
}

TEST(ModelCheckpoint, SaveBestOnlyKeepsTheBestEpoch) {
  testing::TempDir temp;
  fs::path path = temp.path("best.kiln");
  Sequential model = Compiled();
  auto cb =
      callbacks::ModelCheckpoint(path.string(), {.monitor = "val_loss", .save_best_only = true});
  Driver d{model, cb};
  std::vector<Tensor> per_epoch;
  d.run("val_loss", {0.9, 0.4, 0.6}, &per_epoch);
  Sequential loaded = load_model(path.string());  // full model: architecture + weights
  EXPECT_EQ(loaded.get_weights()[1].data<float>()[0], 1.0f);
}

TEST(ModelCheckpoint, UnknownPlaceholderIsAClearError) {
  Sequential model = Compiled();
  auto cb = callbacks::ModelCheckpoint("/tmp/kiln-{val_los}.kiln");
  cb->model = &model;
  try {
    cb->on_epoch_end(0, {{"val_loss", 1.0}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("{val_los}"));
  }
}

// A NaN in example 13 makes batch 3 (batch size 4, no shuffling) the first
// with a non-finite loss: training stops right after it, in epoch 0.
TEST(TerminateOnNaN, StopsAtTheBatchThatProducedTheNaN) {
  Sequential model = Compiled();
  Data data = Points();
  data.x.data<float>()[2 * 13] = std::nanf("");
  std::vector<int> batches;
  auto count = callbacks::LambdaCallback(
      {.on_train_batch_end = [&](int batch, const Logs&) { batches.push_back(batch); }});
  ::testing::internal::CaptureStdout();
  History h = model.fit(data.x, data.y,
                        {.epochs = 5,
                         .batch_size = 4,
                         .verbose = 0,
                         .callbacks = {callbacks::TerminateOnNaN(), count},
                         .shuffle = false});
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "Batch 3: Invalid loss, terminating training\n");
  EXPECT_THAT(batches, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(h.epoch, ElementsAre(0));
  EXPECT_TRUE(std::isnan(h["loss"][0]));
}

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
  return fields;
}

// Each row holds exactly History's values (shortest round-trip text).
TEST(CSVLogger, WritesAHeaderAndOneRowPerEpochEqualToHistory) {
  testing::TempDir temp;
  fs::path path = temp.path("log.csv");
  Sequential model = Compiled();
  Data data = Points();
  History h = model.fit(data.x, data.y,
                        {.epochs = 3,
                         .verbose = 0,
                         .callbacks = {callbacks::CSVLogger(path.string())},
                         .validation_split = 0.25});
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "epoch,accuracy,loss,val_accuracy,val_loss");
  const std::vector<std::string> header = SplitCsv(lines[0]);
  for (size_t row = 1; row < lines.size(); ++row) {
    std::vector<std::string> fields = SplitCsv(lines[row]);
    ASSERT_EQ(fields.size(), header.size()) << lines[row];
    EXPECT_EQ(fields[0], std::to_string(row - 1));
    for (size_t col = 1; col < header.size(); ++col) {
      EXPECT_EQ(std::stod(fields[col]), h[header[col]][row - 1]) << header[col] << " row " << row;
    }
  }
  // append=true continues the file without a second header.
  model.fit(data.x, data.y,
            {.epochs = 1,
             .verbose = 0,
             .callbacks = {callbacks::CSVLogger(path.string(), ',', /*append=*/true)},
             .validation_split = 0.25});
  std::ifstream again(path);
  int count = 0;
  for (std::string line; std::getline(again, line);) ++count;
  EXPECT_EQ(count, 5);
}

TEST(LambdaCallback, CallsTheGivenFunctions) {
  Sequential model = Compiled();
  Data data = Points(20);
  int batches = 0, epochs = 0, begins = 0;
  model.fit(data.x, data.y,
            {.epochs = 2,
             .batch_size = 8,
             .verbose = 0,
             .callbacks = {callbacks::LambdaCallback(
                 {.on_epoch_end = [&](int, const Logs&) { ++epochs; },
                  .on_train_batch_end = [&](int, const Logs&) { ++batches; },
                  .on_train_begin = [&](const Logs&) { ++begins; }})}});
  EXPECT_EQ(epochs, 2);
  EXPECT_EQ(batches, 6);  // 20 examples in batches of 8: 3 per epoch
  EXPECT_EQ(begins, 1);
}

TEST(LearningRateScheduler, SetsTheRateEachEpoch) {
  Sequential model = Compiled(optimizers::SGD{.learning_rate = 0.1});
  Data data = Points();
  std::vector<double> seen;
  auto schedule = [&](int epoch, double lr) {
    seen.push_back(lr);
    return epoch == 0 ? 0.05 : lr / 2;
  };
  model.fit(data.x, data.y,
            {.epochs = 3, .verbose = 0, .callbacks = {callbacks::LearningRateScheduler(schedule)}});
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_NEAR(seen[0], 0.1, 1e-7);
  EXPECT_NEAR(seen[1], 0.05, 1e-7);
  EXPECT_NEAR(model.learning_rate(), 0.0125, 1e-7);
}

TEST(LearningRateScheduler, ZeroRateFreezesTheWeights) {
  Sequential model = Compiled(optimizers::SGD{.learning_rate = 0.1});
  Data data = Points();
  std::vector<Tensor> before = model.get_weights();
  model.fit(data.x, data.y,
            {.epochs = 1,
             .verbose = 0,
             .callbacks = {callbacks::LearningRateScheduler([](int, double) { return 0.0; })}});
  std::vector<Tensor> after = model.get_weights();
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(std::memcmp(before[i].raw(), after[i].raw(), before[i].nbytes()), 0);
  }
}

TEST(ReduceLROnPlateau, ReducesAfterPatienceAndRespectsCooldownAndMinimum) {
  Sequential model = Compiled(optimizers::Adam{.learning_rate = 0.1});
  Data data = Points();
  model.fit(data.x, data.y, {.epochs = 1, .verbose = 0});  // creates the rate variable
  auto cb = callbacks::ReduceLROnPlateau(
      {.monitor = "val_loss", .factor = 0.5, .patience = 1, .cooldown = 2, .min_lr = 0.03});
  cb->model = &model;
  cb->on_train_begin({});
  std::vector<double> rates;
  for (double v : {1.0, 1.0, 1.0, 1.0, 1.0, 1.0}) {
    cb->on_epoch_end(static_cast<int>(rates.size()), {{"val_loss", v}});
    rates.push_back(model.learning_rate());
  }
  // Epoch 1 reduces (patience 1). As in Keras, the cooldown counter is decremented
  // before patience is counted, so cooldown=2 holds the rate for one epoch (2);
  // epoch 3 reduces to the floor, which then holds.
  EXPECT_NEAR(rates[0], 0.1, 1e-7);
  EXPECT_NEAR(rates[1], 0.05, 1e-7);
  EXPECT_NEAR(rates[2], 0.05, 1e-7);
  EXPECT_NEAR(rates[3], 0.03, 1e-7);
  EXPECT_NEAR(rates[5], 0.03, 1e-7);
}

// Counts every hook of evaluate() and predict(), and the validation pass of fit().
class HookCounter : public Callback {
 public:
  void on_test_begin(const Logs&) override { ++test_begin; }
  void on_test_end(const Logs& logs) override {
    ++test_end;
    last_test_logs = logs;
  }
  void on_test_batch_end(int, const Logs&) override { ++test_batches; }
  void on_predict_begin(const Logs&) override { ++predict_begin; }
  void on_predict_batch_end(int, const Logs&) override { ++predict_batches; }
  void on_predict_end(const Logs&) override { ++predict_end; }
  int test_begin = 0, test_end = 0, test_batches = 0;
  int predict_begin = 0, predict_batches = 0, predict_end = 0;
  Logs last_test_logs;
};

TEST(Hooks, EvaluatePredictAndValidationCallTheirHooks) {
  Sequential model = Compiled();
  Data data = Points(40);
  auto counter = std::make_shared<HookCounter>();
  model.evaluate(data.x, data.y, {.batch_size = 16, .verbose = 0, .callbacks = {counter}});
  EXPECT_EQ(counter->test_begin, 1);
  EXPECT_EQ(counter->test_batches, 3);
  EXPECT_TRUE(counter->last_test_logs.count("loss"));
  model.predict(data.x, {.batch_size = 16, .verbose = 0, .callbacks = {counter}});
  EXPECT_EQ(counter->predict_begin, 1);
  EXPECT_EQ(counter->predict_batches, 3);
  EXPECT_EQ(counter->predict_end, 1);
  model.fit(data.x, data.y,
            {.epochs = 2, .verbose = 0, .callbacks = {counter}, .validation_split = 0.2});
  EXPECT_EQ(counter->test_begin, 3);  // one validation pass per epoch
}

TEST(Progress, OneLinePerEpochWhenNotATerminal) {
  Sequential model = Compiled();
  Data data = Points();
  ::testing::internal::CaptureStdout();
  model.fit(data.x, data.y, {.epochs = 2, .batch_size = 4});
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_THAT(out, HasSubstr("Epoch 1/2\n12/12 "));
  EXPECT_THAT(out, HasSubstr("/step - accuracy: "));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4);  // 2 headers + 2 bars
  ::testing::internal::CaptureStdout();
  model.fit(data.x, data.y, {.epochs = 1, .verbose = 2});
  out = ::testing::internal::GetCapturedStdout();
  EXPECT_THAT(out, ::testing::MatchesRegex("2/2 - [0-9]+s - [0-9]+[mu]?s/step - accuracy: "
                                           "[0-9.e+-]+ - loss: [0-9.e+-]+\n"));
  ::testing::internal::CaptureStdout();
  model.fit(data.x, data.y, {.epochs = 1, .verbose = 0});
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
}

TEST(History, ParamsAndPlot) {
  Sequential model = Compiled();
  Data data = Points();
  History h = model.fit(data.x, data.y,
                        {.epochs = 3, .batch_size = 16, .verbose = 0, .validation_split = 0.25});
  EXPECT_EQ(h.params.at("epochs"), 3);
  EXPECT_EQ(h.params.at("steps"), 3);  // 36 training examples / 16, rounded up
  EXPECT_THAT(h.epoch, ElementsAre(0, 1, 2));
  testing::TempDir temp;
  fs::path svg = temp.path("curves.svg");
  h.plot(svg.string());
  std::ifstream in(svg);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  EXPECT_THAT(text, HasSubstr("<svg"));
  size_t lines = 0;
  for (size_t pos = 0; (pos = text.find("<polyline", pos)) != std::string::npos; ++pos) ++lines;
  // Loss and accuracy, training and validation: a curve and its legend's sample each.
  EXPECT_EQ(lines, 8u);
}

TEST(Fit, InitialEpochResumesCounting) {
  Sequential model = Compiled();
  Data data = Points();
  History h = model.fit(data.x, data.y, {.epochs = 4, .verbose = 0, .initial_epoch = 2});
  EXPECT_THAT(h.epoch, ElementsAre(2, 3));
}

}  // namespace
}  // namespace kiln
