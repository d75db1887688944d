// State shared by model.cc and fit.cc (internal).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

#include "frontend/loss_impl.h"
#include "frontend/sequential_impl.h"
#include "kiln/model.h"
#include "runtime/distributed.h"
#include "runtime/executor.h"

namespace kiln::detail {

/// The three graphs a model compiles (per batch size if its layers need a
/// static batch).
enum class GraphKind { kTrain, kEvaluate, kPredict };

struct TrainingState {
  std::optional<Optimizer> optimizer;
  std::optional<Loss> loss;
  bool accuracy = false;
  CompileOptions options;
  /// The layers' weights (shared) and the optimizer's slots.
  VariableStore store;
  std::unique_ptr<Engine> engine;
  /// Compiled graphs by (kind, batch size, input dtype), the batch size 0 for
  /// a batch-polymorphic graph, each with the tick of its last use; at most
  /// kMaxExecutors, least recently used evicted first.
  struct Compiled {
    std::unique_ptr<Executor> executor;
    uint64_t last_use = 0;
    /// A hash of the planned graph's text: processes of a distributed job
    /// compare it to catch a rank that built a different step.
    uint64_t fingerprint = 0;
    /// The most rows a run may have: the batch a static graph was compiled
    /// for, the capacity of a batch-polymorphic one.
    int64_t capacity = 0;
    /// Copies of `executor` (own memory, same code) for a forward pass split
    /// over threads; made on first use.
    std::vector<std::unique_ptr<Executor>> replicas;
  };
  static constexpr size_t kMaxExecutors = 16;
  std::map<std::tuple<GraphKind, int64_t, DType>, Compiled> executors;
  uint64_t uses = 0;
  /// Shuffling and dropout draw from here; seeded from the global generator.
  Rng rng;
};

/// The graph of `kind` for `batch` rows of `input`, through its pass pipeline
/// (planned), with its variables in the store.
ir::Graph planned_graph(const SequentialImpl& impl, TrainingState& state, GraphKind kind,
                        int64_t batch, DType input);

/// Builds the model for the per-example shape of `x` (all but axis 0) if needed,
/// and checks `x` fits the built model.
void ensure_built(SequentialImpl& impl, TrainingState& state, const Tensor& x);
/// The same for examples of shape `example`; `input_text` describes the input in errors.
void ensure_built(SequentialImpl& impl, TrainingState& state, const Shape& example,
                  const std::string& input_text);
/// A per-example shape as Keras prints it with the batch axis: "(None, 28, 28)".
std::string NoneShape(const Shape& shape);
/// `rows` as the graph for batch `n` takes them: as they are for a
/// batch-polymorphic model, with zero rows appended up to `n` for a static one.
Tensor rows_for_graph(const SequentialImpl& impl, Tensor rows, int64_t n);
/// `batch_size`, or a kiln::Error naming `method` when it is below 1.
int64_t check_batch_size(const char* method, int batch_size);
/// Records the forward graph of `kind` for `batch` examples of `input` dtype
/// (before any pass). Non-f32 inputs are cast inside the graph.
absl::StatusOr<ir::Graph> record_graph(const SequentialImpl& impl, const TrainingState& state,
                                       GraphKind kind, int64_t batch, DType input);
/// An executor for `kind` that runs `batch` rows, compiling one on first use
/// or when `batch` is above the compiled graph's capacity.
Executor& executor_for(const SequentialImpl& impl, TrainingState& state, GraphKind kind,
                       int64_t batch, DType input);
/// Runs `step(s, executor, outputs)` for every batch s in [0, steps) of the
/// forward graph `kind` for `batch` rows, then `after(s)` on this thread, in
/// order. With `before` (called first, for batch callbacks) the batches run
/// in order on this thread; without, they may be split over the pool's
/// threads in contiguous runs, each thread with its own copy of the
/// executor, so a batch's result must not depend on the others. Throws the
/// error of the first failing batch.
void run_batches(const SequentialImpl& impl, TrainingState& state, GraphKind kind, int64_t batch,
                 DType input, int64_t steps,
                 const std::function<absl::Status(int64_t, Executor&, Outputs&)>& step,
                 const std::function<void(int64_t)>& before,
                 const std::function<void(int64_t)>& after);
/// The fingerprint (TrainingState::Compiled) of the graph executor_for compiled
/// for these arguments; compiles it if needed.
uint64_t fingerprint_for(const SequentialImpl& impl, TrainingState& state, GraphKind kind,
                         int64_t batch, DType input);
/// This process's place in the distributed job ({0, 1} when alone).
distributed::World world();
/// Rows [first, second) of `n` that process `w.rank` handles: contiguous
/// shards in rank order whose sizes differ by at most one.
std::pair<int64_t, int64_t> shard(int64_t n, const distributed::World& w);
/// In a job of several processes: checks every process passed the same
/// values (named), else throws an error naming the first differing rank,
/// field and both values, on every process.
void check_same_on_all_ranks(const char* method,
                             const std::vector<std::pair<std::string, int64_t>>& fields);
/// Copies rank 0's variables (weights, optimizer state) and random generator
/// to every process, so all start from the same state.
void share_rank0_state(TrainingState& state);
/// Whether this process writes files and prints progress: rank 0 of the job.
bool is_chief();
/// Calls `hook` on every callback after pointing it at `model`.
template <typename Hook>
void notify(const std::vector<std::shared_ptr<Callback>>& callbacks, Sequential* model, Hook hook) {
  for (const auto& cb : callbacks) {
    cb->model = model;
    hook(*cb);
  }
}

}  // namespace kiln::detail
