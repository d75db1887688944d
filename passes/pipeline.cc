#include "passes/pipeline.h"

#include "absl/strings/str_join.h"
#include "ir/strings.h"

namespace kiln::passes {

std::vector<std::string> pass_names() {
  return {"infer-shapes", "autodiff",         "data-parallel", "optimizer", "dce",
          "fuse-dense",   "fuse-elementwise", "partition",     "overlap",   "plan-memory"};
}

absl::StatusOr<std::unique_ptr<Pass>> make_pass(std::string_view name,
                                                const OptimizerConfig& optimizer) {
  if (name == "infer-shapes") return make_infer_shapes();
  if (name == "autodiff") return make_autodiff();
  if (name == "data-parallel") return make_data_parallel();
  if (name == "optimizer") return make_optimizer(optimizer);
  if (name == "dce") return make_dce();
  if (name == "fuse-dense") return make_fuse_dense();
  if (name == "fuse-elementwise") return make_fuse_elementwise();
  if (name == "partition") return make_partition();
  if (name == "overlap") return make_overlap();
  if (name == "plan-memory") return make_plan_memory();
  return absl::NotFoundError(
      str_cat("unknown pass '", name, "' (valid passes: ", absl::StrJoin(pass_names(), ", "), ")"));
}

std::vector<std::string> gradient_pipeline(int world_size) {
  if (world_size > 1) return {"infer-shapes", "autodiff", "data-parallel", "optimizer", "dce"};
  return {"infer-shapes", "autodiff", "optimizer", "dce"};
}

std::vector<std::string> fusion_pipeline() { return {"fuse-dense", "fuse-elementwise"}; }

std::vector<std::string> planning_pipeline() { return {"partition", "overlap", "plan-memory"}; }

std::vector<std::string> training_pipeline(int world_size) {
  std::vector<std::string> names = gradient_pipeline(world_size);
  for (auto stage : {fusion_pipeline(), planning_pipeline()}) {
    names.insert(names.end(), stage.begin(), stage.end());
  }
  return names;
}

std::vector<std::string> inference_pipeline() {
  std::vector<std::string> names = {"infer-shapes", "dce"};
  for (auto stage : {fusion_pipeline(), planning_pipeline()}) {
    names.insert(names.end(), stage.begin(), stage.end());
  }
  return names;
}

absl::StatusOr<PassManager> build_pipeline(const std::vector<std::string>& names,
                                           const OptimizerConfig& optimizer,
                                           PassManagerOptions options) {
  PassManager pm(std::move(options));
  for (const std::string& name : names) {
    auto pass = make_pass(name, optimizer);
    if (!pass.ok()) return pass.status();
    pm.add(*std::move(pass));
  }
  return pm;
}

}  // namespace kiln::passes
