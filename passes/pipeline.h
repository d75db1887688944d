// Named pass pipelines: the passes that turn a recorded model into a step.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "passes/pass.h"
#include "passes/passes.h"

namespace kiln::passes {

/// Names of every registered pass.
std::vector<std::string> pass_names();

/// Creates a pass by name; an unknown name lists the valid ones.
absl::StatusOr<std::unique_ptr<Pass>> make_pass(std::string_view name,
                                                const OptimizerConfig& optimizer = {});

/// Forward + loss graph -> one training step (forward, backward, update),
/// unfused; with data-parallel when the step is one of `world_size` processes'.
std::vector<std::string> gradient_pipeline(int world_size = 1);
/// The fusion passes: fuse-dense, fuse-elementwise.
std::vector<std::string> fusion_pipeline();
/// The passes that decide how the step runs: which threads share each matmul,
/// what runs beside what, and where each value lives.
std::vector<std::string> planning_pipeline();
/// gradient_pipeline(), fusion_pipeline(), planning_pipeline(): what compile() runs.
std::vector<std::string> training_pipeline(int world_size = 1);
/// Forward graph (prediction or evaluation) -> cleaned-up graph.
std::vector<std::string> inference_pipeline();

/// A pass manager running `names` in order.
absl::StatusOr<PassManager> build_pipeline(const std::vector<std::string>& names,
                                           const OptimizerConfig& optimizer = {},
                                           PassManagerOptions options = {});

}  // namespace kiln::passes
