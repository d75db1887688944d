// Optimizers, by object or by name, with Keras 3 defaults.
#pragma once

#include <string>
#include <variant>

namespace kiln {
namespace optimizers {

/// w -= lr * g; with momentum m = momentum * m - lr * g, w += m (nesterov:
/// w += momentum * m - lr * g).
struct SGD {
  double learning_rate = 0.01;
  double momentum = 0.0;
  bool nesterov = false;
};

/// Adam with bias correction folded into the step size, epsilon outside the sqrt.
struct Adam {
  double learning_rate = 0.001;
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
};

/// RMSprop with epsilon inside the square root, as Keras 3.
struct RMSprop {
  double learning_rate = 0.001;
  double rho = 0.9;
  double momentum = 0.0;
  double epsilon = 1e-7;
  bool centered = false;
};

}  // namespace optimizers

/// An optimizer given as an object (optimizers::Adam{...}) or a name ("adam").
class Optimizer {
 public:
  /// Each throws kiln::Error for a setting out of range (a negative or NaN
  /// learning rate, beta_1 >= 1, ...), naming the optimizer and the setting.
  Optimizer(optimizers::SGD o);
  Optimizer(optimizers::Adam o);
  Optimizer(optimizers::RMSprop o);
  /// "sgd", "adam" or "rmsprop" with default settings; other names throw kiln::Error.
  Optimizer(const char* name) : Optimizer(std::string(name)) {}
  Optimizer(const std::string& name);

  /// The Keras name ("adam").
  std::string name() const;
  /// The optimizer's settings (Keras's get_config()).
  const std::variant<optimizers::SGD, optimizers::Adam, optimizers::RMSprop>& settings() const {
    return value_;
  }
  /// Changes the initial learning rate (finite and >= 0).
  void set_learning_rate(double learning_rate);

 private:
  std::variant<optimizers::SGD, optimizers::Adam, optimizers::RMSprop> value_;
};

}  // namespace kiln
