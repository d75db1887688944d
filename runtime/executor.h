// The executor interface: every backend (interpreter, JIT) runs graphs through it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "runtime/tensor.h"
#include "runtime/variables.h"

namespace kiln {

/// One input of a run: all of `tensor`, or, when `rows` is set, the rows of
/// `tensor` it lists, in that order. A batch taken from a dataset is fed
/// that way without copying it first: the JIT reads a matmul's rows where
/// they are, the interpreter gathers them.
struct Feed {
  Feed() = default;
  /// All of `t` (implicit, so feeds read {{"x", &t}}).
  Feed(const Tensor* t) : tensor(t) {}  // NOLINT(google-explicit-constructor)
  /// Rows `r` of `t`, along its first axis: the input's batch axis, or its
  /// first axis in a graph compiled for one batch size.
  Feed(const Tensor* t, std::span<const int64_t> r) : tensor(t), rows(r) {}
  const Tensor* tensor = nullptr;
  std::optional<std::span<const int64_t>> rows;
};

/// Inputs by input-node name; the executor keeps none of them.
using Feeds = std::map<std::string, Feed, std::less<>>;
/// Output tensors by output-node name; reused between steps when shapes match.
using Outputs = std::map<std::string, Tensor, std::less<>>;

/// The row count of one run of `graph`: for a batch-polymorphic graph, the
/// extent the fed tensors give the batch dimension ? of its inputs (the same
/// for every input, 1 to the graph's capacity; the capacity if no input has
/// one); 0 for a static graph. Errors name the input and the capacity.
absl::StatusOr<int64_t> run_rows(const ir::Graph& graph, const Feeds& feeds);

/// The storage an `input` or `variable` node reads in one run of `rows` rows:
/// the fed tensor or the variable, checked against the node's declared type
/// (its batch dimension taken as `rows`). A feed of listed rows is copied
/// into `*gathered` (reused from run to run). Errors name the input.
absl::StatusOr<std::byte*> bind_leaf(const ir::Node& node, int64_t rows, const Feeds& feeds,
                                     VariableStore& variables, Tensor* gathered);

/// For an input read row by row: the address of each of its `rows` rows (of
/// the fed tensor, or of the rows a feed lists) in `table`, checked as
/// bind_leaf checks. Errors name the input.
absl::Status bind_rows(const ir::Node& node, int64_t rows, const Feeds& feeds,
                       std::vector<const std::byte*>* table);

/// A graph prepared for repeated execution.
class Executor {
 public:
  virtual ~Executor() = default;
  /// Runs the graph once. Reads `feeds` and `variables`, writes `outputs`, and
  /// applies the graph's `assign` updates to `variables` after the step.
  /// `step_seed` keys the step's random ops (dropout) so runs are reproducible.
  virtual absl::Status run(const Feeds& feeds, VariableStore& variables, uint64_t step_seed,
                           Outputs* outputs) = 0;
  /// Another executor of the same compiled graph with memory of its own, so
  /// the two can run at once on different threads (sharing the code).
  virtual std::unique_ptr<Executor> clone() const = 0;
};

/// Turns verified graphs into executors (the interpreter; the JIT later).
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string name() const = 0;
  virtual absl::StatusOr<std::unique_ptr<Executor>> compile(const ir::Graph& graph) = 0;
};

/// Interpreter settings.
struct InterpreterOptions {
  /// Check every f32 value an op computes for NaN and Inf (runtime/numerics.h).
  bool check_numerics = false;
};

/// The reference interpreter: runs any verified graph node by node.
std::unique_ptr<Engine> make_interpreter(InterpreterOptions options = {});

}  // namespace kiln
