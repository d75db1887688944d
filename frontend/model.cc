#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>

#include "codegen/jit.h"
#include "frontend/model_impl.h"
#include "frontend/progress.h"
#include "ir/strings.h"
#include "ir/text.h"
#include "passes/pipeline.h"
#include "runtime/numerics.h"
#include "runtime/parallel.h"
#include "support/env.h"
#include "support/status.h"

namespace kiln {

void set_random_seed(uint64_t seed) { detail::global_rng() = Rng(seed); }

const std::vector<double>& History::operator[](const std::string& key) const {
  auto it = history.find(key);
  if (it == history.end()) {
    throw to_error(absl::NotFoundError(str_cat("History has no metric \"", key, "\"")));
  }
  return it->second;
}

namespace detail {
namespace {

// An unset backend comes from $KILN_BACKEND, so any program (the examples, the
// demo) can run on the reference interpreter without being rebuilt.
Backend ChosenBackend(const CompileOptions& options) {
  if (options.backend) return *options.backend;
  std::optional<std::string> env = env_string("KILN_BACKEND");
  if (!env || *env == "jit") return Backend::kJit;
  if (*env == "interpreter") return Backend::kInterpreter;
  throw to_error(absl::InvalidArgumentError(
      str_cat("KILN_BACKEND=\"", *env, "\" is not a backend (expected jit or interpreter)")));
}

Shape WithBatch(int64_t batch, const Shape& shape) {
  Shape s{batch};
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}

const char* KindName(GraphKind kind) {
  switch (kind) {
    case GraphKind::kTrain:
      return "train";
    case GraphKind::kEvaluate:
      return "evaluate";
    case GraphKind::kPredict:
      return "predict";
  }
  return "?";
}

}  // namespace

std::string NoneShape(const Shape& shape) {
  std::string s = "(None";
  for (int64_t d : shape) str_append(&s, ", ", d);
  return s + ")";
}

Tensor rows_for_graph(const SequentialImpl& impl, Tensor rows, int64_t n) {
  if (impl.batch_polymorphic() || rows.dim(0) == n) return rows;
  Shape shape = rows.shape();
  shape[0] = n;
  Tensor padded(rows.dtype(), shape);
  if (rows.nbytes() > 0) std::memcpy(padded.raw(), rows.raw(), rows.nbytes());
  return padded;
}

int64_t check_batch_size(const char* method, int batch_size) {
  if (batch_size < 1) {
    throw to_error(
        absl::InvalidArgumentError(str_cat(method, ": batch_size must be >= 1, got ", batch_size)));
  }
  return batch_size;
}

void ensure_built(SequentialImpl& impl, TrainingState& state, const Tensor& x) {
  if (x.rank() < 1) throw to_error(absl::InvalidArgumentError("inputs need a batch axis"));
  Shape example(x.shape().begin() + 1, x.shape().end());
  ensure_built(impl, state, example, x.type_string());
}

void ensure_built(SequentialImpl& impl, TrainingState& state, const Shape& example,
                  const std::string& input_text) {
  if (!impl.built()) {
    Shape declared = impl.declared_input_shape();
    Shape shape = declared.empty() ? example : declared;
    throw_if_error(impl.build(shape, global_rng()).status());
    for (const Weight* w : impl.weights()) state.store.set(w->variable, w->value);
  }
  if (example != impl.input_shape()) {
    throw to_error(absl::InvalidArgumentError(
        str_cat("model ", impl.name(), " expects inputs of shape ", NoneShape(impl.input_shape()),
                " but got ", input_text)));
  }
}

absl::StatusOr<ir::Graph> record_graph(const SequentialImpl& impl, const TrainingState& state,
                                       GraphKind kind, int64_t batch, DType input) {
  ir::Graph g;
  g.name = str_cat(impl.name(), ".", KindName(kind));
  // One graph serves every batch up to `batch` rows when the layers allow it.
  const bool polymorphic = impl.batch_polymorphic();
  if (polymorphic) g.capacity = batch;
  ir::Builder b(&g);
  b.set_layer("input");
  ir::NodeId x =
      b.input("x", {to_ir(input), WithBatch(polymorphic ? ir::kBatch : batch, impl.input_shape())});
  // Casting per batch inside the step lets users feed uint8 images directly.
  if (input != DType::kF32) x = b.cast(x, ir::DType::kF32);
  Recorded out = impl.record(b, {x}, kind == GraphKind::kTrain);
  if (!b.status().ok()) return b.status();
  if (kind == GraphKind::kPredict) {
    b.set_layer("output");
    b.output("predictions", out.out);
    return g;
  }
  auto labels_type = label_type(*state.loss, b.type_of(out.out));
  if (!labels_type.ok()) return labels_type.status();
  b.set_layer("input");
  ir::NodeId y = b.input("y", *labels_type);
  // Evaluation reports per example, so that batches of any size (and the
  // shards of a distributed job) combine into one exact mean.
  const auto reduction =
      kind == GraphKind::kEvaluate ? BatchReduction::kPerRow : BatchReduction::kMean;
  b.output("loss", record_loss(b, *state.loss, out, y, reduction));
  if (state.accuracy) {
    b.output("accuracy", record_accuracy(b, *state.loss, out, y, reduction));
  }
  if (!b.status().ok()) return b.status();
  return g;
}

namespace {

// KILN_DEBUG=1 reports every compilation and why it happened (a first use, a
// batch above the compiled capacity, a new input dtype), so a user can count
// them.
void LogCompile(const SequentialImpl& impl, const TrainingState& state, GraphKind kind,
                int64_t batch, bool polymorphic, DType input, const std::string& why,
                std::chrono::steady_clock::time_point start) {
  if (debug_level() < 1) return;
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "kiln: compiled the " << KindName(kind) << " graph of " << impl.name()
            << (polymorphic ? " for batches of up to " : " for batch ") << batch << " "
            << dtype_name(input) << " with the " << state.engine->name() << " in "
            << static_cast<int>(ms) << " ms (" << why << ")\n";
}

// A batch-polymorphic graph serves every batch size up to its capacity, so
// it is keyed without one (0); a static graph is keyed by its batch.
std::tuple<GraphKind, int64_t, DType> ExecutorKey(const SequentialImpl& impl, GraphKind kind,
                                                  int64_t batch, DType input) {
  return {kind, impl.batch_polymorphic() ? 0 : batch, input};
}

std::string CompileReason(const TrainingState& state, GraphKind kind, int64_t batch,
                          int64_t old_capacity) {
  if (old_capacity > 0) {
    return str_cat("batch ", batch, " is above the capacity ", old_capacity,
                   " of the compiled graph");
  }
  std::string others;
  for (const auto& [key, exec] : state.executors) {
    if (std::get<0>(key) != kind) continue;
    str_append(&others, others.empty() ? "" : ", ", "batch ", exec.capacity, " ",
               dtype_name(std::get<2>(key)));
  }
  return others.empty() ? std::string("first use")
                        : str_cat("new input signature; already compiled for ", others);
}

}  // namespace

ir::Graph planned_graph(const SequentialImpl& impl, TrainingState& state, GraphKind kind,
                        int64_t batch, DType input) {
  ir::Graph graph = value_or_throw(record_graph(impl, state, kind, batch, input));
  auto names = kind == GraphKind::kTrain ? passes::training_pipeline(world().size)
                                         : passes::inference_pipeline();
  passes::OptimizerConfig config =
      state.optimizer ? optimizer_config(*state.optimizer) : passes::OptimizerConfig{};
  passes::PassManager pm =
      value_or_throw(passes::build_pipeline(names, config, state.options.pipeline));
  throw_if_error(pm.run(graph));
  throw_if_error(state.store.initialize(graph, state.rng));
  return graph;
}

Executor& executor_for(const SequentialImpl& impl, TrainingState& state, GraphKind kind,
                       int64_t batch, DType input) {
  const auto key = ExecutorKey(impl, kind, batch, input);
  int64_t capacity = batch, old_capacity = 0;
  if (auto it = state.executors.find(key); it != state.executors.end()) {
    if (it->second.capacity >= batch) {
      it->second.last_use = ++state.uses;
      return *it->second.executor;
    }
    // Geometric growth: batches that keep growing recompile a logarithmic
    // number of times.
    old_capacity = it->second.capacity;
    capacity = std::max(batch, 2 * old_capacity);
  }
  if (kind != GraphKind::kPredict && !state.loss) {
    throw to_error(absl::FailedPreconditionError(
        str_cat("model ", impl.name(), " must be compiled with a loss before fit or evaluate")));
  }
  ir::Graph graph = planned_graph(impl, state, kind, capacity, input);
  if (!state.engine) {
    const bool check = state.options.check_numerics || check_numerics_from_env();
    state.engine =
        ChosenBackend(state.options) == Backend::kJit
            ? value_or_throw(make_jit({.isa = state.options.isa, .check_numerics = check}))
            : make_interpreter({.check_numerics = check});
  }
  auto start = std::chrono::steady_clock::now();
  auto executor = value_or_throw(state.engine->compile(graph));
  LogCompile(impl, state, kind, capacity, impl.batch_polymorphic(), input,
             CompileReason(state, kind, batch, old_capacity), start);
  // A program that predicts on ever new batch sizes of a static model must
  // not keep every compiled graph (and its arena) alive.
  if (!state.executors.count(key) && state.executors.size() >= TrainingState::kMaxExecutors) {
    auto oldest = std::min_element(
        state.executors.begin(), state.executors.end(),
        [](const auto& a, const auto& b) { return a.second.last_use < b.second.last_use; });
    state.executors.erase(oldest);
  }
  TrainingState::Compiled& slot = state.executors[key];
  // Only the processes of a distributed job compare fingerprints.
  const uint64_t fingerprint = world().size > 1 ? std::hash<std::string>()(ir::print(graph)) : 0;
  slot = {std::move(executor), ++state.uses, fingerprint, capacity, {}};
  return *slot.executor;
}

namespace {

// The batches of run_batches, claimed in runs by the pool's threads; each run
// takes a free executor, so no two threads share one.
struct BatchRuns {
  const std::function<absl::Status(int64_t, Executor&, Outputs&)>* step;
  std::vector<Executor*> executors;
  std::vector<Outputs> outputs;
  std::unique_ptr<std::atomic<bool>[]> busy;
  std::mutex mu;
  int64_t failed_step = -1;
  absl::Status error;

  static void Run(void* context, int64_t begin, int64_t end) {
    auto& runs = *static_cast<BatchRuns*>(context);
    size_t r = 0;
    // At most one run per pool thread at a time: a free executor exists.
    while (runs.busy[r].exchange(true, std::memory_order_acquire)) {
      r = (r + 1) % runs.executors.size();
    }
    for (int64_t s = begin; s < end; ++s) {
      absl::Status status = (*runs.step)(s, *runs.executors[r], runs.outputs[r]);
      if (status.ok()) continue;
      std::lock_guard<std::mutex> lock(runs.mu);
      if (runs.failed_step < 0 || s < runs.failed_step) {
        runs.failed_step = s;
        runs.error = std::move(status);
      }
      break;
    }
    runs.busy[r].store(false, std::memory_order_release);
  }
};

}  // namespace

void run_batches(const SequentialImpl& impl, TrainingState& state, GraphKind kind, int64_t batch,
                 DType input, int64_t steps,
                 const std::function<absl::Status(int64_t, Executor&, Outputs&)>& step,
                 const std::function<void(int64_t)>& before,
                 const std::function<void(int64_t)>& after) {
  if (steps == 0) return;
  Executor& first = executor_for(impl, state, kind, batch, input);
  // One executor per thread of the pool, and two batches per thread at
  // least, or the split costs more than it saves.
  const int64_t threads = parallel_threads();
  if (before || threads < 2 || steps < 2 * threads) {
    Outputs outputs;
    for (int64_t s = 0; s < steps; ++s) {
      if (before) before(s);
      throw_if_error(step(s, first, outputs));
      after(s);
    }
    return;
  }
  auto& replicas = state.executors.at(ExecutorKey(impl, kind, batch, input)).replicas;
  while (static_cast<int64_t>(replicas.size()) + 1 < threads) replicas.push_back(first.clone());
  BatchRuns runs;
  runs.step = &step;
  runs.executors.push_back(&first);
  for (int64_t r = 0; r + 1 < threads; ++r) runs.executors.push_back(replicas[r].get());
  runs.outputs.resize(runs.executors.size());
  runs.busy.reset(new std::atomic<bool>[runs.executors.size()]());
  kiln_parallel_for(&BatchRuns::Run, &runs, steps);
  throw_if_error(runs.error);
  for (int64_t s = 0; s < steps; ++s) after(s);
}

uint64_t fingerprint_for(const SequentialImpl& impl, TrainingState& state, GraphKind kind,
                         int64_t batch, DType input) {
  executor_for(impl, state, kind, batch, input);
  return state.executors.at(ExecutorKey(impl, kind, batch, input)).fingerprint;
}

}  // namespace detail

Sequential::Sequential(std::vector<Layer> layers, std::string name)
    : impl_(std::make_shared<detail::SequentialImpl>(std::move(layers), std::move(name))),
      state_(std::make_unique<detail::TrainingState>()) {
  // Keras builds a model at once when its first layer declares the input shape.
  Shape declared = impl_->declared_input_shape();
  if (!declared.empty()) build(declared);
}
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;
Sequential::~Sequential() = default;

void Sequential::add(Layer layer) {
  if (impl_->built()) {
    throw to_error(absl::FailedPreconditionError(
        str_cat("cannot add layers to model ", impl_->name(), " after it is built")));
  }
  impl_->add(std::move(layer));
}

const std::string& Sequential::name() const { return impl_->name(); }

void Sequential::build(const Shape& input_shape) {
  detail::ensure_built(*impl_, *state_, input_shape, detail::NoneShape(input_shape));
}

bool Sequential::built() const { return impl_->built(); }

int64_t Sequential::count_params() const {
  int64_t n = 0;
  for (const detail::Weight* w : impl_->weights()) n += w->value->size();
  return n;
}

Backend Sequential::backend() const {
  if (!state_->options.backend) {
    throw to_error(absl::FailedPreconditionError(
        str_cat("model ", impl_->name(), " has no backend: call compile() first")));
  }
  return *state_->options.backend;
}

void Sequential::compile(Optimizer optimizer, Loss loss, std::vector<std::string> metrics,
                         CompileOptions options) {
  options.backend = detail::ChosenBackend(options);
  state_->optimizer = std::move(optimizer);
  state_->loss = std::move(loss);
  state_->accuracy = false;
  for (const std::string& m : metrics) {
    if (m != "accuracy" && m != "acc") {
      throw to_error(
          absl::InvalidArgumentError(str_cat("unknown metric \"", m, "\" (supported: accuracy)")));
    }
    state_->accuracy = true;
  }
  state_->options = std::move(options);
  state_->executors.clear();
  state_->engine.reset();
  // A new optimizer starts from fresh state, as in Keras: keep only the weights.
  state_->store = VariableStore();
  for (const detail::Weight* w : impl_->weights()) state_->store.set(w->variable, w->value);
  state_->rng = Rng(detail::global_rng().next_u64());
}

std::string Sequential::ir(int batch_size, bool training_step) const {
  if (!impl_->built()) {
    throw to_error(absl::FailedPreconditionError(
        str_cat("model ", impl_->name(), " is not built: call build() or fit() first")));
  }
  if (training_step && (!state_->loss || !state_->optimizer)) {
    throw to_error(absl::FailedPreconditionError(
        str_cat("model ", impl_->name(), ": the training step needs compile() first")));
  }
  auto kind = training_step ? detail::GraphKind::kTrain : detail::GraphKind::kPredict;
  ir::Graph graph =
      value_or_throw(detail::record_graph(*impl_, *state_, kind, batch_size, DType::kF32));
  if (training_step) {
    passes::PassManager pm = value_or_throw(
        passes::build_pipeline(passes::training_pipeline(detail::world().size),
                               optimizer_config(*state_->optimizer), state_->options.pipeline));
    throw_if_error(pm.run(graph));
  }
  return ir::print(graph);
}

Evaluation Sequential::evaluate(const Tensor& x, const Tensor& y_in,
                                const EvaluateOptions& options) {
  detail::ensure_built(*impl_, *state_, x);
  if (!state_->loss) {
    throw to_error(absl::FailedPreconditionError("evaluate() needs compile() with a loss first"));
  }
  Tensor y = value_or_throw(detail::prepare_labels(*state_->loss, y_in, impl_->output_shape()));
  const int64_t n = x.dim(0);
  if (y.dim(0) != n) {
    throw to_error(
        absl::InvalidArgumentError(str_cat("evaluate: ", n, " inputs but ", y.dim(0), " labels")));
  }
  const int64_t bs = detail::check_batch_size("evaluate", options.batch_size);
  // In a job of several processes each evaluates its shard of the rows and
  // the sums are added up, so every process returns the same result.
  const distributed::World w = detail::world();
  const auto [first, last] = detail::shard(n, w);
  const int64_t steps = (last - first + bs - 1) / bs;
  detail::Progbar bar(steps, w.rank == 0 ? options.verbose : 0, std::cout);
  double sums[2] = {0, 0};  // loss and accuracy, times rows
  Logs logs;
  detail::notify(options.callbacks, this, [&](Callback& cb) { cb.on_test_begin({}); });
  // Per-example losses summed in double, batch by batch in order: the result
  // does not depend on the batch size or on which thread ran a batch, and one
  // graph serves every batch.
  auto sum_rows = [](const Tensor& t, int64_t rows) {
    double sum = 0;
    for (int64_t i = 0; i < rows; ++i) sum += t.data<float>()[i];
    return sum;
  };
  std::vector<double> batch_sums(2 * steps, 0.0);
  auto run_step = [&](int64_t step, Executor& exec, Outputs& outputs) -> absl::Status {
    const int64_t begin = first + step * bs, end = std::min(last, begin + bs);
    Tensor xb = detail::rows_for_graph(*impl_, x.slice(begin, end), bs);
    Tensor yb = detail::rows_for_graph(*impl_, y.slice(begin, end), bs);
    if (auto s = exec.run({{"x", &xb}, {"y", &yb}}, state_->store, 0, &outputs); !s.ok()) return s;
    batch_sums[2 * step] = sum_rows(outputs["loss"], end - begin);
    if (state_->accuracy) batch_sums[2 * step + 1] = sum_rows(outputs["accuracy"], end - begin);
    return absl::OkStatus();
  };
  // Callbacks watch single batches, so with any the batches run in order on
  // this thread; without, they may be split over threads.
  std::function<void(int64_t)> before;
  if (!options.callbacks.empty()) {
    before = [&](int64_t step) {
      const int batch = static_cast<int>(step);
      detail::notify(options.callbacks, this,
                     [&](Callback& cb) { cb.on_test_batch_begin(batch, logs); });
    };
  }
  auto after = [&](int64_t step) {
    sums[0] += batch_sums[2 * step];
    sums[1] += batch_sums[2 * step + 1];
    const int64_t done = std::min(last, first + (step + 1) * bs) - first;
    logs = {{"loss", sums[0] / done}};
    if (state_->accuracy) logs["accuracy"] = sums[1] / done;
    const int batch = static_cast<int>(step);
    detail::notify(options.callbacks, this,
                   [&](Callback& cb) { cb.on_test_batch_end(batch, logs); });
    // With several processes the last line waits for the job's totals.
    if (w.size == 1 || step + 1 < steps) bar.update(step + 1, logs);
  };
  detail::run_batches(*impl_, *state_, detail::GraphKind::kEvaluate, bs, x.dtype(), steps, run_step,
                      before, after);
  distributed::all_reduce(sums, 2, distributed::Reduction::kSum);
  if (w.size > 1 && n > 0) {
    logs = {{"loss", sums[0] / n}};
    if (state_->accuracy) logs["accuracy"] = sums[1] / n;
    bar.update(steps, logs);
  }
  detail::notify(options.callbacks, this, [&](Callback& cb) { cb.on_test_end(logs); });
  double nan = std::nan("");
  return {n ? sums[0] / n : nan, state_->accuracy && n ? sums[1] / n : nan};
}

Tensor Sequential::predict(const Tensor& x, const EvaluateOptions& options) {
  detail::ensure_built(*impl_, *state_, x);
  const int64_t n = x.dim(0);
  Shape out_shape{n};
  out_shape.insert(out_shape.end(), impl_->output_shape().begin(), impl_->output_shape().end());
  Tensor result(DType::kF32, out_shape);
  const int64_t bs = detail::check_batch_size("predict", options.batch_size);
  // In a job of several processes each predicts its shard of the rows and
  // every process gets all of them back, in order.
  const distributed::World w = detail::world();
  const auto [first, last] = detail::shard(n, w);
  const int64_t steps = (last - first + bs - 1) / bs;
  detail::Progbar bar(steps, w.rank == 0 ? options.verbose : 0, std::cout);
  size_t row = n ? result.nbytes() / n : 0;
  detail::notify(options.callbacks, this, [&](Callback& cb) { cb.on_predict_begin({}); });
  // One compiled graph serves any number of rows: a batch-polymorphic one
  // runs the partial batch as it is; a static one runs it zero-padded, with
  // the same bits per row, since every layer computes a row from it alone.
  auto run_step = [&](int64_t step, Executor& exec, Outputs& outputs) -> absl::Status {
    const int64_t begin = first + step * bs, end = std::min(last, begin + bs);
    Tensor xb = detail::rows_for_graph(*impl_, x.slice(begin, end), bs);
    if (auto s = exec.run({{"x", &xb}}, state_->store, 0, &outputs); !s.ok()) return s;
    std::memcpy(result.raw() + begin * row, outputs["predictions"].raw(), (end - begin) * row);
    return absl::OkStatus();
  };
  std::function<void(int64_t)> before;
  if (!options.callbacks.empty()) {
    before = [&](int64_t step) {
      const int batch = static_cast<int>(step);
      detail::notify(options.callbacks, this,
                     [&](Callback& cb) { cb.on_predict_batch_begin(batch, {}); });
    };
  }
  auto after = [&](int64_t step) {
    const int batch = static_cast<int>(step);
    detail::notify(options.callbacks, this,
                   [&](Callback& cb) { cb.on_predict_batch_end(batch, {}); });
    bar.update(step + 1, {});
  };
  detail::run_batches(*impl_, *state_, detail::GraphKind::kPredict, bs, x.dtype(), steps, run_step,
                      before, after);
  if (w.size > 1) {
    std::vector<std::byte> all = distributed::all_gather(
        result.raw() + first * row, static_cast<int64_t>((last - first) * row));
    std::memcpy(result.raw(), all.data(), all.size());
  }
  detail::notify(options.callbacks, this, [&](Callback& cb) { cb.on_predict_end({}); });
  return result;
}

}  // namespace kiln
