// Fusion passes. Both only mark groups (Node::group) and, for matmul
// epilogues, move nodes next to their matmul; the JIT turns a group into one
// loop, the interpreter ignores groups.
#include <algorithm>
#include <limits>
#include <map>

#include "ir/strings.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

int NextGroup(const ir::Graph& graph) {
  int next = 0;
  for (const ir::Node& n : graph.nodes) next = std::max(next, n.group + 1);
  return next;
}

// Numbers the groups 0, 1, 2, ... in the order they appear. Ids in the input
// can be anything up to INT_MAX - 1 (`fused=2147483646`), so they are mapped
// rather than used as indices.
void NumberGroupsInOrder(ir::Graph& graph) {
  std::map<int, int> renumbered;
  for (ir::Node& n : graph.nodes) {
    if (n.group < 0) continue;
    auto [it, fresh] = renumbered.try_emplace(n.group, static_cast<int>(renumbered.size()));
    n.group = it->second;
  }
}

// The nodes that run on each output tile of matmul `m`: elementwise nodes of
// its shape, connected to it through each other, whose operands are ready when
// the tile is (computed before `m`, `m` itself, another member, or a node that
// does not depend on `m` and can move before it).
struct Epilogue {
  std::vector<ir::NodeId> members;  // after m, in order
  std::vector<ir::NodeId> hoisted;  // after m, moved before it, in order
};

// The candidates (after m) connected to m through each other, and m.
std::vector<bool> Connected(const ir::Graph& g, ir::NodeId m, const std::vector<bool>& candidate) {
  const auto n = static_cast<ir::NodeId>(g.nodes.size());
  std::vector<bool> kept(n, false);
  kept[m] = true;
  for (bool grew = true; grew;) {
    grew = false;
    for (ir::NodeId x = m + 1; x < n; ++x) {
      if (!candidate[x]) continue;
      for (ir::NodeId in : g.nodes[x].inputs) {
        if (kept[in] && !kept[x]) kept[x] = grew = true;
        if (kept[x] && !kept[in] && candidate[in] && in > m) kept[in] = grew = true;
      }
    }
  }
  return kept;
}

// The nodes after m that the kept ones need and that must therefore move
// before m.
std::vector<bool> Hoisted(const ir::Graph& g, ir::NodeId m, const std::vector<bool>& kept) {
  const auto n = static_cast<ir::NodeId>(g.nodes.size());
  std::vector<bool> hoist(n, false);
  for (ir::NodeId x = n - 1; x > m; --x) {
    if (kept[x] || hoist[x]) {
      for (ir::NodeId in : g.nodes[x].inputs) {
        if (in > m && !kept[in]) hoist[in] = true;
      }
    }
  }
  return hoist;
}

Epilogue FindEpilogue(const ir::Graph& g, ir::NodeId m) {
  const auto n = static_cast<ir::NodeId>(g.nodes.size());
  // after[x]: x comes after m and depends on it; movable[x]: after m but not.
  std::vector<bool> after(n, false), movable(n, false), candidate(n, false);
  after[m] = true;
  for (ir::NodeId x = m + 1; x < n; ++x) {
    const ir::Node& node = g.nodes[x];
    bool ready = true;
    for (ir::NodeId in : node.inputs) {
      after[x] = after[x] || after[in];
      ready = ready && (in < m || movable[in] || in == m || candidate[in]);
    }
    movable[x] = !after[x] && !ir::has_traits(node.op, ir::op_traits::kPinned);
    candidate[x] = ready && node.group < 0 && ir::is_fusible(node.op) &&
                   node.type.shape == g.nodes[m].type.shape;
  }
  // Keep the candidates connected to m; a candidate needing a movable node
  // that is itself a candidate simply joins instead of moving. A node that
  // must move before m for a member yet reads m or a member (directly or
  // through other moved nodes) cannot move, so the members reading it leave
  // the candidates, and the sets are found again until none does.
  std::vector<bool> kept, hoist;
  for (bool dropped = true; dropped;) {
    kept = Connected(g, m, candidate);
    hoist = Hoisted(g, m, kept);
    std::vector<bool> tainted(n, false);
    dropped = false;
    for (ir::NodeId x = m + 1; x < n; ++x) {
      for (ir::NodeId in : g.nodes[x].inputs) {
        if (hoist[x] && in >= m && (kept[in] || tainted[in])) tainted[x] = true;
        if (kept[x] && tainted[in]) candidate[x] = false, dropped = true;
      }
    }
  }
  Epilogue e;
  for (ir::NodeId x = m + 1; x < n; ++x) {
    if (kept[x]) e.members.push_back(x);
    if (hoist[x]) e.hoisted.push_back(x);
  }
  return e;
}

// A column sum of m's second operand that can be computed in m's tiles: one
// not yet grouped, read by no epilogue member (it is complete only after the
// last tile) and only by nodes after m that stay there; else -1.
ir::NodeId FindColumnSum(const ir::Graph& g, ir::NodeId m, const Epilogue& e) {
  auto in = [](const std::vector<ir::NodeId>& v, ir::NodeId x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (ir::NodeId s = 0; s < static_cast<ir::NodeId>(g.nodes.size()); ++s) {
    if (!ir::is_column_sum_of(g, m, s) || g.nodes[s].group >= 0 || in(e.hoisted, s)) continue;
    bool movable = true;
    for (ir::NodeId c = s + 1; c < static_cast<ir::NodeId>(g.nodes.size()); ++c) {
      if (in(g.nodes[c].inputs, s) && (c < m || in(e.hoisted, c) || in(e.members, c))) {
        movable = false;
      }
    }
    if (movable) return s;
  }
  return -1;
}

class FuseDense : public Pass {
 public:
  std::string_view name() const override { return "fuse-dense"; }

  // Matmuls are taken last to first, so a node both a forward and a backward
  // matmul could take (the relu mask) joins the later one, next to its reader.
  // Reordering for a matmul only moves nodes after it, so earlier ids hold,
  // except when a column sum moves from before it: then the walk restarts
  // (grouped matmuls are skipped).
  absl::StatusOr<bool> run(ir::Graph& graph) override {
    bool changed = false;
    // The result is numbered in order anyway; numbering first keeps new ids
    // (NextGroup) at most the node count.
    NumberGroupsInOrder(graph);
    for (auto m = static_cast<ir::NodeId>(graph.nodes.size()) - 1; m >= 0; --m) {
      if (graph.nodes[m].op != ir::OpKind::kMatMul || graph.nodes[m].group >= 0) continue;
      Epilogue e = FindEpilogue(graph, m);
      ir::NodeId sum = FindColumnSum(graph, m, e);
      if (e.members.empty() && sum < 0) continue;
      // New order: what came before, the moved nodes, m, its column sum and
      // its members, the rest.
      std::vector<bool> placed(graph.nodes.size(), false);
      std::vector<ir::NodeId> order;
      auto place = [&](ir::NodeId x) {
        order.push_back(x);
        placed[x] = true;
      };
      for (ir::NodeId x = 0; x < m; ++x) {
        if (x != sum) place(x);
      }
      for (ir::NodeId x : e.hoisted) place(x);
      const auto at = static_cast<ir::NodeId>(order.size());
      place(m);
      if (sum >= 0) place(sum);
      for (ir::NodeId x : e.members) place(x);
      const auto end = static_cast<ir::NodeId>(order.size());
      for (size_t x = 0; x < graph.nodes.size(); ++x) {
        if (!placed[x]) order.push_back(static_cast<ir::NodeId>(x));
      }
      int group = NextGroup(graph);
      graph.reorder(order);
      for (ir::NodeId k = at; k < end; ++k) graph.nodes[k].group = group;
      changed = true;
      if (sum >= 0 && sum < m) m = static_cast<ir::NodeId>(graph.nodes.size());
    }
    NumberGroupsInOrder(graph);
    return changed;
  }
};

class FuseElementwise : public Pass {
 public:
  std::string_view name() const override { return "fuse-elementwise"; }

  absl::StatusOr<bool> run(ir::Graph& graph) override {
    // Groups led by a matmul (fuse-dense) stay; the runs between them are regrouped.
    std::vector<int> before;
    std::vector<bool> epilogue(graph.nodes.size(), false);
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      ir::Node& n = graph.nodes[i];
      before.push_back(n.group);
      bool leads = ir::can_lead_group(n.op) && n.group >= 0;
      epilogue[i] = leads || (i > 0 && epilogue[i - 1] && n.group == graph.nodes[i - 1].group &&
                              n.group >= 0);
    }
    int64_t next = 0;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      if (!epilogue[i]) graph.nodes[i].group = -1;
      if (epilogue[i]) next = std::max<int64_t>(next, graph.nodes[i].group + int64_t{1});
    }
    size_t i = 0;
    while (i < graph.nodes.size()) {
      size_t end = i;
      int computing = 0;  // a run of constants alone is not worth a group
      while (end < graph.nodes.size() && !epilogue[end] && ir::is_fusible(graph.nodes[end].op) &&
             graph.nodes[end].type.shape == graph.nodes[i].type.shape) {
        computing += graph.nodes[end].op != ir::OpKind::kConstant;
        ++end;
      }
      if (end - i >= 2 && computing >= 1) {
        if (next >= std::numeric_limits<int>::max()) {
          return absl::ResourceExhaustedError(
              str_cat("no fusion group id is left after ", next - 1));
        }
        for (size_t k = i; k < end; ++k) graph.nodes[k].group = static_cast<int>(next);
        ++next;
      }
      i = std::max(end, i + 1);
    }
    for (size_t k = 0; k < graph.nodes.size(); ++k) {
      if (graph.nodes[k].group != before[k]) return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_dense() { return std::make_unique<FuseDense>(); }
std::unique_ptr<Pass> make_fuse_elementwise() { return std::make_unique<FuseElementwise>(); }

}  // namespace kiln::passes
