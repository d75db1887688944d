// Ahead-of-time export: a plain C program, built with the system compiler
// against the exported object alone, predicts bit for bit what predict() does.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kiln/kiln.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Reads n rows from x.bin, writes their predictions to y.bin.
constexpr char kMain[] = R"(#include <stdio.h>
#include <stdlib.h>
#include "blobs.h"
int main(int argc, char** argv) {
  long n = atol(argv[1]);
  float* x = malloc(sizeof(float) * (n * BLOBS_INPUT_SIZE + 1));
  float* y = malloc(sizeof(float) * (n * BLOBS_OUTPUT_SIZE + 1));
  FILE* in = fopen("x.bin", "rb");
  if (fread(x, sizeof(float), n * BLOBS_INPUT_SIZE, in) != (size_t)(n * BLOBS_INPUT_SIZE)) return 2;
  fclose(in);
  if (blobs_predict(x, n, y) != 0) return 3;
  FILE* out = fopen("y.bin", "wb");
  fwrite(y, sizeof(float), n * BLOBS_OUTPUT_SIZE, out);
  fclose(out);
  return 0;
}
)";

Tensor Inputs(int64_t n) {
  Tensor x(DType::kF32, {n, 4, 5});
  for (int64_t i = 0; i < x.size(); ++i) {
    x.data<float>()[i] = static_cast<float>((i * 37) % 23) / 7.0f - 1.5f;
  }
  return x;
}

Sequential Trained() {
  set_random_seed(11);
  Sequential model(
      {layers::Flatten({4, 5}), layers::Dense(16, "relu"), layers::Dense(3, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy");
  Tensor x = Inputs(64), y(DType::kU8, {64});
  for (int64_t i = 0; i < 64; ++i) y.data<uint8_t>()[i] = static_cast<uint8_t>(i % 3);
  model.fit(x, y, {.epochs = 2, .batch_size = 16, .verbose = 0});
  return model;
}

int Shell(const std::string& command) { return std::system(command.c_str()); }

class Export : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Shell("command -v cc >/dev/null 2>&1") != 0) GTEST_SKIP() << "no system C compiler (cc)";
    std::ofstream(dir_ / "main.c") << kMain;
  }
  // Builds main.c against the export in `from` (header) and `object_from`.
  int Build(const fs::path& from, const fs::path& object_from) {
    return Shell("cd '" + dir_.string() + "' && cc -O2 -I'" + from.string() + "' main.c '" +
                 (object_from / "blobs.o").string() + "' -lm -o prog 2>build.log");
  }
  std::vector<float> Predict(const Tensor& x, int64_t outputs_per_row = 3) {
    std::ofstream(dir_ / "x.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(x.raw()), static_cast<std::streamsize>(x.nbytes()));
    EXPECT_EQ(Shell("cd '" + dir_.string() + "' && ./prog " + std::to_string(x.dim(0))), 0);
    std::ifstream in(dir_ / "y.bin", std::ios::binary);
    std::vector<float> y(static_cast<size_t>(x.dim(0) * outputs_per_row));
    in.read(reinterpret_cast<char*>(y.data()), static_cast<std::streamsize>(y.size() * 4));
    return y;
  }

  testing::TempDir temp_;
  fs::path dir_ = temp_.dir();
};

TEST_F(Export, APlainCProgramPredictsBitForBitWhatPredictDoes) {
  Sequential model = Trained();
  model.export_model("blobs", dir_.string());
  ASSERT_TRUE(fs::exists(dir_ / "blobs.o") && fs::exists(dir_ / "blobs.h"));
  ASSERT_EQ(Build(dir_, dir_), 0) << "see " << (dir_ / "build.log");
  // Odd sizes: one row, fewer than a batch, batches and a partial batch, and
  // enough rows to be split over threads.
  for (int64_t n : {1, 7, 32, 33, 100, 1000}) {
    SCOPED_TRACE(n);
    Tensor x = Inputs(n);
    std::vector<float> expected = testing::values(model.predict(x, {.verbose = 0}));
    std::vector<float> got = Predict(x);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(std::memcmp(&got[i], &expected[i], 4), 0)
          << i << ": " << got[i] << " vs " << expected[i];
    }
  }
}

// Besides libm, only libc: memcpy/memset, and sysconf and pthreads for the
// row split (in glibc's libc since 2.34, so `cc main.c blobs.o -lm` links).
TEST_F(Export, TheObjectNeedsNoLibraryButLibm) {
  Sequential model = Trained();
  model.export_model("blobs", dir_.string());
  std::string undefined = dir_.string() + "/undefined.txt";
  ASSERT_EQ(Shell("nm -u '" + (dir_ / "blobs.o").string() + "' > '" + undefined + "'"), 0);
  std::ifstream in(undefined);
  for (std::string line; std::getline(in, line);) {
    std::string symbol = line.substr(line.find_last_of(' ') + 1);
    EXPECT_THAT(symbol,
                ::testing::AnyOf("memcpy", "memset", "expf", "logf", "tanhf", "log1pf", "sysconf",
                                 "pthread_create", "pthread_join", "_GLOBAL_OFFSET_TABLE_"))
        << "the exported object needs " << symbol;
  }
}

// A model whose Dense layer folds the batch into rows (rank-3 inputs) has a
// static batch: the exported function pads a partial batch with zero rows,
// and still gives model.predict's bits.
TEST_F(Export, AStaticBatchModelPadsItsPartialBatch) {
  set_random_seed(12);
  Sequential model({layers::Dense(3, "softmax")});
  model.build({4, 5});
  model.export_model("blobs", dir_.string(), {.batch_size = 8});
  ASSERT_EQ(Build(dir_, dir_), 0) << "see " << (dir_ / "build.log");
  for (int64_t n : {1, 7, 8, 33}) {
    SCOPED_TRACE(n);
    Tensor x = Inputs(n);
    std::vector<float> expected =
        testing::values(model.predict(x, {.batch_size = 8, .verbose = 0}));
    std::vector<float> got = Predict(x, 12);
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * 4), 0);
  }
}

TEST_F(Export, AHeaderAndAnObjectOfDifferentExportsDoNotLink) {
  Sequential a = Trained();
  fs::create_directories(dir_ / "a");
  fs::create_directories(dir_ / "b");
  a.export_model("blobs", (dir_ / "a").string());
  Sequential b = Trained();
  Tensor x = Inputs(16), y(DType::kU8, {16});
  b.fit(x, y, {.verbose = 0});  // other weights
  b.export_model("blobs", (dir_ / "b").string());
  EXPECT_EQ(Build(dir_ / "a", dir_ / "a"), 0);
  EXPECT_NE(Build(dir_ / "a", dir_ / "b"), 0);
}

TEST_F(Export, AnAvx2ExportRunsAndAgrees) {
  Sequential model = Trained();
  model.export_model("blobs", dir_.string(), {.target = "x86-64-v3"});
  ASSERT_EQ(Build(dir_, dir_), 0);
  Tensor x = Inputs(9);
  std::vector<float> expected = testing::values(model.predict(x, {.verbose = 0}));
  std::vector<float> got = Predict(x);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-6f * 4);
}

// The same through the tool, from a saved model: kiln export MODEL.kiln -o DIR.
TEST_F(Export, TheToolExportsASavedModel) {
  Sequential model = Trained();
  model.save((dir_ / "blobs.kiln").string());
  ASSERT_EQ(Shell(std::string(KILN_TOOL_PATH) + " export '" + (dir_ / "blobs.kiln").string() +
                  "' -o '" + dir_.string() + "' > '" + (dir_ / "tool.log").string() + "' 2>&1"),
            0);
  ASSERT_EQ(Build(dir_, dir_), 0);
  Tensor x = Inputs(5);
  std::vector<float> expected = testing::values(model.predict(x, {.verbose = 0}));
  EXPECT_EQ(Predict(x), expected);
}

TEST(ExportErrors, NameTheProblem) {
  Sequential model = Trained();
  auto message = [&](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  testing::TempDir temp;
  EXPECT_THAT(message([&] { model.export_model("blobs", temp.dir().string() + "/none"); }),
              HasSubstr("the directory " + temp.dir().string() + "/none does not exist"));
  EXPECT_THAT(message([&] { model.export_model("9lives", temp.dir().string()); }),
              HasSubstr("export name \"9lives\" is not a C identifier"));
  EXPECT_THAT(message([&] { model.export_model("m", temp.dir().string(), {.target = "arm64"}); }),
              HasSubstr("unknown export target \"arm64\""));
  Sequential unbuilt({layers::Dense(2)});
  EXPECT_THAT(message([&] { unbuilt.export_model("m", temp.dir().string()); }),
              HasSubstr("export_model"));
}

}  // namespace
}  // namespace kiln
