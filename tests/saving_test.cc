// Weights and model files: round trips, errors, atomic writes, and a reader
// that shares no code with Kiln.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <kiln/kiln.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "runtime/safetensors.h"
#include "test_util.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;
using namespace layers;
namespace fs = std::filesystem;

Tensor Inputs(int64_t n, int64_t dims) {
  Tensor x(DType::kF32, {n, dims});
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = std::sin(0.37f * i);
  return x;
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

Sequential Trained() {
  set_random_seed(11);
  Sequential model({Dense(8, "relu"), Dropout(0.25), Dense(3, "softmax")});
  Tensor x = Inputs(30, 5);
  Tensor y(DType::kI32, {30});
  for (int i = 0; i < 30; ++i) y.data<int32_t>()[i] = i % 3;
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  model.fit(x, y, {.epochs = 2, .verbose = 0});
  return model;
}

TEST(Saving, WeightsRoundTripPredictsIdentically) {
  testing::TempDir temp;
  Sequential model = Trained();
  std::string path = temp.path("w.safetensors");
  model.save_weights(path);
  Sequential fresh({Dense(8, "relu"), Dropout(0.25), Dense(3, "softmax")});
  fresh.build({5});
  fresh.load_weights(path);
  Tensor x = Inputs(7, 5);
  EXPECT_TRUE(SameBytes(model.predict(x, {.verbose = 0}), fresh.predict(x, {.verbose = 0})));
}

TEST(Saving, ModelRoundTripRestoresArchitectureAndPredictions) {
  testing::TempDir temp;
  set_random_seed(3);
  Sequential inner({Flatten({2, 3}), Dense(4, "tanh"), Dense(2)});
  Sequential model({Rescaling(0.5, 0.1), inner, Softmax()});
  model.build({2, 3});  // the first layer declares no input shape
  std::string path = temp.path("model.kiln");
  model.save(path);
  Sequential loaded = load_model(path);
  Tensor x = Inputs(4, 6).reshape({4, 2, 3});
  EXPECT_TRUE(SameBytes(model.predict(x, {.verbose = 0}), loaded.predict(x, {.verbose = 0})));
  EXPECT_EQ(loaded.count_params(), model.count_params());
  std::stringstream a, b;
  model.summary(a);
  loaded.summary(b);
  EXPECT_THAT(b.str(), HasSubstr("(Sequential)"));
  EXPECT_THAT(b.str(), HasSubstr("Total params: 38 "));
}

// As Keras 3's model.save: the file keeps the compile settings and the
// optimizer's state, so load_model + fit(initial_epoch) continues the run.
TEST(Saving, ACompiledModelResumesWhereItStopped) {
  testing::TempDir temp;
  Tensor x = Inputs(96, 4);
  Tensor y(DType::kI32, {96});
  for (int i = 0; i < 96; ++i) y.data<int32_t>()[i] = i % 3;
  // Built at construction (Flatten declares the input), as load_model builds:
  // the same draws from the seed in the same order.
  auto make = [] {
    set_random_seed(5);
    Sequential m({Flatten({4}), Dense(8, "relu"), Dense(3, "softmax")});
    m.compile(optimizers::Adam{.learning_rate = 0.01, .beta_1 = 0.8},
              "sparse_categorical_crossentropy", {"accuracy"});
    return m;
  };
  Sequential straight = make();
  straight.fit(x, y, {.epochs = 4, .batch_size = 16, .verbose = 0});
  Sequential first = make();
  History h = first.fit(x, y, {.epochs = 2, .batch_size = 16, .verbose = 0});
  const std::string path = temp.path("epoch2.kiln");
  first.save(path);
  set_random_seed(5);
  Sequential resumed = load_model(path);
  EXPECT_FLOAT_EQ(static_cast<float>(resumed.learning_rate()), 0.01f);
  Evaluation e = resumed.evaluate(x, y, {.verbose = 0});
  EXPECT_FALSE(std::isnan(e.accuracy));  // compiled with its metrics
  resumed.fit(x, y, {.epochs = 4, .batch_size = 16, .verbose = 0, .initial_epoch = 2});
  std::vector<Tensor> want = straight.get_weights(), got = resumed.get_weights();
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_TRUE(SameBytes(want[i], got[i])) << "weight " << i;
  // A file that claims more optimizer variables than it holds tensors.
  auto file = read_safetensors(path);
  ASSERT_TRUE(file.ok());
  std::vector<std::pair<std::string, const Tensor*>> tensors;
  for (const NamedTensor& t : file->tensors) tensors.emplace_back(t.name, &t.tensor);
  file->metadata["kiln_optimizer_variables"] = "999";
  ASSERT_TRUE(write_safetensors(temp.path("bad.kiln"), tensors, file->metadata).ok());
  try {
    load_model(temp.path("bad.kiln"));
    ADD_FAILURE() << "loaded a file with a wrong optimizer variable count";
  } catch (const Error& err) {
    EXPECT_THAT(err.what(), HasSubstr("kiln_optimizer_variables is not a count of its tensors"));
  }
}

TEST(Saving, LoadingAnotherModelNamesWhatDiffers) {
  testing::TempDir temp;
  Sequential model = Trained();
  std::string path = temp.path("other.safetensors");
  model.save_weights(path);
  Sequential wrong({Dense(8, "relu"), Dense(4, "softmax")});
  wrong.build({5});
  try {
    wrong.load_weights(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr("tensor 2"));
    EXPECT_THAT(e.what(), HasSubstr("f32[8,3]"));
    EXPECT_THAT(e.what(), HasSubstr("f32[8,4]"));
  }
  Sequential fewer({Dense(8, "relu")});
  fewer.build({5});
  try {
    fewer.load_weights(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("holds 4 tensors but model"));
  }
  EXPECT_THROW(load_model(path), Error);  // weights only: no architecture inside
}

TEST(Saving, CorruptFilesAreRejectedWithTheReason) {
  testing::TempDir temp;
  Sequential model = Trained();
  std::string path = temp.path("corrupt.safetensors");
  model.save_weights(path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  };
  write(bytes.substr(0, bytes.size() - 10));
  try {
    model.load_weights(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("invalid safetensors file " + path));
  }
  write(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}");
  try {
    model.load_weights(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("exceeds the file size"));
  }
  std::string broken = bytes;
  broken[9] = '#';  // inside the JSON header
  write(broken);
  try {
    model.load_weights(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("invalid JSON"));
  }
  write("");
  EXPECT_THROW(model.load_weights(path), Error);
  EXPECT_THROW(model.load_weights(temp.path("does-not-exist")), Error);
}

// A save killed at any moment leaves a complete file: the original or one the
// child finished writing. The child stamps save i with kernel[0] = i and
// reports each completed save through a pipe, so the parent knows which
// versions can be on disk and kills at a random point of a later save.
TEST(Saving, KilledSaveLeavesThePreviousFileIntact) {
  testing::TempDir temp;
  set_random_seed(1);
  Sequential model({Dense(256, "relu"), Dense(10)});
  model.build({784});  // about 200k weights: each save takes a while
  std::string path = temp.path("atomic.safetensors");
  model.save_weights(path);
  const std::vector<Tensor> original = model.get_weights();
  std::mt19937 random(std::random_device{}());
  for (int attempt = 0; attempt < 5; ++attempt) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      std::vector<Tensor> w = model.get_weights();
      for (int32_t i = 1;; ++i) {
        w[0].data<float>()[0] = static_cast<float>(i);
        model.set_weights(w);
        model.save_weights(path);
        if (write(fds[1], &i, sizeof i) != sizeof i) _exit(1);
      }
    }
    close(fds[1]);
    // Wait for 1 to 3 completed saves, then kill somewhere in the next one.
    int32_t done = 0;
    const int wanted = 1 + static_cast<int>(random() % 3);
    while (done < wanted) ASSERT_EQ(read(fds[0], &done, sizeof done), sizeof done);
    std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
    kill(child, SIGKILL);
    int32_t reported = done;
    while (read(fds[0], &reported, sizeof reported) == sizeof reported) {
    }
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped on its own";

    Sequential reader({Dense(256, "relu"), Dense(10)});
    reader.build({784});
    reader.load_weights(path);  // throws if the file were torn
    std::vector<Tensor> got = reader.get_weights();
    // Save `reported` completed; save reported + 1 may have been renamed
    // into place just before the kill.
    const float stamp = got[0].data<float>()[0];
    EXPECT_TRUE(stamp == static_cast<float>(reported) || stamp == static_cast<float>(reported + 1))
        << "kernel[0] = " << stamp << " after " << reported << " completed saves";
    got[0].data<float>()[0] = original[0].data<float>()[0];
    for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(SameBytes(got[i], original[i])) << i;
  }
}

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[256];
  while (fgets(buf, sizeof(buf), pipe)) out += buf;
  pclose(pipe);
  return out;
}

const std::string kReader = std::string(KILN_TEST_SOURCE_DIR) + "/safetensors_reader.py";

TEST(Saving, AnIndependentReaderReadsKilnWeights) {
  testing::TempDir temp;
  set_random_seed(2);
  Sequential model({Dense(3, "relu"), Dense(2)});
  model.build({4});
  std::string path = temp.path("interop.safetensors");
  model.save_weights(path);
  std::string out = RunCommand("python3 " + kReader + " read " + path);
  std::vector<Tensor> w = model.get_weights();
  double kernel_sum = 0;
  for (int64_t i = 0; i < w[0].size(); ++i) kernel_sum += w[0].data<float>()[i];
  char expected[128];
  std::snprintf(expected, sizeof(expected), "/kernel F32 4x3 %.6f %.6f", kernel_sum,
                w[0].data<float>()[0]);
  EXPECT_THAT(out, HasSubstr(expected));
  EXPECT_THAT(out, HasSubstr("/bias F32 2 0.000000 0.000000"));
}

TEST(Saving, KilnReadsAFileWrittenWithoutKiln) {
  testing::TempDir temp;
  std::string path = temp.path("from_python.safetensors");
  RunCommand("python3 " + kReader + " write " + path);
  Sequential model({Dense(3)});
  model.build({2});
  model.load_weights(path);
  std::vector<Tensor> w = model.get_weights();
  EXPECT_THAT(testing::values(w[0]), ::testing::ElementsAre(0, 0.5, 1, 1.5, 2, 2.5));
  EXPECT_THAT(testing::values(w[1]), ::testing::ElementsAre(1, -2, 3));
}

TEST(Rescaling, Uint8InputsMatchFloatInputs) {
  set_random_seed(4);
  Sequential scaled({Rescaling(1.0 / 255), Flatten(), Dense(4, "relu"), Dense(2, "softmax")});
  Tensor raw(DType::kU8, {6, 2, 2});
  for (int64_t i = 0; i < raw.size(); ++i) raw.data<uint8_t>()[i] = static_cast<uint8_t>(i * 10);
  Tensor as_float = raw / 1.0f;
  Tensor a = scaled.predict(raw, {.verbose = 0});
  Tensor b = scaled.predict(as_float, {.verbose = 0});
  EXPECT_TRUE(SameBytes(a, b));
  Tensor y(DType::kU8, {6});
  for (int i = 0; i < 6; ++i) y.data<uint8_t>()[i] = i % 2;
  scaled.compile("adam", "sparse_categorical_crossentropy");
  History h = scaled.fit(raw, y, {.epochs = 2, .batch_size = 3, .verbose = 0});
  EXPECT_EQ(h["loss"].size(), 2u);
}

}  // namespace
}  // namespace kiln
