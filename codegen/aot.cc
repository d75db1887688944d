// The exported object holds the step the JIT would compile for the same graph
// (same emitter, same pipeline), a driver that feeds it the caller's rows a
// batch at a time on a few threads, the weights as read-only data and the
// arenas as static memory. It references nothing but memcpy/memset, libm,
// sysconf and pthreads (all in glibc's libc since 2.34).
#include "codegen/aot.h"

#include <functional>
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

// The step's matmuls hand their tiles to kiln_parallel_for, and units that
// run beside another go to kiln_run_beside; exported code runs them all on
// the caller's thread, in order (a tile's result never depends on which
// thread computes it, nor a side unit's on when it runs).
void DefineSerialParallelFor(llvm::Module& m) {
  auto define = [&](const char* name, auto body) {
    llvm::Function* f = m.getFunction(name);
    if (f == nullptr || !f->isDeclaration()) return;
    f->setLinkage(llvm::GlobalValue::InternalLinkage);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(m.getContext(), "entry", f));
    body(b, f,
         llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy(), b.getInt64Ty(), b.getInt64Ty()},
                                 false));
    b.CreateRetVoid();
  };
  define("kiln_parallel_for",
         [](llvm::IRBuilder<>& b, llvm::Function* f, llvm::FunctionType* task) {
           b.CreateCall(task, f->getArg(0), {f->getArg(1), b.getInt64(0), f->getArg(2)});
         });
  define("kiln_run_beside", [](llvm::IRBuilder<>& b, llvm::Function* f, llvm::FunctionType* task) {
    b.CreateCall(task, f->getArg(0), {f->getArg(1), b.getInt64(0), b.getInt64(1)});
    b.CreateCall(task, f->getArg(2), {f->getArg(3), b.getInt64(0), b.getInt64(1)});
  });
}

// Rows the exported step computes at a time: its capacity, or its static batch.
int64_t RowsPerCall(const ir::Graph& g, const ir::Type& input) {
  return std::max<int64_t>(g.capacity > 0 ? g.capacity : input.shape[0], 1);
}

// Floats of one row of `type` (batch first).
int64_t FloatsPerRow(const ir::Graph& g, const ir::Type& type) {
  return ir::num_elements(g.at_capacity(type.shape)) / RowsPerCall(g, type);
}

// Threads an exported call may use: rows are split over at most this many
// (one per online CPU), each with its own arena.
constexpr int kMaxWorkers = 8;

// glibc's sysconf name for the number of online CPUs.
constexpr int kScNprocessorsOnln = 84;

class Driver {
 public:
  Driver(const ir::Graph& g, const codegen::BufferPlan& plan, llvm::Module& m)
      : g_(g), plan_(plan), m_(m), b_(m.getContext()) {}

  // int32_t fn(const float* x, int64_t n, float* y): rows of x, batch by
  // batch, split over worker threads in contiguous runs of whole batches.
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
    batch_ = RowsPerCall(g_, in);
    in_row_ = FloatsPerRow(g_, in) * 4;
    out_row_ = FloatsPerRow(g_, out) * 4;
    llvm::Type* ptr = b_.getPtrTy();
    // struct Work { const float* x; float* y; int64_t begin, end, worker; int32_t status; }
    work_ = llvm::StructType::get(m_.getContext(), {ptr, ptr, b_.getInt64Ty(), b_.getInt64Ty(),
                                                    b_.getInt64Ty(), b_.getInt32Ty()});
    auto* worker_type = llvm::FunctionType::get(ptr, {ptr}, false);
    worker_ = llvm::Function::Create(worker_type, llvm::GlobalValue::InternalLinkage,
                                     fn_name + ".rows", m_);
    if (auto s = DefineWorker(step, *input, plan_.root[*output], weights); !s.ok()) return s;
    auto* type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, b_.getInt64Ty(), ptr}, false);
    llvm::Function* fn =
        llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage, fn_name, m_);
    DefineSplit(fn);
    return absl::OkStatus();
  }

 private:
  Value* WorkField(Value* work, unsigned field) { return b_.CreateStructGEP(work_, work, field); }

  // void* rows(Work* w): the step over rows [begin, end) of x into y, with
  // worker w->worker's arena, flush-to-zero set (MXCSR is per thread).
  absl::Status DefineWorker(llvm::Function* step, ir::NodeId input, ir::NodeId result,
                            const std::map<std::string, const Tensor*>& weights) {
    llvm::Type* ptr = b_.getPtrTy();
    b_.SetInsertPoint(llvm::BasicBlock::Create(m_.getContext(), "entry", worker_));
    Value* work = worker_->getArg(0);
    table_ = b_.CreateAlloca(llvm::ArrayType::get(ptr, g_.nodes.size()));
    error_ = b_.CreateAlloca(llvm::ArrayType::get(b_.getInt64Ty(), 3));
    worker_index_ = b_.CreateLoad(b_.getInt64Ty(), WorkField(work, 4));
    if (auto s = BindStorage(weights); !s.ok()) return s;
    Value* saved = SetFlushToZero();
    Value* status = Batches(step, input, result, b_.CreateLoad(ptr, WorkField(work, 0)),
                            b_.CreateLoad(b_.getInt64Ty(), WorkField(work, 2)),
                            b_.CreateLoad(b_.getInt64Ty(), WorkField(work, 3)),
                            b_.CreateLoad(ptr, WorkField(work, 1)));
    b_.CreateCall(llvm::Intrinsic::getDeclaration(&m_, llvm::Intrinsic::x86_sse_ldmxcsr), {saved});
    b_.CreateStore(status, WorkField(work, 5));
    b_.CreateRet(llvm::ConstantPointerNull::get(b_.getPtrTy()));
    return absl::OkStatus();
  }

  // The entry point: as many workers as online CPUs (at most kMaxWorkers and
  // one per batch), worker 0 on the caller's thread. Each row's result is
  // the same whichever batch it is in, so the split never changes a bit. A
  // thread that cannot be started runs its rows on the caller's thread.
  void DefineSplit(llvm::Function* fn) {
    llvm::LLVMContext& ctx = m_.getContext();
    llvm::Type* i64 = b_.getInt64Ty();
    llvm::Type* ptr = b_.getPtrTy();
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
    Value* x = fn->getArg(0);
    Value* n = fn->getArg(1);
    Value* y = fn->getArg(2);
    Value* works = b_.CreateAlloca(llvm::ArrayType::get(work_, kMaxWorkers));
    Value* tids = b_.CreateAlloca(llvm::ArrayType::get(i64, kMaxWorkers));
    Value* started = b_.CreateAlloca(llvm::ArrayType::get(b_.getInt32Ty(), kMaxWorkers));
    llvm::FunctionCallee sysconf = m_.getOrInsertFunction("sysconf", i64, b_.getInt32Ty());
    Value* cpus = b_.CreateCall(sysconf, {b_.getInt32(kScNprocessorsOnln)});
    Value* batches = b_.CreateSDiv(b_.CreateAdd(n, b_.getInt64(batch_ - 1)), b_.getInt64(batch_));
    Value* workers =
        Clamp(b_.CreateSelect(b_.CreateICmpSLT(cpus, batches), cpus, batches), 1, kMaxWorkers);
    // Whole batches per worker, rounded up, so only the last run is short.
    Value* per = b_.CreateMul(
        b_.CreateSDiv(b_.CreateAdd(batches, b_.CreateSub(workers, b_.getInt64(1))), workers),
        b_.getInt64(batch_));
    auto work_at = [&](Value* t) {
      return b_.CreateInBoundsGEP(llvm::ArrayType::get(work_, kMaxWorkers), works,
                                  {b_.getInt64(0), t});
    };
    auto slot = [&](Value* array, llvm::Type* elem, Value* t) {
      return b_.CreateInBoundsGEP(llvm::ArrayType::get(elem, kMaxWorkers), array,
                                  {b_.getInt64(0), t});
    };
    Loop(b_.getInt64(0), workers, [&](Value* t) {
      Value* w = work_at(t);
      b_.CreateStore(x, WorkField(w, 0));
      b_.CreateStore(y, WorkField(w, 1));
      b_.CreateStore(Min(b_.CreateMul(t, per), n), WorkField(w, 2));
      b_.CreateStore(Min(b_.CreateMul(b_.CreateAdd(t, b_.getInt64(1)), per), n), WorkField(w, 3));
      b_.CreateStore(t, WorkField(w, 4));
      b_.CreateStore(b_.getInt32(0), WorkField(w, 5));
    });
    // glibc 2.34+ has pthreads in libc itself: the object still needs only -lm.
    llvm::FunctionCallee create =
        m_.getOrInsertFunction("pthread_create", b_.getInt32Ty(), ptr, ptr, ptr, ptr);
    llvm::FunctionCallee join = m_.getOrInsertFunction("pthread_join", b_.getInt32Ty(), i64, ptr);
    Loop(b_.getInt64(1), workers, [&](Value* t) {
      Value* rc = b_.CreateCall(
          create,
          {slot(tids, i64, t), llvm::ConstantPointerNull::get(b_.getPtrTy()), worker_, work_at(t)});
      b_.CreateStore(b_.CreateZExt(b_.CreateICmpEQ(rc, b_.getInt32(0)), b_.getInt32Ty()),
                     slot(started, b_.getInt32Ty(), t));
    });
    b_.CreateCall(worker_, {work_at(b_.getInt64(0))});
    Loop(b_.getInt64(1), workers, [&](Value* t) {
      Value* ok = b_.CreateLoad(b_.getInt32Ty(), slot(started, b_.getInt32Ty(), t));
      llvm::Function* f = b_.GetInsertBlock()->getParent();
      llvm::BasicBlock* joined = llvm::BasicBlock::Create(ctx, "join", f);
      llvm::BasicBlock* inline_run = llvm::BasicBlock::Create(ctx, "inline", f);
      llvm::BasicBlock* next = llvm::BasicBlock::Create(ctx, "next", f);
      b_.CreateCondBr(b_.CreateICmpNE(ok, b_.getInt32(0)), joined, inline_run);
      b_.SetInsertPoint(joined);
      b_.CreateCall(join, {b_.CreateLoad(i64, slot(tids, i64, t)),
                           llvm::ConstantPointerNull::get(b_.getPtrTy())});
      b_.CreateBr(next);
      b_.SetInsertPoint(inline_run);
      b_.CreateCall(worker_, {work_at(t)});
      b_.CreateBr(next);
      b_.SetInsertPoint(next);
    });
    // The first failing worker's status (rows run in order within each).
    Value* status = b_.CreateAlloca(b_.getInt32Ty());
    b_.CreateStore(b_.getInt32(0), status);
    Loop(b_.getInt64(0), workers, [&](Value* t) {
      Value* mine = b_.CreateLoad(b_.getInt32Ty(), WorkField(work_at(t), 5));
      Value* so_far = b_.CreateLoad(b_.getInt32Ty(), status);
      b_.CreateStore(b_.CreateSelect(b_.CreateICmpNE(so_far, b_.getInt32(0)), so_far, mine),
                     status);
    });
    b_.CreateRet(b_.CreateLoad(b_.getInt32Ty(), status));
  }

  Value* Min(Value* a, Value* b) { return b_.CreateSelect(b_.CreateICmpSLT(a, b), a, b); }
  Value* Clamp(Value* v, int64_t lo, int64_t hi) {
    Value* low = b_.CreateSelect(b_.CreateICmpSLT(v, b_.getInt64(lo)), b_.getInt64(lo), v);
    return Min(low, b_.getInt64(hi));
  }

  // for (i = from; i < to; ++i) body(i)
  void Loop(Value* from, Value* to, const std::function<void(Value*)>& body) {
    llvm::LLVMContext& ctx = m_.getContext();
    llvm::Function* f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    llvm::BasicBlock* loop = llvm::BasicBlock::Create(ctx, "loop", f);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx, "loop.done", f);
    b_.CreateCondBr(b_.CreateICmpSLT(from, to), loop, done);
    b_.SetInsertPoint(loop);
    llvm::PHINode* i = b_.CreatePHI(b_.getInt64Ty(), 2, "i");
    i->addIncoming(from, pre);
    body(i);
    Value* next = b_.CreateAdd(i, b_.getInt64(1));
    i->addIncoming(next, b_.GetInsertBlock());
    b_.CreateCondBr(b_.CreateICmpSLT(next, to), loop, done);
    b_.SetInsertPoint(done);
  }

  void SetSlot(ir::NodeId id, Value* storage) {
    b_.CreateStore(storage, b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), table_, id));
  }

  // Every node's storage, as the JIT executor binds it: this worker's arena
  // slices, constants filled once, weights from the model.
  absl::Status BindStorage(const std::map<std::string, const Tensor*>& weights) {
    const int64_t stride = (plan_.arena_bytes + 63) / 64 * 64;
    llvm::GlobalVariable* arenas = Scratch(m_, "arenas", stride * kMaxWorkers);
    Value* arena = b_.CreateInBoundsGEP(b_.getInt8Ty(), arenas,
                                        b_.CreateMul(worker_index_, b_.getInt64(stride)));
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const ir::Node& n = g_.nodes[i];
      auto id = static_cast<ir::NodeId>(i);
      if (plan_.owned[i] && plan_.offset[i] >= 0) {
        SetSlot(id, b_.CreateInBoundsGEP(b_.getInt8Ty(), arena, b_.getInt64(plan_.offset[i])));
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

  // for (row = begin; row < end; row += batch): the step on min(batch,
  // end - row) rows, read in place by a batch-polymorphic step; for a static
  // one, a partial last batch is copied into zeroed scratch rows first.
  Value* Batches(llvm::Function* step, ir::NodeId input, ir::NodeId result, Value* x, Value* begin,
                 Value* end, Value* y) {
    llvm::LLVMContext& ctx = m_.getContext();
    const bool polymorphic = g_.capacity > 0;
    Value* pad = nullptr;
    if (!polymorphic) {
      llvm::GlobalVariable* pads = Scratch(m_, "padded_rows", batch_ * in_row_ * kMaxWorkers);
      pad = b_.CreateInBoundsGEP(b_.getInt8Ty(), pads,
                                 b_.CreateMul(worker_index_, b_.getInt64(batch_ * in_row_)));
    }
    llvm::Function* f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock* entry = b_.GetInsertBlock();
    llvm::BasicBlock* loop = llvm::BasicBlock::Create(ctx, "batch", f);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx, "done", f);
    b_.CreateCondBr(b_.CreateICmpSLT(begin, end), loop, done);
    b_.SetInsertPoint(loop);
    llvm::PHINode* row = b_.CreatePHI(b_.getInt64Ty(), 2, "row");
    row->addIncoming(begin, entry);
    Value* rows = Min(b_.CreateSub(end, row), b_.getInt64(batch_));
    Value* src = b_.CreateGEP(b_.getInt8Ty(), x, b_.CreateMul(row, b_.getInt64(in_row_)));
    Value* rows_in = pad ? PaddedIfPartial(src, rows, pad) : src;
    SetSlot(input, rows_in);
    Value* status =
        b_.CreateCall(step, {table_, b_.getInt64(0), polymorphic ? rows : b_.getInt64(batch_),
                             error_, llvm::ConstantPointerNull::get(b_.getPtrTy()),
                             llvm::ConstantPointerNull::get(b_.getPtrTy())});
    Value* dst = b_.CreateGEP(b_.getInt8Ty(), y, b_.CreateMul(row, b_.getInt64(out_row_)));
    Value* result_storage =
        b_.CreateLoad(b_.getPtrTy(), b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), table_, result));
    b_.CreateMemCpy(dst, llvm::MaybeAlign(4), result_storage, llvm::MaybeAlign(4),
                    b_.CreateMul(rows, b_.getInt64(out_row_)));
    Value* next = b_.CreateAdd(row, rows);
    row->addIncoming(next, b_.GetInsertBlock());
    llvm::BasicBlock* tail = b_.GetInsertBlock();
    b_.CreateCondBr(
        b_.CreateAnd(b_.CreateICmpEQ(status, b_.getInt32(0)), b_.CreateICmpSLT(next, end)), loop,
        done);
    b_.SetInsertPoint(done);
    llvm::PHINode* result_status = b_.CreatePHI(b_.getInt32Ty(), 2, "status");
    result_status->addIncoming(b_.getInt32(0), entry);
    result_status->addIncoming(status, tail);
    return result_status;
  }

  // `src` when it holds a whole batch, else `pad` holding its rows, zeroed past them.
  Value* PaddedIfPartial(Value* src, Value* rows, Value* pad) {
    llvm::Function* f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock* partial = llvm::BasicBlock::Create(m_.getContext(), "partial", f);
    llvm::BasicBlock* run = llvm::BasicBlock::Create(m_.getContext(), "run", f);
    llvm::BasicBlock* before = b_.GetInsertBlock();
    b_.CreateCondBr(b_.CreateICmpEQ(rows, b_.getInt64(batch_)), run, partial);
    b_.SetInsertPoint(partial);
    b_.CreateMemSet(pad, b_.getInt8(0), batch_ * in_row_, llvm::MaybeAlign(64));
    b_.CreateMemCpy(pad, llvm::MaybeAlign(64), src, llvm::MaybeAlign(4),
                    b_.CreateMul(rows, b_.getInt64(in_row_)));
    b_.CreateBr(run);
    b_.SetInsertPoint(run);
    llvm::PHINode* rows_in = b_.CreatePHI(b_.getPtrTy(), 2, "rows_in");
    rows_in->addIncoming(src, before);
    rows_in->addIncoming(pad, partial);
    return rows_in;
  }

  const ir::Graph& g_;
  const codegen::BufferPlan& plan_;
  llvm::Module& m_;
  llvm::IRBuilder<> b_;
  llvm::StructType* work_ = nullptr;
  llvm::Function* worker_ = nullptr;
  Value* table_ = nullptr;
  Value* error_ = nullptr;
  Value* worker_index_ = nullptr;
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
  const int64_t batch = RowsPerCall(g, in);
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
                 "_INPUT_SIZE ", FloatsPerRow(g, in), "\n", "#define ", upper, "_OUTPUT_SIZE ",
                 FloatsPerRow(g, out), "\n\n", "int32_t ", fn,
                 "(const float* x, int64_t n, float* y);\n\n",
                 "/* The model's predictions for n rows: x holds n * ", upper,
                 "_INPUT_SIZE floats (row-major,\n", " * as the model's input ",
                 ShapeText(in.shape), "), y receives n * ", upper,
                 "_OUTPUT_SIZE floats, the model's\n", " * output ", ShapeText(out.shape),
                 " (class probabilities for a softmax model). ", "Rows are computed\n * ", batch,
                 " at a time, with flush-to-zero set for the call as Kiln does. Returns 0.\n",
                 " * Large n is split by rows over up to ", kMaxWorkers,
                 " threads of its own (one per online\n",
                 " * CPU; pthreads, part of glibc's libc since 2.34), with the same results.\n",
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
  if (auto s = codegen::emit_step(graph, plan, target->width, step_name.c_str(), 0, 1, {}, module);
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
