#include "ir/verifier.h"

#include <set>
#include <vector>

#include "ir/memory_plan.h"
#include "ir/overlap.h"
#include "ir/strings.h"

namespace kiln::ir {
namespace {

absl::Status CheckAttrs(const Node& n) {
  const OpInfo& info = op_info(n.op);
  for (const AttrSpec& spec : info.attrs) {
    auto it = n.attrs.find(spec.name);
    if (it == n.attrs.end())
      return absl::InvalidArgumentError(str_cat("missing attribute '", spec.name, "'"));
    if (!attr_kind_matches(it->second, spec.kind)) {
      return absl::InvalidArgumentError(
          str_cat("attribute '", spec.name, "' must be of kind ", attr_kind_name(spec.kind)));
    }
  }
  for (const auto& [name, value] : n.attrs) {
    bool declared = false;
    for (const AttrSpec& spec : info.attrs) declared |= spec.name == name;
    if (!declared)
      return absl::InvalidArgumentError(str_cat("unknown attribute '", excerpt(name), "'"));
  }
  return absl::OkStatus();
}

absl::Status CheckStructure(const Graph& g, NodeId id) {
  const Node& n = g.nodes[id];
  const OpInfo& info = op_info(n.op);
  if (!accepts_operands(info, n.inputs.size())) {
    return absl::InvalidArgumentError(operand_count_error(info, n.inputs.size()));
  }
  for (NodeId in : n.inputs) {
    if (in < 0 || in >= id) {
      return absl::InvalidArgumentError(str_cat("operand %", in, " is not defined before use"));
    }
  }
  if (auto s = check_batch_dims(g, n.type.shape); !s.ok()) return s;
  if (n.group < -1) {
    return absl::InvalidArgumentError(str_cat("fusion group id ", n.group, " is negative"));
  }
  if (n.beside != -1 && (n.beside <= id || n.beside >= static_cast<NodeId>(g.nodes.size()))) {
    return absl::InvalidArgumentError(str_cat("beside=%", n.beside, " names no later node"));
  }
  const Storage& s = n.storage;
  if (s.kind == StorageKind::kAlias &&
      (s.alias < 0 || s.alias >= static_cast<NodeId>(g.nodes.size()))) {
    return absl::InvalidArgumentError(str_cat("mem=%", s.alias, " names no node"));
  }
  int64_t end;
  if (s.kind == StorageKind::kArena &&
      (s.offset < 0 || __builtin_add_overflow(s.offset, arena_slice_bytes(g, n), &end))) {
    return absl::InvalidArgumentError(str_cat("arena offset ", s.offset,
                                              " is negative or overflows with the value's ",
                                              arena_slice_bytes(g, n), " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckNode(const Graph& g, NodeId id, std::set<std::string>* names) {
  const Node& n = g.nodes[id];
  if (auto s = CheckAttrs(n); !s.ok()) return s;
  auto type = infer_type(g, n);
  if (!type.ok()) return type.status();
  if (!(*type == n.type)) {
    return absl::InvalidArgumentError(str_cat("declared type ", type_string(n.type),
                                              " but the operands give ", type_string(*type)));
  }
  if (n.op == OpKind::kRows && g.capacity == 0) {
    return absl::InvalidArgumentError(
        "rows needs a batch-polymorphic graph (graph \"NAME\" capacity=N)");
  }
  if (n.split != Split::kNone && n.op != OpKind::kMatMul) {
    return absl::InvalidArgumentError(
        str_cat("split=", split_name(n.split), " is only for matmul, not ", op_name(n.op)));
  }
  if (n.split == Split::kContraction && g.nodes[n.inputs[0]].type.shape[1] == kBatch) {
    return absl::InvalidArgumentError(
        "split=contraction needs a static contraction, but it is the batch dimension ?");
  }
  if (n.op == OpKind::kAssign && g.nodes[n.inputs[0]].op != OpKind::kVariable) {
    return absl::InvalidArgumentError("assign target must be a variable");
  }
  if (n.op == OpKind::kInput || n.op == OpKind::kVariable || n.op == OpKind::kOutput) {
    std::string key = str_cat(op_name(n.op), " ", attr_string(n.attrs, "name"));
    if (!names->insert(key).second) {
      return absl::InvalidArgumentError(str_cat("duplicate ", op_name(n.op), " name \"",
                                                excerpt(attr_string(n.attrs, "name")), "\""));
    }
  }
  return absl::OkStatus();
}

// A fusion group is a run of consecutive fusible nodes with one shape, whose
// first node may instead be a matmul (the group is then its epilogue, and may
// start with a column sum of the matmul's second operand).
// `leader` is the first node of the run `id` belongs to, which the caller
// carries along, so that checking a group is linear in its size.
absl::Status CheckGroup(const Graph& g, NodeId id, NodeId leader, std::set<int>* closed) {
  const Node& n = g.nodes[id];
  if (n.group < 0) return absl::OkStatus();
  bool first = id == leader;
  for (NodeId in : n.inputs) {
    if (g.nodes[in].group == n.group && is_column_sum_of(g, leader, in)) {
      return absl::InvalidArgumentError(
          str_cat("reads the column sum %", in,
                  " inside its fusion group, where it is not complete until the group ends"));
    }
  }
  bool column_sum = id == leader + 1 && is_column_sum_of(g, leader, id);
  if (column_sum && g.nodes[leader].split == Split::kContraction) {
    return absl::InvalidArgumentError(
        str_cat("is the column sum of %", leader,
                ", which has split=contraction: no part of it streams every row of the operand"));
  }
  if (!column_sum && !is_fusible(n.op) && !(first && can_lead_group(n.op))) {
    return absl::InvalidArgumentError(
        str_cat("op ", op_name(n.op),
                can_lead_group(n.op) ? " can only lead a fusion group" : " cannot be fused"));
  }
  if (closed->count(n.group)) {
    return absl::InvalidArgumentError(
        str_cat("fusion group ", n.group, " is not a run of consecutive nodes"));
  }
  if (!first && !column_sum && g.nodes[leader].type.shape != n.type.shape) {
    return absl::InvalidArgumentError(str_cat("fusion group ", n.group, " mixes shapes ",
                                              shape_string(g.nodes[leader].type.shape), " and ",
                                              shape_string(n.type.shape)));
  }
  if (id + 1 >= static_cast<NodeId>(g.nodes.size()) || g.nodes[id + 1].group != n.group) {
    closed->insert(n.group);
  }
  return absl::OkStatus();
}

// Units that run beside others (Node::beside), once every group is known to
// be well formed. From a side unit to the end of its main unit no other unit
// runs beside anything (so a main has one side and is none), which keeps the
// checks linear in the graph.
absl::Status CheckBesides(const Graph& g) {
  const BesideRule rule(g);
  NodeId busy_until = -1;  // the end of the last main unit
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto id = static_cast<NodeId>(i);
    const NodeId main = g.nodes[id].beside;
    if (main < 0) continue;
    absl::Status s = absl::OkStatus();
    if (id <= busy_until) {
      s = absl::InvalidArgumentError(str_cat(
          "runs beside %", main, ", but an earlier unit runs beside another until %", busy_until));
    }
    if (s.ok()) s = rule.check(id, main);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          str_cat("graph \"", excerpt(g.name), "\": ", describe_node(g, id), ": ", s.message()));
    }
    busy_until = unit_end(g, main);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status check_batch_dims(const Graph& graph, const Shape& shape) {
  int batch = 0;
  for (int64_t d : shape) batch += d == kBatch;
  if (batch > 1) {
    return absl::InvalidArgumentError(
        str_cat("shape ", shape_string(shape), " has more than one batch dimension ?"));
  }
  if (graph.capacity < 0) {
    return absl::InvalidArgumentError(str_cat("the capacity ", graph.capacity, " is negative"));
  }
  if (batch > 0 && graph.capacity == 0) {
    return absl::InvalidArgumentError(
        str_cat("shape ", shape_string(shape),
                " has the batch dimension ? but the graph has no capacity (graph \"NAME\" "
                "capacity=N { ... })"));
  }
  return checked_byte_size(DType::kF32, graph.at_capacity(shape)).status();
}

std::string describe_node(const Graph& graph, NodeId id) {
  const Node& n = graph.nodes[id];
  return str_cat("%", id, " = ", op_name(n.op), " (layer ",
                 n.layer.empty() ? "-" : excerpt(n.layer), ", ", phase_name(n.phase), ")");
}

absl::StatusOr<Type> infer_type(const Graph& graph, const Node& node) {
  std::vector<Type> operands;
  operands.reserve(node.inputs.size());
  for (NodeId in : node.inputs) operands.push_back(graph.nodes[in].type);
  return op_info(node.op).shape_rule(operands, node.attrs, node.type);
}

absl::Status check_structure(const Graph& graph) {
  if (graph.arena_bytes < -1) {
    return absl::InvalidArgumentError(str_cat(
        "graph \"", excerpt(graph.name), "\": the arena size ", graph.arena_bytes, " is negative"));
  }
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    NodeId id = static_cast<NodeId>(i);
    if (auto s = CheckStructure(graph, id); !s.ok()) {
      return absl::InvalidArgumentError(str_cat(
          "graph \"", excerpt(graph.name), "\": ", describe_node(graph, id), ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status verify(const Graph& graph) {
  if (auto s = check_structure(graph); !s.ok()) return s;
  std::set<std::string> names;
  std::set<int> closed_groups;
  NodeId leader = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    NodeId id = static_cast<NodeId>(i);
    if (id == 0 || graph.nodes[id - 1].group != graph.nodes[id].group) leader = id;
    absl::Status s = CheckNode(graph, id, &names);
    if (s.ok()) s = CheckGroup(graph, id, leader, &closed_groups);
    if (!s.ok()) {
      return absl::InvalidArgumentError(str_cat(
          "graph \"", excerpt(graph.name), "\": ", describe_node(graph, id), ": ", s.message()));
    }
  }
  if (auto s = CheckBesides(graph); !s.ok()) return s;
  if (auto s = check_memory_plan(graph); !s.ok()) {
    return absl::InvalidArgumentError(
        str_cat("graph \"", excerpt(graph.name), "\": memory plan: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace kiln::ir
