// Static memory planning of a step, as the plan-memory pass: the decisions
// (what aliases what, which updates run in place, what stays in registers,
// where each arena slice goes). The rules a plan must follow, which the
// verifier checks, are in ir/memory_plan.h.
#include <algorithm>
#include <limits>

#include "ir/memory_plan.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

// Views and outputs alias their operand; assigns stage their value only when it
// is itself a variable or input (a swap); computed values are copied straight
// from their buffers at the end of the step.
ir::PlanState PlanRoots(const ir::Graph& g) {
  const size_t n = g.nodes.size();
  ir::PlanState w{std::vector<ir::NodeId>(n), std::vector<bool>(n, false),
                  std::vector<bool>(n, false)};
  std::vector<bool> assigned(n, false);
  for (ir::NodeId id : g.nodes_of(ir::OpKind::kAssign)) assigned[g.nodes[id].inputs[0]] = true;
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = g.nodes[i];
    auto id = static_cast<ir::NodeId>(i);
    w.root[i] = id;
    if (ir::has_traits(node.op, ir::op_traits::kView)) {
      ir::NodeId root = w.root[node.inputs[0]];
      // An output of an assigned variable must keep the value from before the step.
      bool stage = node.op == ir::OpKind::kOutput && assigned[root];
      if (!stage) w.root[i] = root;
    }
    if (node.op == ir::OpKind::kAssign) {
      ir::OpKind src = g.nodes[w.root[node.inputs[1]]].op;
      w.owned[i] = ir::has_traits(src, ir::op_traits::kBound);
      continue;
    }
    w.owned[i] = w.root[i] == id && !ir::has_traits(node.op, ir::op_traits::kBound);
  }
  return w;
}

void PlanInPlaceUpdates(const ir::Graph& g, ir::PlanState* w) {
  ir::Uses u = ir::find_uses(g, *w);
  for (ir::NodeId a : g.nodes_of(ir::OpKind::kAssign)) {
    ir::NodeId x = g.nodes[a].inputs[1];
    if (w->root[x] != x || !ir::can_update_in_place(g, *w, u, a)) continue;
    w->root[x] = w->root[g.nodes[a].inputs[0]];
    w->owned[x] = false;
    w->in_place[a] = true;
  }
}

// A group member read only inside its group lives in registers.
std::vector<bool> RegisterValues(const ir::Graph& g) {
  const size_t n = g.nodes.size();
  std::vector<bool> read_outside(n, false), in_register(n, false);
  for (const ir::Node& node : g.nodes) {
    for (ir::NodeId in : node.inputs) {
      if (g.nodes[in].group < 0 || g.nodes[in].group != node.group) read_outside[in] = true;
    }
  }
  // A contraction's parts are summed in memory, which its slice provides.
  for (size_t i = 0; i < n; ++i) {
    in_register[i] =
        g.nodes[i].group >= 0 && !read_outside[i] && g.nodes[i].split != ir::Split::kContraction;
  }
  return in_register;
}

// Linear scan in step order with best-fit reuse of released slices.
int64_t AssignOffsets(const ir::Graph& g, const std::vector<bool>& in_arena,
                      const std::vector<int64_t>& unit, const std::vector<int64_t>& end,
                      std::vector<int64_t>* offset) {
  struct Block {
    int64_t offset, size;
  };
  std::vector<Block> free_blocks;
  std::vector<std::pair<int64_t, ir::NodeId>> active;  // (last read, node)
  int64_t arena = 0;
  offset->assign(g.nodes.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!in_arena[i]) continue;
    int64_t start = unit[i];
    for (size_t a = 0; a < active.size();) {
      if (active[a].first < start) {
        ir::NodeId done = active[a].second;
        free_blocks.push_back({(*offset)[done], ir::arena_slice_bytes(g, g.nodes[done])});
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(a));
      } else {
        ++a;
      }
    }
    int64_t size = ir::arena_slice_bytes(g, g.nodes[i]);
    int best = -1;
    for (size_t b = 0; b < free_blocks.size(); ++b) {
      if (free_blocks[b].size >= size &&
          (best < 0 || free_blocks[b].size < free_blocks[best].size)) {
        best = static_cast<int>(b);
      }
    }
    if (best >= 0) {
      (*offset)[i] = free_blocks[best].offset;
      free_blocks[best].offset += size;
      free_blocks[best].size -= size;
      // An exhausted block is dropped, or a long chain of equal-sized values
      // would leave the scan ever more empty blocks to walk.
      if (free_blocks[best].size == 0) {
        free_blocks[best] = free_blocks.back();
        free_blocks.pop_back();
      }
    } else {
      (*offset)[i] = arena;
      arena += size;
    }
    active.emplace_back(std::max(end[i], start), static_cast<ir::NodeId>(i));
  }
  return arena;
}

}  // namespace

void plan_memory(ir::Graph& g) {
  const size_t n = g.nodes.size();
  ir::PlanState w = PlanRoots(g);
  PlanInPlaceUpdates(g, &w);
  std::vector<bool> in_register = RegisterValues(g);
  std::vector<bool> in_arena(n, false);
  for (size_t i = 0; i < n; ++i) {
    in_arena[i] = w.owned[i] && !in_register[i] && g.nodes[i].op != ir::OpKind::kConstant;
  }
  std::vector<int64_t> unit = ir::step_units(g);
  std::vector<int64_t> offset;
  g.arena_bytes = AssignOffsets(g, in_arena, unit, ir::last_reads(g, w, unit), &offset);
  for (size_t i = 0; i < n; ++i) {
    ir::Node& node = g.nodes[i];
    ir::Storage& s = node.storage;
    s = ir::Storage{};
    if (node.op == ir::OpKind::kInput || node.op == ir::OpKind::kVariable) {
      s.kind = ir::StorageKind::kBound;
    } else if (w.root[i] != static_cast<ir::NodeId>(i)) {
      s.kind = ir::StorageKind::kAlias;
      s.alias = w.root[i];
    } else if (in_arena[i]) {
      s.kind = ir::StorageKind::kArena;
      s.offset = offset[i];
    } else if (in_register[i]) {
      s.kind = ir::StorageKind::kRegister;
    } else if (node.op == ir::OpKind::kConstant) {
      s.kind = ir::StorageKind::kConstant;
    } else {
      s.kind = ir::StorageKind::kNone;
    }
  }
}

namespace {

class PlanMemory : public Pass {
 public:
  std::string_view name() const override { return "plan-memory"; }
  bool keeps_memory_plan() const override { return true; }

  absl::StatusOr<bool> run(ir::Graph& graph) override {
    std::vector<ir::Storage> before;
    for (const ir::Node& n : graph.nodes) before.push_back(n.storage);
    int64_t arena_before = graph.arena_bytes;
    plan_memory(graph);
    bool changed = graph.arena_bytes != arena_before;
    for (size_t i = 0; i < graph.nodes.size() && !changed; ++i) {
      const ir::Storage& a = before[i];
      const ir::Storage& b = graph.nodes[i].storage;
      changed = a.kind != b.kind || a.alias != b.alias || a.offset != b.offset;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_plan_memory() { return std::make_unique<PlanMemory>(); }

}  // namespace kiln::passes
