// Lowers each node of a graph to a loop nest in LLVM IR. One emitter per op of
// ir/ops.def (Emit<Enum>); shapes are compile-time constants.
#include "codegen/emitter.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>

#include "ir/strings.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/Module.h"

namespace kiln::codegen {
namespace {

using ir::DType;
using ir::NodeId;
using ir::OpKind;
using llvm::Value;

class Emitter {
 public:
  Emitter(const ir::Graph& g, const BufferPlan& plan, int width, int part, int parts,
          llvm::Module& m)
      : g_(g),
        plan_(plan),
        width_(width),
        part_(part),
        parts_(parts),
        m_(m),
        ctx_(m.getContext()),
        b_(ctx_) {}

  absl::Status Emit(const char* name);

  // Per-node state used by the Emit<Op> functions.
  const ir::Node& node() const { return g_.nodes[id_]; }
  const ir::Type& in_type(size_t i) const { return g_.nodes[node().inputs[i]].type; }
  // The buffers of operand `i` and of the node, as parameters of the current function.
  Value* in(size_t i) const { return buf(node().inputs[i]); }
  Value* out() const { return buf(id_); }
  Value* buf(NodeId id) const { return params_.at(plan_.root[id]); }
  llvm::IRBuilder<>& b() { return b_; }

  llvm::Type* f32() { return b_.getFloatTy(); }
  llvm::Type* i64() { return b_.getInt64Ty(); }
  llvm::Type* elem(DType d) {
    switch (d) {
      case DType::kF32:
        return b_.getFloatTy();
      case DType::kI32:
        return b_.getInt32Ty();
      case DType::kU8:
        return b_.getInt8Ty();
    }
    return nullptr;
  }
  Value* c64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  Value* cf(double v) { return llvm::ConstantFP::get(f32(), v); }

  // Element `i` of buffer `ptr` holding `dtype`.
  Value* Load(DType dtype, Value* ptr, Value* i) {
    return b_.CreateLoad(elem(dtype), b_.CreateInBoundsGEP(elem(dtype), ptr, i));
  }
  void Store(DType dtype, Value* v, Value* ptr, Value* i) {
    b_.CreateStore(v, b_.CreateInBoundsGEP(elem(dtype), ptr, i));
  }

  // for (i = 0; i < n; ++i) body(i)
  void For(int64_t n, const std::function<void(Value*)>& body) {
    if (n <= 0) return;
    llvm::Function* f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    llvm::BasicBlock* loop = llvm::BasicBlock::Create(ctx_, "loop", f);
    llvm::BasicBlock* exit = llvm::BasicBlock::Create(ctx_, "exit", f);
    b_.CreateBr(loop);
    b_.SetInsertPoint(loop);
    llvm::PHINode* i = b_.CreatePHI(i64(), 2, "i");
    i->addIncoming(c64(0), pre);
    body(i);
    Value* next = b_.CreateAdd(i, c64(1), "", /*HasNUW=*/true, /*HasNSW=*/true);
    i->addIncoming(next, b_.GetInsertBlock());
    b_.CreateCondBr(b_.CreateICmpULT(next, c64(n)), loop, exit);
    b_.SetInsertPoint(exit);
  }

  // Nested loops over `shape`; body gets the flat row-major index and the indices.
  void ForShape(const ir::Shape& shape,
                const std::function<void(Value*, const std::vector<Value*>&)>& body) {
    std::vector<Value*> idx;
    std::function<void(size_t, Value*)> nest = [&](size_t d, Value* flat) {
      if (d == shape.size()) return body(flat, idx);
      For(shape[d], [&](Value* i) {
        idx.push_back(i);
        nest(d + 1, b_.CreateAdd(b_.CreateMul(flat, c64(shape[d])), i));
        idx.pop_back();
      });
    };
    nest(0, c64(0));
  }

  // Elementwise ops define their value at the current element of the fused
  // loop from their operands' values there (in registers when the operand is
  // in the same group, else loaded from its buffer).
  void Map(const std::function<Value*(const std::vector<Value*>&)>& f) {
    std::vector<Value*> xs;
    for (size_t k = 0; k < node().inputs.size(); ++k) xs.push_back(Operand(k));
    Define(f(xs));
  }
  Value* Operand(size_t k) {
    NodeId src = node().inputs[k];
    auto it = values_.find(src);
    if (it != values_.end()) return it->second;
    return Load(g_.nodes[src].type.dtype, buf(src), index_);
  }
  void Define(Value* v) { values_[id_] = v; }
  // The flat index of the current element of the fused loop.
  Value* index() const { return index_; }

  Value* Call(const char* fn, Value* x) {
    llvm::FunctionCallee callee = m_.getOrInsertFunction(fn, f32(), f32());
    return b_.CreateCall(callee, {x});
  }
  Value* Intrinsic(llvm::Intrinsic::ID id, std::vector<llvm::Type*> types,
                   std::vector<Value*> args) {
    return b_.CreateIntrinsic(id, types, args);
  }
  // SplitMix64 finalizer, identical to runtime/rng.cc so results match the interpreter.
  Value* Mix64(Value* x) {
    x = b_.CreateAdd(x, c64(static_cast<int64_t>(0x9e3779b97f4a7c15ULL)));
    x = b_.CreateMul(b_.CreateXor(x, b_.CreateLShr(x, 30)),
                     c64(static_cast<int64_t>(0xbf58476d1ce4e5b9ULL)));
    x = b_.CreateMul(b_.CreateXor(x, b_.CreateLShr(x, 27)),
                     c64(static_cast<int64_t>(0x94d049bb133111ebULL)));
    return b_.CreateXor(x, b_.CreateLShr(x, 31));
  }

  /// For a matmul whose first operand is a transpose that only feeds matmuls
  /// as their first operand, the transpose's operand (read transposed in the
  /// tiles, so the transpose is never materialised); else -1.
  NodeId FoldedTransposeSource(NodeId matmul) const {
    NodeId t = g_.nodes[matmul].inputs[0];
    return IsFoldedTranspose(t) ? g_.nodes[t].inputs[0] : -1;
  }
  bool IsFoldedTranspose(NodeId t) const {
    if (g_.nodes[t].op != OpKind::kTranspose || consumers_[t].empty()) return false;
    for (NodeId c : consumers_[t]) {
      const ir::Node& n = g_.nodes[c];
      if (n.op != OpKind::kMatMul || n.inputs[0] != t || n.inputs[1] == t) return false;
    }
    return true;
  }

  // The buffers of the current function (root -> pointer) and its step seed;
  // a parallel task re-binds them to the values it loads from its context.
  const std::map<NodeId, Value*>& buffers() const { return params_; }
  void set_buffers(std::map<NodeId, Value*> buffers, Value* step_seed) {
    params_ = std::move(buffers);
    step_seed_ = step_seed;
  }
  bool has_buffer(NodeId id) const { return params_.count(plan_.root[id]) > 0; }
  // Computes the fused members that follow a matmul at element (row, col) of
  // its result, whose value there is `product`; stores those read elsewhere.
  void EmitEpilogueElement(const std::vector<NodeId>& members, Value* row, Value* col,
                           Value* product);

  Value* step_seed() const { return step_seed_; }
  Value* error() const { return error_; }
  int width() const { return width_; }
  llvm::LLVMContext& ctx() { return ctx_; }
  NodeId id() const { return id_; }
  // Marks the node as able to fail: its function returns i32.
  void set_failed_block(llvm::BasicBlock* bb) { failed_ = bb; }
  llvm::BasicBlock* failed_block() const { return failed_; }

 private:
  /// One function of the step: its nodes, the buffers it reads and writes,
  /// its name, and the partition (module) it is compiled in.
  struct Unit {
    std::vector<NodeId> members;
    std::vector<NodeId> roots;
    std::string name;
    int cost = 0;
    int part = 0;
  };
  std::vector<Unit> Units() const;
  llvm::Function* NodeFunction(const Unit& unit, const std::string& name);
  void EmitGroupLoop(const std::vector<NodeId>& members);
  void EmitEpilogueGroup(const std::vector<NodeId>& group);
  llvm::Function* EpilogueFunction(const std::vector<NodeId>& members, int rows, int cols,
                                   int64_t stride);
  bool NeedsStore(NodeId id, const std::vector<NodeId>& members) const;

  const ir::Graph& g_;
  const BufferPlan& plan_;
  int width_;
  int part_, parts_;
  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  NodeId id_ = -1;
  std::map<NodeId, Value*> params_;  // buffer root -> parameter of the current function
  std::map<NodeId, Value*> values_;  // group member -> value at the current element
  std::vector<std::vector<NodeId>> consumers_;
  Value* index_ = nullptr;
  Value* step_seed_ = nullptr;
  Value* error_ = nullptr;
  llvm::BasicBlock* failed_ = nullptr;
};

using E = Emitter;

// Leaves and aliases have no code: the executor binds or fills their storage.
void EmitInput(E&) {}
void EmitVariable(E&) {}
// Constants have prefilled buffers; inside a fused loop they are literals.
void EmitConstant(E& e) { e.Define(e.cf(ir::attr_float(e.node().attrs, "value"))); }
void EmitReshape(E&) {}

// Only emitted for staged assigns (the value is a variable or input, as in a
// swap): copy it aside so the end-of-step copies read the old values.
void EmitAssign(E& e) {
  DType d = e.node().type.dtype;
  e.For(ir::num_elements(e.node().type.shape),
        [&](Value* i) { e.Store(d, e.Load(d, e.in(1), i), e.out(), i); });
}

// Only emitted when the output must be staged (it reads a variable that the
// step assigns); otherwise it aliases its operand.
void EmitOutput(E& e) {
  DType d = e.node().type.dtype;
  e.For(ir::num_elements(e.node().type.shape),
        [&](Value* i) { e.Store(d, e.Load(d, e.in(0), i), e.out(), i); });
}

void EmitRandomUniform(E& e) {
  auto& b = e.b();
  // The key is loop-invariant; LLVM hoists it out of the fused loop.
  Value* key =
      e.Mix64(b.CreateXor(e.step_seed(), e.Mix64(e.c64(ir::attr_int(e.node().attrs, "seed")))));
  Value* bits = e.Mix64(b.CreateXor(key, e.Mix64(e.index())));
  e.Define(b.CreateFMul(b.CreateUIToFP(b.CreateLShr(bits, 40), e.f32()), e.cf(0x1.0p-24)));
}

void EmitNeg(E& e) {
  e.Map([&](const std::vector<Value*>& x) { return e.b().CreateFNeg(x[0]); });
}
void EmitExp(E& e) {
  e.Map([&](const std::vector<Value*>& x) { return e.Call("expf", x[0]); });
}
void EmitLog(E& e) {
  e.Map([&](const std::vector<Value*>& x) { return e.Call("logf", x[0]); });
}
void EmitTanh(E& e) {
  e.Map([&](const std::vector<Value*>& x) { return e.Call("tanhf", x[0]); });
}
// The interpreter's operations in its order, so both give the same bits.
void EmitSoftplus(E& e) {
  e.Map([&](const std::vector<Value*>& x) {
    auto& b = e.b();
    Value* abs = e.Intrinsic(llvm::Intrinsic::fabs, {e.f32()}, {x[0]});
    Value* tail = e.Call("log1pf", e.Call("expf", b.CreateFNeg(abs)));
    return b.CreateFAdd(tail, b.CreateSelect(b.CreateFCmpOGT(x[0], e.cf(0.0)), x[0], e.cf(0.0)));
  });
}
void EmitSqrt(E& e) {
  e.Map([&](const std::vector<Value*>& x) {
    return e.Intrinsic(llvm::Intrinsic::sqrt, {e.f32()}, {x[0]});
  });
}
void EmitAdd(E& e) {
  e.Map([&](const std::vector<Value*>& x) { return e.b().CreateFAdd(x[0], x[1]); });
}
void EmitSub(E& e) {
  e.Map([&](const std::vector<Value*>& x) { return e.b().CreateFSub(x[0], x[1]); });
}
void EmitMul(E& e) {
  e.Map([&](const std::vector<Value*>& x) { return e.b().CreateFMul(x[0], x[1]); });
}
void EmitDiv(E& e) {
  e.Map([&](const std::vector<Value*>& x) { return e.b().CreateFDiv(x[0], x[1]); });
}
// NaN-propagating like the interpreter: x wins when x > y or x is NaN.
void EmitMax(E& e) {
  e.Map([&](const std::vector<Value*>& x) {
    auto& b = e.b();
    Value* pick = b.CreateOr(b.CreateFCmpOGT(x[0], x[1]), b.CreateFCmpUNO(x[0], x[0]));
    return b.CreateSelect(pick, x[0], x[1]);
  });
}
void EmitMin(E& e) {
  e.Map([&](const std::vector<Value*>& x) {
    auto& b = e.b();
    Value* pick = b.CreateOr(b.CreateFCmpOLT(x[0], x[1]), b.CreateFCmpUNO(x[0], x[0]));
    return b.CreateSelect(pick, x[0], x[1]);
  });
}

void Compare(E& e, llvm::CmpInst::Predicate fp, llvm::CmpInst::Predicate sint,
             llvm::CmpInst::Predicate uint) {
  DType d = e.in_type(0).dtype;
  e.Map([&](const std::vector<Value*>& x) {
    auto& b = e.b();
    Value* c = d == DType::kF32   ? b.CreateFCmp(fp, x[0], x[1])
               : d == DType::kI32 ? b.CreateICmp(sint, x[0], x[1])
                                  : b.CreateICmp(uint, x[0], x[1]);
    return b.CreateSelect(c, e.cf(1.0), e.cf(0.0));
  });
}
void EmitGreater(E& e) {
  Compare(e, llvm::CmpInst::FCMP_OGT, llvm::CmpInst::ICMP_SGT, llvm::CmpInst::ICMP_UGT);
}
void EmitEqual(E& e) {
  Compare(e, llvm::CmpInst::FCMP_OEQ, llvm::CmpInst::ICMP_EQ, llvm::CmpInst::ICMP_EQ);
}

// Conversions saturate (NaN -> 0), as Tensor::astype does.
void EmitCast(E& e) {
  DType from = e.in_type(0).dtype, to = e.node().type.dtype;
  e.Map([&](const std::vector<Value*>& x) -> Value* {
    auto& b = e.b();
    llvm::Type* t = e.elem(to);
    if (from == to) return x[0];
    if (from == DType::kF32) {
      auto id = to == DType::kU8 ? llvm::Intrinsic::fptoui_sat : llvm::Intrinsic::fptosi_sat;
      return e.Intrinsic(id, {t, e.f32()}, {x[0]});
    }
    if (to == DType::kF32) {
      return from == DType::kI32 ? b.CreateSIToFP(x[0], t) : b.CreateUIToFP(x[0], t);
    }
    if (from == DType::kU8) return b.CreateZExt(x[0], t);  // u8 -> i32
    Value* clamped = e.Intrinsic(llvm::Intrinsic::smax, {b.getInt32Ty()}, {x[0], b.getInt32(0)});
    clamped = e.Intrinsic(llvm::Intrinsic::smin, {b.getInt32Ty()}, {clamped, b.getInt32(255)});
    return b.CreateTrunc(clamped, t);
  });
}

// Element i of the result reads the operand at the position its mapped axes
// give; the other axes are stepped over (stride 0).
void EmitBroadcast(E& e) {
  const ir::Shape& out_shape = e.node().type.shape;
  const ir::Shape& in_shape = e.in_type(0).shape;
  if (in_shape == out_shape) return e.Define(e.Operand(0));
  const auto& dims = ir::attr_ints(e.node().attrs, "dims");
  auto& b = e.b();
  Value* src = e.c64(0);
  int64_t in_stride = 1;
  for (size_t k = in_shape.size(); k-- > 0;) {
    int64_t out_inner = 1;
    for (size_t d = dims[k] + 1; d < out_shape.size(); ++d) out_inner *= out_shape[d];
    Value* coord = b.CreateURem(b.CreateUDiv(e.index(), e.c64(out_inner)), e.c64(in_shape[k]));
    src = b.CreateAdd(src, b.CreateMul(coord, e.c64(in_stride)));
    in_stride *= in_shape[k];
  }
  DType d = e.node().type.dtype;
  e.Define(e.Load(d, e.in(0), src));
}

void EmitTranspose(E& e) {
  int64_t rows = e.in_type(0).shape[0], cols = e.in_type(0).shape[1];
  DType d = e.node().type.dtype;
  e.ForShape({rows, cols}, [&](Value* flat, const std::vector<Value*>& idx) {
    auto& b = e.b();
    Value* dst = b.CreateAdd(b.CreateMul(idx[1], e.c64(rows)), idx[0]);
    e.Store(d, e.Load(d, e.in(0), flat), e.out(), dst);
  });
}

// C[M,N] = A[M,K] B[K,N] with register tiles: `mr` rows by `nv` vectors of
// `width` columns held in accumulators across the whole K loop, so each
// element of C is loaded and stored once. The last vector of a tile may be
// partial (masked) when N is not a multiple of the vector width.
class MatMulEmitter {
 public:
  // Called on each output tile right after it is computed, with the tile's
  // first row and column, its size, and the tile itself (row stride `stride`)
  // in a scratch buffer that stays in L1.
  using Epilogue =
      std::function<void(Value* i0, Value* j0, int rows, int cols, Value* tile, int64_t stride)>;

  // `column_sum`, when >= 0, is a node that receives the column sums of B,
  // which the tiles of the first row band accumulate as they stream B.
  MatMulEmitter(E& e, int64_t m, int64_t k, int64_t n, Epilogue epilogue = nullptr,
                NodeId column_sum = -1)
      : e_(e), m_(m), k_(k), n_(n), epilogue_(std::move(epilogue)), column_sum_(column_sum) {
    a_transposed_ = e.FoldedTransposeSource(e.id()) >= 0;
    BindBuffers();
    w_ = e.width();
    nv_ = w_ >= 16 ? 4 : 2;
    mr_ = 6;
    vec_ = llvm::FixedVectorType::get(e.f32(), w_);
  }

  // Products of at least this many FLOPs (about 6 us on one core) are split
  // across the thread pool: below it, handing half to the other core costs
  // more than it saves. Lowered from 2e6, 32x128x128 went from 15.5 to 12 us,
  // and the seed-000 and seed-003 steps 5-10 % faster (min of 6 interleaved runs).
  static constexpr double kParallelFlops = 5e5;

  // A = X^T reads X (element (i, p) is X[p, i]); C is absent when only the
  // epilogue reads the product.
  void BindBuffers() {
    NodeId source = e_.FoldedTransposeSource(e_.id());
    a_ = source >= 0 ? e_.buf(source) : e_.in(0);
    bm_ = e_.in(1);
    c_ = e_.has_buffer(e_.id()) ? e_.out() : nullptr;
    sums_ = column_sum_ >= 0 ? e_.buf(column_sum_) : nullptr;
  }

  void Emit() {
    int64_t nr = nv_ * w_;
    int64_t full_m = m_ / mr_, rem_m = m_ % mr_, full_n = n_ / nr, rem_n = n_ % nr;
    bool parallel = 2.0 * m_ * k_ * n_ >= kParallelFlops && full_m * full_n >= 2;
    if (parallel) {
      EmitParallelFullTiles(full_m, full_n);
    } else {
      e_.For(full_m, [&](Value* it) {
        Value* i0 = e_.b().CreateMul(it, e_.c64(mr_));
        e_.For(full_n,
               [&](Value* jt) { TileAt(i0, e_.b().CreateMul(jt, e_.c64(nr)), mr_, nv_, w_); });
      });
    }
    // The partial column tile of every full row band, then the partial row band.
    if (rem_n)
      e_.For(full_m, [&](Value* it) { ColumnTail(e_.b().CreateMul(it, e_.c64(mr_)), mr_); });
    if (rem_m) {
      Value* i0 = e_.c64(full_m * mr_);
      e_.For(full_n, [&](Value* jt) {
        TileAt(i0, e_.b().CreateMul(jt, e_.c64(nr)), static_cast<int>(rem_m), nv_, w_);
      });
      if (rem_n) ColumnTail(i0, static_cast<int>(rem_m));
    }
  }

 private:
  void ColumnTail(Value* i0, int mr) {
    int64_t nr = nv_ * w_, rem_n = n_ % nr;
    int nv = static_cast<int>((rem_n + w_ - 1) / w_);
    int last = static_cast<int>(rem_n - (nv - 1) * w_);
    TileAt(i0, e_.c64(n_ / nr * nr), mr, nv, last);
  }

  // The full tiles, numbered row-major, go to kiln_parallel_for in fixed
  // contiguous parts. Every tile is computed whole by one thread, so results
  // do not depend on the number of threads.
  void EmitParallelFullTiles(int64_t full_m, int64_t full_n) {
    auto& b = e_.b();
    llvm::Type* ptr = b.getPtrTy();
    llvm::Module& m = *b.GetInsertBlock()->getModule();
    // The task: void task(ptr context, i64 begin, i64 end); the context holds
    // the function's buffers (an epilogue may touch any of them) and the seed.
    auto* task_ty = llvm::FunctionType::get(b.getVoidTy(), {ptr, e_.i64(), e_.i64()}, false);
    auto* task = llvm::Function::Create(task_ty, llvm::Function::InternalLinkage,
                                        b.GetInsertBlock()->getParent()->getName() + ".tiles", m);
    llvm::IRBuilderBase::InsertPoint saved = b.saveIP();
    const std::map<NodeId, Value*> outer = e_.buffers();
    Value* outer_seed = e_.step_seed();
    b.SetInsertPoint(llvm::BasicBlock::Create(e_.ctx(), "entry", task));
    Value* context = task->getArg(0);
    std::map<NodeId, Value*> inner;
    uint64_t slot = 0;
    for (const auto& [root, value] : outer) {
      inner[root] = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, context, slot++));
    }
    Value* seed = b.CreatePtrToInt(
        b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, context, slot)), e_.i64());
    e_.set_buffers(inner, seed);
    BindBuffers();
    int64_t nr = nv_ * w_;
    // Tiles go row band by row band (t -> band t / full_n, column strip
    // t % full_n), except when B is larger than L2: then they go strip by
    // strip, and a thread first copies each strip of B to a contiguous
    // buffer. In place, a strip's rows sit N floats apart; for N a multiple
    // of 512 they map to a handful of cache sets, and every tile would fetch
    // the strip from L3 again.
    bool pack = ShouldPack(full_m);
    Value* packed = nullptr;
    Value* packed_strip = nullptr;
    if (pack) {
      llvm::IRBuilder<> entry(b.GetInsertBlock());
      auto* buffer = entry.CreateAlloca(llvm::ArrayType::get(e_.f32(), k_ * nr));
      buffer->setAlignment(llvm::Align(64));
      packed = buffer;
      packed_strip = entry.CreateAlloca(e_.i64());
      b.CreateStore(e_.c64(-1), packed_strip);
    }
    llvm::BasicBlock* pre = b.GetInsertBlock();
    llvm::BasicBlock* loop = llvm::BasicBlock::Create(e_.ctx(), "tiles", task);
    llvm::BasicBlock* exit = llvm::BasicBlock::Create(e_.ctx(), "tiles.exit", task);
    b.CreateCondBr(b.CreateICmpULT(task->getArg(1), task->getArg(2)), loop, exit);
    b.SetInsertPoint(loop);
    llvm::PHINode* t = b.CreatePHI(e_.i64(), 2, "t");
    t->addIncoming(task->getArg(1), pre);
    Value* band = pack ? b.CreateURem(t, e_.c64(full_m)) : b.CreateUDiv(t, e_.c64(full_n));
    Value* strip = pack ? b.CreateUDiv(t, e_.c64(full_m)) : b.CreateURem(t, e_.c64(full_n));
    Value* i0 = b.CreateMul(band, e_.c64(mr_));
    Value* j0 = b.CreateMul(strip, e_.c64(nr));
    if (pack) PackStrip(j0, packed, packed_strip);
    packed_ = packed;
    TileAt(i0, j0, mr_, nv_, w_);
    packed_ = nullptr;
    Value* next = b.CreateAdd(t, e_.c64(1));
    t->addIncoming(next, b.GetInsertBlock());
    b.CreateCondBr(b.CreateICmpULT(next, task->getArg(2)), loop, exit);
    b.SetInsertPoint(exit);
    b.CreateRetVoid();
    b.restoreIP(saved);
    e_.set_buffers(outer, outer_seed);
    BindBuffers();
    // The caller passes the context through a stack array.
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::IRBuilder<> entry(&f->getEntryBlock(), f->getEntryBlock().begin());
    Value* ctx = entry.CreateAlloca(llvm::ArrayType::get(ptr, outer.size() + 1));
    slot = 0;
    for (const auto& [root, value] : outer) {
      b.CreateStore(value, b.CreateConstInBoundsGEP1_64(ptr, ctx, slot++));
    }
    b.CreateStore(b.CreateIntToPtr(outer_seed, ptr), b.CreateConstInBoundsGEP1_64(ptr, ctx, slot));
    llvm::FunctionCallee parallel_for =
        m.getOrInsertFunction("kiln_parallel_for", b.getVoidTy(), ptr, ptr, e_.i64());
    b.CreateCall(parallel_for, {task, ctx, e_.c64(full_m * full_n)});
  }

  // Packing pays when B does not fit in L2 (512 KiB per core here) and each
  // strip is reused by several row bands; measured, it costs time when B
  // fits. The strip buffer lives on the task's stack, so it is bounded.
  bool ShouldPack(int64_t full_m) const {
    const int64_t strip_bytes = k_ * nv_ * w_ * 4;
    return full_m >= 2 && k_ * n_ * 4 > (512 << 10) && strip_bytes <= (256 << 10);
  }

  // Copies strip B[:, j0 : j0 + nr] to `packed` (row stride nr) unless it holds it already.
  void PackStrip(Value* j0, Value* packed, Value* packed_strip) {
    auto& b = e_.b();
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* copy = llvm::BasicBlock::Create(e_.ctx(), "pack", f);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(e_.ctx(), "pack.done", f);
    b.CreateCondBr(b.CreateICmpNE(b.CreateLoad(e_.i64(), packed_strip), j0), copy, done);
    b.SetInsertPoint(copy);
    const int64_t nr = nv_ * w_;
    e_.For(k_, [&](Value* p) {
      Value* from = b.CreateAdd(b.CreateMul(p, e_.c64(n_)), j0);
      Value* to = b.CreateMul(p, e_.c64(nr));
      for (int v = 0; v < nv_; ++v) {
        Value* x = b.CreateAlignedLoad(
            vec_, b.CreateInBoundsGEP(e_.f32(), bm_, b.CreateAdd(from, e_.c64(v * w_))),
            llvm::Align(4));
        b.CreateAlignedStore(x,
                             b.CreateInBoundsGEP(e_.f32(), packed, b.CreateAdd(to, e_.c64(v * w_))),
                             llvm::Align(32));
      }
    });
    b.CreateStore(j0, packed_strip);
    b.CreateBr(done);
    b.SetInsertPoint(done);
  }

  // Stores the first `lanes` lanes of `x` at element `index` of `buffer`.
  void StoreVector(Value* x, Value* buffer, Value* index, int lanes) {
    Value* ptr = e_.b().CreateInBoundsGEP(e_.f32(), buffer, index);
    if (lanes < w_) {
      e_.b().CreateMaskedStore(x, ptr, llvm::Align(4), Mask(lanes));
    } else {
      e_.b().CreateAlignedStore(x, ptr, llvm::Align(4));
    }
  }

  Value* Mask(int lanes) {
    std::vector<llvm::Constant*> bits;
    for (int i = 0; i < w_; ++i) bits.push_back(e_.b().getInt1(i < lanes));
    return llvm::ConstantVector::get(bits);
  }

  // A tile, which accumulates column sums of B too when it is in the first
  // row band and the group has a column sum (decided at run time when i0 is).
  void TileAt(Value* i0, Value* j0, int mr, int nv, int last_lanes) {
    if (!sums_) return Tile(i0, j0, mr, nv, last_lanes, false);
    if (auto* c = llvm::dyn_cast<llvm::ConstantInt>(i0)) {
      return Tile(i0, j0, mr, nv, last_lanes, c->isZero());
    }
    auto& b = e_.b();
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* first = llvm::BasicBlock::Create(e_.ctx(), "band0", f);
    llvm::BasicBlock* other = llvm::BasicBlock::Create(e_.ctx(), "band", f);
    llvm::BasicBlock* join = llvm::BasicBlock::Create(e_.ctx(), "band.join", f);
    b.CreateCondBr(b.CreateICmpEQ(i0, e_.c64(0)), first, other);
    b.SetInsertPoint(first);
    Tile(i0, j0, mr, nv, last_lanes, true);
    b.CreateBr(join);
    b.SetInsertPoint(other);
    Tile(i0, j0, mr, nv, last_lanes, false);
    b.CreateBr(join);
    b.SetInsertPoint(join);
  }

  void Tile(Value* i0, Value* j0, int mr, int nv, int last_lanes, bool column_sums) {
    auto& b = e_.b();
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* pre = b.GetInsertBlock();
    llvm::BasicBlock* loop = llvm::BasicBlock::Create(e_.ctx(), "ktile", f);
    llvm::BasicBlock* exit = llvm::BasicBlock::Create(e_.ctx(), "ktile.exit", f);
    b.CreateBr(loop);
    b.SetInsertPoint(loop);
    llvm::PHINode* p = b.CreatePHI(e_.i64(), 2, "k");
    p->addIncoming(e_.c64(0), pre);
    std::vector<llvm::PHINode*> acc;
    for (int i = 0; i < mr * nv; ++i) {
      acc.push_back(b.CreatePHI(vec_, 2, "acc"));
      acc.back()->addIncoming(llvm::Constant::getNullValue(vec_), pre);
    }
    std::vector<llvm::PHINode*> sum;
    for (int v = 0; column_sums && v < nv; ++v) {
      sum.push_back(b.CreatePHI(vec_, 2, "colsum"));
      sum.back()->addIncoming(llvm::Constant::getNullValue(vec_), pre);
    }
    std::vector<Value*> bv;
    Value* brow =
        packed_ ? b.CreateMul(p, e_.c64(nv_ * w_)) : b.CreateAdd(b.CreateMul(p, e_.c64(n_)), j0);
    for (int v = 0; v < nv; ++v) {
      Value* ptr =
          b.CreateInBoundsGEP(e_.f32(), packed_ ? packed_ : bm_, b.CreateAdd(brow, e_.c64(v * w_)));
      bool partial = v == nv - 1 && last_lanes < w_;
      if (partial) {
        bv.push_back(b.CreateMaskedLoad(vec_, ptr, llvm::Align(4), Mask(last_lanes),
                                        llvm::Constant::getNullValue(vec_)));
      } else {
        bv.push_back(b.CreateAlignedLoad(vec_, ptr, llvm::Align(4)));
      }
    }
    std::vector<Value*> next(acc.size());
    for (int r = 0; r < mr; ++r) {
      Value* row = b.CreateAdd(i0, e_.c64(r));
      Value* index = a_transposed_ ? b.CreateAdd(b.CreateMul(p, e_.c64(m_)), row)
                                   : b.CreateAdd(b.CreateMul(row, e_.c64(k_)), p);
      Value* a = b.CreateVectorSplat(w_, e_.Load(DType::kF32, a_, index));
      for (int v = 0; v < nv; ++v) {
        // llvm.fma, not fmuladd: always fused, so results match the interpreter.
        next[r * nv + v] = e_.Intrinsic(llvm::Intrinsic::fma, {vec_}, {a, bv[v], acc[r * nv + v]});
      }
    }
    // In order over k from 0, as reduce_sum adds, so the sums match the interpreter.
    std::vector<Value*> sum_next;
    for (size_t v = 0; v < sum.size(); ++v) sum_next.push_back(b.CreateFAdd(sum[v], bv[v]));
    Value* pn = b.CreateAdd(p, e_.c64(1), "", true, true);
    llvm::BasicBlock* latch = b.GetInsertBlock();
    p->addIncoming(pn, latch);
    for (size_t i = 0; i < acc.size(); ++i) acc[i]->addIncoming(next[i], latch);
    for (size_t v = 0; v < sum.size(); ++v) sum[v]->addIncoming(sum_next[v], latch);
    b.CreateCondBr(b.CreateICmpULT(pn, e_.c64(k_)), loop, exit);
    b.SetInsertPoint(exit);
    auto value = [&](int r, int v) {
      return k_ > 0 ? next[r * nv + v] : llvm::Constant::getNullValue(vec_);
    };
    for (size_t v = 0; v < sum_next.size(); ++v) {
      Value* total = k_ > 0 ? sum_next[v] : llvm::Constant::getNullValue(vec_);
      StoreVector(total, sums_, b.CreateAdd(j0, e_.c64(static_cast<int64_t>(v) * w_)),
                  v + 1 == sum_next.size() ? last_lanes : w_);
    }
    if (c_) {
      for (int r = 0; r < mr; ++r) {
        Value* crow = b.CreateAdd(b.CreateMul(b.CreateAdd(i0, e_.c64(r)), e_.c64(n_)), j0);
        for (int v = 0; v < nv; ++v) {
          StoreVector(value(r, v), c_, b.CreateAdd(crow, e_.c64(v * w_)),
                      v == nv - 1 ? last_lanes : w_);
        }
      }
    }
    if (!epilogue_) return;
    // The epilogue reads the tile from a scratch array in L1 (mem2reg cannot
    // keep it in registers across the loop, but it never leaves the core).
    int64_t stride = nv_ * w_;
    llvm::IRBuilder<> entry(&f->getEntryBlock(), f->getEntryBlock().begin());
    Value* tile = entry.CreateAlloca(llvm::ArrayType::get(e_.f32(), mr_ * stride));
    for (int r = 0; r < mr; ++r) {
      for (int v = 0; v < nv; ++v) {
        b.CreateAlignedStore(value(r, v),
                             b.CreateConstInBoundsGEP1_64(e_.f32(), tile, r * stride + v * w_),
                             llvm::Align(4));
      }
    }
    epilogue_(i0, j0, mr, (nv - 1) * w_ + last_lanes, tile, stride);
  }

  E& e_;
  int64_t m_, k_, n_;
  Epilogue epilogue_;
  Value *a_, *bm_, *c_;      // the operand and result buffers of the function being emitted
  Value* packed_ = nullptr;  // while emitting a tile of a packed strip: the strip
  NodeId column_sum_;
  Value* sums_ = nullptr;  // the column sum's buffer
  bool a_transposed_ = false;
  int w_, nv_, mr_;
  llvm::FixedVectorType* vec_;
};

void EmitMatMul(E& e) {
  const ir::Shape& a = e.in_type(0).shape;
  MatMulEmitter(e, a[0], a[1], e.in_type(1).shape[1]).Emit();
}

// acc = init; for c in [from, n): acc = step(acc, c), for several carried
// values. They live in allocas that SROA turns into phis.
std::vector<Value*> FoldAll(
    E& e, int64_t from, int64_t n, std::vector<Value*> acc,
    const std::function<std::vector<Value*>(const std::vector<Value*>&, Value*)>& step) {
  if (n <= from) return acc;
  auto& b = e.b();
  llvm::Function* f = b.GetInsertBlock()->getParent();
  llvm::IRBuilder<> entry(&f->getEntryBlock(), f->getEntryBlock().begin());
  std::vector<llvm::AllocaInst*> slots;
  for (Value* a : acc) {
    slots.push_back(entry.CreateAlloca(a->getType()));
    b.CreateStore(a, slots.back());
  }
  auto load = [&] {
    std::vector<Value*> cur;
    for (auto* s : slots) cur.push_back(b.CreateLoad(s->getAllocatedType(), s));
    return cur;
  };
  e.For(n - from, [&](Value* i) {
    std::vector<Value*> next = step(load(), b.CreateAdd(i, e.c64(from)));
    for (size_t k = 0; k < slots.size(); ++k) b.CreateStore(next[k], slots[k]);
  });
  return load();
}

// The same with one carried value.
Value* Fold(E& e, int64_t from, int64_t n, Value* init,
            const std::function<Value*(Value*, Value*)>& step) {
  return FoldAll(e, from, n, {init}, [&](const std::vector<Value*>& acc, Value* c) {
    return std::vector<Value*>{step(acc[0], c)};
  })[0];
}

// Reductions see the operand as [outer, len, inner] and accumulate along len
// in order, as the interpreter does, so sums match bit for bit.
// acc = first element; for l in 1..len: acc = step(acc, x, l); store(acc).
void Reduce(
    E& e, const std::function<std::vector<Value*>(Value*)>& init,
    const std::function<std::vector<Value*>(const std::vector<Value*>&, Value*, Value*)>& step,
    const std::function<void(Value*, const std::vector<Value*>&)>& store) {
  ir::AxisSplit d = ir::split_axis(e.in_type(0).shape, ir::attr_int(e.node().attrs, "axis"));
  auto& b = e.b();
  e.ForShape({d.outer, d.inner}, [&](Value* flat, const std::vector<Value*>& idx) {
    Value* base = b.CreateAdd(b.CreateMul(idx[0], e.c64(d.len * d.inner)), idx[1]);
    auto at = [&](Value* l) {
      return e.Load(DType::kF32, e.in(0), b.CreateAdd(base, b.CreateMul(l, e.c64(d.inner))));
    };
    store(flat,
          FoldAll(e, 1, d.len, init(at(e.c64(0))),
                  [&](const std::vector<Value*>& acc, Value* l) { return step(acc, at(l), l); }));
  });
}

void EmitReduceSum(E& e) {
  Reduce(
      e, [](Value* x) { return std::vector<Value*>{x}; },
      [&](const std::vector<Value*>& acc, Value* x, Value*) {
        return std::vector<Value*>{e.b().CreateFAdd(acc[0], x)};
      },
      [&](Value* i, const std::vector<Value*>& acc) { e.Store(DType::kF32, acc[0], e.out(), i); });
}

void EmitReduceMax(E& e) {
  Reduce(
      e, [](Value* x) { return std::vector<Value*>{x}; },
      [&](const std::vector<Value*>& acc, Value* x, Value*) {
        auto& b = e.b();
        Value* pick = b.CreateOr(b.CreateFCmpOGT(x, acc[0]), b.CreateFCmpUNO(x, x));
        return std::vector<Value*>{b.CreateSelect(pick, x, acc[0])};
      },
      [&](Value* i, const std::vector<Value*>& acc) { e.Store(DType::kF32, acc[0], e.out(), i); });
}

// The first maximum wins, as in the interpreter and numpy.
void EmitArgMax(E& e) {
  Reduce(
      e,
      [&](Value* x) {
        return std::vector<Value*>{x, e.c64(0)};
      },
      [&](const std::vector<Value*>& acc, Value* x, Value* l) {
        auto& b = e.b();
        Value* better = b.CreateFCmpOGT(x, acc[0]);
        return std::vector<Value*>{b.CreateSelect(better, x, acc[0]),
                                   b.CreateSelect(better, l, acc[1])};
      },
      [&](Value* i, const std::vector<Value*>& acc) {
        e.Store(DType::kI32, e.b().CreateTrunc(acc[1], e.b().getInt32Ty()), e.out(), i);
      });
}

void EmitOneHot(E& e) {
  auto& b = e.b();
  int64_t depth = ir::attr_int(e.node().attrs, "depth");
  int64_t n = ir::num_elements(e.in_type(0).shape);
  e.For(n * depth, [&](Value* i) { e.Store(DType::kF32, e.cf(0.0), e.out(), i); });
  e.For(n, [&](Value* i) {
    Value* label = b.CreateSExt(e.Load(DType::kI32, e.in(0), i), e.i64());
    Value* bad = b.CreateICmpUGE(label, e.c64(depth));  // also catches negatives
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* fail = llvm::BasicBlock::Create(e.ctx(), "bad_label", f);
    llvm::BasicBlock* ok = llvm::BasicBlock::Create(e.ctx(), "label_ok", f);
    b.CreateCondBr(bad, fail, ok);
    b.SetInsertPoint(fail);
    Value* err = e.error();
    b.CreateStore(e.c64(e.id()), b.CreateConstInBoundsGEP1_64(e.i64(), err, 0));
    b.CreateStore(label, b.CreateConstInBoundsGEP1_64(e.i64(), err, 1));
    b.CreateStore(i, b.CreateConstInBoundsGEP1_64(e.i64(), err, 2));
    b.CreateRet(b.getInt32(1));
    b.SetInsertPoint(ok);
    e.Store(DType::kF32, e.cf(1.0), e.out(), b.CreateAdd(b.CreateMul(i, e.c64(depth)), label));
  });
}

// One row of softmax cross-entropy: element c of operand k, and the row's
// maximum and sum of exp(z - max), accumulated in the interpreter's order.
struct SoftmaxRow {
  E& e;
  Value* start;  // flat index of the row's first element
  Value* max = nullptr;
  Value* sum = nullptr;

  Value* at(size_t k, Value* c) { return e.Load(DType::kF32, e.in(k), e.b().CreateAdd(start, c)); }
  Value* shifted_exp(Value* c) { return e.Call("expf", e.b().CreateFSub(at(0, c), max)); }
  void Stats(int64_t classes) {
    auto& b = e.b();
    max = Fold(e, 1, classes, at(0, e.c64(0)), [&](Value* acc, Value* c) {
      Value* x = at(0, c);
      return b.CreateSelect(b.CreateOr(b.CreateFCmpOGT(x, acc), b.CreateFCmpUNO(x, x)), x, acc);
    });
    sum = Fold(e, 1, classes, shifted_exp(e.c64(0)),
               [&](Value* acc, Value* c) { return b.CreateFAdd(acc, shifted_exp(c)); });
  }
};

void ForEachSoftmaxRow(E& e, const std::function<void(SoftmaxRow&, Value*, int64_t)>& body) {
  int64_t rows = e.in_type(0).shape[0], classes = e.in_type(0).shape[1];
  e.For(rows, [&](Value* r) {
    SoftmaxRow row{e, e.b().CreateMul(r, e.c64(classes))};
    row.Stats(classes);
    body(row, r, classes);
  });
}

void EmitSoftmaxCrossEntropy(E& e) {
  auto& b = e.b();
  ForEachSoftmaxRow(e, [&](SoftmaxRow& row, Value* r, int64_t classes) {
    Value* log_sum = e.Call("logf", row.sum);
    Value* acc = Fold(e, 0, classes, e.cf(0.0), [&](Value* acc, Value* c) {
      Value* log_p = b.CreateFSub(b.CreateFSub(row.at(0, c), row.max), log_sum);
      return b.CreateFAdd(acc, b.CreateFMul(row.at(1, c), log_p));
    });
    e.Store(DType::kF32, b.CreateFNeg(acc), e.out(), r);
  });
}

void EmitSoftmaxCrossEntropyGrad(E& e) {
  auto& b = e.b();
  ForEachSoftmaxRow(e, [&](SoftmaxRow& row, Value* r, int64_t classes) {
    Value* total = Fold(e, 0, classes, e.cf(0.0),
                        [&](Value* acc, Value* c) { return b.CreateFAdd(acc, row.at(1, c)); });
    Value* g = e.Load(DType::kF32, e.in(2), r);
    e.For(classes, [&](Value* c) {
      Value* p = b.CreateFDiv(row.shifted_exp(c), row.sum);
      Value* dz = b.CreateFMul(g, b.CreateFSub(b.CreateFMul(p, total), row.at(1, c)));
      e.Store(DType::kF32, dz, e.out(), b.CreateAdd(row.start, c));
    });
  });
}

using EmitFn = void (*)(E&);
constexpr EmitFn kEmitters[] = {
#define KILN_OP(Enum, ...) &Emit##Enum,
#include "ir/ops.def"
#undef KILN_OP
};
static_assert(std::size(kEmitters) == ir::kNumOps);

// Nodes that get code: everything computed, plus outputs that must be staged.
bool HasCode(const ir::Graph& g, const BufferPlan& plan, NodeId id) {
  OpKind op = g.nodes[id].op;
  if (op == OpKind::kAssign) return plan.owned[id];
  if (op == OpKind::kInput || op == OpKind::kVariable) return false;
  // A constant outside a group needs no code: its buffer is filled once.
  if (op == OpKind::kConstant && g.nodes[id].group < 0) return false;
  return plan.root[id] == id;
}

// The units of code of a step, in order: each fusion group, matmul with its
// epilogue, or lone node becomes one function.
std::vector<Emitter::Unit> Emitter::Units() const {
  std::vector<Unit> units;
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    NodeId id = static_cast<NodeId>(i);
    if (!HasCode(g_, plan_, id) || IsFoldedTranspose(id)) continue;
    Unit u;
    u.members = {id};
    bool grouped = ir::is_fusible(g_.nodes[id].op) ||
                   (ir::can_lead_group(g_.nodes[id].op) && g_.nodes[id].group >= 0);
    if (grouped) {
      int group = g_.nodes[id].group;
      while (group >= 0 && i + 1 < g_.nodes.size() && g_.nodes[i + 1].group == group) {
        u.members.push_back(static_cast<NodeId>(++i));
      }
    }
    // The buffers the function touches, each passed once (so noalias holds).
    auto use = [&](NodeId node) {
      NodeId r = plan_.root[node];
      if (std::find(u.roots.begin(), u.roots.end(), r) == u.roots.end()) u.roots.push_back(r);
    };
    for (NodeId m : u.members) {
      if (!grouped || NeedsStore(m, u.members)) use(m);
      for (NodeId in : g_.nodes[m].inputs) {
        if (std::find(u.members.begin(), u.members.end(), in) == u.members.end()) use(in);
      }
      if (g_.nodes[m].op == OpKind::kMatMul && FoldedTransposeSource(m) >= 0) {
        use(FoldedTransposeSource(m));
      }
    }
    const ir::Node& n = g_.nodes[id];
    u.name = u.members.size() > 1 ? str_cat("fused_", n.group, "_", id)
                                  : str_cat(ir::op_name(n.op), "_", id);
    // Rough machine-code size, to balance the partitions compiled in parallel:
    // a matmul's unrolled register tiles dwarf any elementwise loop.
    u.cost = (n.op == OpKind::kMatMul ? 40 : 4) + static_cast<int>(u.members.size());
    units.push_back(std::move(u));
  }
  // Each unit goes to the lightest part; part 0 starts with the step's calls.
  std::vector<int> load(parts_, 0);
  load[0] = static_cast<int>(units.size());
  for (Unit& u : units) {
    u.part = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    load[u.part] += u.cost;
  }
  return units;
}

absl::Status Emitter::Emit(const char* name) {
  consumers_.assign(g_.nodes.size(), {});
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    for (NodeId in : g_.nodes[i].inputs) consumers_[in].push_back(static_cast<NodeId>(i));
  }
  std::vector<Unit> units = Units();
  // Functions called across modules are external, named after the step.
  std::vector<llvm::Function*> fns(units.size(), nullptr);
  for (size_t k = 0; k < units.size(); ++k) {
    if (units[k].part == part_) fns[k] = NodeFunction(units[k], str_cat(name, ".", units[k].name));
  }
  if (part_ != 0) return absl::OkStatus();
  llvm::Type* ptr = b_.getPtrTy();
  auto* step_ty = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, i64(), ptr}, false);
  llvm::Function* step = llvm::Function::Create(step_ty, llvm::Function::ExternalLinkage, name, m_);
  llvm::BasicBlock* entry = llvm::BasicBlock::Create(ctx_, "entry", step);
  llvm::IRBuilder<> sb(entry);
  Value* table = step->getArg(0);
  auto slot = [&](NodeId root) {
    return sb.CreateLoad(ptr, sb.CreateConstInBoundsGEP1_64(ptr, table, root));
  };
  for (size_t k = 0; k < units.size(); ++k) {
    const Unit& u = units[k];
    llvm::Function* f = fns[k];
    if (!f) {
      std::vector<llvm::Type*> params(u.roots.size(), ptr);
      params.insert(params.end(), {i64(), ptr});
      f = llvm::Function::Create(llvm::FunctionType::get(b_.getInt32Ty(), params, false),
                                 llvm::Function::ExternalLinkage, str_cat(name, ".", u.name), m_);
    }
    std::vector<Value*> call_args;
    for (NodeId r : u.roots) call_args.push_back(slot(r));
    call_args.push_back(step->getArg(1));
    call_args.push_back(step->getArg(2));
    Value* status = sb.CreateCall(f, call_args);
    if (g_.nodes[u.members[0]].op == OpKind::kOneHot) {
      llvm::BasicBlock* cont = llvm::BasicBlock::Create(ctx_, "cont", step);
      llvm::BasicBlock* fail = llvm::BasicBlock::Create(ctx_, "fail", step);
      sb.CreateCondBr(sb.CreateICmpNE(status, sb.getInt32(0)), fail, cont);
      sb.SetInsertPoint(fail);
      sb.CreateRet(status);
      sb.SetInsertPoint(cont);
    }
  }
  // Assigns take effect after every read of the step.
  for (NodeId id : g_.nodes_of(OpKind::kAssign)) {
    if (plan_.in_place[id]) continue;
    const ir::Node& n = g_.nodes[id];
    uint64_t bytes =
        static_cast<uint64_t>(ir::num_elements(n.type.shape)) * ir::dtype_size(n.type.dtype);
    NodeId source = plan_.owned[id] ? id : plan_.root[n.inputs[1]];
    sb.CreateMemCpy(slot(plan_.root[n.inputs[0]]), llvm::MaybeAlign(4), slot(source),
                    llvm::MaybeAlign(4), bytes);
  }
  sb.CreateRet(sb.getInt32(0));
  return absl::OkStatus();
}

// A group member is stored when something outside the group reads it.
bool Emitter::NeedsStore(NodeId id, const std::vector<NodeId>& members) const {
  if (g_.nodes[id].op == OpKind::kConstant) return false;
  for (NodeId c : consumers_[id]) {
    if (std::find(members.begin(), members.end(), c) == members.end()) return true;
  }
  return false;
}

void Emitter::EmitGroupLoop(const std::vector<NodeId>& members) {
  const ir::Node& first = g_.nodes[members[0]];
  For(ir::num_elements(first.type.shape), [&](Value* i) {
    index_ = i;
    values_.clear();
    for (NodeId m : members) {
      id_ = m;
      kEmitters[static_cast<size_t>(g_.nodes[m].op)](*this);
    }
    for (NodeId m : members) {
      if (NeedsStore(m, members)) Store(g_.nodes[m].type.dtype, values_.at(m), buf(m), i);
    }
  });
}

void Emitter::EmitEpilogueElement(const std::vector<NodeId>& members, Value* row, Value* col,
                                  Value* product) {
  int64_t cols = g_.nodes[members[0]].type.shape[1];
  index_ = b_.CreateAdd(b_.CreateMul(row, c64(cols)), col);
  values_.clear();
  values_[members[0]] = product;
  for (size_t k = 1; k < members.size(); ++k) {
    id_ = members[k];
    kEmitters[static_cast<size_t>(g_.nodes[id_].op)](*this);
  }
  for (size_t k = 1; k < members.size(); ++k) {
    NodeId m = members[k];
    if (NeedsStore(m, members)) Store(g_.nodes[m].type.dtype, values_.at(m), buf(m), index_);
  }
  id_ = members[0];
}

// A matmul leading a group runs the other members on each output tile while
// the tile is still in L1 (e.g. bias, activation and optimizer update).
void Emitter::EmitEpilogueGroup(const std::vector<NodeId>& group) {
  id_ = group[0];
  // A column sum is computed in the tiles' k loop, not per element.
  NodeId column_sum = ir::is_column_sum_of(g_, group[0], group[1]) ? group[1] : -1;
  std::vector<NodeId> members = {group[0]};
  members.insert(members.end(), group.begin() + (column_sum >= 0 ? 2 : 1), group.end());
  // One out-of-line function per tile size, with noalias buffers (a parallel
  // task loads its buffers from a context, so only the parameters carry the
  // no-alias facts the vectoriser needs). The call costs little next to a tile.
  std::map<std::pair<int, int>, llvm::Function*> bodies;
  auto epilogue = [&](Value* i0, Value* j0, int rows, int cols, Value* tile, int64_t stride) {
    llvm::Function*& body = bodies[{rows, cols}];
    if (!body) body = EpilogueFunction(members, rows, cols, stride);
    std::vector<Value*> args;
    for (const auto& [root, value] : params_) args.push_back(value);
    args.insert(args.end(), {tile, i0, j0, step_seed_});
    b_.CreateCall(body, args);
  };
  const ir::Shape& a = in_type(0).shape;
  MatMulEmitter(*this, a[0], a[1], in_type(1).shape[1],
                members.size() > 1 ? MatMulEmitter::Epilogue(epilogue) : nullptr, column_sum)
      .Emit();
}

// void epilogue(ptr noalias buffers..., ptr noalias tile, i64 i0, i64 j0, i64 seed)
llvm::Function* Emitter::EpilogueFunction(const std::vector<NodeId>& members, int rows, int cols,
                                          int64_t stride) {
  llvm::Type* ptr = b_.getPtrTy();
  std::vector<llvm::Type*> params(params_.size() + 1, ptr);
  params.insert(params.end(), {i64(), i64(), i64()});
  auto* ty = llvm::FunctionType::get(b_.getVoidTy(), params, false);
  auto* f = llvm::Function::Create(
      ty, llvm::Function::InternalLinkage,
      str_cat("epilogue_", g_.nodes[members[0]].group, "_", rows, "x", cols), m_);
  f->addFnAttr(llvm::Attribute::NoInline);
  for (size_t i = 0; i <= params_.size(); ++i) f->addParamAttr(i, llvm::Attribute::NoAlias);
  llvm::IRBuilderBase::InsertPoint saved = b_.saveIP();
  std::map<NodeId, Value*> outer = params_;
  Value* outer_seed = step_seed_;
  size_t k = 0;
  for (auto& [root, value] : params_) value = f->getArg(k++);
  Value* tile = f->getArg(k);
  Value* i0 = f->getArg(k + 1);
  Value* j0 = f->getArg(k + 2);
  step_seed_ = f->getArg(k + 3);
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
  For(rows, [&](Value* r) {
    For(cols, [&](Value* c) {
      Value* at = b_.CreateAdd(b_.CreateMul(r, c64(stride)), c);
      Value* product = b_.CreateLoad(f32(), b_.CreateInBoundsGEP(f32(), tile, at));
      EmitEpilogueElement(members, b_.CreateAdd(i0, r), b_.CreateAdd(j0, c), product);
    });
  });
  b_.CreateRetVoid();
  b_.restoreIP(saved);
  params_ = std::move(outer);
  step_seed_ = outer_seed;
  return f;
}

// One function per node or group with noalias buffers, so loops vectorise
// without runtime alias checks; the inliner folds them into the step.
llvm::Function* Emitter::NodeFunction(const Unit& unit, const std::string& name) {
  const std::vector<NodeId>& members = unit.members;
  const std::vector<NodeId>& roots = unit.roots;
  const ir::Node& n = g_.nodes[members[0]];
  llvm::Type* ptr = b_.getPtrTy();
  std::vector<llvm::Type*> params(roots.size(), ptr);
  params.push_back(i64());
  params.push_back(ptr);
  auto* ty = llvm::FunctionType::get(b_.getInt32Ty(), params, false);
  auto linkage = parts_ > 1 ? llvm::Function::ExternalLinkage : llvm::Function::InternalLinkage;
  auto* f = llvm::Function::Create(ty, linkage, name, m_);
  for (size_t i = 0; i < roots.size(); ++i) f->addParamAttr(i, llvm::Attribute::NoAlias);
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
  params_.clear();
  for (size_t i = 0; i < roots.size(); ++i) params_[roots[i]] = f->getArg(i);
  step_seed_ = f->getArg(roots.size());
  error_ = f->getArg(roots.size() + 1);
  if (ir::is_fusible(n.op)) {
    EmitGroupLoop(members);
  } else if (members.size() > 1) {
    EmitEpilogueGroup(members);
  } else {
    id_ = members[0];
    kEmitters[static_cast<size_t>(n.op)](*this);
  }
  b_.CreateRet(b_.getInt32(0));
  return f;
}

}  // namespace

BufferPlan buffer_plan(const ir::Graph& graph) {
  const size_t n = graph.nodes.size();
  BufferPlan plan{std::vector<NodeId>(n), std::vector<bool>(n, false), std::vector<bool>(n, false),
                  std::vector<int64_t>(n, -1), graph.arena_bytes};
  for (size_t i = 0; i < n; ++i) {
    const ir::Storage& s = graph.nodes[i].storage;
    plan.root[i] = s.kind == ir::StorageKind::kAlias ? s.alias : static_cast<NodeId>(i);
    plan.owned[i] = s.kind == ir::StorageKind::kArena || s.kind == ir::StorageKind::kConstant;
    if (s.kind == ir::StorageKind::kArena) plan.offset[i] = s.offset;
  }
  for (NodeId a : graph.nodes_of(OpKind::kAssign)) {
    const ir::Node& node = graph.nodes[a];
    plan.in_place[a] = !plan.owned[a] && plan.root[node.inputs[1]] == plan.root[node.inputs[0]];
  }
  return plan;
}

absl::Status emit_step(const ir::Graph& graph, const BufferPlan& plan, int vector_width,
                       const char* name, int part, int parts, llvm::Module& module) {
  return Emitter(graph, plan, vector_width, part, parts, module).Emit(name);
}

}  // namespace kiln::codegen
