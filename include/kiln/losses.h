// Losses, by object or by name, with Keras defaults (mean over the batch).
#pragma once

#include <string>
#include <variant>

namespace kiln {
namespace losses {

/// Integer class labels; from_logits=false takes probabilities (a softmax output
/// layer is then computed from its logits, stably).
struct SparseCategoricalCrossentropy {
  bool from_logits = false;
};

/// One-hot labels.
struct CategoricalCrossentropy {
  bool from_logits = false;
};

/// mean((y - y_pred)^2) over the last axis, then over the batch.
struct MeanSquaredError {};

}  // namespace losses

/// A loss given as an object or by its Keras name
/// ("sparse_categorical_crossentropy", "categorical_crossentropy", "mse").
class Loss {
 public:
  using Value = std::variant<losses::SparseCategoricalCrossentropy, losses::CategoricalCrossentropy,
                             losses::MeanSquaredError>;
  Loss(losses::SparseCategoricalCrossentropy l) : value_(l) {}
  Loss(losses::CategoricalCrossentropy l) : value_(l) {}
  Loss(losses::MeanSquaredError l) : value_(l) {}
  /// Throws kiln::Error for an unknown name.
  Loss(const char* name) : Loss(std::string(name)) {}
  Loss(const std::string& name);

  /// The Keras name.
  std::string name() const;
  const Value& value() const { return value_; }

 private:
  Value value_;
};

}  // namespace kiln
