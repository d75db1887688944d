// Passes over the IR and the pass manager that runs a named list of them.
#pragma once

#include <iosfwd>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

/// One transformation of a graph.
class Pass {
 public:
  virtual ~Pass() = default;
  /// The name used in pipelines and dumps ("autodiff").
  virtual std::string_view name() const = 0;
  /// Transforms `graph`; returns whether it changed anything, or an error.
  virtual absl::StatusOr<bool> run(ir::Graph& graph) = 0;
};

/// Debugging and checking options of a pass pipeline.
struct PassManagerOptions {
  /// Verify the graph before the first pass and after every pass.
  bool verify_each = true;
  /// Print the IR after every pass / only after passes that changed it.
  bool print_ir_after_all = false;
  bool print_ir_after_change = false;
  /// Print the IR before / after the passes named here.
  std::set<std::string, std::less<>> print_ir_before;
  std::set<std::string, std::less<>> print_ir_after;
  /// Where the printed IR goes (std::cerr when null).
  std::ostream* stream = nullptr;
};

/// Runs passes in order, verifying and printing as the options say.
class PassManager {
 public:
  explicit PassManager(PassManagerOptions options = {}) : options_(std::move(options)) {}
  /// Appends a pass.
  void add(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  /// Names of the passes, in order.
  std::vector<std::string> names() const;
  /// Runs every pass; an error names the pass that failed.
  absl::Status run(ir::Graph& graph) const;

 private:
  PassManagerOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
};

}  // namespace kiln::passes
