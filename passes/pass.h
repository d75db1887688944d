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

/// Time spent in one pass of a pipeline run.
struct PassTiming {
  std::string name;
  double seconds = 0;
  /// Whether the pass changed the graph; not set for rows that are not passes.
  std::optional<bool> changed;
  /// Node count after the pass (-1 for rows that are not passes).
  int64_t nodes = -1;
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
  /// Where the printed IR, dump paths and timing table go (std::cerr when null).
  std::ostream* stream = nullptr;
  /// Stop after the first pass of this name; the later passes do not run. A
  /// pipeline without a pass of this name runs to the end.
  std::string stop_after;
  /// When not empty, write the input and the IR after every pass to numbered
  /// files in this directory (00-input.kir, 01-infer-shapes.kir, ...) and print
  /// each path. File N is the input of pass N + 1, so `kiln opt` reproduces any
  /// pass from its predecessor's file. Numbering continues across the pipelines
  /// a process runs into the same directory, so later graphs never overwrite
  /// earlier ones.
  std::string ir_dump_dir;
  /// Print a table of the time each pass (and the verifier) took after the run.
  bool pass_timing = false;
  /// When set, every run appends one row per pass here, so a caller can add
  /// its own rows (e.g. code generation) and print one table.
  std::vector<PassTiming>* timings = nullptr;
};

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
