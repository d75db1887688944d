// The passes Kiln's pipelines are made of.
#pragma once

#include <memory>

#include "passes/pass.h"

namespace kiln::passes {

/// Optimizer settings lowered into the training step (Keras 3 semantics).
struct OptimizerConfig {
  enum class Kind { kSgd, kAdam, kRmsprop };
  Kind kind = Kind::kAdam;
  double learning_rate = 0.001;
  double momentum = 0.0;  // SGD and RMSprop
  bool nesterov = false;  // SGD
  double beta_1 = 0.9;    // Adam
  double beta_2 = 0.999;  // Adam
  double epsilon = 1e-7;  // Adam, RMSprop
  double rho = 0.9;       // RMSprop
  bool centered = false;  // RMSprop
};

/// "infer-shapes": recomputes every node's type from its operands with the op
/// table's shape rules; fails with the node and rule that does not hold.
std::unique_ptr<Pass> make_infer_shapes();

/// "autodiff": reverse-mode differentiation of the scalar `output "loss"`.
/// Appends the backward nodes and one `output "grad/<variable>"` per trainable
/// variable the loss depends on; fan-in gradients are summed.
std::unique_ptr<Pass> make_autodiff();

/// "optimizer": replaces each `output "grad/<variable>"` with the optimizer's
/// update of that variable (and its slots) as `assign` nodes.
std::unique_ptr<Pass> make_optimizer(OptimizerConfig config);

/// "data-parallel": makes the step one of several processes' (runtime/
/// distributed.h), each on its own rows of the global batch. Each gradient
/// output and each scalar output (a batch-mean metric) becomes the
/// all_reduce sum of its value times the scalar input "shard_weight" (this
/// process's rows over the global batch's). Values under 256 KiB share
/// buckets: packed end to end (concat), reduced by one all_reduce, sliced
/// back; each bucket's reduction is placed right after its last value is
/// computed. Runs between autodiff and the optimizer.
std::unique_ptr<Pass> make_data_parallel();
/// The input of a data-parallel step that carries this process's share of
/// the global batch.
inline constexpr std::string_view kShardWeightInput = "shard_weight";

/// "fuse-dense": gives each matmul an epilogue group: the elementwise nodes of
/// its result's shape that can run on each output tile as soon as it is
/// computed (bias add and activation forward, the activation's derivative in
/// the backward pass, the optimizer update of a weight after its gradient
/// matmul). Moves those nodes right after the matmul, and nodes they need that
/// do not depend on it (e.g. the optimizer's step size) before it.
std::unique_ptr<Pass> make_fuse_dense();

/// "fuse-elementwise": groups runs of consecutive elementwise nodes of one
/// shape (Node::group) so the JIT computes each run in a single loop; groups
/// led by a matmul (fuse-dense) are kept.
std::unique_ptr<Pass> make_fuse_elementwise();

/// "partition": decides how threads share each matmul of at least
/// ir::kSplitFlops (Node::split, printed split=...), so each weight this step
/// updates has one owner: the forward product with it is split by its
/// contraction (the partial sums added in a fixed order), its gradient by
/// rows, the input gradient through it by columns; other products by rows.
std::unique_ptr<Pass> make_partition();

/// "overlap": marks a matmul's unit to run beside the next split matmul
/// (Node::beside, printed beside=%N) when nothing between them depends on it
/// and it has at most a seventh of that product's FLOPs: one thread runs it while the others
/// share the product. Results are those of running every node in order.
std::unique_ptr<Pass> make_overlap();

/// "plan-memory": decides where every value of the step lives: views alias,
/// fused updates write in place, group-internal values stay in registers, and
/// the rest share one arena by liveness (best fit, 64-byte aligned slices,
/// reused once their last reader has run). The plan prints as `mem=...` on each
/// node and `arena=BYTES` on the graph; the verifier checks it against the
/// rules of ir/memory_plan.h, and the JIT requires it.
std::unique_ptr<Pass> make_plan_memory();

/// The plan-memory pass as a function, for a graph that did not come through a
/// pipeline (tests, tools); replaces any earlier plan.
void plan_memory(ir::Graph& graph);

/// "dce": removes nodes that no output or assign depends on.
std::unique_ptr<Pass> make_dce();

}  // namespace kiln::passes
