#include "codegen/llvm_pipeline.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/IPO/AlwaysInliner.h"
#include "llvm/Transforms/InstCombine/InstCombine.h"
#include "llvm/Transforms/Scalar/EarlyCSE.h"
#include "llvm/Transforms/Scalar/LICM.h"
#include "llvm/Transforms/Scalar/LoopPassManager.h"
#include "llvm/Transforms/Scalar/SROA.h"
#include "llvm/Transforms/Scalar/SimplifyCFG.h"
#include "llvm/Transforms/Vectorize/LoopVectorize.h"

namespace kiln::codegen {
namespace {

// What the emitted code needs, and no more: the emitter already tiles,
// unrolls and vectorises the matmuls and gives every kernel its own function
// with noalias buffers, so the only functions to inline are the few marked
// always-inline (one vector of a matmul's epilogue, inside the next tile's k
// loop) and there is no loop nest to restructure. Left to do: promote the
// few allocas, clean up the index arithmetic, hoist loop-invariant loads
// (broadcast scalars) and vectorise the elementwise loops.
llvm::ModulePassManager KilnPipeline() {
  llvm::FunctionPassManager early;
  early.addPass(llvm::SROAPass(llvm::SROAOptions::ModifyCFG));
  early.addPass(llvm::EarlyCSEPass(/*UseMemorySSA=*/false));
  early.addPass(llvm::InstCombinePass());
  early.addPass(llvm::SimplifyCFGPass());
  early.addPass(llvm::createFunctionToLoopPassAdaptor(llvm::LICMPass(llvm::LICMOptions()),
                                                      /*UseMemorySSA=*/true));
  early.addPass(llvm::LoopVectorizePass());
  early.addPass(llvm::InstCombinePass());
  early.addPass(
      llvm::SimplifyCFGPass(llvm::SimplifyCFGOptions().convertSwitchToLookupTable(false)));
  llvm::ModulePassManager mpm;
  mpm.addPass(llvm::AlwaysInlinerPass(/*InsertLifetimeIntrinsics=*/false));
  mpm.addPass(llvm::createModuleToFunctionPassAdaptor(std::move(early)));
  return mpm;
}

}  // namespace

void optimize_module(llvm::Module& m, llvm::TargetMachine& tm, LlvmPipeline pipeline) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  // Full unrolling of the many short constant-trip loops multiplies code size
  // (and compile time) for little gain; the matmul tiles are unrolled by hand.
  // Measured on the seed-001 step: unrolling makes compilation 2-5x slower.
  llvm::PipelineTuningOptions tuning;
  tuning.LoopUnrolling = false;
  // Without the target machine the vectorisers see no vector registers.
  llvm::PassBuilder pb(&tm, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  if (pipeline == LlvmPipeline::kO3) {
    pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(m, mam);
  } else {
    KilnPipeline().run(m, mam);
  }
}

absl::Status emit_object(llvm::Module& m, llvm::TargetMachine& tm,
                         llvm::SmallVector<char, 0>* out) {
  llvm::raw_svector_ostream os(*out);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    return absl::InternalError("the target cannot emit object files");
  }
  pm.run(m);
  return absl::OkStatus();
}

}  // namespace kiln::codegen
