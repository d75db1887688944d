// Ahead-of-time export: a model's prediction graph compiled into a relocatable
// object with its weights embedded, and a C header, for programs that link
// neither Kiln nor LLVM (tfcompile's and AOTInductor's idea). Free of LLVM types.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "runtime/tensor.h"

namespace kiln {

/// What to export.
struct AotOptions {
  /// The C identifier prefix and file stem: "mnist" gives mnist_predict().
  std::string name;
  /// "host" (or empty): this machine's CPU, AVX-512 when it has it;
  /// "x86-64-v3": any x86-64 CPU with AVX2 and FMA.
  std::string target;
  /// One line on what the model is, for the header's comment.
  std::string description;
};

/// The exported pair; the object defines <name>_predict_<hash>, which the
/// header's inline <name>_predict() calls, so a header and an object from
/// different exports fail to link instead of running with the wrong weights.
struct AotFiles {
  std::string object, header;
};

/// Compiles `graph`, a planned forward graph with input "x" (f32, batch
/// first) and output "predictions", with `weights` (by variable name)
/// embedded as constants. Calls process any number of rows, the graph's batch
/// at a time (a last partial batch is zero-padded).
absl::StatusOr<AotFiles> compile_aot(const ir::Graph& graph,
                                     const std::map<std::string, const Tensor*>& weights,
                                     const AotOptions& options);

}  // namespace kiln
