// JIT vs interpreter, side by side in one run: whole training steps of the
// seed models, the dense kernels of their shapes, compile latency (cold and
// from the compile cache), epochs, and predict in process vs exported.
// Run through scripts/bench. Figures are reported, never asserted.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <kiln/kiln.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <thread>

#include "benchmarks/training_images.h"
#include "kiln/advanced.h"

#if defined(KILN_BENCH_OPENBLAS)
#include <cblas.h>
#endif
#if defined(KILN_BENCH_DNNL)
#include <dnnl.hpp>
#endif

namespace kiln {
namespace {

using namespace layers;

struct SeedModel {
  const char* name;
  std::function<Sequential()> make;
  std::function<void(Sequential&, CompileOptions)> compile;
  int batch;
  bool fashion = false;  // trained on Fashion-MNIST rather than MNIST
};

const std::vector<SeedModel>& Seeds() {
  static const std::vector<SeedModel> seeds = {
      {"seed000",
       [] {
         return Sequential({Flatten({28, 28}), Dense(128, "relu"), Dense(128, "relu"), Dense(10)});
       },
       [](Sequential& m, CompileOptions o) {
         m.compile("sgd", losses::SparseCategoricalCrossentropy{.from_logits = true}, {"accuracy"},
                   o);
       },
       32},
      {"seed001",
       [] {
         return Sequential({Flatten({28, 28}), Dense(128, "relu"), Dense(10, "softmax")});
       },
       [](Sequential& m, CompileOptions o) {
         m.compile("adam", "sparse_categorical_crossentropy", {"accuracy"}, o);
       },
       32},
      {"seed003",
       [] {
         return Sequential({Flatten({28, 28}), Dense(512, "relu"), Dense(10, "softmax")});
       },
       [](Sequential& m, CompileOptions o) {
         m.compile("rmsprop", "sparse_categorical_crossentropy", {"accuracy"}, o);
       },
       128},
      {"seed004_ex8",
       [] {
         return Sequential({Flatten({28, 28}), Dense(512, "relu"), Dense(10, "softmax")});
       },
       [](Sequential& m, CompileOptions o) {
         m.compile("adam", "sparse_categorical_crossentropy", {"accuracy"}, o);
       },
       32, true},
  };
  return seeds;
}

// FLOPs of one full-batch run of `polymorphic`: 2mkn per matmul, one per
// element elsewhere.
double Flops(const ir::Graph& polymorphic) {
  const ir::Graph graph = ir::with_rows(polymorphic, polymorphic.capacity);
  double flops = 0;
  for (const ir::Node& n : graph.nodes) {
    if (n.op == ir::OpKind::kMatMul) {
      const auto& a = graph.nodes[n.inputs[0]].type.shape;
      flops += 2.0 * a[0] * a[1] * n.type.shape[1];
    } else if (n.op != ir::OpKind::kInput && n.op != ir::OpKind::kVariable &&
               n.op != ir::OpKind::kConstant && n.op != ir::OpKind::kReshape &&
               n.op != ir::OpKind::kOutput) {
      flops += static_cast<double>(ir::num_elements(n.type.shape));
    }
  }
  return flops;
}

// FLOPs of the matmuls alone (full batch), what the FMA peak bounds.
double MatMulFlops(const ir::Graph& polymorphic) {
  const ir::Graph graph = ir::with_rows(polymorphic, polymorphic.capacity);
  double flops = 0;
  for (ir::NodeId id : graph.nodes_of(ir::OpKind::kMatMul)) {
    const ir::Node& n = graph.nodes[id];
    flops += 2.0 * graph.nodes[n.inputs[0]].type.shape[0] * graph.nodes[n.inputs[0]].type.shape[1] *
             n.type.shape[1];
  }
  return flops;
}

// Ten independent FMA chains of `kWidth` floats: enough in flight to cover
// the FMA latency on both pipes, so the loop runs at the core's FMA peak.
template <int kWidth>
[[gnu::always_inline]] inline float FmaLoop(int64_t rounds) {
  using V = float __attribute__((vector_size(kWidth * 4)));
  V acc[10], x, y;
  for (int i = 0; i < kWidth; ++i) x[i] = 1.0f + 1e-7f * i, y[i] = 0.999999f;
  for (V& a : acc) a = x;
  for (int64_t r = 0; r < rounds; ++r) {
    for (V& a : acc) a = a * y + x;
  }
  float sum = 0;
  for (V& a : acc)
    for (int i = 0; i < kWidth; ++i) sum += a[i];
  return sum;
}
[[gnu::target("avx2,fma")]] float FmaLoopAvx2(int64_t rounds) { return FmaLoop<8>(rounds); }
[[gnu::target("avx512f")]] float FmaLoopAvx512(int64_t rounds) { return FmaLoop<16>(rounds); }

// The FLOP/s one core reaches on FMAs of the widest vectors the host has,
// measured once (best of five 10 ms runs): the floor the kernels are held to.
double CorePeak() {
  static const double peak = [] {
    const bool wide = __builtin_cpu_supports("avx512f");
    const int64_t rounds = 200000;
    double best = 0;
    for (int run = 0; run < 5; ++run) {
      auto start = std::chrono::steady_clock::now();
      float sink = wide ? FmaLoopAvx512(rounds) : FmaLoopAvx2(rounds);
      benchmark::DoNotOptimize(sink);
      double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::max(best, 2.0 * 10 * (wide ? 16 : 8) * rounds / sec);
    }
    return best;
  }();
  return peak;
}

std::unique_ptr<Engine> MakeEngine(bool jit) { return jit ? *make_jit() : make_interpreter(); }

// Random tensors for every input and variable of a graph.
struct Bound {
  std::vector<std::unique_ptr<Tensor>> inputs;
  Feeds feeds;
  VariableStore vars;
};

void Bind(const ir::Graph& g, Bound* out) {
  Rng rng(1);
  for (const ir::Node& n : g.nodes) {
    const std::string& name = ir::attr_string(n.attrs, "name");
    if (n.op != ir::OpKind::kInput && n.op != ir::OpKind::kVariable) continue;
    auto t = std::make_unique<Tensor>(make_tensor(ir::with_rows(n.type, g.capacity)));
    for (int64_t i = 0; i < t->size(); ++i) {
      if (n.type.dtype == ir::DType::kF32) t->data<float>()[i] = rng.uniform() * 0.1f;
      if (n.type.dtype == ir::DType::kI32) t->data<int32_t>()[i] = static_cast<int32_t>(i % 10);
    }
    if (n.op == ir::OpKind::kInput) {
      out->feeds[name] = t.get();
      out->inputs.push_back(std::move(t));
    } else {
      out->vars.set(name, std::shared_ptr<Tensor>(std::move(t)));
    }
  }
}

// `cores`: how many cores the step may use (0: the pool's threads, at most
// the machine's cores).
void RunGraph(benchmark::State& state, ir::Graph graph, bool jit, int cores = 0) {
  if (!graph.planned()) passes::plan_memory(graph);
  auto engine = MakeEngine(jit);
  auto exec = engine->compile(graph);
  if (!exec.ok()) return state.SkipWithError(std::string(exec.status().message()).c_str());
  Bound b;
  Bind(graph, &b);
  Outputs out;
  uint64_t seed = 0;
  auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    auto s = (*exec)->run(b.feeds, b.vars, ++seed, &out);
    if (!s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.counters["FLOP/s"] =
      benchmark::Counter(Flops(graph), benchmark::Counter::kIsIterationInvariantRate);
  // The matmuls' share of the FMA peak of the cores the step may use.
  if (cores == 0) {
    cores = jit ? std::min<int>(parallel_threads(), std::thread::hardware_concurrency()) : 1;
  }
  state.counters["peak%"] = MatMulFlops(graph) * static_cast<double>(state.iterations()) * 100 /
                            (seconds * CorePeak() * cores);
}

// Another process spinning on one core while it lives: users' machines are
// never idle. The child only spins, so forking a threaded process is safe.
class BusyCore {
 public:
  BusyCore() : pid_(fork()) {
    if (pid_ == 0) {
      for (volatile uint64_t i = 0;; i = i + 1) {
      }
    }
  }
  ~BusyCore() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_;
};

// How a training-step benchmark shares the machine.
struct Setting {
  const char* suffix;
  bool one_thread;  // the pool limited to the caller
  bool contended;   // another process busy on one core
};
constexpr Setting kSettings[] = {{"", false, false},
                                 {"/1thread", true, false},
                                 {"/contended", false, true},
                                 {"/contended/1thread", true, true}};

void BM_TrainStep(benchmark::State& state, const SeedModel& seed, bool jit,
                  const Setting& setting = kSettings[0]) {
  std::optional<BusyCore> busy;
  if (setting.contended) busy.emplace();
  set_parallel_thread_limit(setting.one_thread ? 1 : 0);
  set_random_seed(1);
  Sequential model = seed.make();
  seed.compile(model, {});
  auto graph = ir::parse(model.ir(seed.batch, /*training_step=*/true));
  RunGraph(state, *graph, jit, jit && !setting.one_thread ? 0 : 1);
  set_parallel_thread_limit(0);
  state.counters["examples/s"] =
      benchmark::Counter(seed.batch, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_MatMul(benchmark::State& state, bool jit) {
  int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  ir::Graph g;
  ir::Builder b(&g);
  b.output("c", b.matmul(b.input("a", {ir::DType::kF32, {m, k}}),
                         b.input("b", {ir::DType::kF32, {k, n}})));
  RunGraph(state, g, jit);
}

// Library baselines on the same shapes (row-major f32, default thread counts).
#if defined(KILN_BENCH_OPENBLAS)
void BM_MatMulOpenBlas(benchmark::State& state) {
  int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0f, a.data(), static_cast<int>(k), b.data(),
                static_cast<int>(n), 0.0f, c.data(), static_cast<int>(n));
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * m * k * n, benchmark::Counter::kIsIterationInvariantRate);
}
#endif

#if defined(KILN_BENCH_DNNL)
void BM_MatMulOneDnn(benchmark::State& state) {
  int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  dnnl::memory::desc a_md({m, k}, dt::f32, tag::ab), b_md({k, n}, dt::f32, tag::ab),
      c_md({m, n}, dt::f32, tag::ab);
  // oneDNN 2.x API (Debian 12 ships 2.6): an op descriptor, then its primitive.
  dnnl::matmul prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), engine));
  dnnl::memory a(a_md, engine), b(b_md, engine), c(c_md, engine);
  for (auto _ : state) {
    prim.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    stream.wait();
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * m * k * n, benchmark::Counter::kIsIterationInvariantRate);
}
#endif

// What splitting a kernel over the pool costs on top of its work: one item
// of `work` microseconds per thread (so each thread has time to claim its
// own), back to back as a step's split kernels run. The time over `work` is
// the hand-off a split kernel pays, and what running two small kernels at
// once, one per thread, would have to win back.
void BM_HandOff(benchmark::State& state) {
  const auto work = std::chrono::microseconds(state.range(0));
  auto task = [](void* context, int64_t begin, int64_t end) {
    const auto spin = *static_cast<const std::chrono::microseconds*>(context);
    for (int64_t i = begin; i < end; ++i) {
      const auto until = std::chrono::steady_clock::now() + spin;
      while (std::chrono::steady_clock::now() < until) {
      }
    }
  };
  for (auto _ : state)
    kiln_parallel_for(task, const_cast<std::chrono::microseconds*>(&work), parallel_threads());
  state.counters["threads"] = parallel_threads();
}

void BM_CompileTrainStep(benchmark::State& state, const SeedModel& seed) {
  set_random_seed(1);
  Sequential model = seed.make();
  seed.compile(model, {});
  auto graph = ir::parse(model.ir(seed.batch, true));
  // Cold: the compile cache would turn every iteration into a load.
  const char* cache = std::getenv("KILN_CACHE_DIR");
  std::string saved = cache ? cache : "";
  setenv("KILN_CACHE_DIR", "", 1);
  for (auto _ : state) {
    auto engine = *make_jit();  // cold: a new JIT and a new module every time
    auto exec = engine->compile(*graph);
    benchmark::DoNotOptimize(exec);
  }
  if (cache) {
    setenv("KILN_CACHE_DIR", saved.c_str(), 1);
  } else {
    unsetenv("KILN_CACHE_DIR");
  }
}

datasets::Split TrainingImages(const SeedModel& seed, std::string* label) {
  return bench::TrainingImages(seed.fashion, label);
}

// One epoch of fit() on the 60,000 training images, after a first short fit
// that compiles the step outside the timing.
void BM_Epoch(benchmark::State& state, const SeedModel& seed, bool jit) {
  std::string label;
  datasets::Split data = TrainingImages(seed, &label);
  const Tensor& xf = data.x;
  const Tensor& y = data.y;
  state.SetLabel(label);
  set_random_seed(1);
  Sequential model = seed.make();
  seed.compile(model, {.backend = jit ? Backend::kJit : Backend::kInterpreter});
  model.fit(xf.slice(0, seed.batch * 2), y.slice(0, seed.batch * 2),
            {.epochs = 1, .batch_size = seed.batch, .verbose = 0});  // compile outside the timing
  for (auto _ : state) {
    model.fit(xf, y, {.epochs = 1, .batch_size = seed.batch, .verbose = 0});
  }
}

// The 10,000 test images (or as many random ones) and a seed-001 model trained
// on the first 2,000 training images, shared by the predict benchmarks.
struct PredictFixture {
  Tensor x;
  Sequential model;
};

PredictFixture& Mnist() {
  static PredictFixture* f = [] {
    const SeedModel& seed = Seeds()[1];
    std::string label;
    datasets::Split train = TrainingImages(seed, &label);
    Tensor test = train.x.slice(0, 10000);
    try {
      test = datasets::mnist::load_data().test.x / 255.0f;
    } catch (const Error&) {
    }
    set_random_seed(1);
    auto* fixture = new PredictFixture{test, seed.make()};
    seed.compile(fixture->model, {});
    fixture->model.fit(train.x.slice(0, 2000), train.y.slice(0, 2000), {.verbose = 0});
    return fixture;
  }();
  return *f;
}

void BM_PredictJit(benchmark::State& state) {
  PredictFixture& f = Mnist();
  f.model.predict(f.x.slice(0, 64), {.verbose = 0});  // compile outside the timing
  for (auto _ : state) benchmark::DoNotOptimize(f.model.predict(f.x, {.verbose = 0}));
  state.SetItemsProcessed(state.iterations() * f.x.dim(0));
}

// The same model exported (export_model), linked into a shared object with the
// system's cc and called through dlopen, as a C program would call it.
void BM_PredictExported(benchmark::State& state) {
  PredictFixture& f = Mnist();
  std::string dir =
      std::filesystem::temp_directory_path() / ("kiln-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  f.model.export_model("mnist", dir);
  if (std::system(("cc -shared -o " + dir + "/libmnist.so " + dir + "/mnist.o -lm").c_str()) != 0) {
    return state.SkipWithError("cc cannot link the exported object");
  }
  std::ifstream header(dir + "/mnist.h");
  std::string text((std::istreambuf_iterator<char>(header)), {});
  size_t at = text.find("int32_t mnist_predict_");
  std::string symbol = text.substr(at + 8, text.find('(', at) - at - 8);
  void* lib = dlopen((dir + "/libmnist.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  auto* predict =
      lib ? reinterpret_cast<int32_t (*)(const float*, int64_t, float*)>(dlsym(lib, symbol.c_str()))
          : nullptr;
  if (!predict) return state.SkipWithError("cannot load the exported function");
  std::vector<float> y(static_cast<size_t>(f.x.dim(0)) * 10);
  for (auto _ : state) predict(f.x.data<float>(), f.x.dim(0), y.data());
  state.SetItemsProcessed(state.iterations() * f.x.dim(0));
  std::filesystem::remove_all(dir);
}

// Loading the seed-001 step from the compile cache into a new JIT (a warm
// process start), against BM_CompileTrainStep's cold compile.
void BM_CacheHitTrainStep(benchmark::State& state) {
  const SeedModel& seed = Seeds()[1];
  set_random_seed(1);
  Sequential model = seed.make();
  seed.compile(model, {});
  auto graph = ir::parse(model.ir(seed.batch, true));
  std::string dir =
      std::filesystem::temp_directory_path() / ("kiln-cache-" + std::to_string(getpid()));
  setenv("KILN_CACHE_DIR", dir.c_str(), 1);
  (void)(*make_jit())->compile(*graph);  // fills the cache
  for (auto _ : state) {
    auto engine = *make_jit();
    auto exec = engine->compile(*graph);
    benchmark::DoNotOptimize(exec);
    if (jit_cache_stats(*engine).hits != 1) return state.SkipWithError("no cache hit");
  }
  unsetenv("KILN_CACHE_DIR");
  std::filesystem::remove_all(dir);
}

void Register() {
  for (const SeedModel& s : Seeds()) {
    for (bool jit : {true, false}) {
      benchmark::RegisterBenchmark(
          str_cat("TrainStep/", s.name, jit ? "/jit" : "/interpreter").c_str(),
          [&s, jit](benchmark::State& st) { BM_TrainStep(st, s, jit); })
          ->Unit(benchmark::kMicrosecond);
    }
    // The JIT on one thread and under load, side by side with the quiet row.
    for (const Setting& setting : kSettings) {
      if (*setting.suffix == 0) continue;
      benchmark::RegisterBenchmark(
          str_cat("TrainStep/", s.name, "/jit", setting.suffix).c_str(),
          [&s, &setting](benchmark::State& st) { BM_TrainStep(st, s, true, setting); })
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (bool jit : {true, false}) {
    // The dense shapes of the seed models: forward, weight gradient, input gradient.
    auto* b = benchmark::RegisterBenchmark(str_cat("MatMul/", jit ? "jit" : "interpreter").c_str(),
                                           [jit](benchmark::State& st) { BM_MatMul(st, jit); });
    b->Args({32, 784, 128})->Args({784, 32, 128})->Args({32, 128, 10})->Args({128, 32, 10});
    b->Args({32, 128, 128})
        ->Args({128, 784, 512})
        ->Args({784, 128, 512})
        ->Unit(benchmark::kMicrosecond);
  }
  [[maybe_unused]] auto shapes = [](benchmark::internal::Benchmark* b) {
    b->Args({32, 784, 128})->Args({784, 32, 128})->Args({32, 128, 10})->Args({128, 32, 10});
    b->Args({32, 128, 128})->Args({128, 784, 512})->Args({784, 128, 512});
    b->Unit(benchmark::kMicrosecond);
  };
#if defined(KILN_BENCH_OPENBLAS)
  shapes(benchmark::RegisterBenchmark("MatMul/openblas", BM_MatMulOpenBlas));
#endif
#if defined(KILN_BENCH_DNNL)
  shapes(benchmark::RegisterBenchmark("MatMul/onednn", BM_MatMulOneDnn));
#endif
  benchmark::RegisterBenchmark("HandOff", BM_HandOff)->Arg(0)->Arg(2)->Arg(10);
  benchmark::RegisterBenchmark("CompileTrainStep/seed001/jit", [](benchmark::State& st) {
    BM_CompileTrainStep(st, Seeds()[1]);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("CacheHitTrainStep/seed001/jit", BM_CacheHitTrainStep)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Predict/mnist10k/jit", BM_PredictJit)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Predict/mnist10k/exported", BM_PredictExported)
      ->Unit(benchmark::kMillisecond);
  // Every seed with the JIT; the interpreter's epoch (tens of seconds for the
  // larger models) only for seed-001, the side-by-side reference.
  for (const SeedModel& s : Seeds()) {
    for (bool jit : {true, false}) {
      if (!jit && std::string_view(s.name) != "seed001") continue;
      benchmark::RegisterBenchmark(str_cat("Epoch/", s.name, jit ? "/jit" : "/interpreter").c_str(),
                                   [&s, jit](benchmark::State& st) { BM_Epoch(st, s, jit); })
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1);
    }
  }
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::Register();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
