// The persistent compile cache: a second engine (or process) loads a compiled
// graph instead of compiling it, bit for bit the same code; corrupt, truncated,
// foreign and concurrent entries are handled; the cache is bounded and can be
// turned off.
#include <filesystem>
#include <fstream>
#include <thread>

#include "codegen/object_cache.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kiln/advanced.h"
#include "passes/passes.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using codegen::ObjectCache;

// tanh(x @ w): a matmul with an elementwise epilogue.
ir::Graph Layer(int64_t rows) {
  ir::Graph g;
  ir::Builder b(&g);
  ir::NodeId x = b.input("x", {ir::DType::kF32, {rows, 13}});
  ir::NodeId w = b.input("w", {ir::DType::kF32, {13, 21}});
  b.output("out", b.tanh(b.matmul(x, w)));
  passes::plan_memory(g);
  return g;
}

struct Compiled {
  JitCacheStats stats;
  std::vector<float> out;
};

// Compiles `graph` with a new JIT engine and runs it on fixed inputs.
Compiled CompileAndRun(const ir::Graph& graph) {
  auto engine = make_jit();
  EXPECT_TRUE(engine.ok()) << engine.status();
  auto exec = (*engine)->compile(graph);
  EXPECT_TRUE(exec.ok()) << exec.status();
  Tensor x(DType::kF32, graph.nodes[0].type.shape), w(DType::kF32, {13, 21});
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) - 3.0f;
  for (int64_t i = 0; i < w.size(); ++i) w.data<float>()[i] = static_cast<float>(i % 5) * 0.25f;
  VariableStore vars;
  Outputs outputs;
  EXPECT_TRUE((*exec)->run({{"x", &x}, {"w", &w}}, vars, 0, &outputs).ok());
  return {jit_cache_stats(**engine), testing::values(outputs["out"])};
}

std::vector<fs::path> Entries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".kobj") out.push_back(e.path());
  }
  return out;
}

class CompileCache : public ::testing::Test {
 protected:
  testing::TempDir temp_;
  testing::ScopedEnv env_{"KILN_CACHE_DIR", temp_.dir().string()};
};

TEST_F(CompileCache, ASecondEngineLoadsTheSameCode) {
  Compiled first = CompileAndRun(Layer(7));
  EXPECT_EQ(first.stats.misses, 1);
  EXPECT_EQ(first.stats.hits, 0);
  ASSERT_EQ(Entries(temp_.dir()).size(), 1u);
  Compiled second = CompileAndRun(Layer(7));
  EXPECT_EQ(second.stats.hits, 1);
  EXPECT_EQ(second.stats.misses, 0);
  EXPECT_EQ(second.out, first.out);
  // Another batch size is another graph, another entry.
  EXPECT_EQ(CompileAndRun(Layer(8)).stats.misses, 1);
  EXPECT_EQ(Entries(temp_.dir()).size(), 2u);
}

TEST_F(CompileCache, ACorruptEntryIsRejectedAndRecompiled) {
  Compiled first = CompileAndRun(Layer(5));
  fs::path entry = Entries(temp_.dir()).at(0);
  {
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(entry) / 2));
    f.put('\x5a');
  }
  ::testing::internal::CaptureStderr();
  Compiled again = CompileAndRun(Layer(5));
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, ::testing::HasSubstr("checksum mismatch (corrupt); recompiling"));
  EXPECT_EQ(again.stats.rejected, 1);
  EXPECT_EQ(again.stats.misses, 1);
  EXPECT_EQ(again.out, first.out);
  EXPECT_EQ(CompileAndRun(Layer(5)).stats.hits, 1);  // rewritten, valid again
}

TEST_F(CompileCache, TruncatedAndForeignEntriesAreNeverLoaded) {
  CompileAndRun(Layer(3));
  fs::path entry = Entries(temp_.dir()).at(0);
  fs::resize_file(entry, fs::file_size(entry) - 100);
  Compiled truncated = CompileAndRun(Layer(3));
  EXPECT_EQ(truncated.stats.rejected, 1);
  // An entry of graph A saved under graph B's key (a copied or renamed file).
  CompileAndRun(Layer(4));
  std::vector<fs::path> entries = Entries(temp_.dir());
  ASSERT_EQ(entries.size(), 2u);
  fs::copy_file(entries[0], entries[1], fs::copy_options::overwrite_existing);
  Compiled a = CompileAndRun(Layer(3)), b = CompileAndRun(Layer(4));
  EXPECT_EQ(a.stats.rejected + b.stats.rejected, 1);
  EXPECT_EQ(a.out.size(), 3u * 21);
  EXPECT_EQ(b.out.size(), 4u * 21);
}

TEST_F(CompileCache, ConcurrentWritersOfOneEntryLeaveAValidEntry) {
  std::vector<std::thread> threads;
  std::vector<Compiled> runs(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&runs, t] { runs[t] = CompileAndRun(Layer(9)); });
  for (std::thread& t : threads) t.join();
  for (const Compiled& r : runs) EXPECT_EQ(r.out, runs[0].out);
  EXPECT_EQ(Entries(temp_.dir()).size(), 1u);
  for (const auto& e : fs::directory_iterator(temp_.dir())) {
    EXPECT_EQ(e.path().extension(), ".kobj") << "a temporary was left: " << e.path();
  }
  EXPECT_EQ(CompileAndRun(Layer(9)).stats.hits, 1);
}

TEST_F(CompileCache, AnEmptyDirectoryVariableTurnsItOff) {
  env_.set("");
  Compiled r = CompileAndRun(Layer(2));
  EXPECT_EQ(r.stats.misses, 1);
  EXPECT_TRUE(Entries(temp_.dir()).empty());
  EXPECT_EQ(CompileAndRun(Layer(2)).stats.hits, 0);
}

TEST_F(CompileCache, AnUnwritableCacheWarnsAndStillCompiles) {
  fs::path file = temp_.dir() / "not-a-directory";
  std::ofstream(file) << "x";
  env_.set(file.string());
  ::testing::internal::CaptureStderr();
  Compiled r = CompileAndRun(Layer(2));
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.out.size(), 2u * 21);
  EXPECT_THAT(log, ::testing::HasSubstr("cannot write the compile cache"));
}

TEST(ObjectCacheBound, EvictsTheLeastRecentlyUsed) {
  testing::TempDir temp;
  ObjectCache cache(temp.dir().string(), /*max_bytes=*/2500);
  const std::string kilobyte(1000, 'k');
  auto age = [&](const std::string& key, int seconds) {
    fs::last_write_time(temp.dir() / (key + ".kobj"),
                        fs::file_time_type::clock::now() - std::chrono::seconds(seconds));
  };
  const std::string a = ObjectCache::hash("a"), b = ObjectCache::hash("b"),
                    c = ObjectCache::hash("c");
  ASSERT_TRUE(cache.store(a, {kilobyte}).ok());
  age(a, 30);
  ASSERT_TRUE(cache.store(b, {kilobyte}).ok());
  age(b, 20);
  ASSERT_TRUE(cache.load(a).has_value());  // a is used again: b is now the oldest
  ASSERT_TRUE(cache.store(c, {kilobyte}).ok());
  EXPECT_TRUE(cache.load(a).has_value());
  EXPECT_FALSE(cache.load(b).has_value());
  EXPECT_TRUE(cache.load(c).has_value());
  EXPECT_EQ(cache.list().size(), 2u);
  EXPECT_EQ(*cache.clear(), 2);
  EXPECT_TRUE(cache.list().empty());
}

// Two models built the same way in one process share compiled code through
// the cache: the second compiles nothing.
TEST_F(CompileCache, ASecondIdenticalModelCompilesNothing) {
  std::string logs[2];
  for (std::string& log : logs) {
    testing::ScopedEnv debug("KILN_DEBUG", "1");
    set_random_seed(8);
    Sequential model({layers::Dense(4, "relu"), layers::Dense(2, "softmax")}, "same");
    model.compile("adam", "sparse_categorical_crossentropy");
    Tensor x(DType::kF32, {6, 3}), y(DType::kU8, {6});
    ::testing::internal::CaptureStderr();
    model.fit(x, y, {.batch_size = 6, .verbose = 0});
    log = ::testing::internal::GetCapturedStderr();
  }
  EXPECT_THAT(logs[0], ::testing::HasSubstr("optimise and codegen"));
  EXPECT_THAT(logs[1], ::testing::Not(::testing::HasSubstr("optimise and codegen")));
  EXPECT_THAT(logs[1], ::testing::HasSubstr("jit cache hit"));
}

}  // namespace
}  // namespace kiln
