#include "ir/overlap.h"

#include <map>
#include <set>
#include <vector>

#include "ir/strings.h"

namespace kiln::ir {
namespace {

// Ops whose value is their operand's storage, or that the JIT folds into the
// matmul reading them: a read of one is a read of its operand.
bool ReadsThrough(OpKind op) {
  return op == OpKind::kTranspose || has_traits(op, op_traits::kView);
}

// The variables a run of nodes reads and may write (an update written into
// its variable in place writes it while its unit runs, before the assign).
struct Access {
  std::set<NodeId> reads, writes;
};

class BesideCheck {
 public:
  BesideCheck(const Graph& g, NodeId side) : g_(g), side_(side), side_end_(unit_end(g, side)) {
    for (NodeId a : g.nodes_of(OpKind::kAssign)) {
      assigned_[g.nodes[a].inputs[1]].push_back(g.nodes[a].inputs[0]);
    }
  }

  absl::Status Run(NodeId main) {
    Access side, rest;
    if (auto s = Collect(side_, side_end_, &side); !s.ok()) return s;
    if (auto s = Collect(side_end_ + 1, unit_end(g_, main), &rest); !s.ok()) return s;
    for (NodeId v : side.writes) {
      if (rest.reads.count(v) || rest.writes.count(v)) {
        return Conflict(v, "writes", str_cat("%", main, "'s unit or a node before it uses it"));
      }
    }
    for (NodeId v : rest.writes) {
      if (side.reads.count(v)) {
        return Conflict(v, "reads", str_cat("%", main, "'s unit or a node before it writes it"));
      }
    }
    return absl::OkStatus();
  }

 private:
  bool InSide(NodeId x) const { return x >= side_ && x <= side_end_; }

  absl::Status Collect(NodeId first, NodeId last, Access* access) const {
    for (NodeId j = first; j <= last; ++j) {
      const Node& node = g_.nodes[j];
      if (node.op == OpKind::kOneHot) {
        return absl::InvalidArgumentError(
            str_cat("%", j, " (one_hot) may fail, so it cannot run before %", side_, "'s unit"));
      }
      if (node.op == OpKind::kAssign) access->writes.insert(node.inputs[0]);
      if (auto it = assigned_.find(j); it != assigned_.end()) {
        access->writes.insert(it->second.begin(), it->second.end());
      }
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        if (node.op == OpKind::kAssign && k == 0) continue;
        for (NodeId x = node.inputs[k];; x = g_.nodes[x].inputs[0]) {
          if (!InSide(j) && InSide(x)) {
            return absl::InvalidArgumentError(
                str_cat("%", j, " reads %", x, ", which the unit of %", side_, " computes"));
          }
          if (g_.nodes[x].op == OpKind::kVariable) access->reads.insert(x);
          if (!ReadsThrough(g_.nodes[x].op) || g_.nodes[x].inputs.empty()) break;
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Conflict(NodeId variable, std::string_view side_does,
                        const std::string& other) const {
    return absl::InvalidArgumentError(str_cat("the unit of %", side_, " ", side_does,
                                              " the variable %", variable, " and ", other));
  }

  const Graph& g_;
  const NodeId side_, side_end_;
  std::map<NodeId, std::vector<NodeId>> assigned_;  // value -> variables it is assigned to
};

}  // namespace

NodeId unit_end(const Graph& graph, NodeId begin) {
  const int group = graph.nodes[begin].group;
  NodeId end = begin;
  while (group >= 0 && end + 1 < static_cast<NodeId>(graph.nodes.size()) &&
         graph.nodes[end + 1].group == group) {
    ++end;
  }
  return end;
}

bool starts_unit(const Graph& graph, NodeId id) {
  return id == 0 || graph.nodes[id].group < 0 || graph.nodes[id - 1].group != graph.nodes[id].group;
}

absl::Status check_beside(const Graph& graph, NodeId side, NodeId main) {
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
  return BesideCheck(graph, side).Run(main);
}

}  // namespace kiln::ir
