// Training callbacks (Keras's keras.callbacks.Callback).
#pragma once

#include <map>
#include <string>

namespace kiln {

class Sequential;

/// Metric values by name ("loss", "accuracy", "val_loss", "val_accuracy").
using Logs = std::map<std::string, double>;

/// Override the hooks you need. `model` is set by fit() before training starts;
/// setting model->stop_training = true stops training after the current batch.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(const Logs& logs) {}
  virtual void on_train_end(const Logs& logs) {}
  /// `epoch` counts from 0, as in Keras.
  virtual void on_epoch_begin(int epoch, const Logs& logs) {}
  virtual void on_epoch_end(int epoch, const Logs& logs) {}
  virtual void on_train_batch_begin(int batch, const Logs& logs) {}
  /// `logs` holds the running means of the epoch so far.
  virtual void on_train_batch_end(int batch, const Logs& logs) {}

  /// The model being trained.
  Sequential* model = nullptr;
};

}  // namespace kiln
