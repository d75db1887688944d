// The CPU the JIT targets (internal to codegen/): LLVM's native target, set
// up once per process, and the CPU name, features and vector width for an Isa
// on this host. Free of ORC and PassBuilder headers.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/jit.h"

namespace kiln::codegen {

/// Registers LLVM's native target and assembly printer and sets the process's
/// LLVM options, once per process.
void InitializeLlvm();

// What the JIT targets: CPU name, features and vector width, or why it cannot.
struct Target {
  std::string cpu;
  std::vector<std::string> disabled;
  int width = 8;
  std::string isa;
};

/// The target for `isa` on this host, or an error saying which CPU feature is missing.
absl::StatusOr<Target> ChooseTarget(Isa isa);

}  // namespace kiln::codegen
