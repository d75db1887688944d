// Structural and type checks of a graph.
#pragma once

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln::ir {

/// Checks arity, operand order, attributes, each op's shape rule against the
/// recorded type, and naming rules. Errors name the node, its op, its layer
/// and the rule that failed.
absl::Status verify(const Graph& graph);

/// Prefix used in every node diagnostic: "%5 = matmul (layer dense_1, fwd)".
std::string describe_node(const Graph& graph, NodeId id);

/// Runs the shape rule of `node` on the current operand types.
absl::StatusOr<Type> infer_type(const Graph& graph, const Node& node);

}  // namespace kiln::ir
