// Model.fit(): the training loop around the compiled training step.
#include <cmath>
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
  const int64_t bs = std::min<int64_t>(options.batch_size, n);
  const int64_t steps = (n + bs - 1) / bs;
  Shape x_batch_shape = x_all.shape(), y_batch_shape = y_all.shape();
  x_batch_shape[0] = y_batch_shape[0] = bs;
  Tensor xb(x_all.dtype(), x_batch_shape), yb(y_all.dtype(), y_batch_shape);
  Tensor x_tail, y_tail;  // the last partial batch, trained on too
  if (n % bs) {
    x_batch_shape[0] = y_batch_shape[0] = n % bs;
    x_tail = Tensor(x_all.dtype(), x_batch_shape);
    y_tail = Tensor(y_all.dtype(), y_batch_shape);
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);

  // Compile the full-batch step up front so shape errors surface before any
  // progress output and compile time stays out of the first epoch.
  detail::executor_for(*impl_, *state_, detail::GraphKind::kTrain, bs, x_all.dtype());
  History history;
  history.params = {{"epochs", options.epochs},
                    {"steps", static_cast<double>(steps)},
                    {"verbose", options.verbose}};
  stop_training = false;
  const auto& cbs = options.callbacks;
  detail::notify(cbs, this, [](Callback& cb) { cb.on_train_begin({}); });
  Outputs outputs;
  for (int epoch = options.initial_epoch; epoch < options.epochs && !stop_training; ++epoch) {
    if (options.verbose && options.epochs > 1) {
      std::cout << "Epoch " << epoch + 1 << "/" << options.epochs << "\n";
    }
    detail::notify(cbs, this, [&](Callback& cb) { cb.on_epoch_begin(epoch, {}); });
    if (options.shuffle) Shuffle(order, state_->rng);
    detail::Progbar bar(steps, options.verbose, std::cout);
    Running running;
    int64_t done = 0;
    for (int64_t step = 0; step < steps && !stop_training; ++step) {
      int64_t begin = step * bs, end = std::min(n, begin + bs);
      Tensor& xs = end - begin == bs ? xb : x_tail;
      Tensor& ys = end - begin == bs ? yb : y_tail;
      detail::gather_rows(x_all, order, begin, end, &xs);
      detail::gather_rows(y_all, order, begin, end, &ys);
      int batch = static_cast<int>(step);
      detail::notify(cbs, this, [&](Callback& cb) { cb.on_train_batch_begin(batch, {}); });
      Executor& exec = detail::executor_for(*impl_, *state_, detail::GraphKind::kTrain, end - begin,
                                            x_all.dtype());
      absl::Status ran =
          exec.run({{"x", &xs}, {"y", &ys}}, state_->store, state_->rng.next_u64(), &outputs);
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
      if (done < steps) bar.update(done, logs);
    }
    Logs logs = running.logs(acc);
    if (validation) {
      Evaluation val = evaluate(validation->x, validation->y,
                                {.batch_size = options.batch_size, .verbose = 0, .callbacks = cbs});
      logs["val_loss"] = val.loss;
      if (acc) logs["val_accuracy"] = val.accuracy;
    }
    bar.update(done, logs, /*final=*/true);
    for (const auto& [key, value] : logs) history.history[key].push_back(value);
    history.epoch.push_back(epoch);
    detail::notify(cbs, this, [&](Callback& cb) { cb.on_epoch_end(epoch, logs); });
  }
  Logs last;
  for (const auto& [key, values] : history.history) last[key] = values.back();
  detail::notify(cbs, this, [&](Callback& cb) { cb.on_train_end(last); });
  return history;
}

}  // namespace kiln
