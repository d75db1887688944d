// The exported object holds the step the JIT would compile for the same graph
// (same emitter, same pipeline), a driver that feeds it the caller's rows a
// batch at a time, the weights as read-only data and the arena as static
// memory. It references nothing but memcpy/memset and libm.
#include "codegen/aot.h"

#include <optional>

#include "codegen/emitter.h"
#include "codegen/llvm_pipeline.h"
#include "codegen/object_cache.h"
#include "codegen/target.h"
#include "ir/strings.h"
#include "ir/text.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/IntrinsicsX86.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

namespace kiln {
namespace {

using llvm::Value;

struct AotTarget {
  std::string cpu, features;
  int width = 8;
};

absl::StatusOr<AotTarget> ChooseAotTarget(const std::string& target) {
  if (target == "x86-64-v3") return AotTarget{"x86-64-v3", "", 8};
  if (!target.empty() && target != "host") {
    return absl::InvalidArgumentError(
        str_cat("unknown export target \"", target, "\" (expected host or x86-64-v3)"));
  }
  auto chosen = codegen::ChooseTarget(Isa::kAuto);
  if (!chosen.ok()) return chosen.status();
  AotTarget t{chosen->cpu, "", chosen->width};
  for (const auto& [feature, on] : llvm::sys::getHostCPUFeatures()) {
    str_append(&t.features, t.features.empty() ? "" : ",", on ? "+" : "-", feature.str());
  }
  for (const std::string& off : chosen->disabled) str_append(&t.features, ",-", off);
  return t;
}

bool IsIdentifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// The node of op `op` named `name`.
std::optional<ir::NodeId> Named(const ir::Graph& g, ir::OpKind op, const std::string& name) {
  for (ir::NodeId id : g.nodes_of(op)) {
    if (ir::attr_string(g.nodes[id].attrs, "name") == name) return id;
  }
  return std::nullopt;
}

// Read-only data holding `bytes`, 64-byte aligned.
llvm::GlobalVariable* Constant(llvm::Module& m, const std::string& name, llvm::StringRef bytes) {
  llvm::Constant* init =
      llvm::ConstantDataArray::getString(m.getContext(), bytes, /*AddNull=*/false);
  auto* g = new llvm::GlobalVariable(m, init->getType(), /*isConstant=*/true,
                                     llvm::GlobalValue::InternalLinkage, init, name);
  g->setAlignment(llvm::Align(64));
  return g;
}

// Zeroed static memory of `bytes`, 64-byte aligned.
llvm::GlobalVariable* Scratch(llvm::Module& m, const std::string& name, int64_t bytes) {
  auto* type = llvm::ArrayType::get(llvm::Type::getInt8Ty(m.getContext()),
                                    static_cast<uint64_t>(std::max<int64_t>(bytes, 1)));
  auto* g = new llvm::GlobalVariable(m, type, false, llvm::GlobalValue::InternalLinkage,
                                     llvm::ConstantAggregateZero::get(type), name);
  g->setAlignment(llvm::Align(64));
  return g;
}

// The step's matmuls hand their tiles to kiln_parallel_for; exported code runs
// them all on the caller's thread, in order (a tile's result never depends on
// which thread computes it).
void DefineSerialParallelFor(llvm::Module& m) {
  llvm::Function* f = m.getFunction("kiln_parallel_for");
  if (f == nullptr || !f->isDeclaration()) return;
  f->setLinkage(llvm::GlobalValue::InternalLinkage);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(m.getContext(), "entry", f));
  auto* task_type =
      llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy(), b.getInt64Ty(), b.getInt64Ty()}, false);
  b.CreateCall(task_type, f->getArg(0), {f->getArg(1), b.getInt64(0), f->getArg(2)});
  b.CreateRetVoid();
}

class Driver {
 public:
  Driver(const ir::Graph& g, const codegen::BufferPlan& plan, llvm::Module& m)
      : g_(g), plan_(plan), m_(m), b_(m.getContext()) {}

  // int32_t fn(const float* x, int64_t n, float* y): rows of x, batch by batch.
  absl::Status Define(const std::string& fn_name, llvm::Function* step,
                      const std::map<std::string, const Tensor*>& weights) {
    auto input = Named(g_, ir::OpKind::kInput, "x");
    auto output = Named(g_, ir::OpKind::kOutput, "predictions");
    if (!input || !output) {
      return absl::InvalidArgumentError(
          "the graph has no input \"x\" or no output \"predictions\"");
    }
    const ir::Type& in = g_.nodes[*input].type;
    const ir::Type& out = g_.nodes[*output].type;
    if (in.dtype != ir::DType::kF32 || out.dtype != ir::DType::kF32 || in.shape.empty()) {
      return absl::InvalidArgumentError("exported graphs take and return f32 rows");
    }
    batch_ = g_.capacity > 0 ? g_.capacity : in.shape[0];
    in_row_ = ir::num_elements(g_.at_capacity(in.shape)) / std::max<int64_t>(batch_, 1) * 4;
    out_row_ = ir::num_elements(g_.at_capacity(out.shape)) / std::max<int64_t>(batch_, 1) * 4;
    llvm::Type* ptr = b_.getPtrTy();
    auto* type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, b_.getInt64Ty(), ptr}, false);
    fn_ = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage, fn_name, m_);
    b_.SetInsertPoint(llvm::BasicBlock::Create(m_.getContext(), "entry", fn_));
    table_ = b_.CreateAlloca(llvm::ArrayType::get(ptr, g_.nodes.size()));
    error_ = b_.CreateAlloca(llvm::ArrayType::get(b_.getInt64Ty(), 3));
    if (auto s = BindStorage(weights); !s.ok()) return s;
    Value* saved = SetFlushToZero();
    Value* status = Batches(step, *input, plan_.root[*output]);
    b_.CreateCall(llvm::Intrinsic::getDeclaration(&m_, llvm::Intrinsic::x86_sse_ldmxcsr), {saved});
    b_.CreateRet(status);
    return absl::OkStatus();
  }

 private:
  void SetSlot(ir::NodeId id, Value* storage) {
    b_.CreateStore(storage, b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), table_, id));
  }

  // Every node's storage, as the JIT executor binds it: arena slices,
  // constants filled once, weights from the model.
  absl::Status BindStorage(const std::map<std::string, const Tensor*>& weights) {
    llvm::GlobalVariable* arena = Scratch(m_, "arena", plan_.arena_bytes);
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const ir::Node& n = g_.nodes[i];
      auto id = static_cast<ir::NodeId>(i);
      if (plan_.owned[i] && plan_.offset[i] >= 0) {
        SetSlot(id, b_.CreateConstInBoundsGEP1_64(b_.getInt8Ty(), arena, plan_.offset[i]));
      } else if (plan_.owned[i]) {
        std::vector<float> fill(ir::num_elements(g_.at_capacity(n.type.shape)),
                                static_cast<float>(ir::attr_float(n.attrs, "value")));
        SetSlot(id, Constant(m_, str_cat("constant.", i),
                             llvm::StringRef(reinterpret_cast<const char*>(fill.data()),
                                             fill.size() * sizeof(float))));
      } else if (n.op == ir::OpKind::kVariable) {
        const std::string& name = ir::attr_string(n.attrs, "name");
        auto it = weights.find(name);
        if (it == weights.end() || !has_type(*it->second, n.type)) {
          return absl::InvalidArgumentError(
              str_cat("no weight \"", name, "\" of type ", ir::type_string(n.type)));
        }
        const Tensor& t = *it->second;
        SetSlot(id, Constant(m_, str_cat("weight.", name),
                             llvm::StringRef(reinterpret_cast<const char*>(t.raw()), t.nbytes())));
      }
    }
    return absl::OkStatus();
  }

  // MXCSR flush-to-zero and denormals-are-zero, as the executors run steps;
  // returns the slot holding the caller's value.
  Value* SetFlushToZero() {
    Value* saved = b_.CreateAlloca(b_.getInt32Ty());
    Value* mine = b_.CreateAlloca(b_.getInt32Ty());
    b_.CreateCall(llvm::Intrinsic::getDeclaration(&m_, llvm::Intrinsic::x86_sse_stmxcsr), {saved});
    b_.CreateStore(b_.CreateOr(b_.CreateLoad(b_.getInt32Ty(), saved), 0x8040), mine);
    b_.CreateCall(llvm::Intrinsic::getDeclaration(&m_, llvm::Intrinsic::x86_sse_ldmxcsr), {mine});
    return saved;
  }

  // for (done = 0; done < n; done += batch): the step on min(batch, n - done)
  // rows, read in place by a batch-polymorphic step; for a static one, a
  // partial last batch is copied into zeroed scratch rows first.
  Value* Batches(llvm::Function* step, ir::NodeId input, ir::NodeId result) {
    llvm::LLVMContext& ctx = m_.getContext();
    const bool polymorphic = g_.capacity > 0;
    llvm::GlobalVariable* pad = polymorphic ? nullptr : Scratch(m_, "padded_rows", batch_ * in_row_);
    Value* x = fn_->getArg(0);
    Value* n = fn_->getArg(1);
    Value* y = fn_->getArg(2);
    llvm::BasicBlock* entry = b_.GetInsertBlock();
    llvm::BasicBlock* loop = llvm::BasicBlock::Create(ctx, "batch", fn_);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx, "done", fn_);
    b_.CreateCondBr(b_.CreateICmpSGT(n, b_.getInt64(0)), loop, done);
    b_.SetInsertPoint(loop);
    llvm::PHINode* row = b_.CreatePHI(b_.getInt64Ty(), 2, "row");
    row->addIncoming(b_.getInt64(0), entry);
    Value* rows = b_.CreateSelect(b_.CreateICmpSLT(b_.CreateSub(n, row), b_.getInt64(batch_)),
                                  b_.CreateSub(n, row), b_.getInt64(batch_));
    Value* src = b_.CreateGEP(b_.getInt8Ty(), x, b_.CreateMul(row, b_.getInt64(in_row_)));
    Value* full = polymorphic ? b_.getTrue() : b_.CreateICmpEQ(rows, b_.getInt64(batch_));
    Value* in_bytes = b_.CreateMul(rows, b_.getInt64(in_row_));
    llvm::BasicBlock* partial = llvm::BasicBlock::Create(ctx, "partial", fn_);
    llvm::BasicBlock* run = llvm::BasicBlock::Create(ctx, "run", fn_);
    llvm::BasicBlock* before = b_.GetInsertBlock();
    b_.CreateCondBr(full, run, partial);
    b_.SetInsertPoint(partial);
    if (pad) {
      b_.CreateMemSet(pad, b_.getInt8(0), batch_ * in_row_, llvm::MaybeAlign(64));
      b_.CreateMemCpy(pad, llvm::MaybeAlign(64), src, llvm::MaybeAlign(4), in_bytes);
    }
    b_.CreateBr(run);
    b_.SetInsertPoint(run);
    llvm::PHINode* rows_in = b_.CreatePHI(b_.getPtrTy(), 2, "rows_in");
    rows_in->addIncoming(src, before);
    rows_in->addIncoming(pad ? static_cast<Value*>(pad) : src, partial);
    SetSlot(input, rows_in);
    Value* status =
        b_.CreateCall(step, {table_, b_.getInt64(0), polymorphic ? rows : b_.getInt64(batch_),
                             error_, llvm::ConstantPointerNull::get(b_.getPtrTy())});
    Value* dst = b_.CreateGEP(b_.getInt8Ty(), y, b_.CreateMul(row, b_.getInt64(out_row_)));
    Value* result_storage =
        b_.CreateLoad(b_.getPtrTy(), b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), table_, result));
    b_.CreateMemCpy(dst, llvm::MaybeAlign(4), result_storage, llvm::MaybeAlign(4),
                    b_.CreateMul(rows, b_.getInt64(out_row_)));
    Value* next = b_.CreateAdd(row, rows);
    row->addIncoming(next, b_.GetInsertBlock());
    llvm::BasicBlock* tail = b_.GetInsertBlock();
    b_.CreateCondBr(
        b_.CreateAnd(b_.CreateICmpEQ(status, b_.getInt32(0)), b_.CreateICmpSLT(next, n)), loop,
        done);
    b_.SetInsertPoint(done);
    llvm::PHINode* result_status = b_.CreatePHI(b_.getInt32Ty(), 2, "status");
    result_status->addIncoming(b_.getInt32(0), entry);
    result_status->addIncoming(status, tail);
    return result_status;
  }

  const ir::Graph& g_;
  const codegen::BufferPlan& plan_;
  llvm::Module& m_;
  llvm::IRBuilder<> b_;
  llvm::Function* fn_ = nullptr;
  Value* table_ = nullptr;
  Value* error_ = nullptr;
  int64_t batch_ = 1, in_row_ = 0, out_row_ = 0;
};

std::string ShapeText(const ir::Shape& shape) {
  std::string s = "(n";
  for (size_t i = 1; i < shape.size(); ++i) str_append(&s, ", ", shape[i]);
  return s + ")";
}

std::string Header(const ir::Graph& g, const AotOptions& o, const std::string& hash,
                   const std::string& cpu) {
  const ir::Type& in = g.nodes[*Named(g, ir::OpKind::kInput, "x")].type;
  const ir::Type& out = g.nodes[*Named(g, ir::OpKind::kOutput, "predictions")].type;
  const int64_t batch = g.capacity > 0 ? g.capacity : in.shape[0];
  const std::string upper = [&] {
    std::string u = o.name;
    for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return u;
  }();
  const std::string fn = str_cat(o.name, "_predict_", hash);
  return str_cat("/* Generated by Kiln: ", o.description, ".\n", " * Compiled for CPU ", cpu,
                 "; link with ", o.name, ".o and -lm (no other library).\n", " * Export ", hash,
                 ": this header and ", o.name, ".o come from one export; a header and an\n",
                 " * object of different exports do not link. */\n", "#ifndef ", upper,
                 "_KILN_H_\n#define ", upper, "_KILN_H_\n\n#include <stdint.h>\n\n",
                 "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", "/* Floats per input row, ",
                 ShapeText(in.shape), " row-major, and per output row. */\n", "#define ", upper,
                 "_INPUT_SIZE ", ir::num_elements(g.at_capacity(in.shape)) / batch, "\n", "#define ", upper,
                 "_OUTPUT_SIZE ", ir::num_elements(g.at_capacity(out.shape)) / batch, "\n\n", "int32_t ", fn,
                 "(const float* x, int64_t n, float* y);\n\n",
                 "/* The model's predictions for n rows: x holds n * ", upper,
                 "_INPUT_SIZE floats (row-major,\n", " * as the model's input ",
                 ShapeText(in.shape), "), y receives n * ", upper,
                 "_OUTPUT_SIZE floats, the model's\n", " * output ", ShapeText(out.shape),
                 " (class probabilities for a softmax model). ", "Rows are computed\n * ", batch,
                 " at a time, with flush-to-zero set for the call as Kiln does. Returns 0.\n",
                 " * Not thread-safe: it works in static memory, so calls must not overlap\n",
                 " * (use one lock, or one process per thread). */\n", "static inline int32_t ",
                 o.name, "_predict(const float* x, int64_t n, float* y) {\n", "  return ", fn,
                 "(x, n, y);\n}\n\n", "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

}  // namespace

absl::StatusOr<AotFiles> compile_aot(const ir::Graph& graph,
                                     const std::map<std::string, const Tensor*>& weights,
                                     const AotOptions& options) {
  if (!IsIdentifier(options.name)) {
    return absl::InvalidArgumentError(
        str_cat("export name \"", options.name, "\" is not a C identifier"));
  }
  if (!graph.planned()) return absl::FailedPreconditionError("export needs a planned graph");
  codegen::InitializeLlvm();
  auto target = ChooseAotTarget(options.target);
  if (!target.ok()) return target.status();
  std::string triple = llvm::sys::getProcessTriple();
  std::string error;
  const llvm::Target* llvm_target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!llvm_target) return absl::InternalError(str_cat("no LLVM target for ", triple, ": ", error));
  // Position-independent, so the object links into PIE executables and
  // shared libraries alike.
  std::unique_ptr<llvm::TargetMachine> tm(llvm_target->createTargetMachine(
      triple, target->cpu, target->features, llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));

  llvm::LLVMContext context;
  llvm::Module module(options.name, context);
  module.setDataLayout(tm->createDataLayout());
  module.setTargetTriple(triple);
  codegen::BufferPlan plan = codegen::buffer_plan(graph);
  const std::string step_name = str_cat(options.name, ".step");
  if (auto s =
          codegen::emit_step(graph, plan, target->width, step_name.c_str(), 0, 1, false, module);
      !s.ok()) {
    return s;
  }
  DefineSerialParallelFor(module);
  // The hash names the entry point: it covers the code and the weights.
  std::string content =
      str_cat(options.target, "\n", target->cpu, target->features, "\n", ir::print(graph));
  for (const auto& [name, t] : weights) {
    content.append(name).append(reinterpret_cast<const char*>(t->raw()), t->nbytes());
  }
  const std::string hash = codegen::ObjectCache::hash(content + "\n" + step_name).substr(0, 16);
  const std::string fn_name = str_cat(options.name, "_predict_", hash);
  Driver driver(graph, plan, module);
  if (auto s = driver.Define(fn_name, module.getFunction(step_name), weights); !s.ok()) return s;
  // Only the entry point is visible: two exports link into one program.
  for (llvm::Function& f : module) {
    if (!f.isDeclaration() && f.getName() != fn_name)
      f.setLinkage(llvm::GlobalValue::InternalLinkage);
  }
  std::string verify_errors;
  llvm::raw_string_ostream verify_stream(verify_errors);
  if (llvm::verifyModule(module, &verify_stream)) {
    return absl::InternalError(str_cat("export produced invalid LLVM IR: ", verify_errors));
  }
  codegen::optimize_module(module, *tm, LlvmPipeline::kKiln);
  llvm::SmallVector<char, 0> object;
  if (auto s = codegen::emit_object(module, *tm, &object); !s.ok()) return s;
  return AotFiles{std::string(object.data(), object.size()),
                  Header(graph, options, hash, target->cpu)};
}

}  // namespace kiln
