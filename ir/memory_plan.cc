#include "ir/memory_plan.h"

#include <algorithm>
#include <limits>

#include "ir/strings.h"

namespace kiln::ir {
namespace {

bool IsView(OpKind op) { return has_traits(op, op_traits::kView); }

// The plan while it is being made: per node, the node whose storage holds its
// value, and whether that storage is a buffer the step owns.
struct Work {
  std::vector<NodeId> root;
  std::vector<bool> owned;
  std::vector<bool> in_place;
};

// Views and outputs alias their operand; assigns stage their value only when it
// is itself a variable or input (a swap); computed values are copied straight
// from their buffers at the end of the step.
Work PlanRoots(const Graph& g) {
  const size_t n = g.nodes.size();
  Work w{std::vector<NodeId>(n), std::vector<bool>(n, false), std::vector<bool>(n, false)};
  std::vector<bool> assigned(n, false);
  for (NodeId id : g.nodes_of(OpKind::kAssign)) assigned[g.nodes[id].inputs[0]] = true;
  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    auto id = static_cast<NodeId>(i);
    w.root[i] = id;
    if (IsView(node.op)) {
      NodeId root = w.root[node.inputs[0]];
      // An output of an assigned variable must keep the value from before the step.
      bool stage = node.op == OpKind::kOutput && assigned[root];
      if (!stage) w.root[i] = root;
    }
    if (node.op == OpKind::kAssign) {
      OpKind src = g.nodes[w.root[node.inputs[1]]].op;
      w.owned[i] = has_traits(src, op_traits::kBound);
      continue;
    }
    w.owned[i] = w.root[i] == id && !has_traits(node.op, op_traits::kBound);
  }
  return w;
}

// The first and last node of the fusion group `id` belongs to.
std::pair<NodeId, NodeId> GroupSpan(const Graph& g, NodeId id) {
  int group = g.nodes[id].group;
  NodeId begin = id, end = id;
  while (begin > 0 && g.nodes[begin - 1].group == group) --begin;
  while (end + 1 < static_cast<NodeId>(g.nodes.size()) && g.nodes[end + 1].group == group) ++end;
  return {begin, end};
}

// Who reads what: each node's consumers, how often each root is assigned, and
// the last node that reads each root (an assign's target is not read).
struct Uses {
  std::vector<std::vector<NodeId>> consumers;
  std::vector<int> assigns_to;
  std::vector<NodeId> last_reader;
};

Uses FindUses(const Graph& g, const Work& w) {
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
bool CanUpdateInPlace(const Graph& g, const Work& w, const Uses& u, NodeId assign) {
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

void PlanInPlaceUpdates(const Graph& g, Work* w) {
  Uses u = FindUses(g, *w);
  for (NodeId a : g.nodes_of(OpKind::kAssign)) {
    NodeId x = g.nodes[a].inputs[1];
    if (w->root[x] != x || !CanUpdateInPlace(g, *w, u, a)) continue;
    w->root[x] = w->root[g.nodes[a].inputs[0]];
    w->owned[x] = false;
    w->in_place[a] = true;
  }
}

// A group member read only inside its group lives in registers.
std::vector<bool> RegisterValues(const Graph& g) {
  const size_t n = g.nodes.size();
  std::vector<bool> read_outside(n, false), in_register(n, false);
  for (const Node& node : g.nodes) {
    for (NodeId in : node.inputs) {
      if (g.nodes[in].group < 0 || g.nodes[in].group != node.group) read_outside[in] = true;
    }
  }
  for (size_t i = 0; i < n; ++i) in_register[i] = g.nodes[i].group >= 0 && !read_outside[i];
  return in_register;
}

// For each node, the step unit it runs in: a fusion group is one unit (its
// loop reads and writes all its buffers at once), every other node its own.
std::vector<int64_t> Units(const Graph& g) {
  std::vector<int64_t> unit(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    int group = g.nodes[i].group;
    unit[i] = group >= 0 && i > 0 && g.nodes[i - 1].group == group ? unit[i - 1]
                                                                   : static_cast<int64_t>(i);
  }
  return unit;
}

// The last unit that reads each root's storage (max int64: read after the step).
std::vector<int64_t> LastReads(const Graph& g, const Work& w, const std::vector<int64_t>& unit) {
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

// Linear scan in step order with best-fit reuse of released slices.
int64_t AssignOffsets(const Graph& g, const std::vector<bool>& in_arena,
                      const std::vector<int64_t>& unit, const std::vector<int64_t>& end,
                      std::vector<int64_t>* offset) {
  struct Block {
    int64_t offset, size;
  };
  std::vector<Block> free_blocks;
  std::vector<std::pair<int64_t, NodeId>> active;  // (last read, node)
  int64_t arena = 0;
  offset->assign(g.nodes.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!in_arena[i]) continue;
    int64_t start = unit[i];
    for (size_t a = 0; a < active.size();) {
      if (active[a].first < start) {
        NodeId done = active[a].second;
        free_blocks.push_back({(*offset)[done], arena_slice_bytes(g.nodes[done])});
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(a));
      } else {
        ++a;
      }
    }
    int64_t size = arena_slice_bytes(g.nodes[i]);
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
    } else {
      (*offset)[i] = arena;
      arena += size;
    }
    active.emplace_back(std::max(end[i], start), static_cast<NodeId>(i));
  }
  return arena;
}

// The plan as recorded in the nodes' storage, in the form the liveness uses.
Work WorkFromStorage(const Graph& g) {
  const size_t n = g.nodes.size();
  Work w{std::vector<NodeId>(n), std::vector<bool>(n, false), std::vector<bool>(n, false)};
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
absl::Status CheckAliases(const Graph& g, const Work& w) {
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
  Work w = WorkFromStorage(g);
  if (auto s = CheckAliases(g, w); !s.ok()) return s;
  // Judge each in-place update as the planner did: before its value took the
  // variable's storage (else the assign itself would count as a later read).
  Work before = w;
  for (NodeId a : g.nodes_of(OpKind::kAssign)) {
    if (w.in_place[a]) before.root[g.nodes[a].inputs[1]] = g.nodes[a].inputs[1];
  }
  Uses uses = FindUses(g, before);
  for (NodeId a : g.nodes_of(OpKind::kAssign)) {
    if (w.in_place[a] && !CanUpdateInPlace(g, before, uses, a)) {
      return absl::InvalidArgumentError(
          str_cat("%", a,
                  " (assign): its value is written into the variable in place, but the variable "
                  "is read after the value's fusion group or the value is read elsewhere"));
    }
  }
  std::vector<int64_t> unit = Units(g);
  std::vector<int64_t> end = LastReads(g, w, unit);
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

void plan_memory(Graph& g) {
  const size_t n = g.nodes.size();
  Work w = PlanRoots(g);
  PlanInPlaceUpdates(g, &w);
  std::vector<bool> in_register = RegisterValues(g);
  std::vector<bool> in_arena(n, false);
  for (size_t i = 0; i < n; ++i) {
    in_arena[i] = w.owned[i] && !in_register[i] && g.nodes[i].op != OpKind::kConstant;
  }
  std::vector<int64_t> unit = Units(g);
  std::vector<int64_t> offset;
  g.arena_bytes = AssignOffsets(g, in_arena, unit, LastReads(g, w, unit), &offset);
  for (size_t i = 0; i < n; ++i) {
    Node& node = g.nodes[i];
    Storage& s = node.storage;
    s = Storage{};
    if (node.op == OpKind::kInput || node.op == OpKind::kVariable) {
      s.kind = StorageKind::kBound;
    } else if (w.root[i] != static_cast<NodeId>(i)) {
      s.kind = StorageKind::kAlias;
      s.alias = w.root[i];
    } else if (in_arena[i]) {
      s.kind = StorageKind::kArena;
      s.offset = offset[i];
    } else if (in_register[i]) {
      s.kind = StorageKind::kRegister;
    } else if (node.op == OpKind::kConstant) {
      s.kind = StorageKind::kConstant;
    } else {
      s.kind = StorageKind::kNone;
    }
  }
}

}  // namespace kiln::ir
