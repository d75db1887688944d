// The emit ladder of `kiln ir`: the stages a model goes through, in order.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "kiln/advanced.h"

namespace kiln::tools {

/// What flows down the ladder: each stage turns the previous stage's graph
/// into its own. A stage that yields text instead (LLVM IR, assembly) adds it
/// here and is printed from it.
struct StageContext {
  ir::Graph graph;
  /// Set by the text stages (llvm, asm); printed instead of the graph.
  std::string text;
  passes::OptimizerConfig optimizer;
  passes::PassManagerOptions pipeline;
  /// Processes the training step is one of (--world-size): above 1, the
  /// grad stage runs data-parallel.
  int world_size = 1;
};

/// One rung of the ladder.
struct Stage {
  /// The --emit value ("grad").
  std::string_view name;
  /// One line for --help and error messages.
  std::string_view description;
  /// The passes the stage runs, for checking --stop-after and --print-ir-*.
  std::vector<std::string> (*pass_names)(int world_size);
  /// Lowers the previous stage's graph to this stage.
  absl::Status (*lower)(StageContext& context);
};

/// The ladder, from the recorded graph to the last stage Kiln can emit.
const std::vector<Stage>& stages();

/// The index of the stage called `name`, or an InvalidArgument error listing
/// the valid stages.
absl::StatusOr<size_t> find_stage(std::string_view name);

/// "graph, grad" for help and errors.
std::string stage_names();

/// Called after each stage with its index and result.
using StageCallback = std::function<absl::Status(size_t stage, const StageContext& context)>;

/// Walks the ladder from stage 0 (whose graph is in `context`) up to `last`,
/// calling `after_each` (if set) after every stage.
absl::Status run_stages(size_t last, StageContext& context,
                        const StageCallback& after_each = nullptr);

}  // namespace kiln::tools
