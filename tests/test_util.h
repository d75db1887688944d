// Helpers shared by the test files: tensors from literals, pass pipelines,
// and the round-trip check every test graph goes through.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "passes/pipeline.h"
#include "runtime/executor.h"
#include "runtime/tensor.h"
#include "runtime/variables.h"

namespace kiln::testing {

using ::testing::HasSubstr;

inline Tensor f32(Shape shape, const std::vector<float>& values) {
  return Tensor::from<float>(std::move(shape), std::span<const float>(values));
}

inline Tensor i32(Shape shape, const std::vector<int32_t>& values) {
  return Tensor::from<int32_t>(std::move(shape), std::span<const int32_t>(values));
}

inline std::vector<float> values(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.size()));
  for (int64_t i = 0; i < t.size(); ++i) v[i] = t.as_float(i);
  return v;
}

/// Sets a variable in `store` to a fresh tensor.
inline void set_var(VariableStore& store, const std::string& name, Tensor value) {
  store.set(name, std::make_shared<Tensor>(std::move(value)));
}

/// Runs the named passes over `graph`; the status names the failing pass.
inline absl::Status run_passes(ir::Graph& graph, const std::vector<std::string>& names,
                               const passes::OptimizerConfig& config = {}) {
  auto pm = passes::build_pipeline(names, config);
  if (!pm.ok()) return pm.status();
  return pm->run(graph);
}

/// parse(print(g)) must print the same text and verify when `g` does; every
/// graph a test builds goes through this.
inline void expect_round_trip(const ir::Graph& g) {
  const std::string text = ir::print(g);
  auto parsed = ir::parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_EQ(ir::print(*parsed), text);
  EXPECT_EQ(ir::verify(*parsed).ok(), ir::verify(g).ok()) << ir::verify(*parsed);
}

/// A directory of the running test's own, removed when destroyed: the test's
/// name and the process id keep suites that run at once from colliding.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "kiln";
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    dir_ =
        std::filesystem::temp_directory_path() / ("kiln-" + name + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  /// `name` inside the directory.
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

/// Remembers an environment variable and restores it when destroyed, so no
/// test leaks a setting into later ones; set() changes it meanwhile
/// (nullopt unsets it).
class ScopedEnv {
 public:
  explicit ScopedEnv(const char* name) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
  }
  ScopedEnv(const char* name, std::optional<std::string> value) : ScopedEnv(name) { set(value); }
  void set(const std::optional<std::string>& value) const {
    if (value) {
      setenv(name_, value->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ~ScopedEnv() { set(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace kiln::testing
