// kiln::plot (image grids, predictions, confusion matrices),
// kiln::metrics::confusion_matrix and kiln::show (terminal previews).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "frontend/figure.h"
#include "frontend/plots.h"
#include "ir/strings.h"
#include "kiln/plot.h"
#include "support/env.h"
#include "support/status.h"

namespace kiln {
namespace {

using figure::Anchor;
using figure::Figure;
using figure::Rgb;

// Larger figures are a mistake (a scale or grid far too large), not a picture.
constexpr int64_t kMaxPixels = int64_t{1} << 25;
// An SVG label of font size 11 is at most this wide per character; the PNG
// font takes 6 pixels.
constexpr double kCharWidth = 6.5;
constexpr double kLabelSize = 11;
constexpr Rgb kFrame{0x99, 0x99, 0x99};

absl::Status Invalid(std::string_view caller, const std::string& message) {
  return absl::InvalidArgumentError(str_cat(caller, message));
}

// The geometry of a batch of grayscale images.
struct Batch {
  int64_t count = 0;
  int height = 0, width = 0;
  // Pixel value drawn as full ink: 255, or 1 for f32 images scaled to [0, 1].
  float max = 255;
};

// Pixels are 0..255 unless they are floats that all fit in [0, 1] (x / 255).
float PixelMax(const Tensor& x) {
  if (x.dtype() != DType::kF32) return 255;
  const float* p = x.data<float>();
  for (int64_t i = 0; i < x.size(); ++i) {
    if (p[i] > 1.0f) return 255;
  }
  return 1;
}

absl::StatusOr<Batch> Images(const Tensor& x, std::string_view caller) {
  const Shape& s = x.shape();
  bool ok = (x.rank() == 3 || (x.rank() == 4 && s[3] == 1)) && s[1] > 0 && s[2] > 0;
  if (!ok) {
    return Invalid(
        caller, str_cat("x must be images of shape (N, height, width) or (N, height, "
                        "width, 1), got ",
                        x.type_string(), x.rank() == 2 ? " (reshape flattened images first)" : ""));
  }
  if (s[0] == 0) return Invalid(caller, str_cat("x holds no images (", x.type_string(), ")"));
  if (s[1] > 4096 || s[2] > 4096) {
    return Invalid(caller, str_cat("x's images are ", s[1], "x", s[2],
                                   " pixels; at most 4096x4096 can be drawn"));
  }
  return Batch{s[0], static_cast<int>(s[1]), static_cast<int>(s[2]), PixelMax(x)};
}

// 0..255 for pixel `k` of the flattened tensor, `max` being full scale.
uint8_t Level(const Tensor& x, int64_t k, float max) {
  float v = x.as_float(k) / max * 255.0f;
  if (!(v > 0)) return 0;  // also NaN
  return static_cast<uint8_t>(std::lround(std::min(v, 255.0f)));
}

// Image `i` as the binary colour map draws it: 0 white, full scale black.
figure::Image Ink(const Tensor& x, const Batch& b, int64_t i, int left, int top, int scale) {
  figure::Image im{left, top, scale, b.height, b.width, {}};
  const int64_t n = int64_t{b.height} * b.width;
  im.luminance.resize(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) im.luminance[k] = 255 - Level(x, i * n + k, b.max);
  return im;
}

// The integer labels of `y`, which must hold `count` of them (`against` says
// whose count), each in [0, classes) when classes > 0 (`limit` says whose).
absl::StatusOr<std::vector<int64_t>> Labels(const Tensor& y, int64_t count, int64_t classes,
                                            std::string_view caller, std::string_view what,
                                            std::string_view against, std::string_view limit) {
  bool ok = y.rank() == 1 || (y.rank() == 2 && y.dim(1) == 1);
  if (!ok) {
    return Invalid(caller,
                   str_cat(what, " must be integer labels of shape (N,), got ", y.type_string()));
  }
  if (y.dim(0) != count) {
    return Invalid(caller, str_cat(what, " has ", y.dim(0), " labels but ", against));
  }
  std::vector<int64_t> labels(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    float v = y.as_float(i);
    if (!(v >= 0) || v != std::floor(v) || v > 1e9f) {
      return Invalid(caller, str_cat(what, "[", i, "] = ", v, " is not a class index"));
    }
    labels[i] = static_cast<int64_t>(v);
    if (classes > 0 && labels[i] >= classes) {
      return Invalid(caller, str_cat(what, "[", i, "] = ", labels[i], " but ", limit));
    }
  }
  return labels;
}

std::string NameOf(const std::vector<std::string>& class_names, int64_t label) {
  return class_names.empty() ? str_cat(label) : class_names[static_cast<size_t>(label)];
}

absl::Status CheckRange(std::string_view caller, const char* name, int value, int lo, int hi) {
  if (value < lo || value > hi) {
    return Invalid(caller,
                   str_cat("options.", name, " must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status CheckSize(std::string_view caller, const Figure& f, const char* lower) {
  if (int64_t{f.width} * f.height > kMaxPixels) {
    return Invalid(caller, str_cat("the figure would be ", f.width, "x", f.height,
                                   " pixels, more than ", kMaxPixels, "; lower ", lower));
  }
  return absl::OkStatus();
}

double TextWidth(const std::string& s) { return kCharWidth * static_cast<double>(s.size()); }

// The index of the largest score in row `row` (the first of equals, as numpy's argmax).
int64_t RowArgmax(const Tensor& p, int64_t row, int64_t classes) {
  int64_t best = 0;
  float best_v = p.as_float(row * classes);
  for (int64_t k = 1; k < classes; ++k) {
    float v = p.as_float(row * classes + k);
    if (v > best_v) best = k, best_v = v;
  }
  return best;
}

}  // namespace

namespace plot {

absl::StatusOr<Figure> images_figure(const Tensor& x, const Tensor& y,
                                     const std::vector<std::string>& class_names,
                                     const ImagesOptions& options) {
  constexpr std::string_view kCaller = "plot::images: ";
  if (auto s = CheckRange(kCaller, "rows", options.rows, 1, 1000); !s.ok()) return s;
  if (auto s = CheckRange(kCaller, "cols", options.cols, 1, 1000); !s.ok()) return s;
  if (auto s = CheckRange(kCaller, "scale", options.scale, 1, 64); !s.ok()) return s;
  absl::StatusOr<Batch> batch = Images(x, kCaller);
  if (!batch.ok()) return batch.status();
  absl::StatusOr<std::vector<int64_t>> labels =
      Labels(y, batch->count, static_cast<int64_t>(class_names.size()), kCaller, "y",
             str_cat("x has ", batch->count, " images"),
             str_cat("class_names has ", class_names.size(), " names"));
  if (!labels.ok()) return labels.status();

  const int64_t shown = std::min<int64_t>(batch->count, int64_t{options.rows} * options.cols);
  const int rows = static_cast<int>((shown + options.cols - 1) / options.cols);
  const int cols = static_cast<int>(std::min<int64_t>(shown, options.cols));
  const int image_w = batch->width * options.scale, image_h = batch->height * options.scale;
  double widest = 0;
  for (int64_t i = 0; i < shown; ++i)
    widest = std::max(widest, TextWidth(NameOf(class_names, (*labels)[i])));
  const int cell_w = static_cast<int>(std::ceil(std::max<double>(image_w, widest))) + 16;
  const int cell_h = image_h + 28;
  Figure f{cols * cell_w + 8, rows * cell_h + 8, {}};
  if (auto s = CheckSize(kCaller, f, "options.rows, options.cols or options.scale"); !s.ok()) {
    return s;
  }
  for (int64_t i = 0; i < shown; ++i) {
    const int left = 4 + static_cast<int>(i % options.cols) * cell_w;
    const int top = 4 + static_cast<int>(i / options.cols) * cell_h;
    const int image_left = left + (cell_w - image_w) / 2, image_top = top + 4;
    f.shapes.push_back(Ink(x, *batch, i, image_left, image_top, options.scale));
    f.shapes.push_back(figure::Rect{static_cast<double>(image_left - 1),
                                    static_cast<double>(image_top - 1),
                                    static_cast<double>(image_w + 2),
                                    static_cast<double>(image_h + 2),
                                    false,
                                    {},
                                    true,
                                    kFrame});
    f.shapes.push_back(figure::Text{left + cell_w / 2.0, image_top + image_h + 16.0,
                                    NameOf(class_names, (*labels)[i]), kLabelSize, figure::kBlack,
                                    Anchor::kMiddle});
  }
  return f;
}

absl::StatusOr<Figure> predictions_figure(const Tensor& x, const Tensor& probabilities,
                                          const Tensor& y,
                                          const std::vector<std::string>& class_names,
                                          const PredictionsOptions& options) {
  constexpr std::string_view kCaller = "plot::predictions: ";
  if (auto s = CheckRange(kCaller, "rows", options.rows, 1, 1000); !s.ok()) return s;
  if (auto s = CheckRange(kCaller, "cols", options.cols, 1, 1000); !s.ok()) return s;
  if (auto s = CheckRange(kCaller, "scale", options.scale, 1, 64); !s.ok()) return s;
  absl::StatusOr<Batch> batch = Images(x, kCaller);
  if (!batch.ok()) return batch.status();
  if (probabilities.rank() != 2 || probabilities.dim(1) == 0) {
    return Invalid(kCaller, str_cat("probabilities must be of shape (N, classes), got ",
                                    probabilities.type_string()));
  }
  const int64_t classes = probabilities.dim(1);
  if (probabilities.dim(0) != batch->count) {
    return Invalid(kCaller, str_cat("probabilities has ", probabilities.dim(0), " rows but x has ",
                                    batch->count, " images"));
  }
  if (!class_names.empty() && static_cast<int64_t>(class_names.size()) != classes) {
    return Invalid(kCaller, str_cat("class_names has ", class_names.size(),
                                    " names but probabilities has ", classes, " classes"));
  }
  if (classes > 1000) {
    return Invalid(kCaller, str_cat("probabilities has ", classes,
                                    " classes; at most 1000 bars can be drawn"));
  }
  absl::StatusOr<std::vector<int64_t>> labels =
      Labels(y, batch->count, classes, kCaller, "y", str_cat("x has ", batch->count, " images"),
             class_names.empty() ? str_cat("probabilities has ", classes, " classes")
                                 : str_cat("class_names has ", classes, " names"));
  if (!labels.ok()) return labels.status();

  const int64_t shown = std::min<int64_t>(batch->count, int64_t{options.rows} * options.cols);
  struct Item {
    int64_t predicted, truth;
    std::string caption;
  };
  std::vector<Item> items;
  double widest = 0;
  for (int64_t i = 0; i < shown; ++i) {
    int64_t predicted = RowArgmax(probabilities, i, classes);
    char percent[32];
    std::snprintf(percent, sizeof(percent), "%2.0f%%",
                  100.0 * probabilities.as_float(i * classes + predicted));
    Item item{predicted, (*labels)[i],
              str_cat(NameOf(class_names, predicted), " ", percent, " (",
                      NameOf(class_names, (*labels)[i]), ")")};
    widest = std::max(widest, TextWidth(item.caption));
    items.push_back(std::move(item));
  }
  const int image_w = batch->width * options.scale, image_h = batch->height * options.scale;
  constexpr int kBarPitch = 12;
  const int bars_w = static_cast<int>(classes) * kBarPitch;
  const int image_panel = static_cast<int>(std::ceil(std::max<double>(image_w, widest))) + 16;
  const int item_w = image_panel + bars_w + 24, item_h = image_h + 32;
  const int rows = static_cast<int>((shown + options.cols - 1) / options.cols);
  const int cols = static_cast<int>(std::min<int64_t>(shown, options.cols));
  Figure f{cols * item_w + 8, rows * item_h + 8, {}};
  if (auto s = CheckSize(kCaller, f, "options.rows, options.cols or options.scale"); !s.ok()) {
    return s;
  }
  for (int64_t i = 0; i < shown; ++i) {
    const Item& item = items[static_cast<size_t>(i)];
    const int left = 4 + static_cast<int>(i % options.cols) * item_w;
    const int top = 4 + static_cast<int>(i / options.cols) * item_h + 4;
    const int image_left = left + (image_panel - image_w) / 2;
    const Rgb verdict = item.predicted == item.truth ? kRight : kWrong;
    f.shapes.push_back(Ink(x, *batch, i, image_left, top, options.scale));
    f.shapes.push_back(figure::Rect{static_cast<double>(image_left - 1),
                                    static_cast<double>(top - 1),
                                    static_cast<double>(image_w + 2),
                                    static_cast<double>(image_h + 2),
                                    false,
                                    {},
                                    true,
                                    kFrame});
    f.shapes.push_back(figure::Text{left + image_panel / 2.0, top + image_h + 16.0, item.caption,
                                    kLabelSize, verdict, Anchor::kMiddle});
    // The bars, on a 0..1 axis as tall as the image; the true bar is drawn
    // blue over the predicted red one, as plot_value_array colours them.
    const int bars_left = left + image_panel + 8;
    for (int64_t k = 0; k < classes; ++k) {
      float p = std::clamp(probabilities.as_float(i * classes + k), 0.0f, 1.0f);
      if (std::isnan(probabilities.as_float(i * classes + k))) p = 0;
      const Rgb colour = k == item.truth ? kRight : k == item.predicted ? kWrong : kBar;
      const double h = std::round(p * image_h);
      if (h > 0) {
        f.shapes.push_back(figure::Rect{static_cast<double>(bars_left + k * kBarPitch + 2),
                                        top + image_h - h,
                                        kBarPitch - 4.0,
                                        h,
                                        true,
                                        colour,
                                        false,
                                        {}});
      }
      f.shapes.push_back(figure::Text{bars_left + k * kBarPitch + kBarPitch / 2.0,
                                      top + image_h + 12.0, str_cat(k), 9, figure::kBlack,
                                      Anchor::kMiddle});
    }
    f.shapes.push_back(figure::Rect{static_cast<double>(bars_left),
                                    static_cast<double>(top - 1),
                                    static_cast<double>(bars_w),
                                    static_cast<double>(image_h + 2),
                                    false,
                                    {},
                                    true,
                                    kFrame});
  }
  return f;
}

absl::StatusOr<Figure> confusion_matrix_figure(const Tensor& matrix,
                                               const std::vector<std::string>& class_names,
                                               const ConfusionMatrixOptions& options) {
  constexpr std::string_view kCaller = "plot::confusion_matrix: ";
  if (auto s = CheckRange(kCaller, "cell_size", options.cell_size, 16, 400); !s.ok()) return s;
  if (matrix.rank() != 2 || matrix.dim(0) != matrix.dim(1) || matrix.dim(0) == 0) {
    return Invalid(kCaller,
                   str_cat("matrix must be square (classes, classes), got ", matrix.type_string()));
  }
  const int64_t classes = matrix.dim(0);
  if (!class_names.empty() && static_cast<int64_t>(class_names.size()) != classes) {
    return Invalid(kCaller, str_cat("class_names has ", class_names.size(),
                                    " names but matrix has ", classes, " classes"));
  }
  if (classes > 1000) {
    return Invalid(kCaller, str_cat("matrix has ", classes, " classes; at most 1000 can be drawn"));
  }
  double most = 0;
  for (int64_t k = 0; k < matrix.size(); ++k) {
    float v = matrix.as_float(k);
    if (!(v >= 0) || std::isinf(v)) {
      return Invalid(kCaller, str_cat("matrix[", k / classes, ", ", k % classes, "] = ", v,
                                      " is not a count"));
    }
    most = std::max<double>(most, v);
  }
  std::vector<std::string> row_names;
  double widest = TextWidth("true");
  for (int64_t k = 0; k < classes; ++k) {
    row_names.push_back(class_names.empty() ? str_cat(k)
                                            : str_cat(class_names[static_cast<size_t>(k)], " ", k));
    widest = std::max(widest, TextWidth(row_names.back()));
  }
  const int cell = options.cell_size;
  const int left = static_cast<int>(std::ceil(widest)) + 16, top = 44;
  const int side = static_cast<int>(classes) * cell;
  Figure f{left + side + 12, top + side + 12, {}};
  if (auto s = CheckSize(kCaller, f, "options.cell_size"); !s.ok()) return s;
  f.shapes.push_back(
      figure::Text{left + side / 2.0, 16, "predicted", 12, figure::kBlack, Anchor::kMiddle, true});
  f.shapes.push_back(figure::Text{left - 8.0, 36, "true", 12, figure::kBlack, Anchor::kEnd, true});
  // Shades from white to matplotlib's "Blues" darkest, text white on the dark half.
  constexpr Rgb kDark{0x08, 0x30, 0x6b};
  for (int64_t r = 0; r < classes; ++r) {
    const double y = top + static_cast<double>(r) * cell;
    f.shapes.push_back(figure::Text{left - 8.0, y + cell / 2.0 + 4, row_names[r], kLabelSize,
                                    figure::kBlack, Anchor::kEnd});
    for (int64_t c = 0; c < classes; ++c) {
      const double x = left + static_cast<double>(c) * cell;
      if (r == 0) {
        f.shapes.push_back(figure::Text{x + cell / 2.0, top - 6.0, str_cat(c), kLabelSize,
                                        figure::kBlack, Anchor::kMiddle});
      }
      const double v = matrix.as_float(r * classes + c);
      const double t = most > 0 ? v / most : 0;
      auto mix = [&](uint8_t dark) {
        return static_cast<uint8_t>(std::lround(255 + (dark - 255) * t));
      };
      const Rgb shade{mix(kDark.r), mix(kDark.g), mix(kDark.b)};
      f.shapes.push_back(figure::Rect{x, y, static_cast<double>(cell), static_cast<double>(cell),
                                      true, shade, true, Rgb{0xdd, 0xdd, 0xdd}});
      f.shapes.push_back(figure::Text{x + cell / 2.0, y + cell / 2.0 + 4,
                                      str_cat(static_cast<int64_t>(std::llround(v))), kLabelSize,
                                      t > 0.5 ? figure::kWhite : figure::kBlack, Anchor::kMiddle});
    }
  }
  f.shapes.push_back(figure::Rect{static_cast<double>(left),
                                  static_cast<double>(top),
                                  static_cast<double>(side),
                                  static_cast<double>(side),
                                  false,
                                  {},
                                  true,
                                  kFrame});
  return f;
}

void images(const Tensor& x, const Tensor& y, const std::vector<std::string>& class_names,
            const std::string& path, const ImagesOptions& options) {
  // The path is checked first so that a typo costs no drawing.
  if (auto format = figure::format_of(path); !format.ok()) {
    throw to_error(
        absl::InvalidArgumentError(str_cat("plot::images: ", format.status().message())));
  }
  Figure f = value_or_throw(images_figure(x, y, class_names, options));
  throw_if_error(figure::save(f, path, "plot::images: "));
}

void predictions(const Tensor& x, const Tensor& probabilities, const Tensor& y,
                 const std::vector<std::string>& class_names, const std::string& path,
                 const PredictionsOptions& options) {
  if (auto format = figure::format_of(path); !format.ok()) {
    throw to_error(
        absl::InvalidArgumentError(str_cat("plot::predictions: ", format.status().message())));
  }
  Figure f = value_or_throw(predictions_figure(x, probabilities, y, class_names, options));
  throw_if_error(figure::save(f, path, "plot::predictions: "));
}

void confusion_matrix(const Tensor& matrix, const std::vector<std::string>& class_names,
                      const std::string& path, const ConfusionMatrixOptions& options) {
  if (auto format = figure::format_of(path); !format.ok()) {
    throw to_error(
        absl::InvalidArgumentError(str_cat("plot::confusion_matrix: ", format.status().message())));
  }
  Figure f = value_or_throw(confusion_matrix_figure(matrix, class_names, options));
  throw_if_error(figure::save(f, path, "plot::confusion_matrix: "));
}

}  // namespace plot

namespace metrics {

Tensor confusion_matrix(const Tensor& y_true, const Tensor& y_pred, int classes) {
  constexpr std::string_view kCaller = "metrics::confusion_matrix: ";
  if (classes < 1 || classes > 4096) {
    throw to_error(Invalid(kCaller, str_cat("classes must be in [1, 4096], got ", classes)));
  }
  if (y_pred.rank() == 0 || y_pred.rank() > 2) {
    throw to_error(Invalid(
        kCaller,
        str_cat("y_pred must be labels (N,) or scores (N, classes), got ", y_pred.type_string())));
  }
  const int64_t n = y_pred.dim(0);
  const std::string limit = str_cat("classes is ", classes);
  std::vector<int64_t> truth = value_or_throw(Labels(
      y_true, n, classes, kCaller, "y_true", str_cat("y_pred has ", n, " predictions"), limit));
  std::vector<int64_t> predicted(static_cast<size_t>(n));
  if (y_pred.rank() == 2 && y_pred.dim(1) != 1) {
    if (y_pred.dim(1) != classes) {
      throw to_error(Invalid(
          kCaller, str_cat("y_pred has ", y_pred.dim(1), " columns but classes is ", classes)));
    }
    for (int64_t i = 0; i < n; ++i) predicted[i] = RowArgmax(y_pred, i, classes);
  } else {
    predicted = value_or_throw(Labels(y_pred, n, classes, kCaller, "y_pred", "", limit));
  }
  Tensor m(DType::kI32, {classes, classes});
  int32_t* counts = m.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) ++counts[truth[i] * classes + predicted[i]];
  return m;
}

}  // namespace metrics

namespace {

// The 256-colour palette index nearest to gray level v: black (16), the 24
// grays 232..255 (8, 18, ..., 238) or white (231).
int Gray256(uint8_t v) {
  int best = 16, best_d = v;
  for (int k = 0; k < 24; ++k) {
    int d = std::abs(8 + 10 * k - v);
    if (d < best_d) best = 232 + k, best_d = d;
  }
  if (255 - v < best_d) best = 231;
  return best;
}

ShowMode Detect(bool is_stdout) {
  if (!is_stdout || !::isatty(STDOUT_FILENO) || env_string("NO_COLOR")) return ShowMode::kAscii;
  if (env_string("TERM").value_or("") == "dumb") return ShowMode::kAscii;
  std::string colorterm = env_string("COLORTERM").value_or("");
  if (colorterm == "truecolor" || colorterm == "24bit") return ShowMode::kTrueColor;
  return ShowMode::kColor256;
}

std::string Colour(bool foreground, uint8_t v, ShowMode mode) {
  if (mode == ShowMode::kTrueColor) {
    return str_cat("\x1b[", foreground ? 38 : 48, ";2;", int{v}, ";", int{v}, ";", int{v}, "m");
  }
  return str_cat("\x1b[", foreground ? 38 : 48, ";5;", Gray256(v), "m");
}

}  // namespace

void show(const Tensor& image, std::ostream& os, ShowMode mode) {
  const Shape& s = image.shape();
  int64_t h = 0, w = 0;
  if (image.rank() == 2) {
    h = s[0], w = s[1];
  } else if (image.rank() == 3 && s[0] == 1) {
    h = s[1], w = s[2];
  } else if (image.rank() == 3 && s[2] == 1) {
    h = s[0], w = s[1];
  } else {
    throw to_error(absl::InvalidArgumentError(
        str_cat("show: image must be one image (height, width), got ", image.type_string(),
                image.rank() == 3 ? " (pass one image of the batch, e.g. x[0])" : "")));
  }
  if (h == 0 || w == 0) {
    throw to_error(
        absl::InvalidArgumentError(str_cat("show: image is empty (", image.type_string(), ")")));
  }
  if (h > 4096 || w > 4096) {
    throw to_error(absl::InvalidArgumentError(
        str_cat("show: image is ", h, "x", w, " pixels; at most 4096x4096 can be shown")));
  }
  if (mode == ShowMode::kAuto) mode = Detect(&os == &std::cout);
  const float max = PixelMax(image);
  auto level = [&](int64_t r, int64_t c) { return Level(image, r * w + c, max); };
  std::string out;
  if (mode == ShowMode::kAscii) {
    static constexpr char kShades[] = " .:-=+*#%@";
    for (int64_t r = 0; r < h; ++r) {
      for (int64_t c = 0; c < w; ++c) out.append(2, kShades[level(r, c) * 10 / 256]);
      out += '\n';
    }
  } else {
    for (int64_t r = 0; r < h; r += 2) {
      for (int64_t c = 0; c < w; ++c) {
        out += Colour(true, level(r, c), mode);
        // An odd last row leaves the lower half in the terminal's own background.
        out += r + 1 < h ? Colour(false, level(r + 1, c), mode) : std::string("\x1b[49m");
        out += "\u2580";
      }
      out += "\x1b[0m\n";
    }
  }
  os << out << std::flush;
}

void show(const Tensor& image, ShowMode mode) { show(image, std::cout, mode); }

}  // namespace kiln
