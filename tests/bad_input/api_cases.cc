// Misuses of the public API: each must throw kiln::Error saying what is wrong
// and which argument, never crash, allocate wildly or go on silently.
#include <cstdlib>

#include "kiln/kiln.h"
#include "tests/bad_input/catalogue.h"

namespace kiln::bad_input {
namespace {

using namespace layers;

// A case that runs `fn` and expects a kiln::Error.
Case Api(std::string name, std::function<void()> fn, std::vector<std::string> message_has) {
  return {std::move(name), [fn](const std::string&) { return status_of(fn); },
          std::move(message_has)};
}

// A small compiled model with its data: 8 examples of 4 features, 3 classes.
struct Fixture {
  Sequential model{Dense(3, "softmax")};
  Tensor x = Tensor(DType::kF32, {8, 4});
  Tensor y = Tensor(DType::kU8, {8});
  Fixture() {
    model.compile("sgd", "sparse_categorical_crossentropy", {"accuracy"},
                  {.backend = Backend::kInterpreter});
  }
};

void FitWith(const FitOptions& options) {
  Fixture f;
  f.model.fit(f.x, f.y, options);
}

// Trains two epochs with a ModelCheckpoint writing to `pattern`.
Case Checkpoint(std::string name, std::string pattern, std::vector<std::string> message_has) {
  return {std::move(name),
          [pattern](const std::string& dir) {
            return status_of([&] {
              Fixture f;
              f.model.fit(f.x, f.y,
                          {.epochs = 1,
                           .verbose = 0,
                           .callbacks = {callbacks::ModelCheckpoint(dir + "/" + pattern)}});
            });
          },
          std::move(message_has)};
}

const int kRegistered = add({
    Api("api/fit-batch-size-zero", [] { FitWith({.batch_size = 0, .verbose = 0}); },
        {"fit: batch_size must be >= 1, got 0"}),
    Api("api/fit-negative-epochs", [] { FitWith({.epochs = -1, .verbose = 0}); },
        {"fit: epochs must be >= 0, got -1"}),
    Api("api/fit-negative-initial-epoch", [] { FitWith({.verbose = 0, .initial_epoch = -2}); },
        {"fit: initial_epoch must be >= 0, got -2"}),
    Api("api/fit-validation-split-one", [] { FitWith({.verbose = 0, .validation_split = 1.0}); },
        {"fit: validation_split must be in [0, 1)"}),
    Api("api/evaluate-batch-size-zero",
        [] {
          Fixture f;
          f.model.evaluate(f.x, f.y, {.batch_size = 0, .verbose = 0});
        },
        {"evaluate: batch_size must be >= 1, got 0"}),
    Api("api/predict-batch-size-negative",
        [] {
          Fixture f;
          f.model.predict(f.x, {.batch_size = -4, .verbose = 0});
        },
        {"predict: batch_size must be >= 1, got -4"}),
    Api("api/fit-inputs-and-labels-differ",
        [] {
          Fixture f;
          f.model.fit(f.x, Tensor(DType::kU8, {7}), {.verbose = 0});
        },
        {"fit: 8 inputs but 7 labels"}),
    Api("api/labels-out-of-range",
        [] {
          Fixture f;
          f.y.data<uint8_t>()[5] = 9;
          f.model.fit(f.x, f.y, {.verbose = 0});
        },
        {"label 9", "3"}),
    Api("api/predict-wrong-input-shape",
        [] {
          Fixture f;
          f.model.predict(f.x, {.verbose = 0});
          f.model.predict(Tensor(DType::kF32, {2, 5}), {.verbose = 0});
        },
        {"expects inputs of shape (None, 4)", "f32[2,5]"}),
    Api("api/sgd-negative-learning-rate",
        [] { Optimizer o = optimizers::SGD{.learning_rate = -0.1}; },
        {"SGD: learning_rate must be in [0, inf), got -0.1"}),
    Api("api/adam-nan-learning-rate",
        [] { Optimizer o = optimizers::Adam{.learning_rate = std::nan("")}; },
        {"Adam: learning_rate", "got nan"}),
    Api("api/adam-beta-1-one", [] { Optimizer o = optimizers::Adam{.beta_1 = 1.0}; },
        {"Adam: beta_1 must be in [0, 1), got 1"}),
    Api("api/rmsprop-negative-rho", [] { Optimizer o = optimizers::RMSprop{.rho = -0.5}; },
        {"RMSprop: rho must be in [0, 1), got -0.5"}),
    Api("api/sgd-momentum-above-one", [] { Optimizer o = optimizers::SGD{.momentum = 1.5}; },
        {"SGD: momentum must be in [0, 1], got 1.5"}),
    Api("api/set-learning-rate-infinite",
        [] {
          Fixture f;
          f.model.set_learning_rate(1.0 / 0.0);
        },
        {"sgd: learning_rate", "got inf"}),
    Api("api/unknown-optimizer", [] { Optimizer o("adamw"); },
        {"unknown optimizer \"adamw\"", "sgd, adam or rmsprop"}),
    Api("api/dense-zero-units", [] { Dense(0); }, {"Dense: units must be positive, got 0"}),
    Api("api/dense-unknown-activation", [] { Dense(3, "gelu"); }, {"Dense", "\"gelu\"", "relu"}),
    Api("api/dropout-rate-one", [] { Dropout(1.0); }, {"Dropout: rate must be in [0, 1), got 1"}),
    Api("api/flatten-too-large",
        [] {
          Sequential m({Flatten({1 << 20, 1 << 20}), Dense(2)});
          m.build({1 << 20, 1 << 20});
        },
        {"(Flatten): inputs of shape [1048576,1048576]", "exceeds the limit"}),
    Api("api/tensor-too-large",
        [] {
          Tensor t(DType::kF32, {int64_t{1} << 62, 4});
        },
        {"cannot create a tensor", "[4611686018427387904,4]", "exceeds the limit"}),
    Api("api/tensor-negative-dimension",
        [] {
          Tensor t(DType::kF32, {3, -1});
        },
        {"cannot create a tensor", "[3,-1]", "negative dimension"}),
    Api("api/tensor-from-wrong-count",
        [] {
          Tensor::from<float>({2, 2}, {1.0f, 2.0f, 3.0f});
        },
        {"Tensor::from: 3 values for shape [2,2]"}),
    Api("api/reshape-negative",
        [] {
          Tensor(DType::kF32, {4}).reshape({-2, -2});
        },
        {"cannot reshape f32[4] to [-2,-2]"}),
    Api("api/slice-out-of-range",
        [] {
          Tensor(DType::kF32, {4, 2}).slice(2, 9);
        },
        {"slice [2, 9) of tensor f32[4,2]"}),
    Api("api/data-of-wrong-type", [] { Tensor(DType::kU8, {2}).data<float>(); },
        {"tensor of type u8[2] accessed as f32"}),
    Api("api/set-weights-wrong-count",
        [] {
          Fixture f;
          f.model.build({4});
          f.model.set_weights({Tensor(DType::kF32, {4, 3})});
        },
        {"set_weights", "2"}),
    Api("api/unknown-backend",
        [] {
          setenv("KILN_BACKEND", "gpu", 1);
          Sequential m({Dense(2)});
          struct Unset {
            ~Unset() { unsetenv("KILN_BACKEND"); }
          } unset;
          m.compile("sgd", "mse");
          m.backend();
        },
        {"KILN_BACKEND=\"gpu\" is not a backend (expected jit or interpreter)"}),
    Checkpoint("api/checkpoint-format-s", "ckpt-{epoch:s}.kiln",
               {"ModelCheckpoint: filepath", "{epoch:s}", "the type 's' is not supported"}),
    Checkpoint("api/checkpoint-format-n", "ckpt-{epoch:n}.kiln",
               {"ModelCheckpoint: filepath", "{epoch:n}", "the type 'n' is not supported"}),
    Checkpoint("api/checkpoint-float-as-integer", "ckpt-{loss:d}.kiln",
               {"{loss:d}", "'d' needs an integer, and the value is a float"}),
    Checkpoint("api/checkpoint-huge-width", "ckpt-{epoch:5000d}.kiln",
               {"{epoch:5000d}", "width or precision over 1000"}),
    Checkpoint("api/checkpoint-unknown-log", "ckpt-{val_loss:.2f}.kiln",
               {"ModelCheckpoint: filepath", "{val_loss} is not in the logs"}),
    Checkpoint("api/checkpoint-unclosed-brace", "ckpt-{epoch.kiln",
               {"ModelCheckpoint: filepath", "a '{' without its '}'"}),
    Checkpoint(
        "api/checkpoint-unwritable", "no/such/dir/ckpt-{epoch}.kiln",
        {"cannot write {dir}/no/such/dir/ckpt-1.kiln: the directory {dir}/no/such/dir does not "
         "exist"}),
});

}  // namespace
}  // namespace kiln::bad_input
