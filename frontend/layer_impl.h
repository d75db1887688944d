// How layers record themselves into the IR (internal to the frontend).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/builder.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "support/json.h"

namespace kiln::detail {

/// A recorded value; `logits` is set when `out` is softmax(logits), so a
/// cross-entropy loss can start from the logits.
struct Recorded {
  ir::NodeId out = -1;
  ir::NodeId logits = -1;
};

/// A named weight tensor shared between the layer and the models that use it.
struct Weight {
  std::string name;      // "kernel"
  std::string variable;  // the IR variable name, "dense_1/kernel"
  std::string init;      // "glorot_uniform"
  std::shared_ptr<Tensor> value;
};

/// One row of Model.summary().
struct SummaryRow {
  std::string name, type;
  Shape output_shape;  // without the batch axis
  int64_t params = 0;
};

class LayerImpl {
 public:
  explicit LayerImpl(std::string type_name);
  virtual ~LayerImpl() = default;

  /// Keras class name ("Dense").
  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }
  /// Input shape the layer fixes for the model (Flatten(input_shape)), or empty.
  virtual Shape declared_input_shape() const { return {}; }
  /// Creates the weights for `input_shape` (without the batch axis) once and
  /// returns the output shape; building again with another shape is an error.
  virtual absl::StatusOr<Shape> build(const Shape& input_shape, Rng& rng) = 0;
  /// Records the layer applied to `x`; `training` selects training behaviour.
  virtual Recorded record(ir::Builder& b, Recorded x, bool training) const = 0;
  /// Whether the built layer keeps the batch as an axis of its own, so a
  /// graph with a batch dimension ? can hold it (Dense on rank-3 inputs folds
  /// the batch into its rows and cannot).
  virtual bool batch_polymorphic() const { return true; }
  /// All weights, including those of nested layers, in creation order.
  virtual std::vector<const Weight*> weights() const;
  /// Summary rows (a nested model is one row).
  virtual std::vector<SummaryRow> summary_rows() const;
  /// The Keras-style config that recreates the layer: {"class_name": ..., ...}.
  virtual Json config() const = 0;
  /// Output shape after build.
  const Shape& output_shape() const { return output_shape_; }
  bool built() const { return built_; }

 protected:
  /// Checks a rebuild uses the shape of the first build.
  absl::Status CheckRebuild(const Shape& input_shape) const;
  /// Creates a weight named "<layer>/<name>".
  void add_weight(const std::string& name, const std::string& init, Tensor value);
  ir::NodeId record_weight(ir::Builder& b, const Weight& w) const;

  std::string type_, name_;
  std::vector<Weight> weights_;
  Shape input_shape_, output_shape_;
  bool built_ = false;
};

/// OK when `name` is a registered activation ("" means linear), else an error
/// listing the registered names.
absl::Status check_activation(std::string_view name);
/// "linear, relu, ...": the registered activations.
std::string activation_names();
/// Records a registered activation ("relu", "softmax", ...) on `x`.
Recorded record_activation(ir::Builder& b, const std::string& activation, Recorded x);
/// Records softmax over the last axis, stably (x - max).
Recorded record_softmax(ir::Builder& b, ir::NodeId logits);
/// Recreates a layer (or nested model) from config(); errors name `where`
/// (e.g. "model config of m.kiln, layer 2"), the field and the problem.
absl::StatusOr<std::shared_ptr<LayerImpl>> layer_from_config(const Json& config,
                                                             const std::string& where);
/// "Dense, Dropout, ...": the layer classes layer_from_config() knows.
std::string layer_class_names();
/// Keras's snake_case unique name for a new layer of `type` ("Dense" -> "dense_2").
std::string unique_layer_name(const std::string& type);

}  // namespace kiln::detail
