// Keras-style layers. A Layer is a handle: copies share the layer and its weights.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

class Sequential;
namespace detail {
class LayerImpl;
struct Access;
}  // namespace detail

/// A layer of a Sequential model (or a whole Sequential model used as a layer).
class Layer {
 public:
  /// Uses a model as a layer; it keeps sharing the model's layers and weights,
  /// as Keras's Sequential([model, Softmax()]) does.
  Layer(const Sequential& model);

  /// The unique layer name ("dense_1").
  const std::string& name() const;
  /// The weights of this layer ("kernel", "bias"), empty before it is built.
  std::vector<std::pair<std::string, Tensor>> get_weights() const;

 private:
  friend struct detail::Access;
  explicit Layer(std::shared_ptr<detail::LayerImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<detail::LayerImpl> impl_;
};

namespace layers {

/// Flattens each example to one axis. `input_shape` (without the batch axis)
/// fixes the model's input shape, as Keras's Flatten(input_shape=(28, 28)).
Layer Flatten(Shape input_shape = {});
/// Fully connected layer on the last axis: activation(x @ kernel + bias).
/// Activations: "" or "linear", "relu", "softmax", "sigmoid", "tanh".
Layer Dense(int64_t units, const std::string& activation = "", bool use_bias = true);
/// Softmax over the last axis.
Layer Softmax();
/// max(x, 0).
Layer ReLU();
/// x * scale + offset, e.g. Rescaling(1.0 / 255) to feed uint8 images
/// directly (inputs of any dtype are cast to f32 inside the compiled step).
Layer Rescaling(double scale, double offset = 0.0);
/// Zeroes a fraction `rate` of the inputs during training and scales the rest
/// by 1 / (1 - rate); the identity at inference.
Layer Dropout(double rate);

}  // namespace layers
}  // namespace kiln
