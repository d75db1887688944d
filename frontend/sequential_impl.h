// The layer list of a Sequential model, itself usable as a layer.
#pragma once

#include <vector>

#include "frontend/layer_impl.h"
#include "kiln/layers.h"

namespace kiln::detail {

class SequentialImpl : public LayerImpl {
 public:
  explicit SequentialImpl(std::vector<Layer> layers, std::string name);

  void add(Layer layer);
  const std::vector<Layer>& layers() const { return layers_; }
  Shape declared_input_shape() const override;
  absl::StatusOr<Shape> build(const Shape& input_shape, Rng& rng) override;
  Recorded record(ir::Builder& b, Recorded x, bool training) const override;
  std::vector<const Weight*> weights() const override;
  bool batch_polymorphic() const override;
  std::vector<SummaryRow> summary_rows() const override;
  Json config() const override;
  /// Rows of the layers inside (what this model's own summary lists).
  std::vector<SummaryRow> layer_rows() const;
  const Shape& input_shape() const { return input_shape_; }

 private:
  std::vector<Layer> layers_;
};

/// The process-wide generator behind set_random_seed().
Rng& global_rng();

}  // namespace kiln::detail
