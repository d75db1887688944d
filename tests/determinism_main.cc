// Trains a built-in seed model for about 200 steps on generated data and
// prints hashes of its final weights, its History and its predictions.
// tests/determinism.sh runs it with each executor (KILN_BACKEND) and several
// thread counts (KILN_NUM_THREADS) and requires identical lines: the README
// promises bit-identical results across both.
//
// usage: kiln_determinism MODEL
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "tools/models.h"

namespace {

// FNV-1a: stable across processes (absl's hash is salted per process).
struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
};

uint64_t HashTensors(const std::vector<kiln::Tensor>& tensors) {
  Fnv f;
  for (const kiln::Tensor& t : tensors) f.add(t.raw(), t.nbytes());
  return f.h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: kiln_determinism MODEL\n";
    return 2;
  }
  const kiln::tools::BuiltinModel* spec = kiln::tools::find_builtin_model(argv[1]);
  if (!spec) {
    std::cerr << "unknown model " << argv[1] << " (" << kiln::tools::builtin_model_names() << ")\n";
    return 2;
  }
  try {
    kiln::set_random_seed(42);
    auto model = kiln::tools::make_builtin_model(*spec);
    if (!model.ok()) throw kiln::to_error(model.status());
    // 50 full batches and a partial one per epoch, plus a validation tail.
    const int64_t batch = spec->batch_size, n = batch * 50 + batch / 2 + 1 + 64;
    kiln::Shape shape =
        std::string_view(spec->name) == "seed003" ? kiln::Shape{n, 784} : kiln::Shape{n, 28, 28};
    kiln::Tensor x(kiln::DType::kF32, shape), y(kiln::DType::kI32, {n});
    uint64_t state = 7;
    auto next = [&state] {
      return (state = state * 6364136223846793005ull + 1442695040888963407ull) >> 33;
    };
    for (int64_t i = 0; i < x.size(); ++i)
      x.data<float>()[i] = static_cast<float>(next() % 256) / 255.0f;
    for (int64_t i = 0; i < n; ++i) y.data<int32_t>()[i] = static_cast<int32_t>(next() % 10);
    kiln::History h = model->fit(x, y,
                                 {.epochs = 4,
                                  .batch_size = static_cast<int>(batch),
                                  .verbose = 0,
                                  .validation_split = 64.0 / static_cast<double>(n)});
    Fnv history;
    for (const auto& [key, values] : h.history) {
      history.add(key.data(), key.size());
      history.add(values.data(), values.size() * sizeof(double));
    }
    // Enough rows that predict splits its batches over 2, 3 and 8 threads.
    kiln::Tensor p = model->predict(x.slice(0, std::min<int64_t>(n, 16 * batch + 5)),
                                    {.batch_size = static_cast<int>(batch), .verbose = 0});
    std::printf("%s weights %016llx history %016llx predict %016llx loss %.9g\n", spec->name.data(),
                static_cast<unsigned long long>(HashTensors(model->get_weights())),
                static_cast<unsigned long long>(history.h),
                static_cast<unsigned long long>(HashTensors({p})), h["loss"].back());
  } catch (const kiln::Error& e) {
    std::cerr << "kiln_determinism: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
