#include "kiln/callbacks.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "frontend/model_impl.h"
#include "ir/strings.h"
#include "kiln/model.h"
#include "support/format.h"
#include "support/status.h"

namespace kiln::callbacks {
namespace {

bool Maximize(Mode mode, const std::string& monitor) {
  if (mode != Mode::kAuto) return mode == Mode::kMax;
  return monitor.find("acc") != std::string::npos;
}

std::optional<double> Lookup(const Logs& logs, const std::string& key) {
  auto it = logs.find(key);
  if (it == logs.end()) return std::nullopt;
  return it->second;
}

void WarnMissing(const std::string& who, const std::string& monitor, const Logs& logs) {
  std::string available;
  for (const auto& [k, v] : logs) available += (available.empty() ? "" : ",") + k;
  std::cerr << who << " conditioned on metric `" << monitor
            << "` which is not available. Available metrics are: " << available << "\n";
}

class EarlyStoppingImpl : public Callback {
 public:
  explicit EarlyStoppingImpl(EarlyStoppingOptions o)
      : o_(std::move(o)), maximize_(Maximize(o_.mode, o_.monitor)) {}

  void on_train_begin(const Logs&) override {
    wait_ = 0;
    stopped_epoch_ = 0;
    best_.reset();
    best_weights_.clear();
    best_epoch_ = 0;
  }

  void on_epoch_end(int epoch, const Logs& logs) override {
    std::optional<double> current = Lookup(logs, o_.monitor);
    if (!current) {
      WarnMissing("Early stopping", o_.monitor, logs);
      return;
    }
    if (epoch < o_.start_from_epoch) return;
    // Until an improvement is seen, the current weights are the best known.
    if (o_.restore_best_weights && best_weights_.empty()) {
      best_weights_ = model->get_weights();
      best_epoch_ = epoch;
    }
    ++wait_;
    if (Improved(*current, best_)) {
      best_ = current;
      best_epoch_ = epoch;
      if (o_.restore_best_weights) best_weights_ = model->get_weights();
      if (!o_.baseline || Improved(*current, o_.baseline)) {
        wait_ = 0;
        return;
      }
    }
    if (wait_ >= o_.patience && epoch > 0) {
      stopped_epoch_ = epoch;
      model->stop_training = true;
    }
  }

  void on_train_end(const Logs&) override {
    if (stopped_epoch_ > 0 && o_.verbose > 0 && detail::is_chief()) {
      std::cout << "Epoch " << stopped_epoch_ + 1 << ": early stopping\n";
    }
    if (o_.restore_best_weights && !best_weights_.empty()) {
      if (o_.verbose > 0 && detail::is_chief()) {
        std::cout << "Restoring model weights from the end of the best epoch: " << best_epoch_ + 1
                  << ".\n";
      }
      model->set_weights(best_weights_);
    }
  }

 private:
  bool Improved(double value, std::optional<double> reference) const {
    if (!reference) return true;
    return maximize_ ? value - o_.min_delta > *reference : value + o_.min_delta < *reference;
  }

  EarlyStoppingOptions o_;
  bool maximize_;
  int wait_ = 0, stopped_epoch_ = 0, best_epoch_ = 0;
  std::optional<double> best_;
  std::vector<Tensor> best_weights_;
};

// Formats "{epoch:02d}" and "{val_loss:.2f}" placeholders as Keras does with
// Python's str.format: epoch is an integer, logs are floats. "{{" and "}}" are
// literal braces; a bad spec or unknown name is an error naming the filepath.
std::string FormatPath(const std::string& pattern, int epoch, const Logs& logs) {
  auto fail = [&](const std::string& why) {
    return to_error(
        absl::InvalidArgumentError(str_cat("ModelCheckpoint: filepath \"", pattern, "\": ", why)));
  };
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if ((c == '{' || c == '}') && i + 1 < pattern.size() && pattern[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') throw fail("a single '}' (write '}}' for a literal brace)");
    if (c != '{') {
      out += c;
      continue;
    }
    size_t close = pattern.find('}', i);
    if (close == std::string::npos) throw fail("a '{' without its '}'");
    std::string field = pattern.substr(i + 1, close - i - 1);
    size_t colon = field.find(':');
    std::string key = field.substr(0, colon);
    std::string spec = colon == std::string::npos ? "" : field.substr(colon + 1);
    FormatValue value{true, epoch + 1, 0};
    if (key != "epoch") {
      std::optional<double> v = Lookup(logs, key);
      if (!v) throw fail(str_cat("{", key, "} is not in the logs"));
      value = {false, 0, *v};
    }
    absl::StatusOr<std::string> text = format_field(value, spec);
    if (!text.ok()) throw fail(str_cat("{", field, "}: ", text.status().message()));
    out += *text;
    i = close;
  }
  return out;
}

class ModelCheckpointImpl : public Callback {
 public:
  ModelCheckpointImpl(std::string filepath, ModelCheckpointOptions o)
      : filepath_(std::move(filepath)),
        o_(std::move(o)),
        maximize_(Maximize(o_.mode, o_.monitor)),
        best_(o_.initial_value_threshold) {}

  void on_epoch_end(int epoch, const Logs& logs) override {
    // In a distributed job every process holds the same weights; one writes.
    if (!detail::is_chief()) return;
    std::string path = FormatPath(filepath_, epoch, logs);
    if (o_.save_best_only) {
      std::optional<double> current = Lookup(logs, o_.monitor);
      if (!current) {
        WarnMissing("Can save best model only with " + o_.monitor + " available;", o_.monitor,
                    logs);
        return;
      }
      bool improved = !best_ || (maximize_ ? *current > *best_ : *current < *best_);
      if (!improved) {
        if (o_.verbose > 0) {
          std::cout << "\nEpoch " << epoch + 1 << ": " << o_.monitor << " did not improve from "
                    << *best_ << "\n";
        }
        return;
      }
      if (o_.verbose > 0) {
        std::cout << "\nEpoch " << epoch + 1 << ": " << o_.monitor << " improved to " << *current
                  << ", saving model to " << path << "\n";
      }
      best_ = current;
    } else if (o_.verbose > 0) {
      std::cout << "\nEpoch " << epoch + 1 << ": saving model to " << path << "\n";
    }
    if (o_.save_weights_only) {
      model->save_weights(path);
    } else {
      model->save(path);
    }
  }

 private:
  std::string filepath_;
  ModelCheckpointOptions o_;
  bool maximize_;
  std::optional<double> best_;
};

class TerminateOnNaNImpl : public Callback {
 public:
  void on_train_batch_end(int batch, const Logs& logs) override {
    std::optional<double> loss = Lookup(logs, "loss");
    if (loss && !std::isfinite(*loss)) {
      if (detail::is_chief())
        std::cout << "Batch " << batch << ": Invalid loss, terminating training\n";
      model->stop_training = true;
    }
  }
};

// The shortest text that reads back as the same double (Python's repr, which
// Keras's CSVLogger writes), so the file holds exactly History's values.
std::string ShortestText(double v) {
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

class CSVLoggerImpl : public Callback {
 public:
  CSVLoggerImpl(std::string filename, char separator, bool append)
      : filename_(std::move(filename)), sep_(separator), append_(append) {}

  void on_train_begin(const Logs&) override {
    // In a distributed job every process has the same logs; one writes.
    chief_ = detail::is_chief();
    if (!chief_) return;
    header_written_ =
        append_ && std::filesystem::exists(filename_) && std::filesystem::file_size(filename_) > 0;
    file_.open(filename_, append_ ? std::ios::app : std::ios::trunc);
    if (!file_) {
      throw to_error(absl::UnavailableError(str_cat("CSVLogger: cannot open ", filename_)));
    }
  }

  void on_epoch_end(int epoch, const Logs& logs) override {
    if (!chief_) return;
    if (!header_written_) {
      file_ << "epoch";
      for (const auto& [k, v] : logs) file_ << sep_ << k;
      file_ << "\n";
      header_written_ = true;
    }
    file_ << epoch;
    for (const auto& [k, v] : logs) file_ << sep_ << ShortestText(v);
    file_ << "\n" << std::flush;
  }

  void on_train_end(const Logs&) override { file_.close(); }

 private:
  std::string filename_;
  char sep_;
  bool append_;
  bool header_written_ = false;
  bool chief_ = true;
  std::ofstream file_;
};

class LambdaCallbackImpl : public Callback {
 public:
  explicit LambdaCallbackImpl(LambdaCallbackOptions o) : o_(std::move(o)) {}
  void on_epoch_begin(int e, const Logs& l) override {
    if (o_.on_epoch_begin) o_.on_epoch_begin(e, l);
  }
  void on_epoch_end(int e, const Logs& l) override {
    if (o_.on_epoch_end) o_.on_epoch_end(e, l);
  }
  void on_train_batch_begin(int b, const Logs& l) override {
    if (o_.on_train_batch_begin) o_.on_train_batch_begin(b, l);
  }
  void on_train_batch_end(int b, const Logs& l) override {
    if (o_.on_train_batch_end) o_.on_train_batch_end(b, l);
  }
  void on_train_begin(const Logs& l) override {
    if (o_.on_train_begin) o_.on_train_begin(l);
  }
  void on_train_end(const Logs& l) override {
    if (o_.on_train_end) o_.on_train_end(l);
  }

 private:
  LambdaCallbackOptions o_;
};

class LearningRateSchedulerImpl : public Callback {
 public:
  LearningRateSchedulerImpl(std::function<double(int, double)> schedule, int verbose)
      : schedule_(std::move(schedule)), verbose_(verbose) {}
  void on_epoch_begin(int epoch, const Logs&) override {
    double lr = schedule_(epoch, model->learning_rate());
    if (!std::isfinite(lr)) {
      throw to_error(absl::InvalidArgumentError(
          str_cat("LearningRateScheduler: the schedule returned ", lr, " for epoch ", epoch)));
    }
    model->set_learning_rate(lr);
    if (verbose_ > 0 && detail::is_chief()) {
      std::cout << "\nEpoch " << epoch + 1 << ": LearningRateScheduler setting learning rate to "
                << lr << ".\n";
    }
  }

 private:
  std::function<double(int, double)> schedule_;
  int verbose_;
};

class ReduceLROnPlateauImpl : public Callback {
 public:
  explicit ReduceLROnPlateauImpl(ReduceLROnPlateauOptions o)
      : o_(std::move(o)), maximize_(Maximize(o_.mode, o_.monitor)) {
    if (o_.factor >= 1.0) {
      throw to_error(
          absl::InvalidArgumentError("ReduceLROnPlateau does not support a factor >= 1.0"));
    }
  }

  void on_train_begin(const Logs&) override {
    best_ = maximize_ ? -INFINITY : INFINITY;
    wait_ = cooldown_counter_ = 0;
  }

  void on_epoch_end(int epoch, const Logs& logs) override {
    std::optional<double> current = Lookup(logs, o_.monitor);
    if (!current) {
      WarnMissing("Learning rate reduction", o_.monitor, logs);
      return;
    }
    if (cooldown_counter_ > 0) {
      --cooldown_counter_;
      wait_ = 0;
    }
    bool better = maximize_ ? *current > best_ + o_.min_delta : *current < best_ - o_.min_delta;
    if (better) {
      best_ = *current;
      wait_ = 0;
    } else if (cooldown_counter_ <= 0 && ++wait_ >= o_.patience) {
      double old_lr = model->learning_rate();
      if (old_lr > o_.min_lr) {
        double new_lr = std::max(old_lr * o_.factor, o_.min_lr);
        model->set_learning_rate(new_lr);
        if (o_.verbose > 0 && detail::is_chief()) {
          std::cout << "\nEpoch " << epoch + 1 << ": ReduceLROnPlateau reducing learning rate to "
                    << new_lr << ".\n";
        }
        cooldown_counter_ = o_.cooldown;
        wait_ = 0;
      }
    }
  }

 private:
  ReduceLROnPlateauOptions o_;
  bool maximize_;
  double best_ = 0;
  int wait_ = 0, cooldown_counter_ = 0;
};

}  // namespace

std::shared_ptr<Callback> EarlyStopping(EarlyStoppingOptions options) {
  return std::make_shared<EarlyStoppingImpl>(std::move(options));
}
std::shared_ptr<Callback> ModelCheckpoint(std::string filepath, ModelCheckpointOptions options) {
  return std::make_shared<ModelCheckpointImpl>(std::move(filepath), std::move(options));
}
std::shared_ptr<Callback> TerminateOnNaN() { return std::make_shared<TerminateOnNaNImpl>(); }
std::shared_ptr<Callback> CSVLogger(std::string filename, char separator, bool append) {
  return std::make_shared<CSVLoggerImpl>(std::move(filename), separator, append);
}
std::shared_ptr<Callback> LambdaCallback(LambdaCallbackOptions options) {
  return std::make_shared<LambdaCallbackImpl>(std::move(options));
}
std::shared_ptr<Callback> LearningRateScheduler(std::function<double(int, double)> schedule,
                                                int verbose) {
  return std::make_shared<LearningRateSchedulerImpl>(std::move(schedule), verbose);
}
std::shared_ptr<Callback> ReduceLROnPlateau(ReduceLROnPlateauOptions options) {
  return std::make_shared<ReduceLROnPlateauImpl>(std::move(options));
}

}  // namespace kiln::callbacks
