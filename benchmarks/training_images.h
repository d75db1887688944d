// The training images the epoch benchmarks run on, shared by kiln_bench and
// kiln_distributed_bench.
#pragma once

#include <string>

#include "kiln/advanced.h"

namespace kiln::bench {

/// The 60,000 training images of MNIST (or Fashion-MNIST), scaled to [0, 1],
/// when they have been fetched, else as many random ones; `label` says which.
inline datasets::Split TrainingImages(bool fashion, std::string* label) {
  try {
    datasets::Dataset d =
        fashion ? datasets::fashion_mnist::load_data() : datasets::mnist::load_data();
    *label = fashion ? "fashion-mnist" : "mnist";
    return {d.train.x / 255.0f, d.train.y};
  } catch (const Error&) {
    *label = "random pixels";
  }
  Tensor x(DType::kU8, {60000, 28, 28}), y(DType::kU8, {60000});
  Rng rng(3);
  for (int64_t i = 0; i < x.size(); ++i) x.data<uint8_t>()[i] = rng.uniform_int(256);
  for (int64_t i = 0; i < y.size(); ++i) y.data<uint8_t>()[i] = rng.uniform_int(10);
  return {x / 255.0f, y};
}

}  // namespace kiln::bench
