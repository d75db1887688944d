// How the frontend reaches the implementation behind the public handles
// (Layer, Sequential) without making it part of the public API.
#pragma once

#include <memory>
#include <utility>

#include "kiln/layers.h"
#include "kiln/model.h"

namespace kiln::detail {

/// The one friend of the public handles.
struct Access {
  static const std::shared_ptr<LayerImpl>& impl(const Layer& layer) { return layer.impl_; }
  static const std::shared_ptr<SequentialImpl>& impl(const Sequential& model) {
    return model.impl_;
  }
  /// The compile and training state of a model (for tests and tools).
  static const TrainingState& state(const Sequential& model) { return *model.state_; }
  static TrainingState& state(Sequential& model) { return *model.state_; }
  /// A public handle around a layer implementation.
  static Layer layer(std::shared_ptr<LayerImpl> impl) { return Layer(std::move(impl)); }
};

}  // namespace kiln::detail
