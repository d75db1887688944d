// The example models of examples/, rebuilt by name for `kiln ir seed001`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/advanced.h"

namespace kiln::tools {

/// A built-in model: the layers, optimizer and loss of one example program.
struct BuiltinModel {
  std::string_view name;
  /// One line: layers, optimizer, loss.
  std::string_view description;
  /// The batch size the example trains with; the default of --batch.
  int batch_size;
};

/// Every built-in model, in name order.
const std::vector<BuiltinModel>& builtin_models();

/// The model called `name`, or null.
const BuiltinModel* find_builtin_model(std::string_view name);

/// "seed000, seed001, ..." for error messages and help.
std::string builtin_model_names();

/// `model` built and compiled exactly as its example does, with `options`.
absl::StatusOr<Sequential> make_builtin_model(const BuiltinModel& model,
                                              const CompileOptions& options = {});

/// A model recorded as a training graph: forward pass, loss and metrics,
/// before any pass has run, and the optimizer it was compiled with.
struct RecordedModel {
  ir::Graph graph;
  std::string optimizer_name;
  passes::OptimizerConfig optimizer;
};

/// Builds and compiles `model` exactly as its example does (no data needed)
/// and records its training graph for a batch of `batch_size`.
absl::StatusOr<RecordedModel> record_builtin_model(const BuiltinModel& model, int batch_size);

}  // namespace kiln::tools
