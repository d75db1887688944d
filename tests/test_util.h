// Helpers shared by the test files: tensors from literals, pass pipelines,
// and the round-trip check every test graph goes through.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
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

}  // namespace kiln::testing
