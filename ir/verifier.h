// Structural and type checks of a graph.
#pragma once

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln::ir {

/// Checks arity, operand order, attributes, each op's shape rule against the
/// recorded type, and naming rules. Errors name the node, its op, its layer
/// and the rule that failed.
absl::Status verify(const Graph& graph);

/// The part of verify() that makes a graph safe to walk: every op has its
/// arity of operands, each an earlier node; group ids are -1 or more; aliases
/// name a node; arena offsets and value sizes cannot overflow. ir::parse
/// guarantees it for text, and the pass manager checks it before and after
/// every pass even without --verify-each, so no pass indexes out of bounds on
/// an unverified graph.
absl::Status check_structure(const Graph& graph);

/// Checks that `shape` has at most one batch dimension ?, only in a graph
/// with a capacity, and that its size at the capacity is valid.
absl::Status check_batch_dims(const Graph& graph, const Shape& shape);

/// Prefix used in every node diagnostic: "%5 = matmul (layer dense_1, fwd)".
std::string describe_node(const Graph& graph, NodeId id);

/// Runs the shape rule of `node` on the current operand types.
absl::StatusOr<Type> infer_type(const Graph& graph, const Node& node);

}  // namespace kiln::ir
