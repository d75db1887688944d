// The executor interface: every backend (interpreter, JIT) runs graphs through it.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "runtime/tensor.h"
#include "runtime/variables.h"

namespace kiln {

/// Input tensors by input-node name; the executor does not keep them.
using Feeds = std::map<std::string, const Tensor*, std::less<>>;
/// Output tensors by output-node name; reused between steps when shapes match.
using Outputs = std::map<std::string, Tensor, std::less<>>;

/// The row count of one run of `graph`: for a batch-polymorphic graph, the
/// extent the fed tensors give the batch dimension ? of its inputs (the same
/// for every input, 1 to the graph's capacity; the capacity if no input has
/// one); 0 for a static graph. Errors name the input and the capacity.
absl::StatusOr<int64_t> run_rows(const ir::Graph& graph, const Feeds& feeds);

/// The storage an `input` or `variable` node reads in one run of `rows` rows:
/// the fed tensor or the variable, checked against the node's declared type
/// (its batch dimension taken as `rows`). Errors name it.
absl::StatusOr<std::byte*> bind_leaf(const ir::Node& node, int64_t rows, const Feeds& feeds,
                                     VariableStore& variables);

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
