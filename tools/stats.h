// `kiln stats`: a static cost model of a graph from its shapes.
#pragma once

#include <cstdint>
#include <string>

#include "kiln/advanced.h"

namespace kiln::tools {

/// The work of one op. FLOPs: 2·m·k·n for matmul, one per output element for
/// elementwise ops and comparisons, one per input element folded away for
/// reductions and argmax, one per output element for one_hot, none for
/// leaves, layout ops and effects. Bytes moved: every operand read once plus
/// the result written once; reshape and output are views and move nothing;
/// assign reads its value and writes the variable.
struct OpCost {
  int64_t flops = 0;
  int64_t bytes = 0;
};

/// The cost of node `id` of `graph`, a static graph (ir::with_rows resolves ?).
OpCost op_cost(const ir::Graph& graph, ir::NodeId id);

/// Whether node `id` needs a buffer of its own in a plan that reuses nothing
/// (the interpreter's): everything but inputs, variables and views.
bool owns_buffer(const ir::Node& node);

/// What `kiln stats` prints.
struct StatsOptions {
  /// Also list every node with its cost.
  bool per_node = false;
};

/// Tables of FLOPs and bytes moved per op kind and per layer and phase, then
/// parameter, state, input and intermediate-buffer sizes: the arena a plan
/// without reuse needs, and the peak of live buffers a plan that frees each
/// buffer after its last use needs.
std::string format_stats(const ir::Graph& graph, const StatsOptions& options = {});

}  // namespace kiln::tools
