// Looking at the data and the predictions: grids of images with their labels,
// predictions with their class probabilities, confusion matrices (as SVG or
// PNG files), and a preview of one image in the terminal.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

namespace metrics {

/// Counts of (true class, predicted class) pairs: an i32 tensor of shape
/// (classes, classes) whose row i holds the examples of true class i and column
/// j those predicted as j, like sklearn's confusion_matrix. `y_true` holds
/// integer labels (N,); `y_pred` labels (N,) or probabilities/logits
/// (N, classes), whose argmax per row is the prediction. Labels must lie in
/// [0, classes).
Tensor confusion_matrix(const Tensor& y_true, const Tensor& y_pred, int classes);

}  // namespace metrics

namespace plot {

// Images, for every function here: (N, height, width) or (N, height, width, 1),
// any dtype. u8 and i32 pixels are 0..255; f32 pixels are 0..1 (x / 255.0f)
// unless one exceeds 1, then 0..255. They are drawn like matplotlib's
// cmap=plt.cm.binary: 0 is white, the maximum black. Labels are integers
// (N,); class_names names them (empty: the numbers are shown). The format
// follows `path`'s extension: ".svg" (self-contained, text as text) or ".png"
// (text in a built-in 5x7 pixel font, printable ASCII). Files are written
// atomically; bad arguments throw kiln::Error naming the argument.

/// Options of plot::images.
struct ImagesOptions {
  /// The grid: the first rows * cols images (fewer if x has fewer).
  int rows = 5, cols = 5;
  /// Each pixel is drawn as a scale x scale square.
  int scale = 3;
};

/// A grid of the first images of `x` with the class name of each label under
/// it, as the tutorials' plt.subplot(5, 5, i + 1) loop draws training data.
void images(const Tensor& x, const Tensor& y, const std::vector<std::string>& class_names,
            const std::string& path, const ImagesOptions& options = {});

/// Options of plot::predictions.
struct PredictionsOptions {
  /// The first rows * cols examples, each an image and its bar chart.
  int rows = 5, cols = 3;
  /// Each pixel is drawn as a scale x scale square.
  int scale = 3;
};

/// For each of the first examples: the image with "predicted confidence%
/// (true)" under it, blue when right and red when wrong, and a bar chart of
/// its class probabilities with the predicted bar red and the true bar blue
/// (blue wins when they are the same), as the tutorial's plot_image and
/// plot_value_array. `probabilities` is (N, classes), e.g. model.predict(x).
void predictions(const Tensor& x, const Tensor& probabilities, const Tensor& y,
                 const std::vector<std::string>& class_names, const std::string& path,
                 const PredictionsOptions& options = {});

/// Options of plot::confusion_matrix.
struct ConfusionMatrixOptions {
  /// Side of one cell.
  int cell_size = 40;
};

/// A confusion matrix (classes, classes) as metrics::confusion_matrix returns
/// it: rows the true class, columns the predicted class, each cell its count,
/// shaded from white (0) to dark blue (the largest count).
void confusion_matrix(const Tensor& matrix, const std::vector<std::string>& class_names,
                      const std::string& path, const ConfusionMatrixOptions& options = {});

}  // namespace plot

/// How kiln::show draws pixels.
enum class ShowMode {
  /// Truecolour or 256 colours when stdout is a terminal (see show), else ASCII.
  kAuto,
  /// One character per pixel from " .:-=+*#%@", doubled to keep the aspect.
  kAscii,
  /// Half blocks (▀) in the 24 grays of the 256-colour palette.
  kColor256,
  /// Half blocks (▀) in 24-bit gray.
  kTrueColor,
};

/// Previews one image in the terminal: a (height, width) tensor such as x[0]
/// (also (1, height, width) or (height, width, 1)), pixels scaled as for the
/// plots. The colour modes draw two pixel rows per line with "▀" (foreground
/// the upper pixel, background the lower one) in gray, 0 black and the
/// maximum white as a terminal shows photos; ASCII draws larger values with
/// denser characters (" " for 0, "@" for the maximum). kAuto picks kTrueColor when
/// stdout is a terminal and COLORTERM is "truecolor" or "24bit", kColor256 on
/// other terminals, and kAscii when stdout is not a terminal, TERM is "dumb"
/// or NO_COLOR is set.
void show(const Tensor& image, ShowMode mode = ShowMode::kAuto);

/// The same, written to `os` (kAuto decides as above when `os` is std::cout,
/// and means kAscii for any other stream).
void show(const Tensor& image, std::ostream& os, ShowMode mode = ShowMode::kAuto);

}  // namespace kiln
