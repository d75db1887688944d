#include "tools/stats.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "kiln/advanced.h"

namespace kiln::tools {
namespace {

using ir::OpKind;

int64_t Bytes(const ir::Type& type) {
  return ir::num_elements(type.shape) * ir::dtype_size(type.dtype);
}

int64_t Elements(const ir::Type& type) { return ir::num_elements(type.shape); }

std::string Percent(int64_t part, int64_t whole) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.1f%%", whole ? 100.0 * part / whole : 0.0);
  return buf;
}

struct Totals {
  int count = 0;
  int64_t flops = 0;
  int64_t bytes = 0;
  void add(const OpCost& cost) {
    ++count;
    flops += cost.flops;
    bytes += cost.bytes;
  }
};

// Peak of the bytes held by live buffers when each buffer is freed after its
// last reader. Views extend the life of the buffer they alias; outputs and
// assigned values live to the end of the step, when they are read out.
int64_t PeakLiveBytes(const ir::Graph& graph) {
  const size_t n = graph.nodes.size();
  std::vector<size_t> root(n), last(n);
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = graph.nodes[i];
    root[i] = owns_buffer(node) || node.inputs.empty() ? i : root[node.inputs[0]];
    last[i] = i;
    for (ir::NodeId in : node.inputs) last[root[in]] = std::max(last[root[in]], i);
    if (node.op == OpKind::kOutput) last[root[i]] = n;
    if (node.op == OpKind::kAssign) last[i] = n;
  }
  std::vector<int64_t> delta(n + 2, 0);
  for (size_t i = 0; i < n; ++i) {
    if (!owns_buffer(graph.nodes[i])) continue;
    delta[i] += Bytes(graph.nodes[i].type);
    delta[last[i] + 1] -= Bytes(graph.nodes[i].type);
  }
  int64_t live = 0, peak = 0;
  for (size_t i = 0; i <= n; ++i) {
    live += delta[i];
    peak = std::max(peak, live);
  }
  return peak;
}

}  // namespace

bool owns_buffer(const ir::Node& node) { return ir::owns_storage(node.op); }

OpCost op_cost(const ir::Graph& graph, ir::NodeId id) {
  const ir::Node& node = graph.nodes[id];
  const int64_t out_elements = Elements(node.type);
  const int64_t out_bytes = Bytes(node.type);
  int64_t read_bytes = 0;
  for (ir::NodeId in : node.inputs) read_bytes += Bytes(graph.nodes[in].type);
  switch (ir::op_info(node.op).cost) {
    case ir::CostClass::kFree:
      return {};
    case ir::CostClass::kWrite:
      return {0, out_bytes};
    case ir::CostClass::kMove:
      return {0, read_bytes + out_bytes};
    case ir::CostClass::kCopy:
      return {0, 2 * out_bytes};
    case ir::CostClass::kContraction: {
      const ir::Shape& a = graph.nodes[node.inputs[0]].type.shape;
      return {2 * a[0] * a[1] * node.type.shape[1], read_bytes + out_bytes};
    }
    case ir::CostClass::kReduction:
      return {Elements(graph.nodes[node.inputs[0]].type) - out_elements, read_bytes + out_bytes};
    case ir::CostClass::kSoftmaxRows:
      // Per logit: the row maximum, exp of the shifted logit and its sum, then
      // either the log-probability times the target (loss) or p * sum(t) - t,
      // times g (gradient).
      return {7 * Elements(graph.nodes[node.inputs[0]].type), read_bytes + out_bytes};
    case ir::CostClass::kPerElement:
      return {out_elements, read_bytes + out_bytes};
  }
  return {};
}

namespace {

// Kernels as the JIT runs them: each fused group is one loop that reads its
// outside operands and writes only the values read outside the group.
std::string FusionSummary(const ir::Graph& graph) {
  const size_t n = graph.nodes.size();
  const std::vector<std::vector<ir::NodeId>> consumers = graph.consumers();
  int groups = 0, kernels = 0;
  int64_t fused_bytes = 0, unfused_bytes = 0;
  for (size_t i = 0; i < n;) {
    const ir::Node& node = graph.nodes[i];
    if (node.group < 0) {
      kernels += owns_buffer(node) && node.op != OpKind::kConstant;
      ++i;
      continue;
    }
    size_t end = i;
    while (end < n && graph.nodes[end].group == node.group) ++end;
    ++groups;
    ++kernels;
    auto inside = [&](ir::NodeId id) {
      return static_cast<size_t>(id) >= i && static_cast<size_t>(id) < end;
    };
    std::vector<ir::NodeId> loaded;
    for (size_t k = i; k < end; ++k) {
      unfused_bytes += op_cost(graph, static_cast<ir::NodeId>(k)).bytes;
      for (ir::NodeId in : graph.nodes[k].inputs) {
        if (!inside(in) && std::find(loaded.begin(), loaded.end(), in) == loaded.end()) {
          loaded.push_back(in);
          fused_bytes += Bytes(graph.nodes[in].type);
        }
      }
      bool read_outside = std::any_of(consumers[k].begin(), consumers[k].end(),
                                      [&](ir::NodeId c) { return !inside(c); });
      if (read_outside && graph.nodes[k].op != OpKind::kConstant) {
        fused_bytes += Bytes(graph.nodes[k].type);
      }
    }
    i = end;
  }
  if (groups == 0) return "";
  return str_cat("\nfusion: ", kernels, " kernels, of which ", groups,
                 " fused groups; the groups move ", with_commas(fused_bytes), " bytes (",
                 human_bytes(fused_bytes), ") where their ops one by one would move ",
                 with_commas(unfused_bytes), " (", human_bytes(unfused_bytes), ")\n");
}

}  // namespace

std::string format_stats(const ir::Graph& polymorphic, const StatsOptions& options) {
  // Costs are those of a full batch: the batch dimension ? at the capacity.
  const ir::Graph graph = ir::with_rows(polymorphic, polymorphic.capacity);
  std::map<std::string_view, Totals> by_op;
  std::vector<std::pair<std::string, ir::Phase>> group_order;
  std::map<std::pair<std::string, ir::Phase>, Totals> by_group;
  std::map<ir::Phase, int> by_phase;
  Totals total;
  TextTable nodes({true, false, false, false, false, true, true});
  nodes.add_row({"node", "op", "layer", "phase", "type", "FLOPs", "bytes moved"});
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    OpCost cost = op_cost(graph, static_cast<ir::NodeId>(i));
    by_op[ir::op_name(n.op)].add(cost);
    std::pair<std::string, ir::Phase> group{n.layer.empty() ? "-" : n.layer, n.phase};
    if (!by_group.contains(group)) group_order.push_back(group);
    by_group[group].add(cost);
    ++by_phase[n.phase];
    total.add(cost);
    nodes.add_row({str_cat("%", i), std::string(ir::op_name(n.op)), group.first,
                   std::string(ir::phase_name(n.phase)), ir::type_string(n.type),
                   with_commas(cost.flops), with_commas(cost.bytes)});
  }

  std::string out = str_cat("graph \"", graph.name, "\": ", graph.nodes.size(), " ops (",
                            by_phase[ir::Phase::kForward], " fwd, ", by_phase[ir::Phase::kBackward],
                            " bwd, ", by_phase[ir::Phase::kUpdate], " upd)\n\n");

  // Ops by FLOPs, the heaviest first, then by bytes and name.
  std::vector<std::pair<std::string_view, Totals>> ops(by_op.begin(), by_op.end());
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) {
    if (a.second.flops != b.second.flops) return a.second.flops > b.second.flops;
    if (a.second.bytes != b.second.bytes) return a.second.bytes > b.second.bytes;
    return a.first < b.first;
  });
  TextTable op_table({false, true, true, true, true});
  op_table.add_row({"op", "count", "FLOPs", "share", "bytes moved"});
  for (const auto& [op, t] : ops) {
    op_table.add_row({std::string(op), str_cat(t.count), with_commas(t.flops),
                      Percent(t.flops, total.flops), with_commas(t.bytes)});
  }
  op_table.add_rule();
  op_table.add_row({"total", str_cat(total.count), with_commas(total.flops), "100.0%",
                    with_commas(total.bytes)});
  out += op_table.render();
  char intensity[64];
  std::snprintf(intensity, sizeof(intensity), "%.2f",
                total.bytes ? static_cast<double>(total.flops) / total.bytes : 0.0);
  str_append(&out, "arithmetic intensity: ", intensity, " FLOP/byte\n\n");

  TextTable layer_table({false, false, true, true, true, true});
  layer_table.add_row({"layer", "phase", "ops", "FLOPs", "share", "bytes moved"});
  for (const auto& group : group_order) {
    const Totals& t = by_group[group];
    layer_table.add_row({group.first, std::string(ir::phase_name(group.second)), str_cat(t.count),
                         with_commas(t.flops), Percent(t.flops, total.flops),
                         with_commas(t.bytes)});
  }
  out += layer_table.render() + "\n";

  Totals params, state, inputs, arena;
  int64_t param_elements = 0, state_elements = 0, input_elements = 0, arena_elements = 0;
  for (const ir::Node& n : graph.nodes) {
    OpCost size{Elements(n.type), Bytes(n.type)};
    if (n.op == OpKind::kVariable) {
      bool trainable = ir::attr_int(n.attrs, "trainable") != 0;
      (trainable ? params : state).add({0, size.bytes});
      (trainable ? param_elements : state_elements) += size.flops;
    } else if (n.op == OpKind::kInput) {
      inputs.add({0, size.bytes});
      input_elements += size.flops;
    } else if (owns_buffer(n)) {
      arena.add({0, size.bytes});
      arena_elements += size.flops;
    }
  }
  TextTable memory({false, true, true, true, true});
  memory.add_row({"memory", "buffers", "elements", "bytes", ""});
  auto row = [&](std::string what, const Totals& t, int64_t elements) {
    memory.add_row({std::move(what), str_cat(t.count), with_commas(elements), with_commas(t.bytes),
                    human_bytes(t.bytes)});
  };
  row("trainable parameters", params, param_elements);
  row("non-trainable variables", state, state_elements);
  row("inputs", inputs, input_elements);
  row("intermediates, no reuse (arena)", arena, arena_elements);
  int64_t peak = PeakLiveBytes(graph);
  memory.add_row({"intermediates, peak live", "", "", with_commas(peak), human_bytes(peak)});
  out += memory.render();
  out += FusionSummary(graph);

  if (options.per_node) out += "\n" + nodes.render();
  return out;
}

}  // namespace kiln::tools
