// Static memory planning of a step: where each node's value lives.
#pragma once

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln::ir {

/// Sets every node's Storage and the graph's arena size:
///  - views (reshape) and outputs share their operand's storage;
///  - a fused optimizer update writes its variable in place when no later node
///    reads the old value;
///  - a fusion-group value read only inside its group lives in registers;
///  - every other computed value gets a 64-byte aligned slice of one arena,
///    reused once its last reader has run (liveness over the step's order;
///    a fusion group is one step, so its operands and results never share).
void plan_memory(Graph& graph);

/// Checks a planned graph's storage: each kind fits its op, slices lie in the
/// arena, aliases name real storage of the same size, and no two slices that
/// are live at the same time overlap. Errors name the node.
absl::Status check_memory_plan(const Graph& graph);

/// Bytes a node's value occupies in the arena (its size rounded up to 64).
int64_t arena_slice_bytes(const Node& node);

}  // namespace kiln::ir
