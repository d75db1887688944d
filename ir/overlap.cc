#include "ir/overlap.h"

#include <set>

#include "ir/strings.h"

namespace kiln::ir {
namespace {

// Ops whose value is their operand's storage, or that the JIT folds into the
// matmul reading them: a read of one is a read of its operand.
bool ReadsThrough(OpKind op) {
  return op == OpKind::kTranspose || has_traits(op, op_traits::kView);
}

}  // namespace

BesideRule::BesideRule(const Graph& graph)
    : graph_(graph), assigned_to_(graph.nodes.size()), source_(graph.nodes.size()) {
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    source_[i] =
        ReadsThrough(n.op) && !n.inputs.empty() ? source_[n.inputs[0]] : static_cast<NodeId>(i);
  }
  for (NodeId a : graph.nodes_of(OpKind::kAssign)) {
    assigned_to_[graph.nodes[a].inputs[1]].push_back(graph.nodes[a].inputs[0]);
  }
}

absl::Status BesideRule::check(NodeId side, NodeId main) const {
  const Graph& graph = graph_;
  const auto n = static_cast<NodeId>(graph.nodes.size());
  if (side < 0 || side >= n || main < 0 || main >= n) {
    return absl::InvalidArgumentError(str_cat("beside=%", main, " names no node"));
  }
  if (graph.nodes[side].op != OpKind::kMatMul || !starts_unit(graph, side)) {
    return absl::InvalidArgumentError(
        "only a matmul that starts its unit (its fusion group, or itself) may run beside another");
  }
  const Node& m = graph.nodes[main];
  if (main <= unit_end(graph, side) || !starts_unit(graph, main) || m.op != OpKind::kMatMul ||
      m.split == Split::kNone) {
    return absl::InvalidArgumentError(str_cat(
        "beside=%", main, " must name a later matmul that starts its unit and has a split"));
  }
  const NodeId side_end = unit_end(graph, side);
  auto in_side = [&](NodeId x) { return x >= side && x <= side_end; };
  // The variables a run of nodes reads and may write (an update written into
  // its variable in place writes it while its unit runs, before the assign).
  auto collect = [&](NodeId first, NodeId last, std::set<NodeId>* reads,
                     std::set<NodeId>* writes) -> absl::Status {
    for (NodeId j = first; j <= last; ++j) {
      const Node& node = graph.nodes[j];
      if (node.op == OpKind::kOneHot) {
        return absl::InvalidArgumentError(
            str_cat("%", j, " (one_hot) may fail, so it cannot run before %", side, "'s unit"));
      }
      if (node.op == OpKind::kAssign) writes->insert(node.inputs[0]);
      writes->insert(assigned_to_[j].begin(), assigned_to_[j].end());
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        if (node.op == OpKind::kAssign && k == 0) continue;
        // A unit holds no transposes or views, so a read through them
        // reaches a value of the side unit only at either end.
        for (NodeId x : {node.inputs[k], source_[node.inputs[k]]}) {
          if (!in_side(j) && in_side(x)) {
            return absl::InvalidArgumentError(
                str_cat("%", j, " reads %", x, ", which the unit of %", side, " computes"));
          }
          if (graph.nodes[x].op == OpKind::kVariable) reads->insert(x);
        }
      }
    }
    return absl::OkStatus();
  };
  std::set<NodeId> side_reads, side_writes, rest_reads, rest_writes;
  if (auto s = collect(side, side_end, &side_reads, &side_writes); !s.ok()) return s;
  if (auto s = collect(side_end + 1, unit_end(graph, main), &rest_reads, &rest_writes); !s.ok()) {
    return s;
  }
  auto conflict = [&](NodeId variable, std::string_view side_does, std::string_view other_does) {
    return absl::InvalidArgumentError(str_cat("the unit of %", side, " ", side_does,
                                              " the variable %", variable, " and %", main,
                                              "'s unit or a node before it ", other_does, " it"));
  };
  for (NodeId v : side_writes) {
    if (rest_reads.count(v) || rest_writes.count(v)) return conflict(v, "writes", "uses");
  }
  for (NodeId v : rest_writes) {
    if (side_reads.count(v)) return conflict(v, "reads", "writes");
  }
  return absl::OkStatus();
}

}  // namespace kiln::ir
