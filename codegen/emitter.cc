// Lowers a graph to LLVM IR: splits the step into units of code (a fusion
// group, a matmul with its epilogue, or a lone node), gives each its own
// function and emits the step function that calls them. The Emitter class is
// declared in emit_context.h, the per-op emitters are in op_emitters.cc and
// the matmul micro-kernel in matmul_emitter.cc.
#include "codegen/emitter.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "codegen/emit_context.h"
#include "codegen/matmul_emitter.h"
#include "ir/strings.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"

namespace kiln::codegen {
namespace {

// Nodes that get code: everything computed, plus outputs that must be staged.
bool HasCode(const ir::Graph& g, const BufferPlan& plan, NodeId id) {
  OpKind op = g.nodes[id].op;
  if (op == OpKind::kAssign) return plan.owned[id];
  if (op == OpKind::kInput || op == OpKind::kVariable) return false;
  // A constant outside a group needs no code: its buffer is filled once.
  if (op == OpKind::kConstant && g.nodes[id].group < 0) return false;
  return plan.root[id] == id;
}

}  // namespace

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
      // A contraction's parts are summed in its own slice.
      if (!grouped || NeedsStore(m, u.members) || g_.nodes[m].split == ir::Split::kContraction) {
        use(m);
      }
      for (NodeId in : g_.nodes[m].inputs) {
        if (std::find(u.members.begin(), u.members.end(), in) == u.members.end()) use(in);
      }
      for (int k = 0; k < 2 && g_.nodes[m].op == OpKind::kMatMul; ++k) {
        if (FoldedTransposeSource(m, k) >= 0) use(FoldedTransposeSource(m, k));
      }
    }
    const ir::Node& n = g_.nodes[id];
    u.name = u.members.size() > 1 ? str_cat("fused_", n.group, "_", id)
                                  : str_cat(ir::op_name(n.op), "_", id);
    // Rough machine-code size, to balance the partitions compiled in parallel:
    // a matmul's unrolled register tiles dwarf any elementwise loop, and so do
    // the softmax loss kernels' vector loops (costed as elementwise ops, the
    // seed-001 step compiled in 97-99 ms, as matmuls in 83-85 ms).
    const bool large = n.op == OpKind::kMatMul || n.op == OpKind::kSoftmaxCrossEntropy ||
                       n.op == OpKind::kSoftmaxCrossEntropyGrad;
    u.cost = (large ? 40 : 4) + static_cast<int>(u.members.size());
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
  row_tables_ = row_table_inputs(g_);
  consumers_ = g_.consumers();
  std::vector<Unit> units = Units();
  // Functions called across modules are external, named after the step.
  std::vector<llvm::Function*> fns(units.size(), nullptr);
  for (size_t k = 0; k < units.size(); ++k) {
    if (units[k].part == part_) fns[k] = NodeFunction(units[k], str_cat(name, ".", units[k].name));
  }
  if (part_ != 0) return absl::OkStatus();
  llvm::Type* ptr = b_.getPtrTy();
  // i32 step(ptr table, i64 step_seed, i64 rows, ptr error, ptr numerics, ptr profile)
  auto* step_ty =
      llvm::FunctionType::get(b_.getInt32Ty(), {ptr, i64(), i64(), ptr, ptr, ptr}, false);
  llvm::Function* step = llvm::Function::Create(step_ty, llvm::Function::ExternalLinkage, name, m_);
  llvm::BasicBlock* entry = llvm::BasicBlock::Create(ctx_, "entry", step);
  llvm::IRBuilder<> sb(entry);
  Value* table = step->getArg(0);
  auto slot = [&](NodeId root) {
    return sb.CreateLoad(ptr, sb.CreateConstInBoundsGEP1_64(ptr, table, root));
  };
  // A unit's function (declared here when another part defines it) and the
  // arguments the step passes it.
  auto function = [&](size_t k) {
    if (!fns[k]) {
      std::vector<llvm::Type*> params(units[k].roots.size(), ptr);
      params.insert(params.end(), {i64(), i64(), ptr});
      fns[k] = llvm::Function::Create(llvm::FunctionType::get(b_.getInt32Ty(), params, false),
                                      llvm::Function::ExternalLinkage,
                                      str_cat(name, ".", units[k].name), m_);
    }
    return fns[k];
  };
  auto arguments = [&](size_t k) {
    std::vector<Value*> args;
    for (NodeId r : units[k].roots) args.push_back(slot(r));
    args.insert(args.end(), {step->getArg(1), step->getArg(2), step->getArg(3)});
    return args;
  };
  // The unit that runs beside each main unit, by the main unit's first node.
  // Checking numerics runs every unit in order, so that the first value that
  // is not finite stops the step before any later unit has run.
  const bool overlap = !hooks_.check_numerics;
  std::map<NodeId, size_t> side_of;
  for (size_t k = 0; k < units.size() && overlap; ++k) {
    const NodeId main = g_.nodes[units[k].members[0]].beside;
    if (main >= 0) side_of[main] = k;
  }
  size_t sides_run = 0;
  for (size_t k = 0; k < units.size(); ++k) {
    const Unit& u = units[k];
    if (overlap && g_.nodes[u.members[0]].beside >= 0) continue;  // runs with its main unit
    Value* status = nullptr;
    auto side = side_of.find(u.members[0]);
    if (side == side_of.end()) {
      status = sb.CreateCall(function(k), arguments(k));
    } else {
      // Matmul units cannot fail (ir::BesideRule): no status to check.
      const size_t s = side->second;
      llvm::FunctionCallee run_beside =
          m_.getOrInsertFunction("kiln_run_beside", b_.getVoidTy(), ptr, ptr, ptr, ptr);
      sb.CreateCall(run_beside, {UnitTask(function(s)), TaskContext(sb, arguments(s)),
                                 UnitTask(function(k)), TaskContext(sb, arguments(k))});
      ++sides_run;
    }
    if (g_.nodes[u.members[0]].op == OpKind::kOneHot) {
      llvm::BasicBlock* cont = llvm::BasicBlock::Create(ctx_, "cont", step);
      llvm::BasicBlock* fail = llvm::BasicBlock::Create(ctx_, "fail", step);
      sb.CreateCondBr(sb.CreateICmpNE(status, sb.getInt32(0)), fail, cont);
      sb.SetInsertPoint(fail);
      sb.CreateRet(status);
      sb.SetInsertPoint(cont);
    }
    if (hooks_.check_numerics) EmitNumericsChecks(sb, u.members, step->getArg(4));
    if (hooks_.profile) {
      llvm::FunctionCallee mark =
          m_.getOrInsertFunction("kiln_profile_mark", b_.getVoidTy(), ptr, i64());
      sb.CreateCall(mark, {step->getArg(5), sb.getInt64(u.members[0])});
    }
  }
  if (sides_run != side_of.size()) {
    return absl::InternalError(
        str_cat("graph ", g_.name, ": a unit runs beside a node that ", "starts no unit of code"));
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

// void task(ptr context, i64, i64) that calls unit function `f` with the
// arguments TaskContext stored: what kiln_run_beside runs.
llvm::Function* Emitter::UnitTask(llvm::Function* f) {
  const std::string name = str_cat(f->getName().str(), ".task");
  if (llvm::Function* task = m_.getFunction(name)) return task;
  llvm::Type* ptr = b_.getPtrTy();
  auto* task =
      llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), {ptr, i64(), i64()}, false),
                             llvm::Function::InternalLinkage, name, m_);
  llvm::IRBuilder<> tb(llvm::BasicBlock::Create(ctx_, "entry", task));
  std::vector<Value*> args;
  for (unsigned i = 0; i < f->arg_size(); ++i) {
    Value* arg = tb.CreateLoad(ptr, tb.CreateConstInBoundsGEP1_64(ptr, task->getArg(0), i));
    args.push_back(f->getArg(i)->getType()->isPointerTy() ? arg : tb.CreatePtrToInt(arg, i64()));
  }
  tb.CreateCall(f, args);
  tb.CreateRetVoid();
  return task;
}

// An array on the step's stack holding `args` (integers as pointers).
Value* Emitter::TaskContext(llvm::IRBuilder<>& sb, const std::vector<Value*>& args) {
  llvm::Type* ptr = b_.getPtrTy();
  llvm::Function* step = sb.GetInsertBlock()->getParent();
  llvm::IRBuilder<> entry(&step->getEntryBlock(), step->getEntryBlock().begin());
  Value* array = entry.CreateAlloca(llvm::ArrayType::get(ptr, args.size()));
  for (size_t i = 0; i < args.size(); ++i) {
    Value* arg = args[i]->getType()->isPointerTy() ? args[i] : sb.CreateIntToPtr(args[i], ptr);
    sb.CreateStore(arg, sb.CreateConstInBoundsGEP1_64(ptr, array, i));
  }
  return array;
}

// After a unit: the values it stored in the arena or wrote into a variable
// (an in-place update); values kept in registers have no storage to check.
void Emitter::EmitNumericsChecks(llvm::IRBuilder<>& sb, const std::vector<NodeId>& members,
                                 Value* numerics) {
  llvm::FunctionCallee check =
      m_.getOrInsertFunction("kiln_check_numerics", b_.getInt32Ty(), b_.getPtrTy(), i64());
  for (NodeId id : members) {
    const ir::Node& n = g_.nodes[id];
    const ir::Storage& s = n.storage;
    bool in_variable =
        s.kind == ir::StorageKind::kAlias && g_.nodes[s.alias].op == OpKind::kVariable;
    if (n.type.dtype != ir::DType::kF32 || !(s.kind == ir::StorageKind::kArena || in_variable)) {
      continue;
    }
    Value* status = sb.CreateCall(check, {numerics, sb.getInt64(id)});
    llvm::Function* step = sb.GetInsertBlock()->getParent();
    llvm::BasicBlock* cont = llvm::BasicBlock::Create(ctx_, "checked", step);
    llvm::BasicBlock* fail = llvm::BasicBlock::Create(ctx_, "not_finite", step);
    sb.CreateCondBr(sb.CreateICmpNE(status, sb.getInt32(0)), fail, cont);
    sb.SetInsertPoint(fail);
    sb.CreateRet(sb.getInt32(2));
    sb.SetInsertPoint(cont);
  }
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
  For(Count(first.type.shape), [&](Value* i) {
    index_ = i;
    values_.clear();
    for (NodeId m : members) {
      id_ = m;
      emit_node(*this);
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
    emit_node(*this);
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
  // One function per tile size, with noalias buffers (a parallel task loads
  // its buffers from a context, so only the parameters carry the no-alias
  // facts the vectoriser needs). Out of line, the call costs little next to a
  // tile; the single vectors that run inside another tile's k loop are
  // inlined, since a call there would spill the accumulators.
  std::map<std::tuple<int, int, bool>, llvm::Function*> bodies;
  auto epilogue = [&](Value* i0, Value* j0, int rows, int cols, Value* tile, int64_t stride,
                      bool inlined) {
    llvm::Function*& body = bodies[{rows, cols, inlined}];
    if (!body) body = EpilogueFunction(members, rows, cols, stride, inlined);
    std::vector<Value*> args;
    for (const auto& [root, value] : params_) args.push_back(value);
    args.insert(args.end(), {tile, i0, j0, step_seed_, rows_});
    b_.CreateCall(body, args);
  };
  emit_matmul_tiles(*this, members.size() > 1 ? MatMulEpilogue(epilogue) : nullptr, column_sum);
}

// log2(W) stages, each interleaving pairs of vectors b apart in blocks of b
// lanes.
void Emitter::TransposeInRegisters(std::vector<Value*>& rows) {
  const int w = static_cast<int>(rows.size());
  for (int b = w / 2; b >= 1; b /= 2) {
    std::vector<int> lo(w), hi(w);
    for (int p = 0; p < w; ++p) {
      lo[p] = (p & b) == 0 ? p : w + p - b;
      hi[p] = (p & b) == 0 ? p + b : w + p;
    }
    for (int i = 0; i < w; ++i) {
      if (i & b) continue;
      Value* x = rows[i];
      Value* y = rows[i + b];
      rows[i] = b_.CreateShuffleVector(x, y, lo);
      rows[i + b] = b_.CreateShuffleVector(x, y, hi);
    }
  }
}

// The context holds every buffer of the current function (an epilogue may
// touch any of them), then the seed and the rows.
void Emitter::ParallelFor(Value* count, const std::function<void(Value*)>& item,
                          const std::function<void()>& rebind,
                          const std::function<void()>& finish) {
  auto& b = b_;
  llvm::Type* ptr = b.getPtrTy();
  llvm::Module& m = *b.GetInsertBlock()->getModule();
  auto* task_ty = llvm::FunctionType::get(b.getVoidTy(), {ptr, i64(), i64()}, false);
  llvm::Function* outer_fn = b.GetInsertBlock()->getParent();
  auto* task = llvm::Function::Create(task_ty, llvm::Function::InternalLinkage,
                                      outer_fn->getName() + ".tiles", m);
  llvm::IRBuilderBase::InsertPoint saved = b.saveIP();
  const std::map<NodeId, Value*> outer = buffers();
  Value* outer_seed = step_seed();
  Value* outer_rows = rows();
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", task));
  Value* context = task->getArg(0);
  std::map<NodeId, Value*> inner;
  uint64_t slot = 0;
  for (const auto& [root, value] : outer) {
    inner[root] = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, context, slot++));
  }
  Value* seed =
      b.CreatePtrToInt(b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, context, slot)), i64());
  Value* task_rows = b.CreatePtrToInt(
      b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, context, slot + 1)), i64());
  set_buffers(inner, seed, task_rows);
  if (rebind) rebind();
  llvm::BasicBlock* pre = b.GetInsertBlock();
  llvm::BasicBlock* loop = llvm::BasicBlock::Create(ctx_, "tiles", task);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(ctx_, "tiles.exit", task);
  b.CreateCondBr(b.CreateICmpULT(task->getArg(1), task->getArg(2)), loop, exit);
  b.SetInsertPoint(loop);
  llvm::PHINode* t = b.CreatePHI(i64(), 2, "t");
  t->addIncoming(task->getArg(1), pre);
  item(t);
  Value* next = b.CreateAdd(t, c64(1));
  t->addIncoming(next, b.GetInsertBlock());
  b.CreateCondBr(b.CreateICmpULT(next, task->getArg(2)), loop, exit);
  b.SetInsertPoint(exit);
  if (finish) finish();
  b.CreateRetVoid();
  b.restoreIP(saved);
  set_buffers(outer, outer_seed, outer_rows);
  if (rebind) rebind();
  // The caller passes the context through a stack array.
  llvm::IRBuilder<> entry(&outer_fn->getEntryBlock(), outer_fn->getEntryBlock().begin());
  Value* context_array = entry.CreateAlloca(llvm::ArrayType::get(ptr, outer.size() + 2));
  slot = 0;
  for (const auto& [root, value] : outer) {
    b.CreateStore(value, b.CreateConstInBoundsGEP1_64(ptr, context_array, slot++));
  }
  b.CreateStore(b.CreateIntToPtr(outer_seed, ptr),
                b.CreateConstInBoundsGEP1_64(ptr, context_array, slot));
  b.CreateStore(b.CreateIntToPtr(outer_rows, ptr),
                b.CreateConstInBoundsGEP1_64(ptr, context_array, slot + 1));
  llvm::FunctionCallee parallel_for =
      m.getOrInsertFunction("kiln_parallel_for", b.getVoidTy(), ptr, ptr, i64());
  b.CreateCall(parallel_for, {task, context_array, count});
}

// void epilogue(ptr noalias buffers..., ptr noalias tile, i64 i0, i64 j0, i64 seed, i64 rows)
llvm::Function* Emitter::EpilogueFunction(const std::vector<NodeId>& members, int rows, int cols,
                                          int64_t stride, bool inlined) {
  llvm::Type* ptr = b_.getPtrTy();
  std::vector<llvm::Type*> params(params_.size() + 1, ptr);
  params.insert(params.end(), {i64(), i64(), i64(), i64()});
  auto* ty = llvm::FunctionType::get(b_.getVoidTy(), params, false);
  auto* f = llvm::Function::Create(ty, llvm::Function::InternalLinkage,
                                   str_cat("epilogue_", g_.nodes[members[0]].group, "_", rows, "x",
                                           cols, inlined ? "_inline" : ""),
                                   m_);
  f->addFnAttr(inlined ? llvm::Attribute::AlwaysInline : llvm::Attribute::NoInline);
  for (size_t i = 0; i <= params_.size(); ++i) f->addParamAttr(i, llvm::Attribute::NoAlias);
  llvm::IRBuilderBase::InsertPoint saved = b_.saveIP();
  std::map<NodeId, Value*> outer = params_;
  Value* outer_seed = step_seed_;
  Value* outer_rows = rows_;
  size_t k = 0;
  for (auto& [root, value] : params_) value = f->getArg(k++);
  Value* tile = f->getArg(k);
  Value* i0 = f->getArg(k + 1);
  Value* j0 = f->getArg(k + 2);
  step_seed_ = f->getArg(k + 3);
  rows_ = f->getArg(k + 4);
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
  rows_ = outer_rows;
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
  params.insert(params.end(), {i64(), i64(), ptr});  // step seed, rows, error
  auto* ty = llvm::FunctionType::get(b_.getInt32Ty(), params, false);
  auto linkage = parts_ > 1 ? llvm::Function::ExternalLinkage : llvm::Function::InternalLinkage;
  auto* f = llvm::Function::Create(ty, linkage, name, m_);
  for (size_t i = 0; i < roots.size(); ++i) f->addParamAttr(i, llvm::Attribute::NoAlias);
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
  params_.clear();
  for (size_t i = 0; i < roots.size(); ++i) params_[roots[i]] = f->getArg(i);
  step_seed_ = f->getArg(roots.size());
  rows_ = f->getArg(roots.size() + 1);
  error_ = f->getArg(roots.size() + 2);
  if (ir::is_fusible(n.op)) {
    EmitGroupLoop(members);
  } else if (members.size() > 1) {
    EmitEpilogueGroup(members);
  } else {
    id_ = members[0];
    emit_node(*this);
  }
  b_.CreateRet(b_.getInt32(0));
  return f;
}

namespace {

// Whether every reader of `id` (whose first axis is the batch) reads it as
// the rows of a matmul's first operand, as row_table_inputs() describes.
bool ReadAsRows(const ir::Graph& g, const std::vector<std::vector<NodeId>>& consumers, NodeId id) {
  auto first_operand_only = [&](NodeId c, NodeId of) {
    const ir::Node& n = g.nodes[c];
    return n.op == OpKind::kMatMul && n.inputs[0] == of && n.inputs[1] != of;
  };
  if (consumers[id].empty()) return false;
  for (NodeId c : consumers[id]) {
    const ir::Node& n = g.nodes[c];
    const bool rank2 = g.nodes[id].type.shape.size() == 2;
    if (n.op == OpKind::kReshape && !n.type.shape.empty() && n.type.shape[0] == ir::kBatch &&
        ir::batch_axis(n.type.shape) == 0 && ReadAsRows(g, consumers, c)) {
      continue;
    }
    if (rank2 && first_operand_only(c, id)) continue;
    if (rank2 && n.op == OpKind::kTranspose && !consumers[c].empty() &&
        std::all_of(consumers[c].begin(), consumers[c].end(),
                    [&](NodeId m) { return first_operand_only(m, c); })) {
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

std::vector<bool> row_table_inputs(const ir::Graph& graph) {
  const std::vector<std::vector<NodeId>> consumers = graph.consumers();
  std::vector<bool> rows(graph.nodes.size(), false);
  for (NodeId id : graph.nodes_of(OpKind::kInput)) {
    const ir::Node& n = graph.nodes[id];
    rows[id] = n.type.dtype == DType::kF32 && n.type.shape.size() >= 2 &&
               n.type.shape[0] == ir::kBatch && ir::batch_axis(n.type.shape) == 0 &&
               ReadAsRows(graph, consumers, id);
  }
  return rows;
}

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
                       const char* name, int part, int parts, StepHooks hooks,
                       llvm::Module& module) {
  return Emitter(graph, plan, vector_width, part, parts, hooks, module).Emit(name);
}

}  // namespace kiln::codegen
