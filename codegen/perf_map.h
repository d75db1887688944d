// Names JIT code for `perf report` (internal to codegen/).
#pragma once

namespace llvm::orc {
class LLJIT;
}

namespace kiln::codegen {

/// With KILN_PERF_MAP=1, makes `jit`'s linker append every function it links
/// to /tmp/perf-PID.map; otherwise does nothing.
void add_perf_map_plugin(llvm::orc::LLJIT& jit);

}  // namespace kiln::codegen
