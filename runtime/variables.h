// Named storage for a model's variables (weights and optimizer state).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "ir/graph.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace kiln {

/// A tensor filled by the named initializer: "zeros", "glorot_uniform" (rank 2,
/// limit sqrt(6 / (fan_in + fan_out))) or "constant:VALUE".
absl::StatusOr<Tensor> make_initialized(const std::string& init, DType dtype, Shape shape,
                                        Rng& rng);

/// Variables by name. Executors read them and apply `assign` updates in place,
/// so several graphs (training, evaluation, prediction) share one store. The
/// tensors are shared: a layer's weights can sit in several models' stores.
class VariableStore {
 public:
  /// The variable called `name`, or nullptr.
  Tensor* find(std::string_view name);
  const Tensor* find(std::string_view name) const;
  /// Adds or replaces a variable, sharing the tensor.
  void set(const std::string& name, std::shared_ptr<Tensor> value) {
    vars_[name] = std::move(value);
  }
  /// Creates every variable of `graph` missing from the store, in graph order,
  /// from its `init` attribute, drawing from `rng`; checks existing ones match.
  absl::Status initialize(const ir::Graph& graph, Rng& rng);
  const std::map<std::string, std::shared_ptr<Tensor>, std::less<>>& all() const { return vars_; }

 private:
  std::map<std::string, std::shared_ptr<Tensor>, std::less<>> vars_;
};

}  // namespace kiln
