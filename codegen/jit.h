// The LLVM JIT engine: compiles a whole graph (a training step, an evaluation
// or a prediction) into one native function for the host CPU. This header is
// free of LLVM types; only codegen/*.cc include LLVM.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kiln/compile_options.h"
#include "runtime/executor.h"

namespace kiln {

/// The LLVM optimisation pipeline the JIT runs on the emitted module.
enum class LlvmPipeline {
  /// The passes Kiln's emitted code needs (SROA, CSE, InstCombine, LICM, loop
  /// vectoriser): compiles several times faster than O3 for the same kernels.
  kKiln,
  /// LLVM's full -O3 module pipeline (without loop unrolling).
  kO3,
};

/// JIT settings.
struct JitOptions {
  /// kAuto picks AVX-512 when the host has it, else AVX2, unless KILN_ISA
  /// (avx2, avx512) names one; asking for an ISA the host lacks is an error.
  Isa isa = Isa::kAuto;
  /// Print the LLVM IR before/after optimisation and the assembly of each
  /// compiled graph to stderr. Also enabled by KILN_JIT_DUMP=ir,opt-ir,asm.
  bool dump_ir = false, dump_optimized_ir = false, dump_asm = false;
  /// After each kernel, check every f32 value it stores for NaN and Inf and
  /// stop at the first (runtime/numerics.h); off: no check is compiled in.
  bool check_numerics = false;
  /// After each kernel, add the time since the previous one to the kernel's
  /// total (runtime/profile.h); each executor prints its table to stderr when
  /// destroyed. Also enabled by KILN_PROFILE=1.
  bool profile = false;
  /// The optimisation pipeline; KILN_JIT_PIPELINE=o3 selects kO3.
  LlvmPipeline pipeline = LlvmPipeline::kKiln;
};

/// A JIT engine for the host CPU, or an error saying which CPU feature is missing.
absl::StatusOr<std::unique_ptr<Engine>> make_jit(JitOptions options = {});

/// How a JIT engine's compile cache served it: graphs loaded from disk, graphs
/// compiled, and cache entries rejected (corrupt, truncated or foreign).
struct JitCacheStats {
  int hits = 0, misses = 0, rejected = 0;
};

/// The cache figures of a JIT engine (all zero for other engines).
JitCacheStats jit_cache_stats(const Engine& engine);

/// The kernel profile of a JIT executor compiled with JitOptions::profile, as
/// format_profile prints it; empty for other executors.
std::string jit_profile_report(const Executor& executor);

/// What the JIT makes of a graph, as text, for inspection (kiln ir --emit=...).
enum class JitArtifact { kLlvmIr, kOptimizedLlvmIr, kAssembly };

/// Seconds spent in each part of lowering a graph.
struct JitTimings {
  double emit = 0, optimize = 0, codegen = 0;
};

/// The LLVM IR before or after optimisation, or the assembly, of `graph`;
/// `timings`, when given, receives how long each part took.
absl::StatusOr<std::string> jit_artifact(const ir::Graph& graph, JitArtifact what,
                                         JitOptions options = {}, JitTimings* timings = nullptr);

/// "znver3 +avx2 +fma ... (vector width 8)": what the JIT targets on this host.
std::string jit_host_description(Isa isa = Isa::kAuto);

}  // namespace kiln
