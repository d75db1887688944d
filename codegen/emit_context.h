// The state the emitters share while lowering one step to LLVM IR (internal
// to codegen/): the Emitter, which walks the step's units of code and hands
// each node to its Emit<Op> function, and the helpers those functions build
// loops and values with. The driver is in emitter.cc, the per-op emitters in
// op_emitters.cc and the matmul micro-kernel in matmul_emitter.cc.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "codegen/emitter.h"
#include "ir/graph.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/Module.h"

namespace kiln::codegen {

using ir::DType;
using ir::NodeId;
using ir::OpKind;
using llvm::Value;

class Emitter {
 public:
  Emitter(const ir::Graph& g, const BufferPlan& plan, int width, int part, int parts,
          StepHooks hooks, llvm::Module& m)
      : g_(g),
        plan_(plan),
        width_(width),
        part_(part),
        parts_(parts),
        hooks_(hooks),
        m_(m),
        ctx_(m.getContext()),
        b_(ctx_) {}

  absl::Status Emit(const char* name);

  // Per-node state used by the Emit<Op> functions.
  const ir::Graph& graph() const { return g_; }
  const ir::Node& node() const { return g_.nodes[id_]; }
  const ir::Type& in_type(size_t i) const { return g_.nodes[node().inputs[i]].type; }
  // The buffers of operand `i` and of the node, as parameters of the current function.
  Value* in(size_t i) const { return buf(node().inputs[i]); }
  Value* out() const { return buf(id_); }
  Value* buf(NodeId id) const { return params_.at(plan_.root[id]); }
  // Whether node `id`'s storage is a table of row addresses (StepHooks::row_tables).
  bool IsRowTable(NodeId id) const { return hooks_.row_tables && row_tables_[plan_.root[id]]; }
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

  // The run's row count: the extent of the batch dimension ? (i64).
  Value* rows() const { return rows_; }
  // Extent `d` of `shape`: a constant, or the run's rows for the batch dimension.
  Value* Dim(const ir::Shape& shape, size_t d) {
    return shape[d] == ir::kBatch ? rows_ : c64(shape[d]);
  }
  // Elements of `shape` in this run (a constant when the shape is static).
  Value* Count(const ir::Shape& shape) {
    Value* n = c64(1);
    for (size_t d = 0; d < shape.size(); ++d) n = b_.CreateMul(n, Dim(shape, d));
    return n;
  }

  // What a loop asks of LLVM's loop vectoriser: its own choice, vector code
  // with one copy of the vector body (the softmax loss kernels ran and
  // compiled as fast as with the copies LLVM interleaves), or scalar code.
  enum class Vectorise { kDefault, kWithoutInterleaving, kNo };

  // for (i = 0; i < n; ++i) body(i); a run-time `n` may be 0.
  void For(Value* n, const std::function<void(Value*)>& body,
           Vectorise vectorise = Vectorise::kDefault) {
    auto* constant = llvm::dyn_cast<llvm::ConstantInt>(n);
    if (constant && constant->getSExtValue() <= 0) return;
    llvm::Function* f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    llvm::BasicBlock* loop = llvm::BasicBlock::Create(ctx_, "loop", f);
    llvm::BasicBlock* exit = llvm::BasicBlock::Create(ctx_, "exit", f);
    if (constant) {
      b_.CreateBr(loop);
    } else {
      b_.CreateCondBr(b_.CreateICmpSGT(n, c64(0)), loop, exit);
    }
    b_.SetInsertPoint(loop);
    llvm::PHINode* i = b_.CreatePHI(i64(), 2, "i");
    i->addIncoming(c64(0), pre);
    body(i);
    Value* next = b_.CreateAdd(i, c64(1), "", /*HasNUW=*/true, /*HasNSW=*/true);
    i->addIncoming(next, b_.GetInsertBlock());
    llvm::BranchInst* latch = b_.CreateCondBr(b_.CreateICmpULT(next, n), loop, exit);
    if (vectorise != Vectorise::kDefault)
      latch->setMetadata(llvm::LLVMContext::MD_loop, Hints(vectorise));
    b_.SetInsertPoint(exit);
  }
  void For(int64_t n, const std::function<void(Value*)>& body) { For(c64(n), body); }

  // The loop metadata that asks for `vectorise`.
  llvm::MDNode* Hints(Vectorise vectorise) {
    auto hint = [&](const char* name, llvm::Constant* value) {
      return llvm::MDNode::get(
          ctx_, {llvm::MDString::get(ctx_, name), llvm::ConstantAsMetadata::get(value)});
    };
    std::vector<llvm::Metadata*> ops = {nullptr};  // the loop's self-reference
    if (vectorise == Vectorise::kNo) {
      ops.push_back(hint("llvm.loop.vectorize.enable", b_.getFalse()));
    }
    ops.push_back(hint("llvm.loop.interleave.count", b_.getInt32(1)));
    llvm::MDNode* loop_id = llvm::MDNode::getDistinct(ctx_, ops);
    loop_id->replaceOperandWith(0, loop_id);
    return loop_id;
  }

  // if (cond) then() else otherwise()
  void If(Value* cond, const std::function<void()>& then,
          const std::function<void()>& otherwise = nullptr) {
    llvm::Function* f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock* yes = llvm::BasicBlock::Create(ctx_, "if", f);
    llvm::BasicBlock* no = llvm::BasicBlock::Create(ctx_, "if.else", f);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx_, "if.done", f);
    b_.CreateCondBr(cond, yes, no);
    b_.SetInsertPoint(yes);
    then();
    b_.CreateBr(done);
    b_.SetInsertPoint(no);
    if (otherwise) otherwise();
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
  }

  // Nested loops over `shape`; body gets the flat row-major index and the indices.
  void ForShape(const ir::Shape& shape,
                const std::function<void(Value*, const std::vector<Value*>&)>& body) {
    std::vector<Value*> idx;
    std::function<void(size_t, Value*)> nest = [&](size_t d, Value* flat) {
      if (d == shape.size()) return body(flat, idx);
      For(Dim(shape, d), [&](Value* i) {
        idx.push_back(i);
        nest(d + 1, b_.CreateAdd(b_.CreateMul(flat, Dim(shape, d)), i));
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
  llvm::Module& module() { return m_; }
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

  /// For operand `k` (0: A, 1: B) of a matmul, when it is a folded
  /// transpose: the transpose's operand, which the tiles read transposed (the
  /// transpose is never materialised); else -1.
  NodeId FoldedTransposeSource(NodeId matmul, int k) const {
    NodeId t = g_.nodes[matmul].inputs[k];
    return IsFoldedTranspose(t) ? g_.nodes[t].inputs[0] : -1;
  }
  /// A transpose is folded when only matmuls read it, each as one operand. As
  /// B it is packed strip by strip (a transpose of W x W register blocks per
  /// strip), which needs a strip to fit the packing buffer and the product's
  /// K not to be split into parts.
  bool IsFoldedTranspose(NodeId t) const {
    if (g_.nodes[t].op != OpKind::kTranspose || consumers_[t].empty()) return false;
    for (NodeId c : consumers_[t]) {
      const ir::Node& n = g_.nodes[c];
      if (n.op != OpKind::kMatMul || (n.inputs[0] == t) == (n.inputs[1] == t)) return false;
      const int64_t k = g_.at_capacity(g_.nodes[t].type.shape)[0];
      if (n.inputs[1] == t && (n.split == ir::Split::kContraction ||
                               (k + kMaxWidth) * kMaxStripColumns * 4 > kMaxPackedStripBytes)) {
        return false;
      }
    }
    return true;
  }
  /// The largest strip of B the matmul tiles pack (on the task's stack), and
  /// the widest strip: 4 vectors of the widest registers.
  static constexpr int64_t kMaxPackedStripBytes = 256 << 10;
  static constexpr int64_t kMaxWidth = 16, kMaxStripColumns = 4 * kMaxWidth;

  /// Transposes `rows` (W vectors of W lanes) in registers: afterwards rows[c]
  /// holds what was column c.
  void TransposeInRegisters(std::vector<Value*>& rows);

  // The buffers of the current function (root -> pointer), its step seed and
  // row count; a parallel task re-binds them to values it loads from its context.
  const std::map<NodeId, Value*>& buffers() const { return params_; }
  void set_buffers(std::map<NodeId, Value*> buffers, Value* step_seed, Value* rows) {
    params_ = std::move(buffers);
    step_seed_ = step_seed;
    rows_ = rows;
  }
  bool has_buffer(NodeId id) const { return params_.count(plan_.root[id]) > 0; }
  // kiln_parallel_for over [0, count): `item(t)` becomes the body of a loop
  // over t in a new task function, which reloads the current function's
  // buffers, seed and rows from a context the caller fills; `rebind` runs
  // whenever those change (entering the task and returning from it), for
  // emitters that cache values derived from them. `finish` runs after a
  // task's last item.
  void ParallelFor(Value* count, const std::function<void(Value*)>& item,
                   const std::function<void()>& rebind = nullptr,
                   const std::function<void()>& finish = nullptr);
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
                                   int64_t stride, bool inlined);
  void EmitNumericsChecks(llvm::IRBuilder<>& sb, const std::vector<NodeId>& members,
                          Value* numerics);
  llvm::Function* UnitTask(llvm::Function* f);
  Value* TaskContext(llvm::IRBuilder<>& sb, const std::vector<Value*>& args);
  bool NeedsStore(NodeId id, const std::vector<NodeId>& members) const;

  const ir::Graph& g_;
  const BufferPlan& plan_;
  int width_;
  int part_, parts_;
  StepHooks hooks_;
  std::vector<bool> row_tables_;  // row_table_inputs(g_)
  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  NodeId id_ = -1;
  std::map<NodeId, Value*> params_;  // buffer root -> parameter of the current function
  std::map<NodeId, Value*> values_;  // group member -> value at the current element
  std::vector<std::vector<NodeId>> consumers_;
  Value* index_ = nullptr;
  Value* step_seed_ = nullptr;
  Value* rows_ = nullptr;
  Value* error_ = nullptr;
  llvm::BasicBlock* failed_ = nullptr;
};

using E = Emitter;

/// Emits the code of `e`'s current node with the Emit<Op> function of its op
/// (the table in op_emitters.cc).
void emit_node(Emitter& e);

}  // namespace kiln::codegen
