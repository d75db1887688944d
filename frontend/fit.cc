// Model.fit(): the training loop around the compiled training step.
#include <cmath>
#include <cstring>
#include <iostream>
#include <numeric>

#include "frontend/model_impl.h"
#include "frontend/progress.h"
#include "ir/strings.h"
#include "support/status.h"

namespace kiln {
namespace {

// Sample-weighted running means of the step's scalar outputs.
struct Running {
  double loss = 0, accuracy = 0;
  int64_t count = 0;

  void add(const Outputs& out, int64_t n, bool accuracy_on) {
    loss += out.at("loss").data<float>()[0] * n;
    if (accuracy_on) accuracy += out.at("accuracy").data<float>()[0] * n;
    count += n;
  }
  Logs logs(bool accuracy_on) const {
    Logs l{{"loss", count ? loss / count : std::nan("")}};
    if (accuracy_on) l["accuracy"] = count ? accuracy / count : std::nan("");
    return l;
  }
};

// This process's rows of each global batch and their share of the batch (the
// data-parallel step's "shard_weight" input). x is fed as the list of its
// rows, which the JIT reads where they are (the interpreter gathers them); y,
// a few bytes a row, is gathered into a reused tensor. A process whose share
// of a short last batch is empty runs one zero row with weight 0, so it
// still joins the step's collectives.
class StepBatches {
 public:
  struct Local {
    Tensor x, y, weight{DType::kF32, {}};
    Feed x_rows;  // rows of the whole x, or x (the zero row)
  };

  StepBatches(const Tensor& x_all, const Tensor& y_all, distributed::World w)
      : x_all_(x_all), y_all_(y_all), w_(w) {}

  const Local& gather(const std::vector<int64_t>& order, int64_t begin, int64_t end) {
    auto [first, last] = detail::shard(end - begin, w_);
    const int64_t rows = std::max<int64_t>(last - first, 1);
    // Two sets of tensors, so the full batches and the short last one each
    // keep theirs from epoch to epoch.
    Local& local = slots_[0].y.rank() == 0 || slots_[0].y.dim(0) == rows ? slots_[0] : slots_[1];
    Resize(local.y, y_all_, rows);
    if (last > first) {
      local.x_rows =
          Feed(&x_all_, std::span<const int64_t>(order).subspan(begin + first, last - first));
      gather_rows(y_all_, std::span<const int64_t>(order).subspan(begin + first, last - first),
                  local.y.raw());
    } else {
      Resize(local.x, x_all_, rows);
      std::memset(local.x.raw(), 0, local.x.nbytes());
      std::memset(local.y.raw(), 0, local.y.nbytes());
      local.x_rows = Feed(&local.x);
    }
    local.weight.data<float>()[0] =
        static_cast<float>(static_cast<double>(last - first) / static_cast<double>(end - begin));
    return local;
  }

 private:
  static void Resize(Tensor& t, const Tensor& all, int64_t rows) {
    if (t.rank() > 0 && t.dim(0) == rows) return;
    Shape shape = all.shape();
    shape[0] = rows;
    t = Tensor(all.dtype(), shape);
  }

  const Tensor& x_all_;
  const Tensor& y_all_;
  distributed::World w_;
  Local slots_[2];
};

void Shuffle(std::vector<int64_t>& order, Rng& rng) {
  for (size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[rng.uniform_int(i)]);
  }
}

}  // namespace

History Sequential::fit(const Tensor& x_all, const Tensor& y_in, const FitOptions& options) {
  detail::ensure_built(*impl_, *state_, x_all);
  if (!state_->loss || !state_->optimizer) {
    throw to_error(absl::FailedPreconditionError(
        str_cat("model ", impl_->name(), " must be compiled before fit(): call compile()")));
  }
  detail::check_batch_size("fit", options.batch_size);
  if (options.epochs < 0) {
    throw to_error(
        absl::InvalidArgumentError(str_cat("fit: epochs must be >= 0, got ", options.epochs)));
  }
  if (options.initial_epoch < 0) {
    throw to_error(absl::InvalidArgumentError(
        str_cat("fit: initial_epoch must be >= 0, got ", options.initial_epoch)));
  }
  if (!(options.validation_split >= 0.0 && options.validation_split < 1.0)) {
    throw to_error(absl::InvalidArgumentError("fit: validation_split must be in [0, 1)"));
  }
  Tensor y_all = value_or_throw(detail::prepare_labels(*state_->loss, y_in, impl_->output_shape()));
  if (y_all.dim(0) != x_all.dim(0)) {
    throw to_error(absl::InvalidArgumentError(
        str_cat("fit: ", x_all.dim(0), " inputs but ", y_all.dim(0), " labels")));
  }
  // validation_split takes the tail, before any shuffling, as Keras does.
  std::optional<ValidationData> validation = options.validation_data;
  int64_t n = x_all.dim(0);
  if (!validation && options.validation_split > 0) {
    int64_t split_at = static_cast<int64_t>(std::floor(n * (1.0 - options.validation_split)));
    validation = ValidationData{x_all.slice(split_at, n), y_in.slice(split_at, n)};
    n = split_at;
  }
  if (n == 0) throw to_error(absl::InvalidArgumentError("fit: no training examples"));

  const bool acc = state_->accuracy;
  const distributed::World w = detail::world();
  if (options.batch_size % w.size != 0) {
    throw to_error(absl::InvalidArgumentError(
        str_cat("fit: batch_size ", options.batch_size, " is the global batch, split over the ",
                w.size, " processes of the job, so it must be divisible by ", w.size)));
  }
  const int64_t bs = std::min<int64_t>(options.batch_size, n);
  const int64_t steps = (n + bs - 1) / bs;
  const int verbose = w.rank == 0 ? options.verbose : 0;
  StepBatches batches(x_all, y_all, w);

  // Compile the full-batch step up front so shape errors surface before any
  // progress output and compile time stays out of the first epoch; in a job
  // of several processes, check they all run the same step on the same data
  // before any of them blocks in a collective.
  const uint64_t step_graph = detail::fingerprint_for(*impl_, *state_, detail::GraphKind::kTrain,
                                                      (bs + w.size - 1) / w.size, x_all.dtype());
  detail::check_same_on_all_ranks("fit",
                                  {{"training step (graph hash)", static_cast<int64_t>(step_graph)},
                                   {"training rows", n},
                                   {"batch_size", options.batch_size},
                                   {"epochs", options.epochs},
                                   {"initial_epoch", options.initial_epoch},
                                   {"validation rows", validation ? validation->x.dim(0) : 0}});
  detail::share_rank0_state(*state_);
  // Each epoch's order and dropout seeds come from (this key, epoch) alone, so
  // a run resumed at initial_epoch repeats an uninterrupted run's epochs.
  const uint64_t fit_key = state_->rng.next_u64();
  History history;
  history.params = {{"epochs", options.epochs},
                    {"steps", static_cast<double>(steps)},
                    {"verbose", options.verbose}};
  stop_training = false;
  const auto& cbs = options.callbacks;
  detail::notify(cbs, this, [](Callback& cb) { cb.on_train_begin({}); });
  Outputs outputs;
  try {
    for (int epoch = options.initial_epoch; epoch < options.epochs && !stop_training; ++epoch) {
      if (verbose && options.epochs > 1) {
        std::cout << "Epoch " << epoch + 1 << "/" << options.epochs << "\n";
      }
      detail::notify(cbs, this, [&](Callback& cb) { cb.on_epoch_begin(epoch, {}); });
      Rng epoch_rng(mix64(fit_key + static_cast<uint64_t>(epoch)));
      std::vector<int64_t> order(n);
      std::iota(order.begin(), order.end(), 0);
      if (options.shuffle) Shuffle(order, epoch_rng);
      detail::Progbar bar(steps, verbose, std::cout);
      Running running;
      int64_t done = 0;
      for (int64_t step = 0; step < steps && !stop_training; ++step) {
        int64_t begin = step * bs, end = std::min(n, begin + bs);
        const StepBatches::Local& local = batches.gather(order, begin, end);
        int batch = static_cast<int>(step);
        detail::notify(cbs, this, [&](Callback& cb) { cb.on_train_batch_begin(batch, {}); });
        Executor& exec = detail::executor_for(*impl_, *state_, detail::GraphKind::kTrain,
                                              local.y.dim(0), x_all.dtype());
        // Dropout masks differ between processes, as their rows do.
        uint64_t seed = epoch_rng.next_u64();
        if (w.size > 1) seed = mix64(seed ^ static_cast<uint64_t>(w.rank));
        absl::Status ran =
            exec.run({{"x", local.x_rows}, {"y", &local.y}, {"shard_weight", &local.weight}},
                     state_->store, seed, &outputs);
        if (!ran.ok()) {
          // Where in training it happened: a check-numerics failure names the
          // op; the user also needs the epoch and step to reproduce it.
          throw to_error(absl::Status(ran.code(), str_cat("fit: epoch ", epoch + 1, ", step ",
                                                          step + 1, ": ", ran.message())));
        }
        running.add(outputs, end - begin, acc);
        done = step + 1;
        Logs logs = running.logs(acc);
        detail::notify(cbs, this, [&](Callback& cb) { cb.on_train_batch_end(batch, logs); });
        // A callback on any process may stop training; all stop after this step.
        if (w.size > 1) stop_training = distributed::all_reduce_max(stop_training ? 1 : 0) != 0;
        if (done < steps) bar.update(done, logs);
      }
      Logs logs = running.logs(acc);
      if (validation) {
        Evaluation val =
            evaluate(validation->x, validation->y,
                     {.batch_size = options.batch_size, .verbose = 0, .callbacks = cbs});
        logs["val_loss"] = val.loss;
        if (acc) logs["val_accuracy"] = val.accuracy;
      }
      bar.update(done, logs, /*final=*/true);
      for (const auto& [key, value] : logs) history.history[key].push_back(value);
      history.epoch.push_back(epoch);
      detail::notify(cbs, this, [&](Callback& cb) { cb.on_epoch_end(epoch, logs); });
      if (w.size > 1) stop_training = distributed::all_reduce_max(stop_training ? 1 : 0) != 0;
    }
  } catch (const std::exception& e) {
    // The other processes may already wait in a collective this one will
    // never reach, which MPI cannot cancel: the whole job ends here, with the
    // message naming this rank.
    if (w.size > 1) {
      std::string what = e.what();
      distributed::abort_job(what.rfind("fit:", 0) == 0 ? what : str_cat("fit: ", what));
    }
    throw;
  }
  Logs last;
  for (const auto& [key, values] : history.history) last[key] = values.back();
  detail::notify(cbs, this, [&](Callback& cb) { cb.on_train_end(last); });
  return history;
}

}  // namespace kiln
