// The perf-map plugin: a JITLink pass that writes the address, size and name
// of the JIT's code to the file `perf report` reads to name JIT code.
#include "codegen/perf_map.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ir/strings.h"
#include "llvm/ExecutionEngine/JITLink/JITLink.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "support/env.h"

namespace kiln::codegen {
namespace {

// With KILN_PERF_MAP=1, every function the JIT links (kernels, matmul tile
// tasks, epilogues) is appended to /tmp/perf-PID.map, the file `perf report`
// reads to name JIT code, so a profile of a training run shows kernels by name.
class PerfMapPlugin : public llvm::orc::ObjectLinkingLayer::Plugin {
 public:
  static bool requested() {
    absl::StatusOr<int> on = env_int("KILN_PERF_MAP", 0, 0, 1 << 20);
    return !on.ok() || *on >= 1;
  }

  void modifyPassConfig(llvm::orc::MaterializationResponsibility&, llvm::jitlink::LinkGraph&,
                        llvm::jitlink::PassConfiguration& config) override {
    config.PostFixupPasses.push_back([](llvm::jitlink::LinkGraph& g) {
      // JITLink keeps no symbols for local functions (matmul tile tasks and
      // epilogues). They follow the kernel that created them in the object,
      // so the code between a kernel's end and the next symbol is named
      // "<kernel>.helpers".
      struct Code {
        uint64_t address, size, block_end;
        std::string name;
      };
      std::vector<Code> code;
      for (const llvm::jitlink::Symbol* sym : g.defined_symbols()) {
        const llvm::jitlink::Block& block = sym->getBlock();
        const auto prot = static_cast<int>(block.getSection().getMemProt());
        if (!sym->hasName() || (prot & static_cast<int>(llvm::orc::MemProt::Exec)) == 0) continue;
        code.push_back({sym->getAddress().getValue(), sym->getSize(),
                        block.getAddress().getValue() + block.getSize(), sym->getName().str()});
      }
      std::sort(code.begin(), code.end(),
                [](const Code& a, const Code& b) { return a.address < b.address; });
      static std::mutex mu;
      std::lock_guard<std::mutex> lock(mu);
      std::FILE* f = std::fopen(str_cat("/tmp/perf-", getpid(), ".map").c_str(), "a");
      if (!f) return llvm::Error::success();  // profiling aid only: never fail a compile
      for (size_t i = 0; i < code.size(); ++i) {
        const Code& c = code[i];
        uint64_t end = c.address + c.size;
        uint64_t next =
            i + 1 < code.size() ? std::min(code[i + 1].address, c.block_end) : c.block_end;
        std::fprintf(f, "%llx %llx %s\n", static_cast<unsigned long long>(c.address),
                     static_cast<unsigned long long>(c.size), c.name.c_str());
        if (next >= end + 16) {  // smaller gaps are alignment padding
          std::fprintf(f, "%llx %llx %s.helpers\n", static_cast<unsigned long long>(end),
                       static_cast<unsigned long long>(next - end), c.name.c_str());
        }
      }
      std::fclose(f);
      return llvm::Error::success();
    });
  }
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility&) override {
    return llvm::Error::success();
  }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey,
                                   llvm::orc::ResourceKey) override {}
};

}  // namespace

void add_perf_map_plugin(llvm::orc::LLJIT& jit) {
  if (PerfMapPlugin::requested()) {
    if (auto* linker = llvm::dyn_cast<llvm::orc::ObjectLinkingLayer>(&jit.getObjLinkingLayer())) {
      linker->addPlugin(std::make_unique<PerfMapPlugin>());
    }
  }
}

}  // namespace kiln::codegen
