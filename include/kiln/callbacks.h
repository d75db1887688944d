// Training callbacks (keras.callbacks): the hook interface and the built-ins.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

class Sequential;

/// Metric values by name ("loss", "accuracy", "val_loss", "val_accuracy").
using Logs = std::map<std::string, double>;

/// Override the hooks you need. fit(), evaluate() and predict() set `model`
/// before the first hook. Setting model->stop_training = true in any training
/// hook stops fit(): it is checked after every batch (the rest of the epoch is
/// skipped, the epoch still ends with validation and on_epoch_end) and after
/// every epoch.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(const Logs& logs) {}
  virtual void on_train_end(const Logs& logs) {}
  /// `epoch` counts from 0, as in Keras.
  virtual void on_epoch_begin(int epoch, const Logs& logs) {}
  /// `logs` has the epoch's mean loss/accuracy and val_loss/val_accuracy.
  virtual void on_epoch_end(int epoch, const Logs& logs) {}
  virtual void on_train_batch_begin(int batch, const Logs& logs) {}
  /// `logs` holds the running means of the epoch so far.
  virtual void on_train_batch_end(int batch, const Logs& logs) {}
  /// evaluate(), and the validation pass inside fit().
  virtual void on_test_begin(const Logs& logs) {}
  virtual void on_test_end(const Logs& logs) {}
  virtual void on_test_batch_begin(int batch, const Logs& logs) {}
  virtual void on_test_batch_end(int batch, const Logs& logs) {}
  /// predict().
  virtual void on_predict_begin(const Logs& logs) {}
  virtual void on_predict_end(const Logs& logs) {}
  virtual void on_predict_batch_begin(int batch, const Logs& logs) {}
  virtual void on_predict_batch_end(int batch, const Logs& logs) {}

  /// The model being trained, evaluated or run.
  Sequential* model = nullptr;
};

namespace callbacks {

/// Whether smaller ("min") or larger ("max") values of a metric are better;
/// "auto" picks max for accuracy metrics and min otherwise.
enum class Mode { kAuto, kMin, kMax };

/// Stops training when `monitor` has not improved for `patience` epochs.
struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int patience = 0;
  int verbose = 0;
  Mode mode = Mode::kAuto;
  /// Training must beat this value to reset the patience counter.
  std::optional<double> baseline;
  /// At the end of training (whether or not it stopped early), restore the
  /// weights of the best epoch.
  bool restore_best_weights = false;
  /// Epochs to wait before monitoring starts.
  int start_from_epoch = 0;
};
std::shared_ptr<Callback> EarlyStopping(EarlyStoppingOptions options = {});

/// Saves the model (or only its weights) after each epoch to `filepath`,
/// formatted with {epoch} (1-based) and any log, e.g. "ckpt-{epoch:02d}-{val_loss:.2f}".
/// Saves are atomic.
struct ModelCheckpointOptions {
  std::string monitor = "val_loss";
  int verbose = 0;
  bool save_best_only = false;
  bool save_weights_only = false;
  Mode mode = Mode::kAuto;
  std::optional<double> initial_value_threshold;
};
std::shared_ptr<Callback> ModelCheckpoint(std::string filepath,
                                          ModelCheckpointOptions options = {});

/// Stops training as soon as a batch loss is NaN or infinite.
std::shared_ptr<Callback> TerminateOnNaN();

/// Appends one line per epoch ("epoch,accuracy,loss,...") to a CSV file.
std::shared_ptr<Callback> CSVLogger(std::string filename, char separator = ',',
                                    bool append = false);

/// A callback made of functions; unset ones do nothing.
struct LambdaCallbackOptions {
  std::function<void(int, const Logs&)> on_epoch_begin, on_epoch_end;
  std::function<void(int, const Logs&)> on_train_batch_begin, on_train_batch_end;
  std::function<void(const Logs&)> on_train_begin, on_train_end;
};
std::shared_ptr<Callback> LambdaCallback(LambdaCallbackOptions options);

/// Sets the learning rate at the start of each epoch to schedule(epoch, lr).
std::shared_ptr<Callback> LearningRateScheduler(std::function<double(int, double)> schedule,
                                                int verbose = 0);

/// Multiplies the learning rate by `factor` when `monitor` stops improving.
struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;
  int patience = 10;
  int verbose = 0;
  Mode mode = Mode::kAuto;
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0.0;
};
std::shared_ptr<Callback> ReduceLROnPlateau(ReduceLROnPlateauOptions options = {});

}  // namespace callbacks
}  // namespace kiln
