// The figures behind kiln::plot::*, built without writing them, so tests can
// find where each image and bar was placed and check the pixels of the file.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/figure.h"
#include "kiln/plot.h"

namespace kiln::plot {

/// The figure plot::images draws; errors start with "plot::images: ".
absl::StatusOr<figure::Figure> images_figure(const Tensor& x, const Tensor& y,
                                             const std::vector<std::string>& class_names,
                                             const ImagesOptions& options);

/// The figure plot::predictions draws; errors start with "plot::predictions: ".
absl::StatusOr<figure::Figure> predictions_figure(const Tensor& x, const Tensor& probabilities,
                                                  const Tensor& y,
                                                  const std::vector<std::string>& class_names,
                                                  const PredictionsOptions& options);

/// The figure plot::confusion_matrix draws; errors start with "plot::confusion_matrix: ".
absl::StatusOr<figure::Figure> confusion_matrix_figure(const Tensor& matrix,
                                                       const std::vector<std::string>& class_names,
                                                       const ConfusionMatrixOptions& options);

/// The colours of the predictions plot, as the tutorial's: right in blue, wrong in red.
inline constexpr figure::Rgb kRight{0, 0, 255}, kWrong{255, 0, 0}, kBar{0x77, 0x77, 0x77};

}  // namespace kiln::plot
