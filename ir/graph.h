// The static dataflow graph: nodes in topological order, one result each.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ir/attrs.h"
#include "ir/op.h"
#include "ir/types.h"

namespace kiln::ir {

/// Which part of a training step a node belongs to.
enum class Phase : uint8_t { kForward, kBackward, kUpdate };

/// Short textual name of a phase ("fwd", "bwd", "upd").
std::string_view phase_name(Phase phase);

/// Node ids index Graph::nodes; a node's value is printed as %id.
using NodeId = int;

/// One op application. Inputs always refer to earlier nodes.
struct Node {
  OpKind op = OpKind::kConstant;
  std::vector<NodeId> inputs;
  Attrs attrs;
  Type type;
  /// The layer the node was recorded for ("dense_1"), or the pass that made it.
  std::string layer;
  Phase phase = Phase::kForward;
  /// The fusion group the node belongs to (-1: none). A group is a run of
  /// consecutive elementwise nodes of one shape that the JIT computes in a
  /// single loop, keeping intermediates in registers; the interpreter ignores it.
  int group = -1;
};

/// Whether `op` may join a fusion group: its result at element i depends only
/// on element i (or a broadcast position) of its operands.
bool is_fusible(OpKind op);

/// A graph of nodes in topological order.
struct Graph {
  std::string name = "graph";
  std::vector<Node> nodes;

  /// Appends a node and returns its id.
  NodeId add(Node node);

  /// The id of the `output` node called `name`, or -1.
  NodeId find_output(std::string_view name) const;

  /// The id of the `variable` node called `name`, or -1.
  NodeId find_variable(std::string_view name) const;

  /// Ids of the nodes of kind `op`, in order.
  std::vector<NodeId> nodes_of(OpKind op) const;

  /// Drops the nodes marked in `dead` and renumbers the rest, keeping order.
  /// Live nodes must not use dead ones.
  void remove(const std::vector<bool>& dead);
};

}  // namespace kiln::ir
