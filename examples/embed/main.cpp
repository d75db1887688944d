// A self-contained Kiln program: classify three Gaussian blobs in 2-D.
#include <kiln/kiln.h>

#include <cmath>
#include <iostream>

int main() {
  using namespace kiln::layers;
  kiln::set_random_seed(7);
  const int n = 600;
  kiln::Tensor x(kiln::DType::kF32, {n, 2});
  kiln::Tensor y(kiln::DType::kI32, {n});
  for (int i = 0; i < n; ++i) {
    int label = i % 3;
    // Deterministic jitter around three centres on a circle.
    float angle = 2.0944f * static_cast<float>(label);
    x.data<float>()[2 * i] = 2 * std::cos(angle) + 0.5f * std::sin(1.3f * i);
    x.data<float>()[2 * i + 1] = 2 * std::sin(angle) + 0.5f * std::cos(0.7f * i);
    y.data<int32_t>()[i] = label;
  }

  kiln::Sequential model({Dense(16, "relu"), Dense(3, "softmax")});
  model.compile(kiln::optimizers::Adam{.learning_rate = 0.01}, "sparse_categorical_crossentropy",
                {"accuracy"});
  model.fit(x, y, {.epochs = 20, .verbose = 0});
  auto [loss, accuracy] = model.evaluate(x, y, {.verbose = 0});
  std::cout << "loss " << loss << ", accuracy " << accuracy << "\n";
  return accuracy > 0.95 ? 0 : 1;
}
