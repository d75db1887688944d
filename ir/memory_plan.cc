#include "ir/memory_plan.h"

#include <algorithm>
#include <limits>
#include <map>
#include <queue>
#include <set>

#include "ir/strings.h"

namespace kiln::ir {
namespace {

bool IsView(OpKind op) { return has_traits(op, op_traits::kView); }

// The first and last node of the run of nodes in the group of each node (a
// node outside any group is its own run).
std::vector<std::pair<NodeId, NodeId>> GroupSpans(const Graph& g) {
  const auto n = static_cast<NodeId>(g.nodes.size());
  std::vector<std::pair<NodeId, NodeId>> span(n);
  for (NodeId begin = 0; begin < n;) {
    const NodeId end = unit_end(g, begin);
    for (NodeId i = begin; i <= end; ++i) span[i] = {begin, end};
    begin = end + 1;
  }
  return span;
}

}  // namespace

Uses find_uses(const Graph& g, const PlanState& w) {
  const size_t n = g.nodes.size();
  Uses u{std::vector<std::vector<NodeId>>(n), std::vector<int>(n, 0),
         std::vector<NodeId>(n, -1),          GroupSpans(g),
         std::vector<int64_t>(n, 0),          {}};
  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    const auto id = static_cast<NodeId>(i);
    if (node.op == OpKind::kAssign) ++u.assigns_to[w.root[node.inputs[0]]];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      NodeId in = node.inputs[k];
      u.consumers[in].push_back(id);
      auto [begin, end] = u.group_span[in];
      if (g.nodes[in].group >= 0 && (id < begin || id > end)) ++u.reads_outside_group[in];
      if (node.group >= 0) {
        // Readers of a root inside a group must read element i (no broadcast
        // of it), and a matmul leading the group must not read it at all:
        // its other tiles would see elements the epilogue already overwrote.
        NodeId group_begin = u.group_span[id].first;
        if (node.op == OpKind::kMatMul) {
          u.blocks_in_place.emplace(group_begin, w.root[in]);
          if (g.nodes[in].op == OpKind::kTranspose) {
            u.blocks_in_place.emplace(group_begin, w.root[g.nodes[in].inputs[0]]);
          }
        }
        if (node.op == OpKind::kBroadcast && g.nodes[in].type.shape != node.type.shape) {
          u.blocks_in_place.emplace(group_begin, w.root[in]);
        }
      }
      if (node.op == OpKind::kAssign && k == 0) continue;
      NodeId& last = u.last_reader[w.root[in]];
      last = std::max(last, id);
      // The JIT may fold a transpose into the matmul reading it, which then
      // reads the transpose's operand: no in-place update of that operand
      // may come before this read.
      if (g.nodes[in].op == OpKind::kTranspose) {
        NodeId& source_last = u.last_reader[w.root[g.nodes[in].inputs[0]]];
        source_last = std::max(source_last, id);
      }
    }
  }
  return u;
}

// An assign `V <- X` may write X straight into V when X is computed in a fused
// group, only the assign reads X outside the group, V is assigned once, and
// every other reader of V comes no later than the group and reads V at the
// same element (so the group reads V[i] before it overwrites V[i]). Each
// optimizer update then reads and writes its weight and slots once per step,
// with no temporary and no copy at the end.
bool can_update_in_place(const Graph& g, const PlanState& w, const Uses& u, NodeId assign) {
  NodeId var = w.root[g.nodes[assign].inputs[0]];
  NodeId x = g.nodes[assign].inputs[1];
  if (g.nodes[x].group < 0 || u.assigns_to[var] != 1 || w.owned[assign]) return false;
  auto [begin, end] = u.group_span[x];
  if (u.last_reader[var] > end) return false;
  // Only the assign may read X outside the group (counted once per operand).
  const Node& a = g.nodes[assign];
  int64_t own = assign < begin || assign > end ? (a.inputs[0] == x) + (a.inputs[1] == x) : 0;
  if (u.reads_outside_group[x] != own) return false;
  return !u.blocks_in_place.count({begin, var});
}

// For each node, the step unit it runs in: a fusion group is one unit (its
// loop reads and writes all its buffers at once), every other node its own.
std::vector<int64_t> step_units(const Graph& g) {
  std::vector<int64_t> unit(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    unit[i] = starts_unit(g, static_cast<NodeId>(i)) ? static_cast<int64_t>(i) : unit[i - 1];
  }
  return unit;
}

// The last unit that reads each root's storage (max int64: read after the step).
std::vector<int64_t> last_reads(const Graph& g, const PlanState& w,
                                const std::vector<int64_t>& unit) {
  constexpr int64_t kAfterStep = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> end(g.nodes.size(), -1);
  auto read = [&](NodeId node, int64_t when) {
    NodeId r = w.root[node];
    end[r] = std::max(end[r], when);
    // A matmul may read a transpose's operand directly (the JIT folds the transpose).
    if (g.nodes[r].op == OpKind::kTranspose) {
      NodeId src = w.root[g.nodes[r].inputs[0]];
      end[src] = std::max(end[src], when);
    }
  };
  // A unit that runs beside a later one (Node::beside) reads its operands,
  // and needs its own values, until that one ends.
  std::vector<int64_t> runs_at = unit;
  for (size_t s = 0; s < g.nodes.size(); ++s) {
    const auto side = static_cast<NodeId>(s);
    // Only a unit's first node may run it beside another (the verifier's
    // rule); reading the attribute anywhere else would make this quadratic.
    if (g.nodes[s].beside < 0 || !starts_unit(g, side)) continue;
    for (NodeId j = side; j <= unit_end(g, side); ++j) {
      runs_at[j] = unit[g.nodes[s].beside];
      read(j, runs_at[j]);
    }
  }
  for (size_t j = 0; j < g.nodes.size(); ++j) {
    const Node& node = g.nodes[j];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      if (node.op == OpKind::kAssign && k == 0) continue;
      read(node.inputs[k], runs_at[j]);
    }
    if (node.op == OpKind::kOutput) read(static_cast<NodeId>(j), kAfterStep);
    if (node.op == OpKind::kAssign && !w.in_place[j]) {
      read(w.owned[j] ? static_cast<NodeId>(j) : node.inputs[1], kAfterStep);
    }
  }
  return end;
}

// The plan as recorded in the nodes' storage, in the form the liveness uses.
namespace {

PlanState StateFromStorage(const Graph& g) {
  const size_t n = g.nodes.size();
  PlanState w{std::vector<NodeId>(n), std::vector<bool>(n, false), std::vector<bool>(n, false)};
  for (size_t i = 0; i < n; ++i) {
    const Storage& s = g.nodes[i].storage;
    w.root[i] = s.kind == StorageKind::kAlias ? s.alias : static_cast<NodeId>(i);
    w.owned[i] = s.kind == StorageKind::kArena || s.kind == StorageKind::kConstant;
  }
  for (NodeId a : g.nodes_of(OpKind::kAssign)) {
    const Node& node = g.nodes[a];
    w.in_place[a] = !w.owned[a] && w.root[node.inputs[1]] == w.root[node.inputs[0]];
  }
  return w;
}

int64_t ValueBytes(const Graph& g, const Node& node) {
  return num_elements(g.at_capacity(node.type.shape)) * dtype_size(node.type.dtype);
}

absl::Status CheckStorageKind(const Graph& g, NodeId id) {
  const Node& n = g.nodes[id];
  const Storage& s = n.storage;
  bool leaf = n.op == OpKind::kInput || n.op == OpKind::kVariable;
  auto fail = [&](std::string_view why) {
    return absl::InvalidArgumentError(str_cat("%", id, " (", op_name(n.op), "): ", why));
  };
  if (s.kind == StorageKind::kUnplanned) return fail("has no storage in a planned graph");
  if (leaf != (s.kind == StorageKind::kBound)) return fail("only inputs and variables are bound");
  if (s.kind == StorageKind::kRegister && n.group < 0) {
    return fail("lives in registers but is not in a fusion group");
  }
  if (n.split == Split::kContraction && s.kind != StorageKind::kArena) {
    return fail("has split=contraction, so its parts need a slice of the arena");
  }
  if (s.kind == StorageKind::kNone && n.op != OpKind::kAssign) return fail("has no storage");
  if (s.kind == StorageKind::kConstant && n.op != OpKind::kConstant) {
    return fail("is not a constant");
  }
  // Written as offset > arena - size so that no hostile offset overflows.
  if (s.kind == StorageKind::kArena &&
      (s.offset < 0 || s.offset % 64 != 0 || arena_slice_bytes(g, n) > g.arena_bytes ||
       s.offset > g.arena_bytes - arena_slice_bytes(g, n))) {
    return fail(str_cat("arena slice at ", s.offset, " of ", arena_slice_bytes(g, n),
                        " bytes is not 64-byte aligned inside the arena of ", g.arena_bytes));
  }
  if (s.kind == StorageKind::kAlias) {
    if (s.alias < 0 || s.alias >= static_cast<int>(g.nodes.size()) || s.alias == id) {
      return fail(str_cat("aliases a node that does not exist: %", s.alias));
    }
    const Node& target = g.nodes[s.alias];
    StorageKind k = target.storage.kind;
    if (k != StorageKind::kArena && k != StorageKind::kBound && k != StorageKind::kConstant) {
      return fail(str_cat("aliases %", s.alias, ", which has no memory of its own"));
    }
    if (ValueBytes(g, target) != ValueBytes(g, n)) {
      return fail(str_cat("aliases %", s.alias, " of ", ValueBytes(g, target), " bytes but needs ",
                          ValueBytes(g, n)));
    }
  }
  return absl::OkStatus();
}

// A view shares its operand's storage; any other alias must be the in-place
// update of the variable an assign writes it to.
absl::Status CheckAliases(const Graph& g, const PlanState& w) {
  // (value, variable root) of every assign, so each alias is one lookup.
  std::set<std::pair<NodeId, NodeId>> writes;
  for (NodeId a : g.nodes_of(OpKind::kAssign)) {
    writes.emplace(g.nodes[a].inputs[1], w.root[g.nodes[a].inputs[0]]);
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.storage.kind != StorageKind::kAlias) continue;
    bool ok = false;
    if (IsView(n.op)) {
      ok = w.root[n.inputs[0]] == n.storage.alias;
    } else {
      ok = writes.count({static_cast<NodeId>(i), n.storage.alias}) > 0;
    }
    if (!ok) {
      return absl::InvalidArgumentError(str_cat("%", i, " (", op_name(n.op), "): aliases %",
                                                n.storage.alias,
                                                ", but is neither a view of it nor the value an "
                                                "assign writes into it"));
    }
  }
  return absl::OkStatus();
}

// Two slices clash when their lifetimes [unit, max(end, unit)] intersect and
// so do their bytes [offset, offset + size). A sweep in order of the units
// keeps the slices alive at the current unit, which must be pairwise disjoint
// in bytes, ordered by offset; each new slice then only needs comparing with
// its neighbours. n log n, where comparing every pair took minutes on large
// graphs. (An empty slice never clashes with another empty one but does with
// a slice whose bytes strictly surround its offset, as the pairwise rule says.)
absl::Status CheckNoOverlap(const Graph& g, const std::vector<int64_t>& unit,
                            const std::vector<int64_t>& end) {
  std::vector<NodeId> slices;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].storage.kind == StorageKind::kArena) slices.push_back(static_cast<NodeId>(i));
  }
  // Node order is step order, so slices are already sorted by unit.
  auto last = [&](NodeId x) { return std::max(end[x], unit[x]); };
  auto clash = [&](NodeId a, NodeId b) {
    if (a > b) std::swap(a, b);
    return absl::InvalidArgumentError(
        str_cat("%", a, " and %", b, " are live at the same time but share arena bytes"));
  };
  std::map<int64_t, NodeId> live;             // non-empty slices by offset
  std::multimap<int64_t, NodeId> live_empty;  // empty slices by offset
  using Expiry = std::pair<int64_t, NodeId>;  // (last unit, node)
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiring;
  for (NodeId s : slices) {
    while (!expiring.empty() && expiring.top().first < unit[s]) {
      NodeId done = expiring.top().second;
      expiring.pop();
      int64_t off = g.nodes[done].storage.offset;
      if (arena_slice_bytes(g, g.nodes[done]) > 0) {
        live.erase(off);
      } else {
        for (auto [it, to] = live_empty.equal_range(off); it != to; ++it) {
          if (it->second == done) {
            live_empty.erase(it);
            break;
          }
        }
      }
    }
    int64_t off = g.nodes[s].storage.offset, size = arena_slice_bytes(g, g.nodes[s]);
    // The live slice starting at or before `off`, for an empty slice strictly before.
    auto below = size > 0 ? live.upper_bound(off) : live.lower_bound(off);
    if (below != live.begin()) {
      --below;
      if (below->first + arena_slice_bytes(g, g.nodes[below->second]) > off) {
        return clash(below->second, s);
      }
    }
    if (size > 0) {
      auto above = live.lower_bound(off);
      if (above != live.end() && above->first < off + size) return clash(above->second, s);
      auto inside = live_empty.upper_bound(off);
      if (inside != live_empty.end() && inside->first < off + size) {
        return clash(inside->second, s);
      }
      live.emplace(off, s);
    } else {
      live_empty.emplace(off, s);
    }
    expiring.emplace(last(s), s);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status check_memory_plan(const Graph& g) {
  if (!g.planned()) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (g.nodes[i].storage.kind != StorageKind::kUnplanned) {
        return absl::InvalidArgumentError(
            str_cat("%", i, " has storage but the graph has no arena size (arena=BYTES)"));
      }
    }
    return absl::OkStatus();
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (auto s = CheckStorageKind(g, static_cast<NodeId>(i)); !s.ok()) return s;
  }
  PlanState w = StateFromStorage(g);
  if (auto s = CheckAliases(g, w); !s.ok()) return s;
  // Judge each in-place update as the planner did: before its value took the
  // variable's storage (else the assign itself would count as a later read).
  PlanState before = w;
  for (NodeId a : g.nodes_of(OpKind::kAssign)) {
    if (w.in_place[a]) before.root[g.nodes[a].inputs[1]] = g.nodes[a].inputs[1];
  }
  Uses uses = find_uses(g, before);
  for (NodeId a : g.nodes_of(OpKind::kAssign)) {
    if (w.in_place[a] && !can_update_in_place(g, before, uses, a)) {
      return absl::InvalidArgumentError(
          str_cat("%", a,
                  " (assign): its value is written into the variable in place, but the variable "
                  "is read after the value's fusion group or the value is read elsewhere"));
    }
  }
  std::vector<int64_t> unit = step_units(g);
  std::vector<int64_t> end = last_reads(g, w, unit);
  return CheckNoOverlap(g, unit, end);
}

int64_t part_bytes(const Graph& graph, const Node& node) {
  int64_t bytes = num_elements(graph.at_capacity(node.type.shape)) * dtype_size(node.type.dtype);
  return (bytes + 63) / 64 * 64;
}

int64_t arena_slice_bytes(const Graph& graph, const Node& node) {
  return part_bytes(graph, node) * (node.split == Split::kContraction ? kContractionParts : 1);
}

}  // namespace kiln::ir
