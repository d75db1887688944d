// Which units of a step may run at the same time: the rule the overlap pass
// follows when it sets Node::beside, and the verifier checks.
#pragma once

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln::ir {

/// The last node of the unit that starts at `begin`: the run of nodes of its
/// fusion group, or `begin` alone outside any group.
NodeId unit_end(const Graph& graph, NodeId begin);

/// Whether node `id` is the first node of its unit.
bool starts_unit(const Graph& graph, NodeId id);

/// Whether the unit led by matmul `side` may run beside the unit led by the
/// split matmul `main`, a later one: then nothing from `side`'s unit up to
/// the end of `main`'s reads a value `side`'s unit computes, no variable one
/// of them writes is read or written by the other, and none of those nodes
/// can fail (one_hot), so running `side` on another thread while `main` runs
/// gives what running every node in order gives. The error says which rule
/// failed and at which node.
absl::Status check_beside(const Graph& graph, NodeId side, NodeId main);

}  // namespace kiln::ir
