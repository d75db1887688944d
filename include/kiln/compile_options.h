// How compile() lowers a model: the executor, the JIT's instruction set and the
// pass pipeline's debugging options (print the IR after each pass, verify each).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kiln {

/// Which vector instruction set the JIT targets: kAuto picks AVX-512 when the
/// host has it, else AVX2; asking for an ISA the host lacks is an error.
enum class Isa { kAuto, kAvx2, kAvx512 };

/// Which executor runs the compiled graphs: native code from the LLVM JIT, or
/// the reference interpreter.
enum class Backend { kJit, kInterpreter };

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
struct PipelineOptions {
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

/// Compile settings beyond Keras's three.
struct CompileOptions {
  /// Unset: $KILN_BACKEND ("jit" or "interpreter") when set, else the JIT.
  std::optional<Backend> backend;
  /// The JIT's instruction set (kAuto: the host's widest); ignored by the interpreter.
  Isa isa = Isa::kAuto;
  /// The pass pipeline's options (print the IR after each pass, verify each).
  PipelineOptions pipeline;
  /// Test every value each op computes (the JIT: each fused kernel stores) for
  /// NaN and Inf, and throw at the first, naming the op (%id), its layer, its
  /// phase (fwd, bwd, upd), the epoch and the step. Also on with
  /// KILN_CHECK_NUMERICS=1. Off, it costs nothing: no check is compiled in.
  bool check_numerics = false;
};

}  // namespace kiln
