// One program for the data-parallel tests, run under mpirun by
// tests/distributed/run.sh (and alone, as the single-process reference).
// Trains a small model on generated data and writes what the checks compare.
//
// usage: kiln_distributed MODE OUT_DIR [BATCH]
//   train     fit one epoch (Adam); rank 0 writes weights.bin, history.txt
//   shards    fit with an uneven last batch and validation_split, then
//             evaluate and predict 100 rows; rank 0 writes weights.bin,
//             eval.txt, predictions.bin, history.txt
//   stop      rank 1 alone sets stop_training after step 3; every rank must
//             stop there (rank 0 writes steps.txt)
//   resume    fit epochs 0-1 with checkpoints, then a new model loads the
//             epoch-1 checkpoint and fits epochs 2-3; rank 0 writes the
//             weights of both the resumed and an uninterrupted run
//   mismatch  rank 1 builds a wider model than rank 0 (must be refused)
//   throw     a callback on rank 1 throws at step 3 (the job must end)
//   kill      rank 1 kills itself at step 3 (the job must end)
// Every mode also checks that every rank ends with the same weights bits and
// the same History, and exits 1 if not.
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <stdexcept>

#include "kiln/advanced.h"
#include "runtime/distributed.h"

namespace {

using kiln::Tensor;

uint64_t Fnv(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Rows whose class is learnable from the features, so training moves weights.
void MakeData(int64_t n, Tensor* x, Tensor* y) {
  *x = Tensor(kiln::DType::kF32, {n, 8, 8});
  *y = Tensor(kiln::DType::kI32, {n});
  uint64_t state = 11;
  auto next = [&state] {
    return (state = state * 6364136223846793005ull + 1442695040888963407ull) >> 33;
  };
  for (int64_t i = 0; i < n; ++i) {
    int label = static_cast<int>(next() % 10);
    y->data<int32_t>()[i] = label;
    for (int j = 0; j < 64; ++j) {
      float noise = static_cast<float>(next() % 1000) / 1000.0f;
      x->data<float>()[i * 64 + j] = noise + (j % 10 == label ? 1.0f : 0.0f);
    }
  }
}

kiln::Sequential MakeModel(int units) {
  kiln::Sequential model(
      {kiln::layers::Flatten({8, 8}), kiln::layers::Dense(units, "relu"), kiln::layers::Dense(10)});
  model.compile(kiln::optimizers::Adam{}, kiln::losses::SparseCategoricalCrossentropy{true},
                {"accuracy"});
  return model;
}

void WriteBytes(const std::string& path, const void* data, size_t n) {
  std::ofstream(path, std::ios::binary).write(static_cast<const char*>(data), n);
}

void WriteWeights(const std::string& path, const kiln::Sequential& model) {
  std::ofstream out(path, std::ios::binary);
  for (const Tensor& t : model.get_weights())
    out.write(reinterpret_cast<const char*>(t.raw()), t.nbytes());
}

uint64_t HashRun(const kiln::Sequential& model, const kiln::History& h) {
  uint64_t hash = Fnv("", 0);
  for (const Tensor& t : model.get_weights()) hash = Fnv(t.raw(), t.nbytes(), hash);
  for (const auto& [key, values] : h.history) {
    hash = Fnv(key.data(), key.size(), hash);
    hash = Fnv(values.data(), values.size() * sizeof(double), hash);
  }
  return hash;
}

// Every rank must hold the same bits: gather each rank's hash and compare.
bool SameOnAllRanks(uint64_t hash) {
  std::vector<std::byte> all = kiln::distributed::all_gather(&hash, sizeof hash);
  for (size_t r = 1; r * sizeof hash < all.size(); ++r) {
    if (std::memcmp(all.data(), all.data() + r * sizeof hash, sizeof hash) != 0) {
      std::cerr << "rank " << r << " ended with other weights or History than rank 0\n";
      return false;
    }
  }
  return true;
}

void WriteHistory(const std::string& path, const kiln::History& h) {
  std::ofstream out(path);
  out.precision(17);
  for (const auto& [key, values] : h.history) {
    out << key;
    for (double v : values) out << " " << v;
    out << "\n";
  }
}

// Calls `act` on rank 1 at the start of step 3 of the first epoch.
class AtStep3OnRank1 : public kiln::Callback {
 public:
  explicit AtStep3OnRank1(std::function<void()> act) : act_(std::move(act)) {}
  void on_train_batch_begin(int batch, const kiln::Logs&) override {
    if (batch == 3 && kiln::distributed::rank() == 1) act_();
  }

 private:
  std::function<void()> act_;
};

// Counts the steps that ran on this process.
struct StepCounter : kiln::Callback {
  int count = 0;
  void on_train_batch_end(int, const kiln::Logs&) override { ++count; }
};

int Run(const std::string& mode, const std::string& out, int batch) {
  const bool chief = kiln::distributed::rank() == 0;
  kiln::set_random_seed(7);
  Tensor x, y;
  if (mode == "train" || mode == "mismatch" || mode == "throw" || mode == "kill" ||
      mode == "stop") {
    MakeData(640, &x, &y);
    int units = mode == "mismatch" && kiln::distributed::rank() == 1 ? 40 : 32;
    kiln::Sequential model = MakeModel(units);
    std::vector<std::shared_ptr<kiln::Callback>> callbacks;
    if (mode == "throw") {
      callbacks.push_back(std::make_shared<AtStep3OnRank1>(
          [] { throw std::runtime_error("a callback failed on purpose"); }));
    }
    if (mode == "kill") {
      callbacks.push_back(std::make_shared<AtStep3OnRank1>([] { raise(SIGKILL); }));
    }
    auto steps = std::make_shared<StepCounter>();
    if (mode == "stop") {
      auto* m = &model;
      callbacks.push_back(std::make_shared<AtStep3OnRank1>([m] { m->stop_training = true; }));
      callbacks.push_back(steps);
    }
    kiln::History h =
        model.fit(x, y, {.epochs = 1, .batch_size = batch, .verbose = 0, .callbacks = callbacks});
    if (chief) {
      WriteWeights(out + "/weights.bin", model);
      WriteHistory(out + "/history.txt", h);
      if (mode == "stop") std::ofstream(out + "/steps.txt") << steps->count << "\n";
    }
    return SameOnAllRanks(HashRun(model, h)) ? 0 : 1;
  }
  if (mode == "shards") {
    MakeData(100, &x, &y);
    kiln::Sequential model = MakeModel(32);
    // 75 training rows at batch 48: one full batch and a last one of 27 rows
    // (9 per process on 3); the other 25 validate.
    kiln::History h =
        model.fit(x, y, {.epochs = 2, .batch_size = batch, .verbose = 0, .validation_split = 0.25});
    kiln::Evaluation e = model.evaluate(x, y, {.batch_size = 16, .verbose = 0});
    Tensor p = model.predict(x, {.batch_size = 16, .verbose = 0});
    if (chief) {
      WriteWeights(out + "/weights.bin", model);
      std::ofstream(out + "/eval.txt")
          << std::setprecision(17) << e.loss << " " << e.accuracy << "\n";
      WriteBytes(out + "/predictions.bin", p.raw(), p.nbytes());
      WriteHistory(out + "/history.txt", h);
    }
    uint64_t hash = HashRun(model, h);
    hash = Fnv(&e, sizeof e, hash);
    hash = Fnv(p.raw(), p.nbytes(), hash);
    return SameOnAllRanks(hash) ? 0 : 1;
  }
  if (mode == "resume") {
    MakeData(640, &x, &y);
    kiln::Sequential straight = MakeModel(32);
    straight.fit(x, y, {.epochs = 4, .batch_size = batch, .verbose = 0});
    kiln::set_random_seed(7);
    kiln::Sequential first = MakeModel(32);
    auto checkpoint = kiln::callbacks::ModelCheckpoint(out + "/ckpt-{epoch}.kiln");
    first.fit(x, y, {.epochs = 2, .batch_size = batch, .verbose = 0, .callbacks = {checkpoint}});
    kiln::set_random_seed(7);
    kiln::Sequential resumed = kiln::load_model(out + "/ckpt-2.kiln");
    resumed.fit(x, y, {.epochs = 4, .batch_size = batch, .verbose = 0, .initial_epoch = 2});
    if (chief) {
      WriteWeights(out + "/straight.bin", straight);
      WriteWeights(out + "/resumed.bin", resumed);
    }
    return SameOnAllRanks(HashRun(resumed, {})) ? 0 : 1;
  }
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: kiln_distributed MODE OUT_DIR [BATCH]\n";
    return 2;
  }
  try {
    return Run(argv[1], argv[2], argc > 3 ? std::atoi(argv[3]) : 64);
  } catch (const kiln::Error& e) {
    std::cerr << "rank " << kiln::distributed::rank() << ": error: " << e.what() << "\n";
    return 3;
  }
}
