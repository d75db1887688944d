// The rules of a step's memory plan (where each node's value lives), shared by
// the plan-memory pass that makes the plan and the verifier that checks it.
#pragma once

#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln::ir {

/// Where each node's value lives while a plan is made or checked: the node
/// whose storage holds it, whether that storage is a buffer the step owns,
/// and (for assigns) whether the value was written into the variable in place.
struct PlanState {
  std::vector<NodeId> root;
  std::vector<bool> owned;
  std::vector<bool> in_place;
};

/// Who reads what: each node's consumers, how often each root is assigned, and
/// the last node that reads each root (an assign's target is not read); and,
/// so that judging every assign stays linear in the graph however large its
/// fusion groups are, each node's group run, how often each value is read
/// outside it, and the (group start, root) pairs whose in-place update a
/// group member forbids (a matmul reading the root, or a broadcast of it).
struct Uses {
  std::vector<std::vector<NodeId>> consumers;
  std::vector<int> assigns_to;
  std::vector<NodeId> last_reader;
  std::vector<std::pair<NodeId, NodeId>> group_span;
  std::vector<int64_t> reads_outside_group;
  std::set<std::pair<NodeId, NodeId>> blocks_in_place;
};
Uses find_uses(const Graph& graph, const PlanState& state);

/// Whether assign `assign` (V <- X) may write X straight into V's storage.
bool can_update_in_place(const Graph& graph, const PlanState& state, const Uses& uses,
                         NodeId assign);

/// For each node, the step unit it runs in: a fusion group is one unit (its
/// loop reads and writes all its buffers at once), every other node its own.
std::vector<int64_t> step_units(const Graph& graph);

/// The last unit that reads each root's storage (INT64_MAX: read after the step);
/// a unit that runs beside a later one reads, and keeps its values, until then.
std::vector<int64_t> last_reads(const Graph& graph, const PlanState& state,
                                const std::vector<int64_t>& unit);

/// Checks a planned graph's storage: each kind fits its op, slices lie in the
/// arena, aliases name real storage of the same size, and no two slices that
/// are live at the same time overlap. Errors name the node.
absl::Status check_memory_plan(const Graph& graph);

/// Bytes of a node's value rounded up to 64: the stride between the parts of
/// a split=contraction matmul, whose part 0 holds the value once they are summed.
int64_t part_bytes(const Graph& graph, const Node& node);

/// Bytes a node's value occupies in the arena: part_bytes, once per part of a
/// split=contraction matmul.
int64_t arena_slice_bytes(const Graph& graph, const Node& node);

}  // namespace kiln::ir
