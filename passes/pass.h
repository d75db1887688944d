// Passes over the IR and the pass manager that runs a named list of them.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "kiln/compile_options.h"

namespace kiln::passes {

/// One transformation of a graph.
class Pass {
 public:
  virtual ~Pass() = default;
  /// The name used in pipelines and dumps ("autodiff").
  virtual std::string_view name() const = 0;
  /// Transforms `graph`; returns whether it changed anything, or an error.
  virtual absl::StatusOr<bool> run(ir::Graph& graph) = 0;
  /// Whether the graph's memory plan stays valid when the pass changes the
  /// graph; otherwise the pass manager drops the plan after a change.
  virtual bool keeps_memory_plan() const { return false; }
};

/// The pass manager's options are the public pipeline options (CompileOptions::pipeline).
using PassManagerOptions = kiln::PipelineOptions;
using kiln::PassTiming;

/// Formats timing rows as an aligned table whose lines start with "//", with
/// a share-of-total column and a total row.
std::string format_pass_timing(const std::vector<PassTiming>& rows, std::string_view title);

/// Runs passes in order, verifying and printing as the options say.
class PassManager {
 public:
  explicit PassManager(PassManagerOptions options = {}) : options_(std::move(options)) {}
  /// Appends a pass.
  void add(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  /// Names of the passes, in order.
  std::vector<std::string> names() const;
  /// Runs the passes in order (up to options.stop_after); an error names the
  /// pass that failed. Dumps and the timing table cover the passes that ran.
  absl::Status run(ir::Graph& graph) const;

 private:
  PassManagerOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
};

}  // namespace kiln::passes
