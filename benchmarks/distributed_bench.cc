// Data-parallel scaling of a seed-001 epoch: run the same program alone and
// under `mpirun -np N` (scripts/bench does both) and compare the times.
// Every rank runs every benchmark a fixed number of iterations, so all ranks
// join the same collectives; rank 0 reports. Counters: images per second and
// the epoch's matmul GFLOP/s (24.5 GFLOP per 60,000-image epoch).
#include <benchmark/benchmark.h>

#include "kiln/advanced.h"
#include "benchmarks/training_images.h"

namespace kiln {
namespace {

using namespace layers;

// One epoch of seed-001 at global batch state.range(0), over all processes.
void BM_DataParallelEpoch(benchmark::State& state) {
  static std::string label;
  static const datasets::Split data = bench::TrainingImages(false, &label);
  const int batch = static_cast<int>(state.range(0));
  set_random_seed(1);
  Sequential model({Flatten({28, 28}), Dense(128, "relu"), Dense(10, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  // Compile outside the timing.
  model.fit(data.x.slice(0, batch * 2), data.y.slice(0, batch * 2),
            {.epochs = 1, .batch_size = batch, .verbose = 0});
  for (auto _ : state) {
    model.fit(data.x, data.y, {.epochs = 1, .batch_size = batch, .verbose = 0});
  }
  // Forward and weight-gradient products of both layers, and the input
  // gradient of the second (the first layer needs none).
  const double flop = 2.0 * 60000 * (2 * 784.0 * 128 + 3 * 128 * 10);
  state.counters["images/s"] =
      benchmark::Counter(60000.0 * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flop * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(str_cat(label, ", ", distributed::world_size(), " process(es), ",
                         parallel_threads(), " thread(s) each"));
}

BENCHMARK(BM_DataParallelEpoch)
    ->Arg(32)
    ->Arg(128)
    ->Arg(512)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Ranks other than 0 run the benchmarks silently.
class Silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::distributed::initialize();
  benchmark::Initialize(&argc, argv);
  if (kiln::distributed::rank() == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    kiln::Silent silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  return 0;
}
