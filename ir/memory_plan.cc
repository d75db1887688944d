#include "ir/memory_plan.h"

#include <algorithm>
#include <limits>

#include "ir/strings.h"

namespace kiln::ir {
namespace {

bool IsView(OpKind op) { return has_traits(op, op_traits::kView); }

// The first and last node of the fusion group `id` belongs to.
std::pair<NodeId, NodeId> GroupSpan(const Graph& g, NodeId id) {
  int group = g.nodes[id].group;
  NodeId begin = id, end = id;
  while (begin > 0 && g.nodes[begin - 1].group == group) --begin;
  while (end + 1 < static_cast<NodeId>(g.nodes.size()) && g.nodes[end + 1].group == group) ++end;
  return {begin, end};
}

}  // namespace

Uses find_uses(const Graph& g, const PlanState& w) {
  const size_t n = g.nodes.size();
  Uses u{std::vector<std::vector<NodeId>>(n), std::vector<int>(n, 0), std::vector<NodeId>(n, -1)};
  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    if (node.op == OpKind::kAssign) ++u.assigns_to[w.root[node.inputs[0]]];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      u.consumers[node.inputs[k]].push_back(static_cast<NodeId>(i));
      if (node.op == OpKind::kAssign && k == 0) continue;
      NodeId& last = u.last_reader[w.root[node.inputs[k]]];
      last = std::max(last, static_cast<NodeId>(i));
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
  auto [begin, end] = GroupSpan(g, x);
  if (u.last_reader[var] > end) return false;
  for (NodeId c : u.consumers[x]) {
    if (c != assign && (c < begin || c > end)) return false;
  }
  // Readers of V inside the group must read element i (no broadcast of V),
  // and a matmul leading the group must not read V at all: its other tiles
  // would see elements the epilogue already overwrote.
  for (NodeId c = begin; c <= end; ++c) {
    const Node& member = g.nodes[c];
    for (NodeId in : member.inputs) {
      bool reads_var = w.root[in] == var || (g.nodes[in].op == OpKind::kTranspose &&
                                             w.root[g.nodes[in].inputs[0]] == var);
      if (reads_var && member.op == OpKind::kMatMul) return false;
      if (w.root[in] == var && member.op == OpKind::kBroadcast &&
          g.nodes[in].type.shape != member.type.shape) {
        return false;
      }
    }
  }
  return true;
}

// For each node, the step unit it runs in: a fusion group is one unit (its
// loop reads and writes all its buffers at once), every other node its own.
std::vector<int64_t> step_units(const Graph& g) {
  std::vector<int64_t> unit(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    int group = g.nodes[i].group;
    unit[i] = group >= 0 && i > 0 && g.nodes[i - 1].group == group ? unit[i - 1]
                                                                   : static_cast<int64_t>(i);
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
  for (size_t j = 0; j < g.nodes.size(); ++j) {
    const Node& node = g.nodes[j];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      if (node.op == OpKind::kAssign && k == 0) continue;
      read(node.inputs[k], unit[j]);
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

int64_t ValueBytes(const Node& node) {
  return num_elements(node.type.shape) * dtype_size(node.type.dtype);
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
  if (s.kind == StorageKind::kNone && n.op != OpKind::kAssign) return fail("has no storage");
  if (s.kind == StorageKind::kConstant && n.op != OpKind::kConstant) {
    return fail("is not a constant");
  }
  if (s.kind == StorageKind::kArena &&
      (s.offset < 0 || s.offset % 64 != 0 || s.offset + arena_slice_bytes(n) > g.arena_bytes)) {
    return fail(str_cat("arena slice at ", s.offset, " of ", arena_slice_bytes(n),
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
    if (ValueBytes(target) != ValueBytes(n)) {
      return fail(str_cat("aliases %", s.alias, " of ", ValueBytes(target), " bytes but needs ",
                          ValueBytes(n)));
    }
  }
  return absl::OkStatus();
}

// A view shares its operand's storage; any other alias must be the in-place
// update of the variable an assign writes it to.
absl::Status CheckAliases(const Graph& g, const PlanState& w) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.storage.kind != StorageKind::kAlias) continue;
    bool ok = false;
    if (IsView(n.op)) {
      ok = w.root[n.inputs[0]] == n.storage.alias;
    } else {
      for (NodeId a : g.nodes_of(OpKind::kAssign)) {
        const Node& assign = g.nodes[a];
        ok = ok || (assign.inputs[1] == static_cast<NodeId>(i) &&
                    w.root[assign.inputs[0]] == n.storage.alias);
      }
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
  std::vector<NodeId> slices;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].storage.kind == StorageKind::kArena) slices.push_back(static_cast<NodeId>(i));
  }
  for (size_t x = 0; x < slices.size(); ++x) {
    for (size_t y = x + 1; y < slices.size(); ++y) {
      NodeId a = slices[x], b = slices[y];
      int64_t a_end = std::max(end[a], unit[a]), b_end = std::max(end[b], unit[b]);
      bool same_time = unit[a] <= b_end && unit[b] <= a_end;
      int64_t a_off = g.nodes[a].storage.offset, b_off = g.nodes[b].storage.offset;
      bool same_place = a_off < b_off + arena_slice_bytes(g.nodes[b]) &&
                        b_off < a_off + arena_slice_bytes(g.nodes[a]);
      if (same_time && same_place) {
        return absl::InvalidArgumentError(
            str_cat("%", a, " and %", b, " are live at the same time but share arena bytes"));
      }
    }
  }
  return absl::OkStatus();
}

int64_t arena_slice_bytes(const Node& node) {
  int64_t bytes = num_elements(node.type.shape) * dtype_size(node.type.dtype);
  return (bytes + 63) / 64 * 64;
}

}  // namespace kiln::ir
