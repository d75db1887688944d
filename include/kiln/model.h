// The Sequential model: build, compile, fit, evaluate, predict, summary.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/callbacks.h"
#include "kiln/compile_options.h"
#include "kiln/layers.h"
#include "kiln/losses.h"
#include "kiln/optimizers.h"
#include "kiln/tensor.h"

namespace kiln {

namespace detail {
class SequentialImpl;
struct TrainingState;
struct Access;
}  // namespace detail

/// Seeds weight initialisation, shuffling and dropout (keras.utils.set_random_seed).
/// The same seed gives bit-identical weights and histories run to run.
void set_random_seed(uint64_t seed);

/// Validation inputs and labels for fit().
struct ValidationData {
  Tensor x, y;
};

/// fit() settings, named and defaulted as in Keras.
struct FitOptions {
  int epochs = 1;
  int batch_size = 32;
  /// 0 = silent, 1 = progress bar, 2 = one line per epoch.
  int verbose = 1;
  std::vector<std::shared_ptr<Callback>> callbacks;
  /// Fraction of the data, taken from the end before shuffling, used for validation.
  double validation_split = 0.0;
  std::optional<ValidationData> validation_data;
  bool shuffle = true;
  int initial_epoch = 0;
};

/// evaluate() and predict() settings.
struct EvaluateOptions {
  int batch_size = 32;
  int verbose = 1;
  std::vector<std::shared_ptr<Callback>> callbacks;
};

/// Per-epoch metrics returned by fit(): history["loss"][epoch].
struct History {
  std::map<std::string, std::vector<double>> history;
  /// The epochs run (0-based).
  std::vector<int> epoch;
  /// fit() settings: "epochs", "steps" (per epoch), "verbose".
  std::map<std::string, double> params;
  const std::vector<double>& operator[](const std::string& key) const;
  /// Draws loss and accuracy per epoch, training and validation, as SVG or PNG
  /// by `path`'s extension (see kiln/plot.h), written atomically.
  void plot(const std::string& path) const;
};

/// What evaluate() returns (accuracy is NaN when not compiled with it).
struct Evaluation {
  double loss;
  double accuracy;
};

/// export_model() settings.
struct ExportOptions {
  /// "host" (this machine's CPU, AVX-512 when it has it) or "x86-64-v3" (any
  /// x86-64 CPU with AVX2 and FMA).
  std::string target = "host";
  /// Rows the compiled function processes at a time.
  int batch_size = 32;
};

/// A linear stack of layers. Copying a model is not allowed; to reuse its
/// layers and weights in another model, pass it as a layer: Sequential({model, Softmax()}).
class Sequential {
 public:
  explicit Sequential(std::vector<Layer> layers = {}, std::string name = "");
  Sequential(std::initializer_list<Layer> layers) : Sequential(std::vector<Layer>(layers)) {}
  Sequential(Sequential&&) noexcept;
  Sequential& operator=(Sequential&&) noexcept;
  ~Sequential();

  /// Appends a layer.
  void add(Layer layer);
  /// The model name ("sequential").
  const std::string& name() const;
  /// The executor compile() chose (throws before compile()).
  Backend backend() const;
  /// Creates the weights for inputs of `input_shape` (without the batch axis).
  void build(const Shape& input_shape);
  bool built() const;
  /// Prints the Keras summary table.
  void summary(std::ostream& os) const;
  void summary() const;
  /// Number of weights.
  int64_t count_params() const;

  /// Chooses optimizer, loss and metrics ("accuracy").
  void compile(Optimizer optimizer, Loss loss, std::vector<std::string> metrics = {},
               CompileOptions options = {});

  /// Trains on (x, y); the last partial batch is used.
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  /// Loss and accuracy on (x, y).
  Evaluation evaluate(const Tensor& x, const Tensor& y, const EvaluateOptions& options = {});
  /// The model's outputs for `x`, in batches.
  Tensor predict(const Tensor& x, const EvaluateOptions& options = {});

  /// Copies of all weights, in layer order (Keras's get_weights()).
  std::vector<Tensor> get_weights() const;
  /// Replaces all weights; count, shapes and dtypes must match get_weights().
  void set_weights(const std::vector<Tensor>& weights);
  /// Writes the weights to a safetensors file, atomically.
  void save_weights(const std::string& path) const;
  /// Reads weights saved by save_weights() (or any safetensors file with the
  /// same tensors in the same order); errors name what differs.
  void load_weights(const std::string& path);
  /// Saves the architecture (a JSON config in the file's metadata) with the
  /// weights, atomically; load_model() restores it.
  void save(const std::string& path) const;

  /// Writes DIR/NAME.o and DIR/NAME.h: the model's prediction compiled ahead
  /// of time, with the trained weights inside, for a C program that links
  /// neither Kiln nor LLVM (`cc main.c NAME.o -lm`). The header declares
  /// `int32_t NAME_predict(const float* x, int64_t n, float* y)` and documents
  /// the layouts; its results are bit-identical to predict() on the machine
  /// that exported it. (Keras calls this export(); `export` is a C++ keyword.)
  void export_model(const std::string& name, const std::string& dir,
                    const ExportOptions& options = {});

  /// The optimizer's current learning rate.
  double learning_rate() const;
  /// Changes the learning rate for the following steps (no recompilation).
  void set_learning_rate(double learning_rate);

  /// The IR of the forward graph, or of the training step after the passes
  /// (`training_step`), for batches of up to `batch_size` rows: the batch
  /// dimension prints as `?` and the graph as `capacity=batch_size` (a static
  /// batch for models that need one). Requires compile() for the step.
  std::string ir(int batch_size, bool training_step) const;

  /// Set by a callback to stop fit() after the current batch.
  bool stop_training = false;

 private:
  friend struct detail::Access;
  std::shared_ptr<detail::SequentialImpl> impl_;
  std::unique_ptr<detail::TrainingState> state_;
};

/// Restores a model written by Sequential::save(): same layers, same weights,
/// identical predictions. Compile it again to train it.
Sequential load_model(const std::string& path);

}  // namespace kiln
