// MNIST and Fashion-MNIST as keras.datasets returns them, from IDX files.
#pragma once

#include <string>

#include "kiln/tensor.h"

namespace kiln::datasets {

/// Images (uint8, (N, 28, 28)) and labels (uint8, (N,)).
struct Split {
  Tensor x, y;
};

/// ((x_train, y_train), (x_test, y_test)): auto [train, test] = mnist::load_data();
struct Dataset {
  Split train, test;
};

/// Reads an IDX file of unsigned bytes, raw or gzip-compressed (detected from
/// its content). Throws kiln::Error naming the file and the problem (magic,
/// size, truncation).
Tensor read_idx(const std::string& path);

/// The dataset cache: $KILN_DATA, else ~/.kiln/datasets.
std::string data_dir();

namespace mnist {
/// MNIST from data_dir()/mnist; throws kiln::Error naming the fetch command when missing.
Dataset load_data();
}  // namespace mnist

namespace fashion_mnist {
/// Fashion-MNIST from data_dir()/fashion-mnist, else Debian's
/// /usr/share/datasets/fashion-mnist (package dataset-fashion-mnist).
Dataset load_data();
}  // namespace fashion_mnist

}  // namespace kiln::datasets
