#include "tools/stages.h"

#include "absl/strings/str_join.h"
#include "ir/strings.h"
#include "ir/verifier.h"
#include "passes/pipeline.h"

namespace kiln::tools {
namespace {

std::vector<std::string> NoPasses() { return {}; }

absl::Status Verify(StageContext& context) {
  if (!context.pipeline.verify_each) return absl::OkStatus();
  return ir::verify(context.graph);
}

absl::Status RunTrainingPipeline(StageContext& context) {
  absl::StatusOr<passes::PassManager> pm =
      passes::build_pipeline(passes::training_pipeline(), context.optimizer, context.pipeline);
  if (!pm.ok()) return pm.status();
  return pm->run(context.graph);
}

}  // namespace

const std::vector<Stage>& stages() {
  static const auto* ladder = new std::vector<Stage>{
      {"graph", "the forward pass and loss as recorded, before any pass", NoPasses, Verify},
      {"grad", "the training step: forward, backward and optimizer update (training pipeline)",
       passes::training_pipeline, RunTrainingPipeline},
  };
  return *ladder;
}

absl::StatusOr<size_t> find_stage(std::string_view name) {
  for (size_t i = 0; i < stages().size(); ++i) {
    if (stages()[i].name == name) return i;
  }
  return absl::InvalidArgumentError(
      str_cat("unknown stage '", name, "' (valid stages, in order: ", stage_names(), ")"));
}

std::string stage_names() {
  std::vector<std::string> names;
  for (const Stage& s : stages()) names.emplace_back(s.name);
  return absl::StrJoin(names, ", ");
}

absl::Status run_stages(size_t last, StageContext& context, const StageCallback& after_each) {
  for (size_t i = 0; i <= last; ++i) {
    if (auto s = stages()[i].lower(context); !s.ok()) return s;
    if (after_each) {
      if (auto s = after_each(i, context); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::tools
