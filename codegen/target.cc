// Which CPU the JIT targets: the host's CPU name and features, narrowed to the
// requested ISA, and the text that describes it (jit_host_description).
#include "codegen/target.h"

#include <mutex>

#include "codegen/jit.h"
#include "ir/strings.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "support/env.h"

namespace kiln {
namespace codegen {

void InitializeLlvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    // Loop strength reduction is a fifth of code generation time here and
    // buys nothing: the emitter computes tile addresses itself. Measured on
    // this machine: the same GFLOP/s on every dense shape with it off, and the
    // seed-001 step compiles in ~88 ms instead of ~110. LLVM exposes the switch
    // only as a command-line option of the process's LLVM.
    auto& options = llvm::cl::getRegisteredOptions();
    if (auto it = options.find("disable-lsr"); it != options.end()) {
      static_cast<llvm::cl::opt<bool>*>(it->second)->setValue(true);
    }
  });
}

namespace {

// KILN_ISA=avx2|avx512 stands in for Isa::kAuto, so that a program can be run
// on the other code path without rebuilding it; unset or "auto" keeps kAuto.
absl::StatusOr<Isa> IsaFromEnv() {
  std::optional<std::string> name = env_string("KILN_ISA");
  if (!name || *name == "auto") return Isa::kAuto;
  if (*name == "avx2") return Isa::kAvx2;
  if (*name == "avx512") return Isa::kAvx512;
  return absl::InvalidArgumentError(str_cat("KILN_ISA=", *name, ": expected avx2, avx512 or auto"));
}

}  // namespace

absl::StatusOr<Target> ChooseTarget(Isa isa) {
  if (isa == Isa::kAuto) {
    absl::StatusOr<Isa> from_env = IsaFromEnv();
    if (!from_env.ok()) return from_env.status();
    isa = *from_env;
  }
  auto features = llvm::sys::getHostCPUFeatures();
  auto has = [&](const char* f) { return features.lookup(f); };
  Target t;
  t.cpu = llvm::sys::getHostCPUName().str();
  if (!has("avx2") || !has("fma")) {
    return absl::FailedPreconditionError(
        "the host CPU lacks AVX2 and FMA, which the JIT needs; use Backend::kInterpreter");
  }
  bool avx512 = has("avx512f");
  if (isa == Isa::kAvx512 && !avx512) {
    return absl::FailedPreconditionError(
        "Isa::kAvx512 was requested but the host CPU lacks avx512f");
  }
  if (isa == Isa::kAvx2 || !avx512) {
    // Turning off avx512f also turns off every AVX-512 extension built on it.
    if (avx512) t.disabled.push_back("avx512f");
    t.width = 8;
    t.isa = "avx2";
  } else {
    t.width = 16;
    t.isa = "avx512";
  }
  return t;
}

}  // namespace codegen

std::string jit_host_description(Isa isa) {
  codegen::InitializeLlvm();
  auto target = codegen::ChooseTarget(isa);
  if (!target.ok()) return std::string(target.status().message());
  return str_cat(target->cpu, " ", target->isa, " (vector width ", target->width, ")");
}

}  // namespace kiln
