// Misuses of kiln::plot, kiln::metrics::confusion_matrix, kiln::show and
// History::plot: each must throw kiln::Error naming the argument, and leave no
// file (whole or partial) behind.
#include <filesystem>
#include <sstream>

#include "kiln/kiln.h"
#include "tests/bad_input/catalogue.h"

namespace kiln::bad_input {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kNames = {"zero", "one", "two"};

Tensor U8(Shape shape) { return Tensor(DType::kU8, std::move(shape)); }

// A case that calls `fn` with the case's directory and fails (with an internal
// error, which the catalogue rejects) if anything was written into it.
Case Plot(std::string name, std::function<void(const std::string&)> fn,
          std::vector<std::string> message_has) {
  return {std::move(name),
          [fn](const std::string& dir) {
            absl::Status status = status_of([&] { fn(dir); });
            for (const auto& entry : fs::recursive_directory_iterator(dir)) {
              if (entry.is_regular_file()) {
                return absl::InternalError("a file was left behind: " + entry.path().string());
              }
            }
            return status;
          },
          std::move(message_has)};
}

// 4 images of 5x5 pixels, labels 0..2, probabilities for 3 classes.
struct Data {
  Tensor x = U8({4, 5, 5});
  Tensor y = Tensor::from<uint8_t>({4}, {0, 1, 2, 1});
  Tensor p = Tensor(DType::kF32, {4, 3});
};

const int kRegistered = add({
    Plot("plot/images-fewer-labels",
         [](const std::string& dir) {
           Data d;
           plot::images(d.x, U8({3}), kNames, dir + "/grid.png");
         },
         {"plot::images: y has 3 labels but x has 4 images"}),
    Plot("plot/images-label-beyond-class-names",
         [](const std::string& dir) {
           Data d;
           d.y.data<uint8_t>()[2] = 7;
           plot::images(d.x, d.y, kNames, dir + "/grid.png");
         },
         {"plot::images: y[2] = 7 but class_names has 3 names"}),
    Plot("plot/images-fractional-label",
         [](const std::string& dir) {
           Data d;
           plot::images(d.x, Tensor::from<float>({4}, {0, 1.5f, 2, 1}), kNames, dir + "/grid.svg");
         },
         {"plot::images: y[1] = 1.5 is not a class index"}),
    Plot("plot/images-labels-not-a-vector",
         [](const std::string& dir) {
           Data d;
           plot::images(d.x, U8({4, 3}), kNames, dir + "/grid.png");
         },
         {"plot::images: y must be integer labels of shape (N,), got u8[4,3]"}),
    Plot("plot/images-flattened",
         [](const std::string& dir) {
           plot::images(Tensor(DType::kF32, {4, 784}), U8({4}), {}, dir + "/grid.png");
         },
         {"plot::images: x must be images of shape (N, height, width) or (N, height, width, 1), "
          "got f32[4,784] (reshape flattened images first)"}),
    Plot("plot/images-rgb",
         [](const std::string& dir) {
           plot::images(U8({4, 5, 5, 3}), U8({4}), {}, dir + "/grid.png");
         },
         {"plot::images: x must be images", "got u8[4,5,5,3]"}),
    Plot("plot/images-empty-batch",
         [](const std::string& dir) {
           plot::images(U8({0, 5, 5}), U8({0}), {}, dir + "/g.png");
         },
         {"plot::images: x holds no images (u8[0,5,5])"}),
    Plot("plot/images-unknown-extension",
         [](const std::string& dir) {
           Data d;
           plot::images(d.x, d.y, kNames, dir + "/grid.jpg");
         },
         {"plot::images: path \"{dir}/grid.jpg\": unknown file extension \".jpg\" (use .svg or "
          ".png)"}),
    Plot("plot/images-no-extension",
         [](const std::string& dir) {
           Data d;
           plot::images(d.x, d.y, kNames, dir + "/grid");
         },
         {"plot::images: path \"{dir}/grid\": no file extension (use .svg or .png)"}),
    Plot("plot/images-missing-directory",
         [](const std::string& dir) {
           Data d;
           plot::images(d.x, d.y, kNames, dir + "/no/such/grid.png");
         },
         {"plot::images: path: cannot write {dir}/no/such/grid.png: the directory {dir}/no/such "
          "does not exist"}),
    Plot("plot/images-onto-directory",
         [](const std::string& dir) {
           Data d;
           fs::create_directory(dir + "/grid.svg");
           plot::images(d.x, d.y, kNames, dir + "/grid.svg");
         },
         {"plot::images: path: cannot write {dir}/grid.svg: it is a directory"}),
    // Writing into /proc fails even for root, which ignores file permissions.
    Plot("plot/images-unwritable",
         [](const std::string&) {
           Data d;
           plot::images(d.x, d.y, kNames, "/proc/kiln-grid.png");
         },
         {"plot::images: path: cannot create /proc/kiln-grid.png.tmp."}),
    Plot("plot/images-zero-scale",
         [](const std::string& dir) {
           Data d;
           plot::images(d.x, d.y, kNames, dir + "/grid.png", {.scale = 0});
         },
         {"plot::images: options.scale must be in [1, 64], got 0"}),
    Plot("plot/images-negative-rows",
         [](const std::string& dir) {
           Data d;
           plot::images(d.x, d.y, kNames, dir + "/grid.png", {.rows = -1});
         },
         {"plot::images: options.rows must be in [1, 1000], got -1"}),
    Plot("plot/images-figure-too-large",
         [](const std::string& dir) {
           plot::images(U8({1, 4096, 4096}), U8({1}), {}, dir + "/grid.png", {.scale = 64});
         },
         {"plot::images: the figure would be",
          "lower options.rows, options.cols or "
          "options.scale"}),
    Plot("plot/predictions-fewer-rows",
         [](const std::string& dir) {
           Data d;
           plot::predictions(d.x, Tensor(DType::kF32, {3, 3}), d.y, kNames, dir + "/p.png");
         },
         {"plot::predictions: probabilities has 3 rows but x has 4 images"}),
    Plot("plot/predictions-class-names-count",
         [](const std::string& dir) {
           Data d;
           plot::predictions(d.x, d.p, d.y, {"zero", "one"}, dir + "/p.png");
         },
         {"plot::predictions: class_names has 2 names but probabilities has 3 classes"}),
    Plot("plot/predictions-probabilities-rank",
         [](const std::string& dir) {
           Data d;
           plot::predictions(d.x, Tensor(DType::kF32, {4}), d.y, kNames, dir + "/p.png");
         },
         {"plot::predictions: probabilities must be of shape (N, classes), got f32[4]"}),
    Plot("plot/predictions-more-labels",
         [](const std::string& dir) {
           Data d;
           plot::predictions(d.x, d.p, U8({5}), kNames, dir + "/p.png");
         },
         {"plot::predictions: y has 5 labels but x has 4 images"}),
    Plot("plot/predictions-label-beyond-classes",
         [](const std::string& dir) {
           Data d;
           d.y.data<uint8_t>()[3] = 3;
           plot::predictions(d.x, d.p, d.y, {}, dir + "/p.svg");
         },
         {"plot::predictions: y[3] = 3 but probabilities has 3 classes"}),
    Plot("plot/predictions-unknown-extension",
         [](const std::string& dir) {
           Data d;
           plot::predictions(d.x, d.p, d.y, kNames, dir + "/p.pdf");
         },
         {"plot::predictions: path \"{dir}/p.pdf\": unknown file extension \".pdf\""}),
    Plot("plot/confusion-matrix-not-square",
         [](const std::string& dir) {
           plot::confusion_matrix(Tensor(DType::kI32, {3, 2}), kNames, dir + "/cm.png");
         },
         {"plot::confusion_matrix: matrix must be square (classes, classes), got i32[3,2]"}),
    Plot("plot/confusion-matrix-class-names-count",
         [](const std::string& dir) {
           plot::confusion_matrix(Tensor(DType::kI32, {4, 4}), kNames, dir + "/cm.png");
         },
         {"plot::confusion_matrix: class_names has 3 names but matrix has 4 classes"}),
    Plot("plot/confusion-matrix-negative-count",
         [](const std::string& dir) {
           Tensor m(DType::kI32, {3, 3});
           m.data<int32_t>()[5] = -2;
           plot::confusion_matrix(m, kNames, dir + "/cm.png");
         },
         {"plot::confusion_matrix: matrix[1, 2] = -2 is not a count"}),
    Plot("plot/confusion-matrix-tiny-cells",
         [](const std::string& dir) {
           plot::confusion_matrix(Tensor(DType::kI32, {3, 3}), kNames, dir + "/cm.png",
                                  {.cell_size = 2});
         },
         {"plot::confusion_matrix: options.cell_size must be in [16, 400], got 2"}),
    Plot("plot/history-unknown-extension",
         [](const std::string& dir) {
           History h;
           h.history["loss"] = {1.0, 0.5};
           h.epoch = {0, 1};
           h.plot(dir + "/curves.jpeg");
         },
         {"History::plot: path \"{dir}/curves.jpeg\": unknown file extension \".jpeg\""}),
    Plot("metrics/confusion-matrix-lengths",
         [](const std::string&) { metrics::confusion_matrix(U8({5}), U8({4}), 3); },
         {"metrics::confusion_matrix: y_true has 5 labels but y_pred has 4 predictions"}),
    Plot("metrics/confusion-matrix-prediction-out-of-range",
         [](const std::string&) {
           metrics::confusion_matrix(U8({2}), Tensor::from<int32_t>({2}, {0, 4}), 3);
         },
         {"metrics::confusion_matrix: y_pred[1] = 4 but classes is 3"}),
    Plot("metrics/confusion-matrix-zero-classes",
         [](const std::string&) { metrics::confusion_matrix(U8({2}), U8({2}), 0); },
         {"metrics::confusion_matrix: classes must be in [1, 4096], got 0"}),
    Plot("metrics/confusion-matrix-score-columns",
         [](const std::string&) {
           metrics::confusion_matrix(U8({2}), Tensor(DType::kF32, {2, 5}), 3);
         },
         {"metrics::confusion_matrix: y_pred has 5 columns but classes is 3"}),
    Plot("metrics/confusion-matrix-scalar-labels",
         [](const std::string&) { metrics::confusion_matrix(Tensor(DType::kU8, {}), U8({2}), 3); },
         {"metrics::confusion_matrix: y_true must be integer labels of shape (N,), got u8[]"}),
    Plot("show/batch-of-images",
         [](const std::string&) {
           std::ostringstream out;
           show(U8({2, 28, 28}), out);
         },
         {"show: image must be one image (height, width), got u8[2,28,28] (pass one image of the "
          "batch, e.g. x[0])"}),
    Plot("show/empty-image",
         [](const std::string&) {
           std::ostringstream out;
           show(U8({0, 28}), out);
         },
         {"show: image is empty (u8[0,28])"}),
});

}  // namespace
}  // namespace kiln::bad_input
