// The static dataflow graph: nodes in topological order, one result each.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ir/attrs.h"
#include "ir/op.h"
#include "ir/types.h"

namespace kiln::ir {

/// Which part of a training step a node belongs to.
enum class Phase : uint8_t { kForward, kBackward, kUpdate };

/// Short textual name of a phase ("fwd", "bwd", "upd").
std::string_view phase_name(Phase phase);

/// Node ids index Graph::nodes; a node's value is printed as %id.
using NodeId = int;

/// Where a node's value lives while a step runs; decided by the plan-memory pass.
enum class StorageKind : uint8_t {
  kUnplanned,  ///< no plan yet
  kBound,      ///< an input or variable: the caller's tensor, bound per run
  kArena,      ///< `offset` bytes into the step's arena
  kConstant,   ///< a buffer of its own, filled once when the step is compiled
  kRegister,   ///< read only inside its fusion group's loop: no memory at all
  kAlias,      ///< the storage of node `alias` (views, outputs, in-place updates)
  kNone,       ///< an assign with nothing to stage (its source is copied or written in place)
};

/// A node's planned storage.
struct Storage {
  StorageKind kind = StorageKind::kUnplanned;
  /// For kAlias: the node whose storage holds the value (never itself an alias).
  int alias = -1;
  /// For kArena: byte offset, a multiple of 64.
  int64_t offset = -1;
};

/// How a matmul's work is shared between threads; decided by the partition
/// pass so that each weight has one owner for a whole step. kRows and
/// kColumns only order the output tiles (rows: row band by row band, each
/// thread's share a block of rows; columns: column strip by strip), which no
/// result depends on. kContraction is part of the value's definition: the
/// contraction is summed in kContractionParts fixed parts of K, each its own
/// chain from zero, then the parts are added in order; each thread then
/// reads only its own rows of B (a weight), and every executor computes
/// exactly this sum.
enum class Split : uint8_t { kNone, kRows, kColumns, kContraction };

/// The number of parts a kContraction matmul sums its contraction in.
inline constexpr int kContractionParts = 4;

/// Where part `part` of a contraction of `k` terms begins (part
/// kContractionParts: where the last one ends).
inline int64_t contraction_part_begin(int64_t k, int part) { return k * part / kContractionParts; }

/// Products of fewer FLOPs than this (at the capacity) run on one thread:
/// below it (about 6 us on one core), handing half to another core costs more
/// than it saves. Lowered from 2e6, 32x128x128 went from 15.5 to 12 us, and
/// the seed-000 and seed-003 steps 5-10 % faster (min of 6 interleaved runs).
inline constexpr double kSplitFlops = 5e5;

/// Text of a split ("rows", "columns", "contraction"; "" for kNone).
std::string_view split_name(Split split);

/// One op application. Inputs always refer to earlier nodes.
struct Node {
  OpKind op = OpKind::kConstant;
  std::vector<NodeId> inputs;
  Attrs attrs;
  Type type;
  /// The layer the node was recorded for ("dense_1"), or the pass that made it.
  std::string layer;
  Phase phase = Phase::kForward;
  /// The fusion group the node belongs to (-1: none). A group is a run of
  /// consecutive elementwise nodes of one shape, optionally led by a matmul,
  /// that the JIT computes in a single loop (or on each matmul tile), keeping
  /// intermediates in registers; the interpreter ignores it.
  int group = -1;
  /// For a matmul: how threads share it (the partition pass); kNone: as the
  /// JIT sees fit, rows.
  Split split = Split::kNone;
  /// For the first node of a unit (its fusion group, or a lone node): the
  /// first node of a later unit that this one runs beside, on another thread
  /// while that one runs (the overlap pass; ir::BesideRule says when that
  /// is allowed). -1: in order. The interpreter runs every node in order.
  NodeId beside = -1;
  /// Set by the plan-memory pass; kUnplanned before it.
  Storage storage;
};

struct Graph;

/// Whether node `id` is a column sum that a group led by matmul `leader` may
/// compute along with its product: a reduce_sum over axis 0 of the matmul's
/// second operand (a dense layer's bias gradient next to its weight
/// gradient). The product's tiles stream through every column of that
/// operand, so the tiles of the first row band add them up on the way.
bool is_column_sum_of(const Graph& g, NodeId leader, NodeId id);

/// Whether node `id` is the first node of its unit: the run of consecutive
/// nodes of one fusion group that the JIT computes as one kernel, or a node
/// outside any group alone.
bool starts_unit(const Graph& graph, NodeId id);

/// The last node of the unit that starts at `begin`.
NodeId unit_end(const Graph& graph, NodeId begin);

/// A graph of nodes in topological order.
struct Graph {
  std::string name = "graph";
  std::vector<Node> nodes;
  /// Bytes of the step's arena once memory is planned, else -1.
  int64_t arena_bytes = -1;
  /// For a batch-polymorphic graph (shapes with the batch dimension kBatch,
  /// "?"): the most rows a run may have, which memory is planned for. 0 when
  /// every shape is static.
  int64_t capacity = 0;

  /// `shape` with its batch dimension at the capacity: the extent storage is
  /// sized for. Unchanged without a capacity (so kBatch stays and size checks
  /// reject it).
  Shape at_capacity(const Shape& shape) const {
    return capacity > 0 ? with_rows(shape, capacity) : shape;
  }

  /// Whether the plan-memory pass has run since the graph last changed.
  bool planned() const { return arena_bytes >= 0; }

  /// Forgets the memory plan (a pass that changes the graph invalidates it).
  void clear_plan();

  /// Appends a node and returns its id.
  NodeId add(Node node);

  /// The id of the `output` node called `name`, or -1.
  NodeId find_output(std::string_view name) const;

  /// The id of the `variable` node called `name`, or -1.
  NodeId find_variable(std::string_view name) const;

  /// Ids of the nodes of kind `op`, in order.
  std::vector<NodeId> nodes_of(OpKind op) const;

  /// For each node, the nodes that read it, in order (once per input slot).
  std::vector<std::vector<NodeId>> consumers() const;

  /// Drops the nodes marked in `dead` and renumbers the rest, keeping order.
  /// Live nodes must not use dead ones.
  void remove(const std::vector<bool>& dead);

  /// Puts the nodes in the order `order` (old ids, each once) and renumbers
  /// them; every node must still come after its operands.
  void reorder(const std::vector<NodeId>& order);
};

/// `graph` for runs of `rows` rows: every batch dimension ? set to `rows`,
/// and no capacity. The interpreter runs this static copy.
Graph with_rows(Graph graph, int64_t rows);

}  // namespace kiln::ir
