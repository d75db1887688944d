// Which units of a step may run at the same time: the rule the overlap pass
// follows when it sets Node::beside, and the verifier checks.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln::ir {

/// When a unit may run beside a later one (Node::beside). Made once per
/// graph (linear in it), so that checking units whose ranges do not overlap
/// stays linear too.
class BesideRule {
 public:
  explicit BesideRule(const Graph& graph);

  /// Whether the unit led by matmul `side` may run beside the unit led by the
  /// split matmul `main`, a later one: then nothing from `side`'s unit up to
  /// the end of `main`'s reads a value `side`'s unit computes, no variable
  /// one of them writes is read or written by the other, and none of those
  /// nodes can fail (one_hot), so running `side` on another thread while
  /// `main` runs gives what running every node in order gives. The error says
  /// which rule failed and at which node. Linear in the nodes from `side` to
  /// the end of `main`'s unit.
  absl::Status check(NodeId side, NodeId main) const;

 private:
  const Graph& graph_;
  std::vector<std::vector<NodeId>> assigned_to_;  // value -> variables assigned it
  std::vector<NodeId> source_;  // the node whose storage a read of each node reads
};

}  // namespace kiln::ir
