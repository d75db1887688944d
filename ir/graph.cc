#include "ir/graph.h"

namespace kiln::ir {

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::kForward:
      return "fwd";
    case Phase::kBackward:
      return "bwd";
    case Phase::kUpdate:
      return "upd";
  }
  return "?";
}

std::string_view split_name(Split split) {
  switch (split) {
    case Split::kNone:
      return "";
    case Split::kRows:
      return "rows";
    case Split::kColumns:
      return "columns";
    case Split::kContraction:
      return "contraction";
  }
  return "?";
}

void Graph::clear_plan() {
  arena_bytes = -1;
  for (Node& n : nodes) n.storage = Storage{};
}

bool is_column_sum_of(const Graph& g, NodeId leader, NodeId id) {
  const Node& m = g.nodes[leader];
  const Node& n = g.nodes[id];
  return m.op == OpKind::kMatMul && n.op == OpKind::kReduceSum && n.inputs[0] == m.inputs[1] &&
         attr_int(n.attrs, "axis") == 0 && g.nodes[n.inputs[0]].type.shape.size() == 2;
}

NodeId Graph::add(Node node) {
  nodes.push_back(std::move(node));
  return static_cast<NodeId>(nodes.size()) - 1;
}

namespace {
NodeId find_named(const Graph& g, OpKind op, std::string_view name) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op == op && attr_string(n.attrs, "name") == name) return static_cast<NodeId>(i);
  }
  return -1;
}
}  // namespace

NodeId Graph::find_output(std::string_view output_name) const {
  return find_named(*this, OpKind::kOutput, output_name);
}

NodeId Graph::find_variable(std::string_view variable_name) const {
  return find_named(*this, OpKind::kVariable, variable_name);
}

std::vector<NodeId> Graph::nodes_of(OpKind op) const {
  std::vector<NodeId> ids;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].op == op) ids.push_back(static_cast<NodeId>(i));
  }
  return ids;
}

std::vector<std::vector<NodeId>> Graph::consumers() const {
  std::vector<std::vector<NodeId>> readers(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (NodeId in : nodes[i].inputs) readers[in].push_back(static_cast<NodeId>(i));
  }
  return readers;
}

bool starts_unit(const Graph& graph, NodeId id) {
  return id == 0 || graph.nodes[id].group < 0 || graph.nodes[id - 1].group != graph.nodes[id].group;
}

NodeId unit_end(const Graph& graph, NodeId begin) {
  const int group = graph.nodes[begin].group;
  NodeId end = begin;
  while (group >= 0 && end + 1 < static_cast<NodeId>(graph.nodes.size()) &&
         graph.nodes[end + 1].group == group) {
    ++end;
  }
  return end;
}

void Graph::remove(const std::vector<bool>& dead) {
  std::vector<NodeId> new_id(nodes.size(), -1);
  std::vector<Node> kept;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (dead[i]) continue;
    new_id[i] = static_cast<NodeId>(kept.size());
    kept.push_back(std::move(nodes[i]));
    for (NodeId& in : kept.back().inputs) in = new_id[in];
  }
  nodes = std::move(kept);
  for (Node& n : nodes) {
    if (n.beside >= 0) n.beside = new_id[n.beside];
  }
  clear_plan();  // aliases name the old ids
}

void Graph::reorder(const std::vector<NodeId>& order) {
  std::vector<NodeId> new_id(nodes.size(), -1);
  for (size_t i = 0; i < order.size(); ++i) new_id[order[i]] = static_cast<NodeId>(i);
  std::vector<Node> sorted;
  sorted.reserve(order.size());
  for (NodeId old : order) {
    sorted.push_back(std::move(nodes[old]));
    for (NodeId& in : sorted.back().inputs) in = new_id[in];
    sorted.back().beside = -1;  // a new order may put other nodes between
  }
  nodes = std::move(sorted);
  clear_plan();
}

Graph with_rows(Graph graph, int64_t rows) {
  for (Node& n : graph.nodes) n.type = with_rows(std::move(n.type), rows);
  graph.capacity = 0;
  return graph;
}

}  // namespace kiln::ir
