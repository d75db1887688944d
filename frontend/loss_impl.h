// How losses and metrics record themselves into the IR (internal).
#pragma once

#include "absl/status/statusor.h"
#include "frontend/layer_impl.h"
#include "kiln/losses.h"
#include "kiln/optimizers.h"
#include "passes/passes.h"

namespace kiln {

/// The settings the optimizer pass lowers, from the public optimizer.
passes::OptimizerConfig optimizer_config(const Optimizer& optimizer);

namespace detail {

/// The label input type for a model output of `output` type (batch included).
absl::StatusOr<ir::Type> label_type(const Loss& loss, const ir::Type& output);
/// How a loss or metric is reduced over the batch.
enum class BatchReduction {
  kMean,    // a f32 scalar: the training step's
  kPerRow,  // a f32 [batch]: evaluate's, so padded rows can be left out
};
/// Records the loss: its batch mean, or its value per example.
ir::NodeId record_loss(ir::Builder& b, const Loss& loss, Recorded out, ir::NodeId labels,
                       BatchReduction reduction = BatchReduction::kMean);
/// Records the accuracy matching the loss's label form (mean or per example).
/// The class picked is the argmax of the logits when the output is their
/// softmax (the same class, without computing the softmax for it).
ir::NodeId record_accuracy(ir::Builder& b, const Loss& loss, Recorded out, ir::NodeId labels,
                           BatchReduction reduction = BatchReduction::kMean);
/// Converts labels to the dtype the loss takes and checks their shape and range
/// against a model whose output has `output_shape` (without the batch axis).
absl::StatusOr<Tensor> prepare_labels(const Loss& loss, const Tensor& y, const Shape& output_shape);

}  // namespace detail
}  // namespace kiln
