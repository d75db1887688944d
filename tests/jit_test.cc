// The JIT against the interpreter: every op, odd sizes, whole training steps.
// Both executors accumulate in the same order with fused multiply-adds, so the
// comparisons use a tolerance (1e-5 relative) far looser than what they reach.
#include "codegen/jit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <kiln/kiln.h>
#include <sched.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "ir/builder.h"
#include "ir/memory_plan.h"
#include "ir/strings.h"
#include "passes/pipeline.h"
#include "runtime/exp.h"
#include "runtime/parallel.h"
#include "test_util.h"

namespace kiln {
namespace {

using ir::DType;
using ir::NodeId;
using ::testing::HasSubstr;
using namespace layers;

// The ISA the current test runs for (see PerIsa).
Isa g_isa = Isa::kAuto;

std::unique_ptr<Engine> Jit(Isa isa = g_isa) {
  auto engine = make_jit({.isa = isa});
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

// Every JIT test runs once per ISA. Where the host lacks one, the test is
// skipped with the missing feature named, never passed silently.
class PerIsa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    auto engine = make_jit({.isa = GetParam()});
    if (!engine.ok()) GTEST_SKIP() << engine.status().message();
    g_isa = GetParam();
  }
  void TearDown() override { g_isa = Isa::kAuto; }
};

std::string IsaName(const ::testing::TestParamInfo<Isa>& info) {
  return info.param == Isa::kAvx512 ? "Avx512" : "Avx2";
}

#define KILN_PER_ISA(Suite) \
  using Suite = PerIsa;     \
  INSTANTIATE_TEST_SUITE_P(Isa, Suite, ::testing::Values(Isa::kAvx2, Isa::kAvx512), IsaName)

KILN_PER_ISA(JitOps);
KILN_PER_ISA(JitTraining);
KILN_PER_ISA(JitTarget);
KILN_PER_ISA(FusionJit);
KILN_PER_ISA(ParallelJit);

// `relative`: the tolerance (0: the same values exactly).
void ExpectClose(const Tensor& jit, const Tensor& ref, const std::string& what,
                 float relative = 1e-5f) {
  ASSERT_EQ(jit.shape(), ref.shape()) << what;
  ASSERT_EQ(jit.dtype(), ref.dtype()) << what;
  const float absolute = relative > 0 ? 1e-7f : 0.0f;
  for (int64_t i = 0; i < jit.size(); ++i) {
    float a = jit.as_float(i), b = ref.as_float(i);
    if ((std::isnan(a) && std::isnan(b)) || a == b) continue;  // equal infinities too
    ASSERT_LE(std::fabs(a - b), relative * std::max(std::fabs(a), std::fabs(b)) + absolute)
        << what << " element " << i << ": jit " << a << " vs interpreter " << b;
  }
}

// Random values in [lo, hi) for every input of the graph.
Tensor Random(const ir::Type& type, Rng& rng, float lo, float hi) {
  Tensor t = make_tensor(type);
  for (int64_t i = 0; i < t.size(); ++i) {
    float v = lo + (hi - lo) * rng.uniform();
    if (type.dtype == DType::kF32) t.data<float>()[i] = v;
    if (type.dtype == DType::kI32) t.data<int32_t>()[i] = static_cast<int32_t>(std::floor(v));
    if (type.dtype == DType::kU8)
      t.data<uint8_t>()[i] = static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
  }
  return t;
}

// Runs `graph` on both executors with the same random inputs and variables
// and compares every output and every variable afterwards; a
// batch-polymorphic graph runs at its capacity, then with a single row.
// Graphs built here skip the pipeline, so they are planned as plan-memory
// would. `relative`: the tolerance (0: exactly the interpreter's values).
void Compare(ir::Graph graph, float lo = -2, float hi = 2, int steps = 1, float relative = 1e-5f) {
  if (!graph.planned()) passes::plan_memory(graph);
  testing::expect_round_trip(graph);
  Rng rng(7);
  VariableStore ref_vars, jit_vars;
  for (const ir::Node& n : graph.nodes) {
    if (n.op != ir::OpKind::kVariable) continue;
    Tensor v = Random(n.type, rng, lo, hi);
    ref_vars.set(ir::attr_string(n.attrs, "name"), std::make_shared<Tensor>(v));
    jit_vars.set(ir::attr_string(n.attrs, "name"), std::make_shared<Tensor>(v));
  }
  auto ref = make_interpreter()->compile(graph);
  ASSERT_TRUE(ref.ok()) << ref.status();
  auto engine = Jit();
  ASSERT_NE(engine, nullptr);
  auto jit = engine->compile(graph);
  ASSERT_TRUE(jit.ok()) << jit.status();
  std::vector<int64_t> row_counts = {graph.capacity};
  if (graph.capacity > 1) row_counts.push_back(1);
  for (int64_t rows : row_counts) {
    std::vector<Tensor> feeds_storage;
    feeds_storage.reserve(graph.nodes.size());
    Feeds feeds;
    for (const ir::Node& n : graph.nodes) {
      if (n.op != ir::OpKind::kInput) continue;
      feeds_storage.push_back(Random(ir::with_rows(n.type, rows), rng, lo, hi));
      feeds[ir::attr_string(n.attrs, "name")] = &feeds_storage.back();
    }
    for (int step = 0; step < steps; ++step) {
      const std::string at = "rows " + std::to_string(rows) + ", step " + std::to_string(step);
      Outputs ref_out, jit_out;
      auto r = (*ref)->run(feeds, ref_vars, 99 + step, &ref_out);
      ASSERT_TRUE(r.ok()) << r << " (" << at << ")";
      auto s = (*jit)->run(feeds, jit_vars, 99 + step, &jit_out);
      ASSERT_TRUE(s.ok()) << s << " (" << at << ")";
      for (const auto& [name, t] : ref_out) {
        ExpectClose(jit_out.at(name), t, "output " + name + " at " + at, relative);
      }
      for (const auto& [name, t] : ref_vars.all()) {
        ExpectClose(*jit_vars.find(name), *t, "variable " + name + " at " + at, relative);
      }
    }
  }
}

// A one-op graph: `make` records the op on the given inputs.
ir::Graph OneOp(const std::vector<ir::Type>& inputs,
                const std::function<NodeId(ir::Builder&, std::vector<NodeId>)>& make) {
  ir::Graph g;
  ir::Builder b(&g);
  std::vector<NodeId> ids;
  for (size_t i = 0; i < inputs.size(); ++i) ids.push_back(b.input(str_cat("in", i), inputs[i]));
  b.output("out", make(b, ids));
  EXPECT_TRUE(b.status().ok()) << b.status();
  passes::plan_memory(g);
  return g;
}

const ir::Type kOdd{DType::kF32, {7, 33}};

TEST_P(JitOps, Elementwise) {
  using B = ir::Builder;
  std::vector<std::function<NodeId(B&, std::vector<NodeId>)>> unary = {
      [](B& b, auto x) { return b.neg(x[0]); }, [](B& b, auto x) { return b.exp(x[0]); },
      [](B& b, auto x) { return b.tanh(x[0]); }, [](B& b, auto x) { return b.scale(x[0], 3.0); },
      [](B& b, auto x) { return b.emit(ir::OpKind::kSoftplus, {x[0]}); }};
  for (auto& op : unary) Compare(OneOp({kOdd}, op));
  for (auto& op : unary) Compare(OneOp({kOdd}, op), -100, 100);  // exp over- and underflows
  Compare(OneOp({kOdd}, [](B& b, auto x) { return b.log(x[0]); }), 0.1f, 5);
  Compare(OneOp({kOdd}, [](B& b, auto x) { return b.sqrt(x[0]); }), 0.0f, 5);
  std::vector<std::function<NodeId(B&, std::vector<NodeId>)>> binary = {
      [](B& b, auto x) { return b.add(x[0], x[1]); },
      [](B& b, auto x) { return b.sub(x[0], x[1]); },
      [](B& b, auto x) { return b.mul(x[0], x[1]); },
      [](B& b, auto x) { return b.div(x[0], x[1]); },
      [](B& b, auto x) { return b.max(x[0], x[1]); },
      [](B& b, auto x) { return b.min(x[0], x[1]); },
      [](B& b, auto x) { return b.greater(x[0], x[1]); },
  };
  for (auto& op : binary) Compare(OneOp({kOdd, kOdd}, op));
  // Whole numbers in [0, 3) as f32: equal operands, and unequal ones both ways round.
  Compare(OneOp({kOdd, kOdd},
                [](B& b, auto x) {
                  auto whole = [&](NodeId v) {
                    return b.cast(b.cast(v, DType::kI32), DType::kF32);
                  };
                  return b.equal(whole(x[0]), whole(x[1]));
                }),
          0, 3);
  for (DType d : {DType::kI32, DType::kU8}) {
    ir::Type t{d, {5, 3}};
    Compare(OneOp({t, t}, [](B& b, auto x) { return b.greater(x[0], x[1]); }), 0, 4);
    Compare(OneOp({t, t}, [](B& b, auto x) { return b.equal(x[0], x[1]); }), 0, 3);
  }
}

TEST_P(JitOps, ConcatAndSliceOddSizes) {
  ir::Type a{DType::kF32, {1}}, b{DType::kF32, {17}}, c{DType::kF32, {33}};
  Compare(OneOp({a, b, c}, [](ir::Builder& bl, auto x) {
    return bl.concat({x[1], x[0], x[2], x[1]});
  }));
  Compare(OneOp({c}, [](ir::Builder& bl, auto x) { return bl.slice(x[0], 5, 17); }));
  Compare(OneOp({c}, [](ir::Builder& bl, auto x) { return bl.slice(x[0], 32, 1); }));
}

// A job of one process: the runtime call leaves the copied value as it is.
TEST_P(JitOps, AllReduceInOneProcess) {
  for (const char* reduction : {"sum", "mean"}) {
    for (const ir::Type& t : {kOdd, ir::Type{DType::kF32, {}}, ir::Type{DType::kF32, {1, 17}}}) {
      Compare(OneOp({t}, [&](ir::Builder& b, auto x) { return b.all_reduce(x[0], reduction); }));
    }
  }
}

// The data-parallel step (one process, any shard weight): JIT and
// interpreter agree over several steps, batch 1 and an odd batch.
TEST_P(JitOps, DataParallelStepMatchesTheInterpreter) {
  for (int64_t rows : {1, 7}) {
    ir::Graph g;
    ir::Builder b(&g);
    NodeId x = b.input("x", {DType::kF32, {rows, 33}});
    NodeId w = b.variable("dense/kernel", {33, 5}, true, "glorot_uniform");
    NodeId bias = b.variable("dense/bias", {5}, true, "zeros");
    NodeId y = b.tanh(b.add(b.matmul(x, w), b.broadcast(bias, {rows, 5}, {1})));
    b.output("loss", b.mean_all(b.mul(y, y)));
    ASSERT_TRUE(testing::run_passes(g, passes::training_pipeline(2)).ok());
    // Two gradients and the loss, small enough for one bucket.
    EXPECT_EQ(g.nodes_of(ir::OpKind::kAllReduce).size(), 1u);
    EXPECT_EQ(g.nodes_of(ir::OpKind::kConcat).size(), 1u);
    Compare(g, -1, 1, 3);
  }
}

TEST_P(JitOps, CastsEveryPair) {
  for (DType from : {DType::kF32, DType::kI32, DType::kU8}) {
    for (DType to : {DType::kF32, DType::kI32, DType::kU8}) {
      Compare(OneOp({{from, {3, 5}}}, [to](ir::Builder& b, auto x) { return b.cast(x[0], to); }),
              -300, 300);
    }
  }
}

TEST_P(JitOps, LayoutOps) {
  Compare(OneOp({{DType::kF32, {}}}, [](ir::Builder& b, auto x) {
    return b.broadcast(x[0], {7, 33}, {});
  }));
  Compare(OneOp({{DType::kF32, {33}}}, [](ir::Builder& b, auto x) {
    return b.broadcast(x[0], {7, 33}, {1});
  }));
  Compare(OneOp({{DType::kF32, {7}}}, [](ir::Builder& b, auto x) {
    return b.broadcast(x[0], {7, 33}, {0});
  }));
  Compare(OneOp({{DType::kF32, {3, 5}}}, [](ir::Builder& b, auto x) {
    return b.broadcast(x[0], {3, 4, 5}, {0, 2});
  }));
  Compare(OneOp({kOdd}, [](ir::Builder& b, auto x) { return b.transpose(x[0]); }));
  // Whole blocks of the vector width (8 or 16), blocks with a partial band and
  // column tail, and other element types.
  for (ir::Type t : {ir::Type{DType::kF32, {16, 16}}, ir::Type{DType::kF32, {40, 33}},
                     ir::Type{DType::kI32, {19, 37}}, ir::Type{DType::kU8, {33, 48}}}) {
    Compare(OneOp({t}, [](ir::Builder& b, auto x) { return b.transpose(x[0]); }), 0, 100, 1,
            /*relative=*/0);
  }
  // Large enough to split its bands over threads, with a partial last band.
  Compare(
      OneOp({{DType::kF32, {301, 203}}}, [](ir::Builder& b, auto x) { return b.transpose(x[0]); }),
      -2, 2, 1, /*relative=*/0);
  Compare(OneOp({kOdd}, [](ir::Builder& b, auto x) { return b.reshape(x[0], {33, 7}); }));
}

TEST_P(JitOps, MatMulOddShapes) {
  // Shapes around the register tile (6 rows x 2-4 vectors) and the vector width.
  std::vector<std::array<int64_t, 3>> shapes = {{1, 1, 1},
                                                {1, 3, 1},
                                                {7, 33, 17},
                                                {6, 16, 16},
                                                {13, 5, 129},
                                                {33, 129, 130},
                                                {32, 784, 128},
                                                {2, 0, 3},
                                                // B over 512 KiB: strips are packed.
                                                {20, 700, 300}};
  for (auto [m, k, n] : shapes) {
    SCOPED_TRACE(str_cat(m, "x", k, "x", n));
    Compare(OneOp({{DType::kF32, {m, k}}, {DType::kF32, {k, n}}},
                  [](ir::Builder& b, auto x) { return b.matmul(x[0], x[1]); }));
  }
}

TEST_P(JitOps, Reductions) {
  for (int64_t axis = 0; axis < 3; ++axis) {
    ir::Type t{DType::kF32, {3, 7, 33}};
    Compare(OneOp({t}, [axis](ir::Builder& b, auto x) { return b.reduce_sum(x[0], axis); }));
    Compare(OneOp({t}, [axis](ir::Builder& b, auto x) { return b.reduce_max(x[0], axis); }));
    Compare(OneOp({t}, [axis](ir::Builder& b, auto x) { return b.argmax(x[0], axis); }));
  }
}

// Exactly the interpreter's values: in blocks of rows (one lane per row; a
// partial last block, one row, no rows), row by row past 256 classes, and at
// a run-time row count.
TEST_P(JitOps, SoftmaxCrossEntropyAndItsGradient) {
  for (auto [rows, classes] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {7, 3}, {33, 17}, {2, 129}, {0, 4}, {150, 10}, {65, 300}}) {
    SCOPED_TRACE(str_cat(rows, "x", classes));
    for (const int64_t capacity : {int64_t{0}, rows}) {
      const int64_t r = capacity > 1 ? ir::kBatch : rows;
      ir::Type z{DType::kF32, {r, classes}}, g{DType::kF32, {r}};
      ir::Graph loss =
          OneOp({z, z}, [](ir::Builder& b, auto x) { return b.softmax_cross_entropy(x[0], x[1]); });
      ir::Graph grad = OneOp({z, z, g}, [](ir::Builder& b, auto x) {
        return b.softmax_cross_entropy_grad(x[0], x[1], x[2]);
      });
      if (r == ir::kBatch) {
        loss.capacity = grad.capacity = capacity;
        for (ir::Graph* graph : {&loss, &grad}) {
          graph->clear_plan();
          passes::plan_memory(*graph);
        }
      }
      Compare(loss, -8, 8, 1, /*relative=*/0);
      Compare(grad, -8, 8, 1, /*relative=*/0);
    }
  }
}

TEST_P(JitOps, OneHotRandomAndErrors) {
  Compare(OneOp({{DType::kI32, {9}}}, [](ir::Builder& b, auto x) { return b.one_hot(x[0], 5); }), 0,
          5);
  Compare(OneOp({}, [](ir::Builder& b, auto) { return b.random_uniform(3, {7, 33}); }));
  ir::Graph g =
      OneOp({{DType::kI32, {4}}}, [](ir::Builder& b, auto x) { return b.one_hot(x[0], 5); });
  auto exec = Jit()->compile(g);
  ASSERT_TRUE(exec.ok());
  Tensor labels = testing::i32({4}, {0, 1, 9, 2});
  VariableStore vars;
  Outputs out;
  auto s = (*exec)->run({{"in0", &labels}}, vars, 0, &out);
  EXPECT_THAT(s.message(), HasSubstr("one_hot"));
  EXPECT_THAT(s.message(), HasSubstr("label 9 at index 2 is outside [0, 5)"));
}

TEST_P(JitOps, AssignsAreSimultaneousAndOutputsSeeOldValues) {
  ir::Graph g;
  ir::Builder b(&g);
  NodeId x = b.variable("a", {5}, false, "zeros");
  NodeId y = b.variable("b", {5}, false, "zeros");
  b.output("old_a", x);
  b.assign(x, y);
  b.assign(y, x);
  b.assign(x, b.add(y, y));  // the last assign to a variable wins, as in the interpreter
  Compare(g);
}

// A model trained for several steps on both executors from the same seed.
void CompareTraining(std::vector<Layer> (*layers)(), Optimizer opt, Loss loss, int batch,
                     int64_t examples, Shape input) {
  auto run = [&](Backend backend) {
    set_random_seed(21);
    Sequential model(layers());
    model.compile(opt, loss, {"accuracy"}, {.backend = backend, .isa = g_isa});
    Shape shape{examples};
    shape.insert(shape.end(), input.begin(), input.end());
    Rng rng(5);
    Tensor x(kiln::DType::kF32, shape);
    for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = rng.uniform();
    Tensor y(kiln::DType::kI32, {examples});
    for (int64_t i = 0; i < examples; ++i) y.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
    History h = model.fit(x, y, {.epochs = 5, .batch_size = batch, .verbose = 0});
    return std::make_pair(h, model.get_weights());
  };
  auto [ref_h, ref_w] = run(Backend::kInterpreter);
  auto [jit_h, jit_w] = run(Backend::kJit);
  for (size_t e = 0; e < ref_h["loss"].size(); ++e) {
    EXPECT_NEAR(jit_h["loss"][e], ref_h["loss"][e], 1e-5 * std::fabs(ref_h["loss"][e]));
  }
  for (size_t i = 0; i < ref_w.size(); ++i) ExpectClose(jit_w[i], ref_w[i], str_cat("weight ", i));
}

std::vector<Layer> Seed001Like() { return {Flatten(), Dense(17, "relu"), Dense(3, "softmax")}; }
std::vector<Layer> Seed000Like() {
  return {Flatten(), Dense(129, "relu"), Dense(3, "relu"), Dense(3)};
}
std::vector<Layer> WithDropout() {
  return {Dense(16, "tanh"), Dropout(0.3), Dense(1, "sigmoid"), Dense(3, "softmax")};
}
// Big enough that the first matmul is split over threads: its epilogue (bias,
// relu, dropout's random mask) then runs inside the parallel tiles.
std::vector<Layer> SplitWithDropout() { return {Dense(129, "relu"), Dropout(0.5), Dense(3)}; }

TEST_P(JitTraining, MatchesTheInterpreterOverFiveEpochs) {
  CompareTraining(Seed001Like, "adam", "sparse_categorical_crossentropy", 7, 15, {3, 5});
  CompareTraining(Seed001Like, "rmsprop", "sparse_categorical_crossentropy", 1, 4, {9});
  CompareTraining(Seed000Like, optimizers::SGD{.momentum = 0.9, .nesterov = true},
                  losses::SparseCategoricalCrossentropy{.from_logits = true}, 33, 40, {2, 5});
  CompareTraining(WithDropout, "adam", "sparse_categorical_crossentropy", 8, 20, {11});
  CompareTraining(SplitWithDropout, optimizers::SGD{.momentum = 0.5},
                  losses::SparseCategoricalCrossentropy{.from_logits = true}, 33, 40, {301});
  Sequential split(SplitWithDropout());
  split.build({301});
  split.compile("sgd", losses::SparseCategoricalCrossentropy{.from_logits = true});
  auto graph = ir::parse(split.ir(33, /*training_step=*/true));
  ASSERT_TRUE(graph.ok());
  NodeId first = graph->nodes_of(ir::OpKind::kMatMul)[0];
  NodeId mask = graph->nodes_of(ir::OpKind::kRandomUniform)[0];
  EXPECT_EQ(graph->nodes[mask].group, graph->nodes[first].group);
}

TEST_P(JitTraining, SeedModelStepsMatch) {
  // The seed-001 shapes proper: 784 inputs, 128 units, batch 32 plus a partial batch.
  CompareTraining(
      [] {
        return std::vector<Layer>{Flatten({28, 28}), Dense(128, "relu"), Dense(10, "softmax")};
      },
      "adam", "sparse_categorical_crossentropy", 32, 45, {28, 28});
}

// The engine really targets the requested ISA: AVX-512 code uses zmm
// registers, AVX2 code only ymm ones.
TEST_P(JitTarget, CodeUsesTheRequestedVectorRegisters) {
  ir::Graph g = OneOp({{DType::kF32, {7, 20}}, {DType::kF32, {20, 19}}},
                      [](ir::Builder& b, auto x) { return b.matmul(x[0], x[1]); });
  Compare(g);
  auto assembly = jit_artifact(g, JitArtifact::kAssembly, {.isa = GetParam()});
  ASSERT_TRUE(assembly.ok()) << assembly.status();
  const bool avx512 = GetParam() == Isa::kAvx512;
  EXPECT_EQ(assembly->find("zmm") != std::string::npos, avx512);
  EXPECT_THAT(*assembly, HasSubstr(avx512 ? "vfmadd231ps\t%zmm" : "vfmadd231ps\t%ymm"));
  EXPECT_THAT(jit_host_description(GetParam()),
              HasSubstr(avx512 ? "vector width 16" : "vector width 8"));
}

// KILN_ISA picks the code path for Isa::kAuto; a name it does not know is an
// error that names the variable.
TEST(JitTargetErrors, KilnIsaChoosesTheAutomaticIsa) {
  ASSERT_EQ(setenv("KILN_ISA", "avx2", 1), 0);
  EXPECT_THAT(jit_host_description(Isa::kAuto), HasSubstr("avx2 (vector width 8)"));
  auto jit = make_jit();
  EXPECT_TRUE(jit.ok()) << jit.status();
  ASSERT_EQ(setenv("KILN_ISA", "avx3", 1), 0);
  auto bad = make_jit();
  unsetenv("KILN_ISA");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("KILN_ISA=avx3: expected avx2, avx512 or auto"));
}

TEST(JitTargetErrors, AnIsaTheHostLacksIsAClearError) {
  auto avx512 = make_jit({.isa = Isa::kAvx512});
  if (avx512.ok()) GTEST_SKIP() << "the host has avx512f: the missing-ISA error cannot occur";
  EXPECT_THAT(avx512.status().message(), HasSubstr("lacks avx512f"));
  Sequential model({Dense(2)});
  model.build({3});
  model.compile("sgd", "mean_squared_error", {}, {.backend = Backend::kJit, .isa = Isa::kAvx512});
  Tensor x(kiln::DType::kF32, {4, 3}), y(kiln::DType::kF32, {4, 2});
  try {
    model.fit(x, y, {.verbose = 0});
    ADD_FAILURE() << "an AVX-512 JIT was created on a host without avx512f";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("lacks avx512f"));
  }
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(Fusion, TrainingStepIsFusedPrintedAndVerified) {
  set_random_seed(1);
  Sequential model({Flatten({4, 4}), Dense(5, "relu"), Dense(3, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  std::string text = model.ir(7, /*training_step=*/true);
  EXPECT_THAT(text, HasSubstr(" fused=0 mem="));
  auto graph = ir::parse(text);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_TRUE(ir::verify(*graph).ok());
  EXPECT_EQ(ir::print(*graph), text);
  // The optimizer update of a kernel is one group: every op of it in one run.
  int longest = 0;
  for (size_t i = 0, run = 0; i < graph->nodes.size(); ++i) {
    bool same =
        i > 0 && graph->nodes[i].group >= 0 && graph->nodes[i].group == graph->nodes[i - 1].group;
    run = same ? run + 1 : 1;
    longest = std::max<int>(longest, static_cast<int>(run));
  }
  EXPECT_GE(longest, 12);
  // The first matmul leads its group (its epilogue: bias and relu).
  NodeId first = graph->nodes_of(ir::OpKind::kMatMul)[0];
  EXPECT_GE(graph->nodes[first].group, 0);
  EXPECT_EQ(graph->nodes[first + 1].group, graph->nodes[first].group);
  // A reduction cannot join a group; a matmul can only lead one.
  auto reduce_joins = ir::parse(R"(graph "g" {
    %0 = input {name="x"} : f32[2,2] @input fwd
    %1 = neg %0 : f32[2,2] @l fwd fused=0
    %2 = reduce_max %1 {axis=1} : f32[2] @l fwd fused=0
  })");
  ASSERT_TRUE(reduce_joins.ok());
  EXPECT_THAT(ir::verify(*reduce_joins).message(), HasSubstr("reduce_max cannot be fused"));
  auto matmul_inside = ir::parse(R"(graph "g" {
    %0 = input {name="x"} : f32[2,2] @input fwd
    %1 = neg %0 : f32[2,2] @l fwd fused=0
    %2 = matmul %1, %0 : f32[2,2] @l fwd fused=0
  })");
  ASSERT_TRUE(matmul_inside.ok());
  EXPECT_THAT(ir::verify(*matmul_inside).message(),
              HasSubstr("%2 = matmul (layer l, fwd): op matmul can only lead a fusion group"));
}

// dW = x^T dz and db = sum(dz, 0): fuse-dense puts the column sum in the
// matmul's group, and the JIT adds it up in the tiles of the first row band;
// the shapes cover a first band that is a partial one (m < 6), full bands,
// partial column tiles and the parallel, packed path.
TEST_P(FusionJit, BiasGradientIsSummedInTheWeightGradientTiles) {
  for (auto [k, m, n] : std::vector<std::array<int64_t, 3>>{
           {1, 3, 17}, {7, 1, 1}, {33, 13, 129}, {32, 784, 128}, {20, 300, 700}}) {
    SCOPED_TRACE(str_cat(k, "x", m, "x", n));
    ir::Graph g = OneOp({{DType::kF32, {k, m}}, {DType::kF32, {k, n}}}, [](ir::Builder& b, auto x) {
      NodeId sum = b.reduce_sum(x[1], 0);
      NodeId dw = b.matmul(b.transpose(x[0]), x[1]);
      b.output("db", sum);  // after the matmul, as a bias update would be
      return dw;
    });
    ASSERT_TRUE(testing::run_passes(g, {"fuse-dense"}).ok());
    NodeId matmul = g.nodes_of(ir::OpKind::kMatMul)[0];
    ASSERT_GE(g.nodes[matmul].group, 0);
    EXPECT_TRUE(ir::is_column_sum_of(g, matmul, matmul + 1));
    EXPECT_EQ(g.nodes[matmul + 1].group, g.nodes[matmul].group);
    Compare(g);
  }
}

// Found by fuzzing: the broadcast bias joins the matmul's epilogue, and a
// reduce_max of it feeds a later epilogue member. The reduce_max cannot run
// in the tiles and cannot move before the matmul either (it reads a member),
// so the member reading it stays out of the epilogue instead of producing a
// node that reads a later one.
TEST_P(FusionJit, AnEpilogueNeverNeedsANodeThatReadsItsMembers) {
  ir::Graph g = OneOp({{DType::kF32, {4, 3}}, {DType::kF32, {3, 5}}, {DType::kF32, {5}}},
                      [](ir::Builder& b, auto x) {
                        NodeId product = b.matmul(x[0], x[1]);
                        NodeId bias = b.broadcast(x[2], {4, 5}, {1});
                        NodeId z = b.add(product, bias);
                        NodeId peak = b.broadcast(b.reduce_max(bias, 1), {4, 5}, {0});
                        return b.sub(z, peak);
                      });
  absl::Status s = testing::run_passes(g, {"fuse-dense"});
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(ir::verify(g).ok()) << ir::verify(g);
  EXPECT_GE(g.nodes[g.nodes_of(ir::OpKind::kMatMul)[0]].group, 0);
  Compare(g);
}

TEST(Fusion, ColumnSumMustFollowItsMatmulAndNotBeReadInItsGroup) {
  auto error = [](const std::string& text) {
    auto g = ir::parse(text);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? std::string(ir::verify(*g).message()) : "";
  };
  EXPECT_THAT(error(R"(graph "g" {
    %0 = input {name="x"} : f32[2,2] @input fwd
    %1 = matmul %0, %0 : f32[2,2] @l fwd fused=0
    %2 = neg %1 : f32[2,2] @l fwd fused=0
    %3 = reduce_sum %0 {axis=0} : f32[2] @l fwd fused=0
  })"),
              HasSubstr("%3 = reduce_sum (layer l, fwd): op reduce_sum cannot be fused"));
  EXPECT_THAT(error(R"(graph "g" {
    %0 = input {name="x"} : f32[2,2] @input fwd
    %1 = matmul %0, %0 : f32[2,2] @l fwd fused=0
    %2 = reduce_sum %0 {axis=0} : f32[2] @l fwd fused=0
    %3 = broadcast %2 {dims=[1]} : f32[2,2] @l fwd fused=0
  })"),
              HasSubstr("%3 = broadcast (layer l, fwd): reads the column sum %2 inside its "
                        "fusion group"));
}

TEST_P(FusionJit, FusedStepMatchesTheUnfusedInterpreterRun) {
  // The interpreter ignores groups, so running the fused graph on both
  // executors checks the fused loops against op-by-op execution.
  set_random_seed(2);
  Sequential model({Dense(19, "tanh"), Dense(4, "softmax")});
  model.build({9});
  model.compile(optimizers::RMSprop{.momentum = 0.5, .centered = true},
                "sparse_categorical_crossentropy", {"accuracy"});
  auto graph = ir::parse(model.ir(5, true));
  ASSERT_TRUE(graph.ok());
  Compare(*graph, 0, 1, /*steps=*/3);  // labels floor to 0; state stays positive
}

// With AVX-512, the weight gradient's epilogue (Adam's whole update, with its
// square root and divide) runs in the next tile's k loop, one vector per k
// step; every weight, slot and output is still the interpreter's, bit for
// bit: odd rows and columns leave partial tiles between the waiting ones, and
// a batch below a tile's 16 vectors leaves vectors no k step takes.
TEST_P(FusionJit, UpdatesInsideTheNextTilesLoopAreTheInterpretersBitForBit) {
  for (int64_t batch : {33, 5}) {
    SCOPED_TRACE(str_cat("batch ", batch));
    set_random_seed(4);
    Sequential model({Dense(131, "relu"), Dense(3)});
    model.build({301});
    model.compile("adam", losses::SparseCategoricalCrossentropy{.from_logits = true});
    auto graph = ir::parse(model.ir(batch, true));
    ASSERT_TRUE(graph.ok()) << graph.status();
    Compare(*graph, 0, 1, /*steps=*/3, /*relative=*/0);  // labels floor to 0
  }
}

// The overlap pass runs the last layers' weight gradients beside the next
// split product (seed-000's shape; the second one split itself, its loop then
// running inline on the side's thread). With three threads or more
// (ctest's parallel.8threads) the pool runs them at once, with fewer in order;
// either way the step gives the interpreter's values bit for bit.
TEST_P(ParallelJit, UnitsBesideTheNextProductGiveTheInterpretersBits) {
  set_random_seed(5);
  Sequential model({Dense(131, "relu"), Dense(67, "relu"), Dense(3)});
  model.build({1201});
  model.compile("sgd", losses::SparseCategoricalCrossentropy{.from_logits = true});
  auto graph = ir::parse(model.ir(33, true));
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::vector<std::string> besides;
  for (const ir::Node& n : graph->nodes) {
    if (n.beside < 0) continue;
    besides.push_back(str_cat(ir::shape_string(n.type.shape), " beside ",
                              ir::shape_string(graph->nodes[n.beside].type.shape)));
  }
  // dW3 beside dH2 W2^T, and dW2 beside dW1.
  EXPECT_THAT(besides,
              ::testing::ElementsAre("[67,3] beside [?,131]", "[131,67] beside [1201,131]"));
  Compare(*graph, 0, 1, /*steps=*/3, /*relative=*/0);  // labels floor to 0
}

// A unit that runs beside a later one keeps its operands (and values) until
// that one ends: no value of the later unit may take their bytes.
TEST(MemoryPlan, AUnitBesideAnotherKeepsItsOperandsUntilThatOneEnds) {
  auto g = ir::parse(R"(graph "g" {
    %0 = input {name="x"} : f32[64,64] @input fwd
    %1 = neg %0 : f32[64,64] @l fwd
    %2 = matmul %1, %0 : f32[64,64] @l fwd beside=%3
    %3 = matmul %0, %0 : f32[64,64] @l fwd split=rows
    %4 = output %2 {name="a"} : f32[64,64] @l fwd
    %5 = output %3 {name="b"} : f32[64,64] @l fwd
  })");
  ASSERT_TRUE(g.ok()) << g.status();
  passes::plan_memory(*g);
  ASSERT_TRUE(ir::verify(*g).ok()) << ir::verify(*g);
  EXPECT_NE(g->nodes[3].storage.offset, g->nodes[1].storage.offset);
  // %1, last read by %2, would be free for %3 if %2 ran in order.
  g->nodes[3].storage.offset = g->nodes[1].storage.offset;
  EXPECT_THAT(std::string(ir::verify(*g).message()),
              HasSubstr("%1 and %3 are live at the same time but share arena bytes"));
  g->nodes[2].beside = -1;
  EXPECT_TRUE(ir::verify(*g).ok()) << ir::verify(*g);
}

TEST(MemoryPlan, TrainingStepIsPlannedWithInPlaceUpdatesAndSharedArena) {
  set_random_seed(1);
  Sequential model({Flatten({4, 4}), Dense(5, "relu"), Dense(3, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  auto graph = ir::parse(model.ir(7, /*training_step=*/true));
  ASSERT_TRUE(graph.ok()) << graph.status();
  ASSERT_TRUE(graph->planned());
  EXPECT_TRUE(ir::verify(*graph).ok());
  // Every weight and Adam slot is updated in place: no assign stages a copy.
  // (The iteration count is not: the bias corrections read its new value.)
  int assigns = 0;
  for (const ir::Node& n : graph->nodes) {
    if (n.op != ir::OpKind::kAssign || n.type.shape.empty()) continue;
    ++assigns;
    EXPECT_EQ(n.storage.kind, ir::StorageKind::kNone);
    const ir::Storage& value = graph->nodes[n.inputs[1]].storage;
    EXPECT_EQ(value.kind, ir::StorageKind::kAlias);
    EXPECT_EQ(value.alias, n.inputs[0]);
  }
  EXPECT_EQ(assigns, 12);  // 4 weights x (value, m, v)
  // Slices are reused: the arena is smaller than the values it holds.
  int64_t slices = 0;
  for (const ir::Node& n : graph->nodes) {
    if (n.storage.kind == ir::StorageKind::kArena) slices += ir::arena_slice_bytes(*graph, n);
  }
  EXPECT_LT(graph->arena_bytes, slices);
}

TEST(MemoryPlan, APassThatChangesAPlannedGraphDropsThePlan) {
  set_random_seed(1);
  Sequential model({Dense(3, "relu")});
  model.build({4});
  model.compile("sgd", "mean_squared_error");
  auto graph = ir::parse(model.ir(2, /*training_step=*/true));
  ASSERT_TRUE(graph.ok() && graph->planned());
  // A dead node: dce removes it, which renumbers the nodes the plan names.
  ir::Node dead = graph->nodes[0];
  dead.op = ir::OpKind::kNeg;
  dead.inputs = {0};
  dead.attrs.clear();
  dead.storage = {.kind = ir::StorageKind::kArena, .offset = 0};
  graph->add(dead);
  auto dce = passes::build_pipeline({"dce"}, {});
  ASSERT_TRUE(dce.ok());
  ASSERT_TRUE(dce->run(*graph).ok());
  EXPECT_FALSE(graph->planned());
  for (const ir::Node& n : graph->nodes) EXPECT_EQ(n.storage.kind, ir::StorageKind::kUnplanned);
  auto plan = passes::build_pipeline({"plan-memory"}, {});
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->run(*graph).ok());
  EXPECT_TRUE(graph->planned());
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(JitArtifacts, LlvmIrBeforeAfterAndAssembly) {
  ir::Graph g = OneOp({{DType::kF32, {6, 16}}, {DType::kF32, {16, 16}}},
                      [](ir::Builder& b, auto x) { return b.matmul(x[0], x[1]); });
  auto before = jit_artifact(g, JitArtifact::kLlvmIr);
  auto after = jit_artifact(g, JitArtifact::kOptimizedLlvmIr);
  auto assembly = jit_artifact(g, JitArtifact::kAssembly);
  ASSERT_TRUE(before.ok() && after.ok() && assembly.ok());
  // The step calls kernels compiled in other modules (in parallel).
  EXPECT_THAT(*before, HasSubstr("declare i32 @kiln_step_0.matmul_2("));
  EXPECT_THAT(*before, HasSubstr("define i32 @kiln_step_0.matmul_2(ptr noalias"));
  EXPECT_THAT(*before, HasSubstr("@llvm.fma.v"));
  EXPECT_THAT(*after, HasSubstr("i32 @kiln_step_0("));
  EXPECT_THAT(*assembly, HasSubstr("vfmadd"));
}

// KILN_PERF_MAP=1 names every kernel, and the tile tasks and epilogues that
// follow it, in perf's map file for this process.
TEST(JitArtifacts, PerfMapNamesTheKernels) {
  const std::string path = str_cat("/tmp/perf-", getpid(), ".map");
  std::remove(path.c_str());
  std::unique_ptr<Engine> engine;
  {
    testing::ScopedEnv perf_map("KILN_PERF_MAP", "1");
    engine = Jit();
  }
  ASSERT_NE(engine, nullptr);
  // Big enough to be split over the pool, so it has a tile task.
  ir::Graph g = OneOp({{DType::kF32, {64, 96}}, {DType::kF32, {96, 64}}},
                      [](ir::Builder& b, auto x) { return b.matmul(x[0], x[1]); });
  auto exec = engine->compile(g);
  ASSERT_TRUE(exec.ok()) << exec.status();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path.c_str());
  EXPECT_THAT(text.str(),
              ::testing::ContainsRegex("[0-9a-f]+ [0-9a-f]+ kiln_step_[0-9a-f]+\\.matmul_2\n"));
  EXPECT_THAT(text.str(), ::testing::ContainsRegex("kiln_step_[0-9a-f]+\\.matmul_2\\.helpers\n"));
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(Parallel, EveryIndexRunsExactlyOnce) {
  std::vector<std::atomic<int>> hits(1001);
  auto task = [](void* context, int64_t begin, int64_t end) {
    auto* h = static_cast<std::vector<std::atomic<int>>*>(context);
    for (int64_t i = begin; i < end; ++i) ++(*h)[i];
  };
  for (int round = 0; round < 50; ++round) kiln_parallel_for(task, &hits, 1001);
  for (auto& h : hits) EXPECT_EQ(h.load(), 50);
  EXPECT_GE(parallel_threads(), 1);
}

// A side unit runs exactly once, with every index of the loop its main unit
// starts, whether the pool takes it (three threads or more: ctest's
// parallel.8threads) or the caller; and in order, side first, when inline.
TEST(Parallel, ASideUnitRunsOnceBesideItsMainUnit) {
  struct State {
    std::vector<std::atomic<int>> hits = std::vector<std::atomic<int>>(1001);
    std::atomic<int> sides{0};
    bool loop = true;
    bool side_first = true;  // whether each main saw its side done
  } state;
  auto side = [](void* context, int64_t, int64_t) { ++static_cast<State*>(context)->sides; };
  auto main = [](void* context, int64_t, int64_t) {
    auto* s = static_cast<State*>(context);
    if (!s->loop) return;
    kiln_parallel_for(
        [](void* c, int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) ++static_cast<State*>(c)->hits[i];
        },
        s, 1001);
  };
  for (int round = 0; round < 50; ++round) kiln_run_beside(side, &state, main, &state);
  state.loop = false;  // a main that starts no loop: the caller runs the side
  for (int round = 0; round < 50; ++round) kiln_run_beside(side, &state, main, &state);
  EXPECT_EQ(state.sides.load(), 100);
  for (auto& h : state.hits) EXPECT_EQ(h.load(), 50);
  auto check_order = [](void* context, int64_t, int64_t) {
    auto* s = static_cast<State*>(context);
    s->side_first &= s->sides.load() == 101;
  };
  {
    RunInline alone;
    kiln_run_beside(side, &state, check_order, &state);
  }
  EXPECT_TRUE(state.side_first);
}

// The choice between the pool and the caller alone follows the measured
// times: it settles on the faster way, keeps probing the other, and switches
// when the other way becomes faster.
TEST(Parallel, TheAdaptiveChoiceFollowsTheFasterWay) {
  AdaptiveChoice choice;
  auto run = [&](int calls, double parallel_ns, double alone_ns) {
    int parallel = 0;
    for (int i = 0; i < calls; ++i) {
      const bool way = choice.parallel();
      parallel += way;
      choice.record(way, way ? parallel_ns : alone_ns);
    }
    return parallel;
  };
  EXPECT_LT(run(1000, 200, 100), 100);  // alone is faster: the pool only for probes
  EXPECT_GT(run(1000, 50, 100), 900);   // now the pool is faster
  EXPECT_GT(run(1000, 100, 95), 900);   // alone 5 % faster: within the margin, it stays
  EXPECT_LT(run(1000, 100, 80), 100);   // alone 20 % faster: it switches
  EXPECT_GT(run(1000, 50, 100), 900);   // and back
  // One call 40 times slower than usual (the host took a helper's vCPU away)
  // does not send the next thousand calls to the slower way.
  EXPECT_EQ(run(1, 2000, 100), 1);
  EXPECT_GT(run(1000, 50, 100), 990);
  // A lasting slowdown of the pool (another process on its core) does, at once.
  EXPECT_LT(run(20, 300, 100), 12);
  EXPECT_LT(run(1000, 300, 100), 100);
}

#if defined(__x86_64__)
// Helpers run the caller's chunks in the caller's floating-point mode (a step
// runs with flush-to-zero): a tile rounds the same whichever thread runs it,
// and a helper never slows down on subnormals the caller would flush.
TEST(Parallel, HelpersTakeTheCallersFloatingPointMode) {
  if (parallel_threads() < 2) GTEST_SKIP() << "one thread: no helper to check";
  struct Seen {
    std::thread::id caller;
    std::vector<unsigned> mode = std::vector<unsigned>(64);
    std::atomic<int> elsewhere{0};
  } seen{std::this_thread::get_id()};
  auto task = [](void* context, int64_t begin, int64_t end) {
    auto* s = static_cast<Seen*>(context);
    for (int64_t i = begin; i < end; ++i) {
      s->mode[i] = _mm_getcsr() & 0x8040;  // flush-to-zero, denormals-are-zero
      if (std::this_thread::get_id() != s->caller) ++s->elsewhere;
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // so helpers join in
    }
  };
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040);
  for (int round = 0; round < 20 && seen.elsewhere == 0; ++round)
    kiln_parallel_for(task, &seen, 64);
  _mm_setcsr(saved);
  ASSERT_GT(seen.elsewhere.load(), 0) << "no helper ran a chunk";
  for (unsigned mode : seen.mode) EXPECT_EQ(mode, 0x8040u);
  EXPECT_EQ(_mm_getcsr(), saved);
}
#endif

// Without KILN_NUM_THREADS the pool has a thread per core this process may
// run on (ctest also runs this under `taskset -c 0`, as mpirun binds a process).
TEST(Parallel, ThreadsDefaultToTheCoresThisProcessMayUse) {
  if (std::getenv("KILN_NUM_THREADS")) GTEST_SKIP() << "KILN_NUM_THREADS is set";
  cpu_set_t mask;
  ASSERT_EQ(sched_getaffinity(0, sizeof(mask), &mask), 0);
  EXPECT_EQ(parallel_threads(), default_threads());
  EXPECT_LE(parallel_threads(), CPU_COUNT(&mask));
  EXPECT_GE(parallel_threads(), 1);
}

// Inside RunInline a parallel loop runs on the calling thread only.
TEST(Parallel, RunInlineKeepsTasksOnTheCallingThread) {
  const std::thread::id me = std::this_thread::get_id();
  std::atomic<int> elsewhere{0};
  auto task = [](void* context, int64_t, int64_t) {
    auto* state = static_cast<std::pair<std::thread::id, std::atomic<int>*>*>(context);
    if (std::this_thread::get_id() != state->first) ++*state->second;
  };
  std::pair<std::thread::id, std::atomic<int>*> state{me, &elsewhere};
  {
    RunInline alone;
    for (int round = 0; round < 20; ++round) kiln_parallel_for(task, &state, 64);
  }
  EXPECT_EQ(elsewhere.load(), 0);
}

// Every split of a matmul gives the interpreter's values bit for bit: rows and
// columns only order the tiles, and a contraction split is the same sum of
// parts in both executors. Odd sizes leave partial tiles and unequal parts;
// a K smaller than a tile's vector count leaves a waiting epilogue (see
// matmul_emitter.cc) vectors that no k step takes.
TEST_P(ParallelJit, EverySplitMatchesTheInterpreterExactly) {
  const std::vector<std::array<int64_t, 3>> shapes = {
      {1, 37, 13},    {7, 301, 203}, {67, 301, 203}, {785, 33, 129},
      {32, 784, 128}, {3, 5, 2},     {9, 3, 130},    {785, 5, 129}};
  for (auto [m, k, n] : shapes) {
    for (ir::Split split : {ir::Split::kRows, ir::Split::kColumns, ir::Split::kContraction}) {
      SCOPED_TRACE(str_cat(m, "x", k, "x", n, " split=", ir::split_name(split)));
      // Through a bias and a relu, so a contraction's epilogue reads the summed parts.
      const ir::Shape out = {m, n};
      ir::Graph g = OneOp({{DType::kF32, {m, k}}, {DType::kF32, {k, n}}, {DType::kF32, out}},
                          [&out](ir::Builder& b, auto x) {
                            return b.max(b.add(b.matmul(x[0], x[1]), x[2]), b.constant(0, out));
                          });
      for (ir::Node& node : g.nodes) {
        if (node.op == ir::OpKind::kMatMul) node.split = split;
      }
      g.clear_plan();  // a contraction needs room for its parts
      absl::Status ran = passes::build_pipeline({"fuse-dense", "plan-memory"})->run(g);
      ASSERT_TRUE(ran.ok()) << ran;
      const ir::Node& product = g.nodes[g.nodes_of(ir::OpKind::kMatMul)[0]];
      ASSERT_EQ(product.split, split);
      ASSERT_GE(product.group, 0);  // with its epilogue
      Compare(g, -2, 2, 1, /*relative=*/0);
    }
  }
}

// A contraction split differs from one chain over K only in rounding: the
// parts are summed on their own, then added in order.
TEST(Partition, AContractionIsItsPartsAddedInOrder) {
  const int64_t k = 10;  // parts of 2, 3, 2 and 3 terms
  ir::Graph g;
  ir::Builder b(&g);
  b.output("y", b.matmul(b.input("a", {DType::kF32, {1, k}}), b.input("w", {DType::kF32, {k, 1}})));
  g.nodes[g.nodes_of(ir::OpKind::kMatMul)[0]].split = ir::Split::kContraction;
  passes::plan_memory(g);
  Tensor a(kiln::DType::kF32, {1, k}), w(kiln::DType::kF32, {k, 1});
  // Terms whose order of addition shows: 1e8 and -1e8 cancel only within a part.
  const float terms[k] = {1e8f, 1, -1e8f, 3, 5, 1e8f, -1e8f, 7, 11, 13};
  for (int64_t i = 0; i < k; ++i) a.data<float>()[i] = terms[i], w.data<float>()[i] = 1;
  float expected = 0;
  for (int q = 0; q < ir::kContractionParts; ++q) {
    float part = 0;
    for (int64_t i = ir::contraction_part_begin(k, q); i < ir::contraction_part_begin(k, q + 1);
         ++i) {
      part = std::fma(terms[i], 1.0f, part);
    }
    expected = q == 0 ? part : expected + part;
  }
  for (auto& engine : {make_interpreter(), Jit()}) {
    auto exec = engine->compile(g);
    ASSERT_TRUE(exec.ok()) << exec.status();
    VariableStore vars;
    Outputs out;
    ASSERT_TRUE((*exec)->run({{"a", &a}, {"w", &w}}, vars, 0, &out).ok());
    EXPECT_EQ(out.at("y").data<float>()[0], expected);
  }
}

// The partition pass gives each weight the step updates one owner: the
// forward product with it is split by its contraction, its gradient by rows,
// the input gradient through it by columns; the plan prints with the IR.
TEST(Partition, EachUpdatedWeightHasOneOwnerInTheStep) {
  set_random_seed(1);
  Sequential model(
      {Flatten({28, 28}), Dense(256, "relu"), Dense(128, "relu"), Dense(128, "relu"), Dense(10)});
  model.compile("adam", losses::SparseCategoricalCrossentropy{.from_logits = true});
  const std::string train = model.ir(32, true);
  auto graph = ir::parse(train);
  ASSERT_TRUE(graph.ok()) << graph.status();
  // Keyed by the layer's position (its name depends on the models made before).
  std::map<std::string, std::vector<ir::Split>> by_layer;
  std::vector<std::string> layers;
  for (const ir::Node& n : graph->nodes) {
    if (n.op != ir::OpKind::kMatMul) continue;
    auto at = std::find(layers.begin(), layers.end(), n.layer);
    if (at == layers.end()) at = layers.insert(layers.end(), n.layer);
    const std::string key = at == layers.begin() ? "dense" : str_cat("dense_", at - layers.begin());
    by_layer[str_cat(key, " ", ir::phase_name(n.phase))].push_back(n.split);
  }
  using S = ir::Split;
  EXPECT_EQ(by_layer["dense fwd"], std::vector<S>{S::kContraction});
  EXPECT_EQ(by_layer["dense bwd"], std::vector<S>{S::kRows});
  EXPECT_EQ(by_layer["dense_1 fwd"], std::vector<S>{S::kContraction});
  // dense_1's backward: the input gradient through its weight, then its weight gradient.
  EXPECT_EQ(by_layer["dense_1 bwd"], (std::vector<S>{S::kColumns, S::kRows}));
  // A weight of 64 KiB stays in either core's L2: shared, its products go by rows.
  EXPECT_EQ(by_layer["dense_2 fwd"], std::vector<S>{S::kRows});
  EXPECT_EQ(by_layer["dense_2 bwd"], (std::vector<S>{S::kRows, S::kRows}));
  EXPECT_EQ(by_layer["dense_3 fwd"], std::vector<S>{S::kNone});
  EXPECT_THAT(train, HasSubstr("split=contraction"));
  // Prediction updates no weight: its products are split by rows.
  auto predict = ir::parse(model.ir(32, false));
  ASSERT_TRUE(predict.ok()) << predict.status();
  for (const ir::Node& n : predict->nodes) {
    if (n.op == ir::OpKind::kMatMul) EXPECT_NE(n.split, S::kContraction) << n.layer;
  }
}

// A contraction's parts never see all rows of B, so none computes B's
// column sums (a bias gradient fused into the weight gradient's tiles).
TEST(Partition, AContractionCannotLeadAColumnSum) {
  auto g = ir::parse(R"(graph "g" {
    %0 = input {name="x"} : f32[2,2] @input fwd
    %1 = matmul %0, %0 : f32[2,2] @l fwd fused=0 split=contraction
    %2 = reduce_sum %0 {axis=0} : f32[2] @l fwd fused=0
    %3 = neg %1 : f32[2,2] @l fwd fused=0
  })");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_THAT(std::string(ir::verify(*g).message()),
              HasSubstr("%2 = reduce_sum (layer l, fwd): is the column sum of %1, which has "
                        "split=contraction"));
}

TEST_P(ParallelJit, SplitMatMulsMatchTheInterpreter) {
  // Large enough to be split across threads; odd sizes leave partial tiles.
  Compare(OneOp({{DType::kF32, {67, 301}}, {DType::kF32, {301, 203}}},
                [](ir::Builder& b, auto x) { return b.matmul(x[0], x[1]); }));
  Compare(OneOp({{DType::kF32, {785, 33}}, {DType::kF32, {33, 129}}},
                [](ir::Builder& b, auto x) { return b.matmul(x[0], x[1]); }));
  // B larger than L2, so its full strips are packed; the partial strip is not.
  Compare(OneOp({{DType::kF32, {13, 600}}, {DType::kF32, {600, 250}}},
                [](ir::Builder& b, auto x) { return b.matmul(x[0], x[1]); }));
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST_P(JitOps, TransposedOperandsAreReadInPlace) {
  // Folded: the transpose only feeds matmuls as their first operand.
  Compare(OneOp({{DType::kF32, {33, 7}}, {DType::kF32, {33, 19}}},
                [](ir::Builder& b, auto x) { return b.matmul(b.transpose(x[0]), x[1]); }));
  Compare(OneOp({{DType::kF32, {785, 32}}, {DType::kF32, {785, 128}}},
                [](ir::Builder& b, auto x) { return b.matmul(b.transpose(x[0]), x[1]); }));
  // Not folded: the transpose is also read elsewhere.
  Compare(OneOp({{DType::kF32, {5, 9}}}, [](ir::Builder& b, auto x) {
    NodeId t = b.transpose(x[0]);
    return b.add(b.matmul(t, x[0]), b.matmul(t, x[0]));
  }));
  auto text =
      jit_artifact(OneOp({{DType::kF32, {33, 7}}, {DType::kF32, {33, 19}}},
                         [](ir::Builder& b, auto x) { return b.matmul(b.transpose(x[0]), x[1]); }),
                   JitArtifact::kLlvmIr);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr(".matmul_"));
  EXPECT_THAT(*text, ::testing::Not(HasSubstr(".transpose_")));
}

// As the second operand (an input gradient dY W^T), a transpose is packed
// strip by strip from its operand's rows: K not a multiple of the vector
// width, a partial strip, one row, and a product split over threads all give
// the interpreter's values bit for bit.
TEST_P(JitOps, TransposedSecondOperandsArePackedFromTheirSource) {
  const std::vector<std::array<int64_t, 3>> shapes = {{1, 13, 37},    {7, 40, 130}, {32, 128, 128},
                                                      {67, 301, 203}, {3, 16, 64},  {5, 1, 3}};
  for (auto [m, k, n] : shapes) {
    SCOPED_TRACE(str_cat(m, "x", k, "x", n));
    Compare(OneOp({{DType::kF32, {m, k}}, {DType::kF32, {n, k}}},
                  [](ir::Builder& b, auto x) { return b.matmul(x[0], b.transpose(x[1])); }),
            -2, 2, 1, /*relative=*/0);
  }
  auto text =
      jit_artifact(OneOp({{DType::kF32, {7, 40}}, {DType::kF32, {130, 40}}},
                         [](ir::Builder& b, auto x) { return b.matmul(x[0], b.transpose(x[1])); }),
                   JitArtifact::kLlvmIr);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, ::testing::Not(HasSubstr(".transpose_")));
  // Read as both operands of one product, it is materialised.
  Compare(OneOp({{DType::kF32, {9, 9}}}, [](ir::Builder& b, auto x) {
    NodeId t = b.transpose(x[0]);
    return b.matmul(t, t);
  }));
}

// A folded transpose is read where its matmul runs: a weight the step updates
// in place after the transpose but before that matmul must keep its old value
// until then, so the update is not done in place.
TEST_P(JitOps, AFoldedTransposeReadsItsSourceBeforeAnInPlaceUpdate) {
  ir::Graph g;
  ir::Builder b(&g);
  NodeId w = b.variable("w", {5, 4}, true, "zeros");
  NodeId x = b.input("x", {DType::kF32, {3, 4}});
  NodeId d = b.input("d", {DType::kF32, {5, 4}});
  NodeId t = b.transpose(w);
  b.assign(w, b.sub(w, b.mul(d, d)));
  b.output("y", b.matmul(x, t));  // x W^T with the old W, after the update
  ASSERT_TRUE(b.status().ok()) << b.status();
  absl::Status ran = passes::build_pipeline({"fuse-elementwise", "plan-memory"})->run(g);
  ASSERT_TRUE(ran.ok()) << ran;
  Compare(g, -2, 2, 1, /*relative=*/0);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(Compile, OncePerSignatureAndSaysWhy) {
  testing::ScopedEnv debug("KILN_DEBUG", "1");
  set_random_seed(3);
  Sequential model({Dense(3, "softmax")});
  model.compile("sgd", "sparse_categorical_crossentropy");
  Tensor x(kiln::DType::kF32, {10, 2});
  Tensor y(kiln::DType::kI32, {10});
  ::testing::internal::CaptureStderr();
  model.fit(x, y, {.epochs = 3, .batch_size = 4, .verbose = 0});
  std::string log = ::testing::internal::GetCapturedStderr();
  auto compiles = [](const std::string& text) {
    size_t count = 0;
    for (size_t pos = 0; (pos = text.find("kiln: compiled", pos)) != std::string::npos; ++pos) {
      ++count;
    }
    return count;
  };
  // Batches of 4, 4 and 2 over 3 epochs: one graph serves them all.
  EXPECT_THAT(log, HasSubstr("train graph of"));
  EXPECT_THAT(log, HasSubstr("for batches of up to 4 f32 with the jit"));
  EXPECT_THAT(log, HasSubstr("(first use)"));
  EXPECT_EQ(compiles(log), 1u);
  EXPECT_THAT(log, HasSubstr("kiln: jit arena of graph"));
  // A larger batch grows the capacity once, geometrically (at least doubling).
  ::testing::internal::CaptureStderr();
  model.fit(x, y, {.epochs = 1, .batch_size = 5, .verbose = 0});
  model.fit(x, y, {.epochs = 1, .batch_size = 8, .verbose = 0});
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("batch 5 is above the capacity 4 of the compiled graph"));
  EXPECT_THAT(log, HasSubstr("for batches of up to 8 f32"));
  EXPECT_EQ(compiles(log), 1u);
  // Another input dtype is another graph.
  ::testing::internal::CaptureStderr();
  model.fit(x.astype(kiln::DType::kU8), y, {.epochs = 1, .batch_size = 4, .verbose = 0});
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("new input signature; already compiled for batch 8 f32"));
}

// Evaluation at any batch size up to the compiled capacity reuses the graph,
// and sums per-example values, so the result does not depend on the batch.
TEST(Compile, EvaluateNeedsOneGraphForAnyNumberOfRows) {
  set_random_seed(4);
  Sequential model({Dense(5, "relu"), Dense(3, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  Tensor x(kiln::DType::kF32, {70, 4});
  Tensor y(kiln::DType::kI32, {70});
  Rng rng(2);
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = rng.uniform();
  for (int64_t i = 0; i < 70; ++i) y.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
  model.fit(x, y, {.epochs = 1, .batch_size = 70, .verbose = 0});
  Evaluation whole = model.evaluate(x, y, {.batch_size = 70, .verbose = 0});
  testing::ScopedEnv debug("KILN_DEBUG", "1");
  ::testing::internal::CaptureStderr();
  Evaluation batched = model.evaluate(x, y, {.batch_size = 32, .verbose = 0});  // 32, 32, 6
  Evaluation one = model.evaluate(x.slice(0, 1), y.slice(0, 1), {.batch_size = 32, .verbose = 0});
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(batched.loss, whole.loss);
  EXPECT_EQ(batched.accuracy, whole.accuracy);
  EXPECT_THAT(log, ::testing::Not(HasSubstr("kiln: compiled")));
  EXPECT_GT(one.loss, 0.0);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

VariableStore CopyOf(const VariableStore& store) {
  VariableStore copy;
  for (const auto& [name, t] : store.all()) copy.set(name, std::make_shared<Tensor>(*t));
  return copy;
}

void ExpectSameBits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << what;
}

// A batch-polymorphic training step run on n rows gives the bits of a graph
// compiled for exactly n rows: the kernels loop to the run's row count
// (partial row bands, the product over the batch in the weight gradients,
// the batch mean), and no sum depends on the capacity.
TEST(BatchPolymorphism, AStepMatchesAGraphCompiledForThatExactBatchBitForBit) {
  set_random_seed(5);
  // 128 x 128 x 67 is split across threads at the capacity, not at 7 rows.
  Sequential model({Flatten({8, 16}), Dense(67, "relu"), Dropout(0.25), Dense(10, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  auto engine = Jit();
  ASSERT_NE(engine, nullptr);
  auto polymorphic = ir::parse(model.ir(128, /*training_step=*/true));
  ASSERT_TRUE(polymorphic.ok()) << polymorphic.status();
  ASSERT_EQ(polymorphic->capacity, 128);
  auto shared = engine->compile(*polymorphic);
  ASSERT_TRUE(shared.ok()) << shared.status();
  Rng rng(11);
  VariableStore start;
  ASSERT_TRUE(start.initialize(*polymorphic, rng).ok());
  for (int64_t n : {1, 7, 31, 32, 33, 100}) {
    SCOPED_TRACE(n);
    auto graph = ir::parse(model.ir(static_cast<int>(n), true));
    ASSERT_TRUE(graph.ok()) << graph.status();
    auto exact = engine->compile(*graph);
    ASSERT_TRUE(exact.ok()) << exact.status();
    Tensor x(kiln::DType::kF32, {n, 8, 16}), y(kiln::DType::kI32, {n});
    for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = rng.uniform() - 0.5f;
    for (int64_t i = 0; i < n; ++i)
      y.data<int32_t>()[i] = static_cast<int32_t>(rng.uniform_int(10));
    VariableStore a = CopyOf(start), b = CopyOf(start);
    for (uint64_t step = 0; step < 2; ++step) {
      Outputs out_a, out_b;
      ASSERT_TRUE((*shared)->run({{"x", &x}, {"y", &y}}, a, 40 + step, &out_a).ok());
      ASSERT_TRUE((*exact)->run({{"x", &x}, {"y", &y}}, b, 40 + step, &out_b).ok());
      for (const auto& [name, t] : out_b) ExpectSameBits(out_a.at(name), t, "output " + name);
    }
    for (const auto& [name, t] : b.all()) ExpectSameBits(*a.find(name), *t, "variable " + name);
  }
}

// Feeds with more rows than the capacity, none, or disagreeing row counts are
// refused before anything runs, with the input and the capacity named.
TEST(BatchPolymorphism, RowCountsOutsideTheCapacityAreClearErrors) {
  set_random_seed(6);
  // Named, so the message does not depend on how many models the tests made before.
  Sequential model({Dense(3, "softmax")}, "rows_model");
  model.compile("sgd", "sparse_categorical_crossentropy");
  model.build({2});
  auto graph = ir::parse(model.ir(4, true));
  ASSERT_TRUE(graph.ok());
  for (auto& engine : {make_interpreter(), Jit()}) {
    auto exec = engine->compile(*graph);
    ASSERT_TRUE(exec.ok()) << exec.status();
    VariableStore vars;
    Rng rng(1);
    ASSERT_TRUE(vars.initialize(*graph, rng).ok());
    Outputs out;
    Tensor x5(kiln::DType::kF32, {5, 2}), y5(kiln::DType::kI32, {5});
    auto s = (*exec)->run({{"x", &x5}, {"y", &y5}}, vars, 0, &out);
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("input \"x\" has 5 rows, but graph \"rows_model.train\" runs 1 to 4 "
                          "rows (its capacity)"));
    Tensor x0(kiln::DType::kF32, {0, 2}), y0(kiln::DType::kI32, {0});
    s = (*exec)->run({{"x", &x0}, {"y", &y0}}, vars, 0, &out);
    EXPECT_THAT(std::string(s.message()), HasSubstr("input \"x\" has 0 rows"));
    Tensor x3(kiln::DType::kF32, {3, 2}), y2(kiln::DType::kI32, {2});
    s = (*exec)->run({{"x", &x3}, {"y", &y2}}, vars, 0, &out);
    EXPECT_THAT(std::string(s.message()), HasSubstr("has 2 rows but input"));
    s = (*exec)->run({{"x", &x3}, {"y", &y5}}, vars, 0, &out);
    EXPECT_FALSE(s.ok());
  }
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// KILN_PROFILE / JitOptions::profile: each kernel of the step is timed, and
// the table names the kernels (first node, op, layer) by time per step.
TEST(Profile, EveryKernelOfTheStepIsTimed) {
  set_random_seed(8);
  Sequential model({Flatten({4, 5}), Dense(9, "relu"), Dense(3, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  auto graph = ir::parse(model.ir(16, true));
  ASSERT_TRUE(graph.ok());
  auto engine = make_jit({.profile = true});
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto exec = (*engine)->compile(*graph);
  ASSERT_TRUE(exec.ok()) << exec.status();
  VariableStore vars;
  Rng rng(3);
  ASSERT_TRUE(vars.initialize(*graph, rng).ok());
  Tensor x(kiln::DType::kF32, {16, 4, 5}), y(kiln::DType::kI32, {16});
  Outputs out;
  for (int step = 0; step < 3; ++step)
    ASSERT_TRUE((*exec)->run({{"x", &x}, {"y", &y}}, vars, 1, &out).ok());
  std::string report = jit_profile_report(**exec);
  // Names count the process's models and layers, as Keras's do: "dense" or "dense_N".
  EXPECT_THAT(report, ::testing::ContainsRegex(
                          "profile of graph sequential(_[0-9]+)?\\.train over 3 steps"));
  EXPECT_THAT(report, ::testing::ContainsRegex("matmul \\(layer dense(_[0-9]+)?, fwd\\)"));
  EXPECT_THAT(report, HasSubstr("fused"));
  EXPECT_THAT(report, HasSubstr("100.0 %  total"));
  // Without the option nothing is compiled in or reported.
  auto plain = (*Jit()).compile(*graph);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(jit_profile_report(**plain), "");
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// `graph` made batch-polymorphic up to `capacity` rows, and planned again.
ir::Graph WithCapacity(ir::Graph graph, int64_t capacity) {
  graph.capacity = capacity;
  graph.clear_plan();
  passes::plan_memory(graph);
  return graph;
}

// Rows `rows` of `all`, copied into a batch of their own.
Tensor Gathered(const Tensor& all, const std::vector<int64_t>& rows) {
  Shape shape = all.shape();
  shape[0] = static_cast<int64_t>(rows.size());
  Tensor batch(all.dtype(), shape);
  const size_t bytes = all.nbytes() / all.dim(0);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(batch.raw() + i * bytes, all.raw() + rows[i] * bytes, bytes);
  }
  return batch;
}

// A batch fed as a list of rows of the whole dataset (as fit feeds x) gives
// what the same rows copied into a batch give, bit for bit: the JIT reads the
// matmuls' rows where they are (x through Flatten into a Dense layer and, in
// the backward pass, transposed into its weight gradient), the interpreter
// and inputs read otherwise copy them. One row, repeats and odd counts too.
TEST_P(JitOps, ListedRowsAreTheRowsTheyList) {
  set_random_seed(3);
  Sequential model({Flatten({4, 5}), Dense(13, "relu"), Dense(3)});
  model.compile("adam", losses::SparseCategoricalCrossentropy{.from_logits = true});
  model.build({4, 5});
  auto train = ir::parse(model.ir(8, true));
  ASSERT_TRUE(train.ok()) << train.status();
  // x read by something else than a matmul too: its rows are copied.
  ir::Graph other =
      WithCapacity(OneOp({{DType::kF32, {ir::kBatch, 6}}, {DType::kF32, {6, 3}}},
                         [](ir::Builder& b, auto x) {
                           return b.add(b.matmul(x[0], x[1]), b.matmul(b.exp(x[0]), x[1]));
                         }),
                   8);
  Rng rng(11);
  const Tensor w = Random({DType::kF32, {6, 3}}, rng, -1, 1);
  for (const ir::Graph* graph : {&*train, &other}) {
    const ir::Node& x = graph->nodes[graph->nodes_of(ir::OpKind::kInput)[0]];
    const std::string& x_name = ir::attr_string(x.attrs, "name");
    ir::Shape all_shape = x.type.shape;
    all_shape[0] = 20;
    const Tensor x_all = Random({DType::kF32, all_shape}, rng, -1, 1);
    for (const std::vector<int64_t>& rows : std::vector<std::vector<int64_t>>{
             {17, 3, 3, 0, 19, 8, 11}, {5}, {0, 1, 2, 3, 4, 5, 6, 7}}) {
      SCOPED_TRACE(str_cat(graph->name, ", ", rows.size(), " rows"));
      const Tensor x_batch = Gathered(x_all, rows);
      Tensor y(kiln::DType::kI32, {static_cast<int64_t>(rows.size())});
      for (int64_t i = 0; i < y.size(); ++i) y.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
      // The other input: the labels, or the second matmul operand.
      const std::pair<std::string, const Tensor*> second =
          graph == &other ? std::make_pair(std::string("in1"), &w) : std::make_pair("y", &y);
      Outputs reference;  // the interpreter's, which the JIT matches as everywhere
      for (auto& engine : {make_interpreter(), Jit()}) {
        auto exec = engine->compile(*graph);
        ASSERT_TRUE(exec.ok()) << exec.status();
        VariableStore listed_vars;
        Rng init(2);
        ASSERT_TRUE(listed_vars.initialize(*graph, init).ok());
        VariableStore batch_vars = CopyOf(listed_vars);
        const Feeds listed{{x_name, Feed(&x_all, rows)}, {second.first, second.second}};
        const Feeds batch{{x_name, &x_batch}, {second.first, second.second}};
        Outputs listed_out, batch_out;
        auto s = (*exec)->run(listed, listed_vars, 5, &listed_out);
        ASSERT_TRUE(s.ok()) << s;
        s = (*exec)->run(batch, batch_vars, 5, &batch_out);
        ASSERT_TRUE(s.ok()) << s;
        for (const auto& [name, t] : batch_out) ExpectClose(listed_out.at(name), t, name, 0);
        if (reference.empty()) reference = listed_out;
        for (const auto& [name, t] : reference) ExpectClose(listed_out.at(name), t, name);
        for (const auto& [name, t] : batch_vars.all()) {
          ExpectClose(*listed_vars.find(name), *t, name, 0);
        }
      }
    }
  }
}

// The status of one run of `graph` with `feeds` on each executor.
std::vector<absl::Status> RunOnBoth(const ir::Graph& graph, const Feeds& feeds) {
  std::vector<absl::Status> status;
  for (auto& engine : {make_interpreter(), Jit()}) {
    auto exec = engine->compile(graph);
    if (!exec.ok()) return {exec.status()};
    VariableStore vars;
    Outputs out;
    status.push_back((*exec)->run(feeds, vars, 0, &out));
  }
  return status;
}

// Listed rows that are not rows of the fed tensor are clear errors, before
// anything runs: a row outside it, rows of another shape, and rows of an
// input whose batch axis is not its first.
TEST(Feeds, ListedRowsOutsideTheTensorAreClearErrors) {
  ir::Graph rows = WithCapacity(OneOp({{DType::kF32, {ir::kBatch, 6}}, {DType::kF32, {6, 3}}},
                                      [](ir::Builder& b, auto x) { return b.matmul(x[0], x[1]); }),
                                4);
  ir::Graph columns = WithCapacity(OneOp({{DType::kF32, {6, ir::kBatch}}, {DType::kF32, {3, 6}}},
                                         [](ir::Builder& b, auto x) { return b.exp(x[0]); }),
                                   4);
  Tensor all(kiln::DType::kF32, {10, 6}), narrow(kiln::DType::kF32, {10, 5}),
      w(kiln::DType::kF32, {6, 3}), w2(kiln::DType::kF32, {3, 6});
  const std::vector<int64_t> outside = {2, 9, 10}, negative = {-1}, fine = {1, 2};
  auto expect_error = [](const ir::Graph& g, const Feeds& feeds, const std::string& message) {
    for (const absl::Status& s : RunOnBoth(g, feeds)) {
      EXPECT_THAT(std::string(s.message()), HasSubstr(message));
    }
  };
  expect_error(rows, {{"in0", Feed(&all, outside)}, {"in1", &w}},
               "input \"in0\": row 10 (listed at 2) is outside [0, 10)");
  expect_error(rows, {{"in0", Feed(&all, negative)}, {"in1", &w}},
               "row -1 (listed at 0) is outside [0, 10)");
  expect_error(rows, {{"in0", Feed(&narrow, fine)}, {"in1", &w}},
               "\"in0\" lists 2 rows of f32[10,5], expected f32[2,6]");
  expect_error(columns, {{"in0", Feed(&all, fine)}, {"in1", &w2}},
               "only rows along a first batch axis can be listed");
  for (const absl::Status& s : RunOnBoth(rows, {{"in0", Feed(&all, fine)}, {"in1", &w}})) {
    EXPECT_TRUE(s.ok()) << s;
  }
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// kiln_exp, which both executors use, is within 2 ulp of e^x over the whole
// range where e^x is a normal f32, and exact at the ends and at 0.
TEST(Exp, WithinTwoUlpOfTheTrueValue) {
  int worst = 0;
  float worst_at = 0;
  for (float x = -87.3f; x < 88.7f; x = std::nextafter(x + 1e-4f * std::fabs(x) + 1e-7f, 100.f)) {
    const double want = std::exp(static_cast<double>(x));
    const float got = kiln_exp(x), rounded = static_cast<float>(want);
    const float ulp = std::nextafter(rounded, INFINITY) - rounded;
    const int err = static_cast<int>(std::lround(std::fabs(got - want) / ulp));
    if (err > worst) worst = err, worst_at = x;
  }
  EXPECT_LE(worst, 2) << "at x = " << worst_at;
  EXPECT_EQ(kiln_exp(0.0f), 1.0f);
  EXPECT_EQ(kiln_exp(-INFINITY), 0.0f);
  EXPECT_EQ(kiln_exp(-104.0f), 0.0f);
  EXPECT_EQ(kiln_exp(INFINITY), INFINITY);
  EXPECT_EQ(kiln_exp(89.0f), INFINITY);
  EXPECT_TRUE(std::isnan(kiln_exp(NAN)));
  EXPECT_TRUE(std::isfinite(kiln_exp(88.72f)));
}

// The JIT's exp is kiln_exp operation for operation, in loops it vectorises,
// and softmax cross-entropy uses it too: the same bits as the interpreter,
// past both ends of the range as well.
TEST_P(JitOps, ExpIsTheInterpretersBitForBit) {
  Compare(OneOp({{DType::kF32, {7, 333}}}, [](ir::Builder& b, auto x) { return b.exp(x[0]); }),
          -110, 100, 1, /*relative=*/0);
  Compare(OneOp({{DType::kF32, {5, 37}}}, [](ir::Builder& b, auto x) { return b.exp(x[0]); }), -3,
          3, 1, /*relative=*/0);
}

}  // namespace
}  // namespace kiln
