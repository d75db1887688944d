// Appends type-checked nodes to a graph. Used by the frontend and by passes.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln::ir {

/// Emits nodes tagged with the current layer and phase. Each node's type comes
/// from its op's shape rule; the first failure is kept (later emits return -1)
/// so callers check status() once after recording a whole layer.
class Builder {
 public:
  explicit Builder(Graph* graph) : graph_(graph) {}

  /// Sets the layer and phase recorded on the following nodes.
  void set_layer(std::string layer) { layer_ = std::move(layer); }
  void set_phase(Phase phase) { phase_ = phase; }
  const std::string& layer() const { return layer_; }

  /// The first error met, or OK.
  const absl::Status& status() const { return status_; }
  Graph& graph() { return *graph_; }
  /// Type and shape of an emitted node (an empty type for -1, a failed emit).
  const Type& type_of(NodeId id) const;
  const Shape& shape_of(NodeId id) const { return type_of(id).shape; }

  /// Emits any op; `declared` is used only by ops that take their type as given.
  NodeId emit(OpKind op, std::vector<NodeId> inputs, Attrs attrs = {}, Type declared = {});

  NodeId input(const std::string& name, Type type);
  NodeId variable(const std::string& name, Shape shape, bool trainable, const std::string& init);
  /// A f32 tensor of `shape` filled with `value`.
  NodeId constant(double value, Shape shape = {});
  NodeId random_uniform(int64_t seed, Shape shape);
  /// The run's row count (the extent of the batch dimension ?) as a f32 scalar.
  NodeId rows() { return emit(OpKind::kRows, {}); }

  NodeId neg(NodeId x) { return emit(OpKind::kNeg, {x}); }
  NodeId exp(NodeId x) { return emit(OpKind::kExp, {x}); }
  NodeId log(NodeId x) { return emit(OpKind::kLog, {x}); }
  NodeId sqrt(NodeId x) { return emit(OpKind::kSqrt, {x}); }
  NodeId tanh(NodeId x) { return emit(OpKind::kTanh, {x}); }
  NodeId add(NodeId a, NodeId b) { return emit(OpKind::kAdd, {a, b}); }
  NodeId sub(NodeId a, NodeId b) { return emit(OpKind::kSub, {a, b}); }
  NodeId mul(NodeId a, NodeId b) { return emit(OpKind::kMul, {a, b}); }
  NodeId div(NodeId a, NodeId b) { return emit(OpKind::kDiv, {a, b}); }
  NodeId max(NodeId a, NodeId b) { return emit(OpKind::kMax, {a, b}); }
  NodeId min(NodeId a, NodeId b) { return emit(OpKind::kMin, {a, b}); }
  NodeId greater(NodeId a, NodeId b) { return emit(OpKind::kGreater, {a, b}); }
  NodeId equal(NodeId a, NodeId b) { return emit(OpKind::kEqual, {a, b}); }
  NodeId cast(NodeId x, DType to);
  NodeId reshape(NodeId x, Shape shape);
  /// Broadcasts `x` into `shape`; operand axis i becomes result axis dims[i].
  NodeId broadcast(NodeId x, Shape shape, std::vector<int64_t> dims);
  /// Broadcasts `x` into `shape` aligning trailing axes (numpy style, no size-1 stretching).
  NodeId broadcast_to(NodeId x, Shape shape);
  /// Rank-1 `parts` end to end.
  NodeId concat(std::vector<NodeId> parts) { return emit(OpKind::kConcat, std::move(parts)); }
  /// `size` elements of rank-1 `x` from `begin`.
  NodeId slice(NodeId x, int64_t begin, int64_t size);
  NodeId transpose(NodeId x) { return emit(OpKind::kTranspose, {x}); }
  NodeId matmul(NodeId a, NodeId b) { return emit(OpKind::kMatMul, {a, b}); }
  NodeId reduce_sum(NodeId x, int64_t axis);
  NodeId reduce_max(NodeId x, int64_t axis);
  NodeId argmax(NodeId x, int64_t axis);
  NodeId one_hot(NodeId x, int64_t depth);
  NodeId softmax_cross_entropy(NodeId logits, NodeId target) {
    return emit(OpKind::kSoftmaxCrossEntropy, {logits, target});
  }
  NodeId softmax_cross_entropy_grad(NodeId logits, NodeId target, NodeId upstream) {
    return emit(OpKind::kSoftmaxCrossEntropyGrad, {logits, target, upstream});
  }
  NodeId output(const std::string& name, NodeId x);
  /// The sum or mean ("sum", "mean") of `x` over the processes of the job.
  NodeId all_reduce(NodeId x, const std::string& reduction) {
    return emit(OpKind::kAllReduce, {x}, {{"reduction", reduction}});
  }
  NodeId assign(NodeId variable, NodeId value) { return emit(OpKind::kAssign, {variable, value}); }

  /// Multiplies by a scalar constant.
  NodeId scale(NodeId x, double factor);
  /// Mean over all elements, as a scalar; over a batch dimension ? it
  /// divides by the run's row count.
  NodeId mean_all(NodeId x);
  /// Softmax over the last axis from primitive ops (max-shifted, so it cannot overflow).
  NodeId softmax(NodeId x);
  /// Log-softmax over the last axis from primitive ops: x - max - log(sum(exp(x - max))).
  NodeId log_softmax(NodeId x);

 private:
  Graph* graph_;
  std::string layer_;
  Phase phase_ = Phase::kForward;
  absl::Status status_;
};

}  // namespace kiln::ir
