// The LLVM optimisation pipeline and object emission shared by the JIT and the
// ahead-of-time export (internal to codegen/). The only file besides the
// engine that includes PassBuilder's headers is its .cc.
#pragma once

#include "absl/status/status.h"
#include "codegen/jit.h"
#include "llvm/ADT/SmallVector.h"

namespace llvm {
class Module;
class TargetMachine;
}  // namespace llvm

namespace kiln::codegen {

/// Optimises `module` for `tm` with `pipeline`.
void optimize_module(llvm::Module& module, llvm::TargetMachine& tm, LlvmPipeline pipeline);

/// Compiles `module` to an object file in `out`.
absl::Status emit_object(llvm::Module& module, llvm::TargetMachine& tm,
                         llvm::SmallVector<char, 0>* out);

}  // namespace kiln::codegen
