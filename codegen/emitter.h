// Lowers a verified graph to LLVM IR (internal to codegen/).
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "ir/graph.h"

namespace llvm {
class Module;
}

namespace kiln::codegen {

/// How each node's value is stored at run time.
struct BufferPlan {
  /// The node whose storage holds this node's value (itself unless it aliases,
  /// e.g. reshape and output of a computed value).
  std::vector<ir::NodeId> root;
  /// Whether the executor owns a buffer for the node (computed values, constants,
  /// staged assigns); inputs and variables are bound per run instead.
  std::vector<bool> owned;
  /// Assigns whose value the step already wrote into the variable in place.
  std::vector<bool> in_place;
  /// Byte offset of an owned buffer in the step's arena, or -1 for constants
  /// (filled once, kept apart). Buffers whose lifetimes overlap never overlap.
  std::vector<int64_t> offset;
  /// Size of the arena: the peak of simultaneously live buffers, not their sum.
  int64_t arena_bytes = 0;
};

/// The storage the plan-memory pass recorded in a planned graph's nodes, in
/// the per-node form the emitter and executor index.
BufferPlan buffer_plan(const ir::Graph& graph);

/// Emits partition `part` of `parts` of the step into `module`, so the parts
/// can be optimised and compiled in parallel. Part 0 defines
///   i32 @<name>(ptr %table, i64 %step_seed, i64 %rows, ptr %error,
///               ptr %numerics, ptr %profile)
/// which calls the node functions the other parts define (all of them are in
/// part 0 when `parts` is 1). %table[i] holds the storage of root node i;
/// %rows is the run's row count, the extent of the batch dimension ?.
/// Returns 0, or 1 after writing {node, value, index} into %error (i64[3])
/// when a label is out of range. With `hooks.check_numerics`, the step calls
/// kiln_check_numerics(%numerics, node) for each f32 value a kernel stores and
/// returns 2 when one is not finite; with `hooks.profile` it calls
/// kiln_profile_mark(%profile, first node) after each kernel. Otherwise
/// %numerics and %profile are unused. With `hooks.row_tables`, %table[i] of
/// each input row_table_inputs() marks is an array of the addresses of its
/// rows instead (so a batch is read where the dataset holds it).
struct StepHooks {
  bool check_numerics = false;
  bool profile = false;
  bool row_tables = false;
};

absl::Status emit_step(const ir::Graph& graph, const BufferPlan& plan, int vector_width,
                       const char* name, int part, int parts, StepHooks hooks,
                       llvm::Module& module);

/// The inputs that only matmuls read, as the rows of their first operand
/// (directly, through reshapes that keep the rows, or through a transpose
/// they read as their first operand): f32 inputs whose first axis is the
/// batch. The tiles can read such an input through a table of row addresses.
std::vector<bool> row_table_inputs(const ir::Graph& graph);

}  // namespace kiln::codegen
