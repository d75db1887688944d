#include "tools/stages.h"

#include <iostream>

#include "absl/strings/str_join.h"
#include "kiln/advanced.h"

namespace kiln::tools {
namespace {

std::vector<std::string> NoPasses(int) { return {}; }

absl::Status Verify(StageContext& context) {
  if (!context.pipeline.verify_each) return absl::OkStatus();
  return ir::verify(context.graph);
}

absl::Status RunPasses(StageContext& context, const std::vector<std::string>& names) {
  absl::StatusOr<passes::PassManager> pm =
      passes::build_pipeline(names, context.optimizer, context.pipeline);
  if (!pm.ok()) return pm.status();
  return pm->run(context.graph);
}

std::vector<std::string> FusionPasses(int) { return passes::fusion_pipeline(); }

absl::Status RunGradientPipeline(StageContext& context) {
  return RunPasses(context, passes::gradient_pipeline(context.world_size));
}
absl::Status RunFusion(StageContext& context) { return RunPasses(context, FusionPasses(1)); }
std::vector<std::string> PlanningPasses(int) { return passes::planning_pipeline(); }
absl::Status RunPlanning(StageContext& context) { return RunPasses(context, PlanningPasses(1)); }

absl::Status Emit(StageContext& context, JitArtifact what) {
  // The JIT compiles planned graphs only; an unplanned one (a .kir file
  // written before plan-memory) is partitioned and planned as the pipeline would.
  if (!context.graph.planned()) {
    if (auto s = RunPlanning(context); !s.ok()) return s;
  }
  JitTimings t;
  absl::StatusOr<std::string> text = jit_artifact(context.graph, what, {}, &t);
  if (!text.ok()) return text.status();
  context.text = *std::move(text);
  if (context.pipeline.pass_timing) {
    std::vector<passes::PassTiming> rows = {{"llvm emit", t.emit, std::nullopt, -1},
                                            {"llvm optimise", t.optimize, std::nullopt, -1}};
    if (what == JitArtifact::kAssembly)
      rows.push_back({"llvm codegen", t.codegen, std::nullopt, -1});
    std::ostream& out = context.pipeline.stream ? *context.pipeline.stream : std::cerr;
    out << passes::format_pass_timing(rows,
                                      str_cat("LLVM timing, graph \"", context.graph.name, "\""));
  }
  return absl::OkStatus();
}
absl::Status EmitLlvm(StageContext& context) {
  return Emit(context, JitArtifact::kOptimizedLlvmIr);
}
absl::Status EmitAsm(StageContext& context) { return Emit(context, JitArtifact::kAssembly); }

}  // namespace

const std::vector<Stage>& stages() {
  static const auto* ladder = new std::vector<Stage>{
      {"graph", "the forward pass and loss as recorded, before any pass", NoPasses, Verify},
      {"grad", "the training step: forward, backward and optimizer update, unfused",
       passes::gradient_pipeline, RunGradientPipeline},
      {"fused", "the training step with its fusion groups (fused=N)", FusionPasses, RunFusion},
      {"planned",
       "the fused step with its thread partition (split=...), the units that run beside "
       "another (beside=%N) and its memory plan (mem=..., arena=BYTES): what the JIT compiles",
       PlanningPasses, RunPlanning},
      {"llvm", "the LLVM IR the JIT makes of the fused step, after O3", NoPasses, EmitLlvm},
      {"asm", "the host assembly of the step", NoPasses, EmitAsm},
  };
  return *ladder;
}

absl::StatusOr<size_t> find_stage(std::string_view name) {
  for (size_t i = 0; i < stages().size(); ++i) {
    if (stages()[i].name == name) return i;
  }
  return absl::InvalidArgumentError(
      str_cat("unknown stage '", excerpt(name), "' (valid stages, in order: ", stage_names(), ")"));
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
