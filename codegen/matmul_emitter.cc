// The register-tiled matmul micro-kernel: register tiles accumulated over the
// whole K loop (or over each part of it, for split=contraction), split across
// the thread pool as the partition pass planned when the product is large,
// with B packed strip by strip when it does not fit in L2.
#include "codegen/matmul_emitter.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "ir/memory_plan.h"

namespace kiln::codegen {
namespace {

// C[M,N] = A[M,K] B[K,N] with register tiles: `mr` rows by `nv` vectors of
// `width` columns held in accumulators across the whole K loop, so each
// element of C is loaded and stored once. The last vector of a tile may be
// partial (masked) when N is not a multiple of the vector width. M or K may
// be the batch dimension, known at run time: the loops then run to the
// run's rows, and a partial row band is covered by two- and one-row tiles. Each
// element is the same chain of FMAs over K whatever the tile and the
// capacity (with split=contraction, the same chains over the same parts of
// K, added in the same order), so results depend only on the rows.
class MatMulEmitter {
  static constexpr int kEpilogueRegisters = 6;
  static constexpr int kInterleavedRows = 4;
  // Groups of column strips per part of a contraction: with 4 parts, up to
  // 16 threads share the forward product.
  static constexpr int64_t kStripGroups = 4;

 public:
  using Epilogue = MatMulEpilogue;

  // `column_sum`, when >= 0, is a node that receives the column sums of B,
  // which the tiles of the first row band accumulate as they stream B.
  MatMulEmitter(E& e, Epilogue epilogue = nullptr, NodeId column_sum = -1)
      : e_(e),
        a_shape_(e.in_type(0).shape),
        m_cap_(e.graph().at_capacity(a_shape_)[0]),
        k_cap_(e.graph().at_capacity(a_shape_)[1]),
        n_(e.in_type(1).shape[1]),
        epilogue_(std::move(epilogue)),
        column_sum_(column_sum) {
    const NodeId a_source = e.FoldedTransposeSource(e.id(), 0);
    a_transposed_ = a_source >= 0;
    a_rows_ = e.IsRowTable(a_transposed_ ? a_source : e.node().inputs[0]);
    b_transposed_ = e.FoldedTransposeSource(e.id(), 1) >= 0;
    BindBuffers();
    w_ = e.width();
    nv_ = w_ >= 16 ? 4 : 2;
    vec_ = llvm::FixedVectorType::get(e.f32(), w_);
    // An epilogue that waits for the next tile's k loop (see Pending) needs
    // registers there besides the accumulators, the k step's B vectors and a
    // broadcast. With 32 registers, tiles of 4 rows leave enough: seed-001's
    // weight gradient with Adam took 71-74 us on one thread against 86-88 us
    // for 6-row tiles run one after the other (80-82 us for 6-row tiles
    // interleaved, which spill), and seed-000's with SGD 57-59 us against
    // 64-66. With AVX2's 16 registers every interleaved variant was slower
    // (seed-001's kernel: 94-96 us with 6-row tiles one after the other; 105
    // with 6-row tiles interleaved, 113-117 with 4 or 3 rows, 141-143 with 2). The parts of a
    // split=contraction product have no epilogue, and only full tiles wait.
    interleave_ = epilogue_ && e.node().split != ir::Split::kContraction && n_ >= nv_ * w_ &&
                  kInterleavedRows * nv_ + nv_ + 1 + kEpilogueRegisters <= (w_ >= 16 ? 32 : 16);
    mr_ = interleave_ ? kInterleavedRows : 6;
  }

  // A = X^T reads X (element (i, p) is X[p, i]), B = Y^T reads Y; C is
  // absent when only the epilogue reads the product. M and K in the current
  // function's rows.
  void BindBuffers() {
    m_ = e_.Dim(a_shape_, 0);
    k_ = e_.Dim(a_shape_, 1);
    NodeId a_source = e_.FoldedTransposeSource(e_.id(), 0);
    NodeId b_source = e_.FoldedTransposeSource(e_.id(), 1);
    a_ = a_source >= 0 ? e_.buf(a_source) : e_.in(0);
    bm_ = b_source >= 0 ? e_.buf(b_source) : e_.in(1);
    c_ = e_.has_buffer(e_.id()) ? e_.out() : nullptr;
    sums_ = column_sum_ >= 0 ? e_.buf(column_sum_) : nullptr;
  }

  void Emit() {
    const int64_t strips = Strips();
    if (e_.node().split == ir::Split::kContraction) return EmitContraction(strips);
    // Decided for the capacity, which does not change any result.
    const bool parallel =
        2.0 * m_cap_ * k_cap_ * n_ >= ir::kSplitFlops && (m_cap_ + mr_ - 1) / mr_ * strips >= 2;
    // A transposed B is read from packed strips only, so tiles go strip by strip.
    if (!parallel && !b_transposed_) return EmitAllTiles();
    EmitItems(strips, parallel);
  }

 private:
  int64_t Strips() const { return (n_ + nv_ * w_ - 1) / (nv_ * w_); }

  // Every tile of the column strips from `first` to `end` (all of them when
  // null), serially: the full tiles, the partial column tile of every full
  // row band (when the range has the partial strip), then the partial row band.
  void EmitAllTiles(Value* first = nullptr, Value* end = nullptr) {
    auto& b = e_.b();
    int64_t nr = nv_ * w_;
    int64_t full_n = n_ / nr, rem_n = n_ % nr;
    Value* strip0 = first ? first : e_.c64(0);
    Value* full_count =
        end ? b.CreateSub(b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, end, e_.c64(full_n)),
                          strip0)
            : e_.c64(full_n);
    auto full_tiles = [&](Value* i0, int rows) {
      e_.For(full_count, [&](Value* jt) {
        TileAt(i0, b.CreateMul(b.CreateAdd(strip0, jt), e_.c64(nr)), rows, nv_, w_);
      });
    };
    auto column_tail = [&](const std::function<void()>& tail) {
      if (!rem_n) return;
      if (!end) return tail();
      e_.If(b.CreateICmpUGT(end, e_.c64(full_n)), tail);
    };
    Value* full_m = b.CreateUDiv(m_, e_.c64(mr_));
    e_.For(full_m, [&](Value* it) { full_tiles(b.CreateMul(it, e_.c64(mr_)), mr_); });
    Flush();
    column_tail(
        [&] { e_.For(full_m, [&](Value* it) { ColumnTail(b.CreateMul(it, e_.c64(mr_)), mr_); }); });
    PartialBand(b.CreateMul(full_m, e_.c64(mr_)), [&](Value* first_row, int rows) {
      full_tiles(first_row, rows);
      column_tail([&] { ColumnTail(first_row, rows); });
    });
    Flush();
  }

  // split=contraction: each part of K computes every tile over its rows of B
  // into its own slice (no epilogue); then each tile is the parts added in
  // order, which the epilogue gets. The work items are groups of a part's
  // column strips, part by part: 1, 2 or 4 threads each take whole parts (the
  // rows of B, a weight, that they own in the step's other kernels too), more
  // share a part's groups (3 threads split the parts as they split the weight
  // gradient's rows, in thirds, neither matching the other). Each group streams the part's rows of
  // A once, so groups are few: on seed-003 (8 strips) items of one strip made the step 0.7-0.8 %
  // slower on one and two threads. EmitAllTiles and EmitItems serve both phases (part_ and reduce_
  // say which).
  void EmitContraction(int64_t strips) {
    auto& b = e_.b();
    const int64_t groups = std::min<int64_t>(strips, kStripGroups);
    e_.ParallelFor(
        e_.c64(ir::kContractionParts * groups),
        [&](Value* t) {
          Value* q = b.CreateUDiv(t, e_.c64(groups));
          Value* g = b.CreateURem(t, e_.c64(groups));
          k_begin_ = PartBegin(q);
          k_end_ = PartBegin(b.CreateAdd(q, e_.c64(1)));
          part_ = q;
          auto group_begin = [&](Value* group) {
            return b.CreateUDiv(b.CreateMul(group, e_.c64(strips)), e_.c64(groups));
          };
          EmitAllTiles(group_begin(g), group_begin(b.CreateAdd(g, e_.c64(1))));
          part_ = k_begin_ = k_end_ = nullptr;
        },
        [this] { BindBuffers(); });
    // Adding the parts is one pass over them: split only when that pass is
    // as large as a product worth splitting (a split costs a hand-off).
    reduce_ = true;
    if (static_cast<double>(ir::kContractionParts) * m_cap_ * n_ >= ir::kSplitFlops) {
      EmitItems(strips, true);
    } else {
      EmitAllTiles();
    }
    reduce_ = false;
  }

  // Where part q of the contraction begins: K q / parts, as
  // ir::contraction_part_begin computes it.
  Value* PartBegin(Value* q) {
    auto& b = e_.b();
    return b.CreateUDiv(b.CreateMul(k_, q), e_.c64(ir::kContractionParts));
  }

  // Part q's slice: the node's slice holds the parts part_bytes apart.
  Value* PartBuffer(Value* q) {
    const int64_t stride = ir::part_bytes(e_.graph(), e_.node()) / 4;
    return e_.b().CreateInBoundsGEP(e_.f32(), c_, e_.b().CreateMul(q, e_.c64(stride)));
  }

  // The rows from i0 to M (fewer than mr), as bands `band(first_row, rows)`:
  // one band when M is static; at run time bands of two rows, then one, so
  // only two tile shapes are compiled (each element is the same FMA chain in
  // any tile).
  void PartialBand(Value* i0, const std::function<void(Value*, int)>& band) {
    auto& b = e_.b();
    Value* rem_m = b.CreateURem(m_, e_.c64(mr_));
    if (auto* c = llvm::dyn_cast<llvm::ConstantInt>(rem_m)) {
      if (!c->isZero()) band(i0, static_cast<int>(c->getZExtValue()));
      return;
    }
    e_.For(b.CreateLShr(rem_m, 1), [&](Value* q) { band(b.CreateAdd(i0, b.CreateShl(q, 1)), 2); });
    e_.If(b.CreateICmpNE(b.CreateAnd(rem_m, e_.c64(1)), e_.c64(0)),
          [&] { band(b.CreateSub(b.CreateAdd(i0, rem_m), e_.c64(1)), 1); });
  }

  void ColumnTail(Value* i0, int mr) {
    int64_t nr = nv_ * w_, rem_n = n_ % nr;
    int nv = static_cast<int>((rem_n + w_ - 1) / w_);
    int last = static_cast<int>(rem_n - (nv - 1) * w_);
    TileAt(i0, e_.c64(n_ / nr * nr), mr, nv, last);
  }

  // Every tile, partial ones included, is a work item, for kiln_parallel_for
  // when `parallel` (which gives each thread a fixed contiguous share of them
  // first). Items go column strip by column strip when the pass split the
  // product by columns or B is packed strip by strip, so a thread's share is
  // whole strips; else row band by row band, so it is a block of rows. Every
  // tile is computed whole by one thread, so results do not depend on the
  // number of threads.
  void EmitItems(int64_t strips, bool parallel) {
    auto& b = e_.b();
    const int64_t nr = nv_ * w_, full_n = n_ / nr;
    // When B is larger than L2 a thread first copies each full strip of B to
    // a contiguous buffer. In place, a strip's rows sit N floats apart; for N
    // a multiple of 512 they map to a handful of cache sets, and every tile
    // would fetch the strip from L3 again. A transposed B is always packed,
    // the partial strip too.
    const bool pack = b_transposed_ || (!reduce_ && ShouldPack());
    const bool by_strip = pack || e_.node().split == ir::Split::kColumns;
    Value* packed = nullptr;
    Value* packed_strip = nullptr;
    auto body = [&](Value* t) {
      if (pack && !packed) {
        llvm::Function* f = b.GetInsertBlock()->getParent();
        llvm::IRBuilder<> entry(&f->getEntryBlock(), f->getEntryBlock().begin());
        // W rows more than K: a transposed strip is packed in blocks of W rows.
        auto* buffer = entry.CreateAlloca(llvm::ArrayType::get(e_.f32(), (k_cap_ + w_) * nr));
        buffer->setAlignment(llvm::Align(64));
        packed = buffer;
        packed_strip = entry.CreateAlloca(e_.i64());
        entry.CreateStore(e_.c64(-1), packed_strip);
      }
      Value* bands = Bands();
      Value* band = by_strip ? b.CreateURem(t, bands) : b.CreateUDiv(t, e_.c64(strips));
      Value* strip = by_strip ? b.CreateUDiv(t, bands) : b.CreateURem(t, e_.c64(strips));
      Value* i0 = b.CreateMul(band, e_.c64(mr_));
      Value* j0 = b.CreateMul(strip, e_.c64(nr));
      // One tile at (i0, j0): mr rows, or the rows left in a partial band.
      auto item = [&](int nv, int last) {
        e_.If(
            b.CreateICmpULE(b.CreateAdd(i0, e_.c64(mr_)), m_),
            [&] { TileAt(i0, j0, mr_, nv, last); },
            [&] {
              PartialBand(i0, [&](Value* row, int rows) { TileAt(row, j0, rows, nv, last); });
            });
      };
      // The tile of a strip of `cols` columns. A partial strip of B in place
      // is read where it is (copying whole vectors of it would read past B).
      auto strip_item = [&](int64_t cols) {
        const int nv = static_cast<int>((cols + w_ - 1) / w_);
        const bool packs = pack && (b_transposed_ || cols == nr);
        if (packs) PackStrip(j0, cols, packed, packed_strip);
        packed_ = packs ? packed : nullptr;
        item(nv, static_cast<int>(cols - (nv - 1) * w_));
        packed_ = nullptr;
      };
      if (full_n == strips) return strip_item(nr);
      e_.If(
          b.CreateICmpULT(strip, e_.c64(full_n)), [&] { strip_item(nr); },
          [&] { strip_item(n_ % nr); });
    };
    Value* count = b.CreateMul(Bands(), e_.c64(strips));
    if (parallel) {
      e_.ParallelFor(
          count, body, [this] { BindBuffers(); }, [this] { Flush(); });
    } else {
      e_.For(count, body);
      Flush();
    }
  }

  // Row bands of the current function's M, the last one possibly partial.
  Value* Bands() { return e_.b().CreateUDiv(e_.b().CreateAdd(m_, e_.c64(mr_ - 1)), e_.c64(mr_)); }

  // Packing pays when B does not fit in L2 (512 KiB per core here) and each
  // strip is reused by several row bands; measured, it costs time when B
  // fits. The strip buffer lives on the task's stack, so it is bounded.
  bool ShouldPack() const {
    const int64_t strip_bytes = (k_cap_ + w_) * nv_ * w_ * 4;
    return m_cap_ / mr_ >= 2 && k_cap_ * n_ * 4 > (512 << 10) &&
           strip_bytes <= E::kMaxPackedStripBytes;
  }

  // Copies B[:, j0 : j0 + cols] to `packed` (row stride nv w) unless it
  // holds it already. Only a transposed B packs a partial strip.
  void PackStrip(Value* j0, int64_t cols, Value* packed, Value* packed_strip) {
    auto& b = e_.b();
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* copy = llvm::BasicBlock::Create(e_.ctx(), "pack", f);
    llvm::BasicBlock* done = llvm::BasicBlock::Create(e_.ctx(), "pack.done", f);
    b.CreateCondBr(b.CreateICmpNE(b.CreateLoad(e_.i64(), packed_strip), j0), copy, done);
    b.SetInsertPoint(copy);
    if (b_transposed_) {
      PackTransposed(j0, cols, packed);
    } else {
      const int64_t nr = nv_ * w_;
      e_.For(k_, [&](Value* p) {
        Value* from = b.CreateAdd(b.CreateMul(p, e_.c64(n_)), j0);
        Value* to = b.CreateMul(p, e_.c64(nr));
        for (int v = 0; v < nv_; ++v) {
          Value* x = b.CreateAlignedLoad(
              vec_, b.CreateInBoundsGEP(e_.f32(), bm_, b.CreateAdd(from, e_.c64(v * w_))),
              llvm::Align(4));
          b.CreateAlignedStore(
              x, b.CreateInBoundsGEP(e_.f32(), packed, b.CreateAdd(to, e_.c64(v * w_))),
              llvm::Align(32));
        }
      });
    }
    b.CreateStore(j0, packed_strip);
    b.CreateBr(done);
    b.SetInsertPoint(done);
  }

  // B = Y^T: column j of B is row j of Y (K floats). Each W x W block of Y's
  // rows j0 + c0.. and columns p0.. is W row loads, a transpose in registers
  // and W stores into packed rows p0..p0+W. One masked body serves every
  // block (emitting one per kind of block made the step take twice as long
  // to compile): a last block of K loads only the columns left (packed rows
  // past K get zeros nobody reads), and rows past the strip's `cols` load
  // nothing, so their columns of the strip are zeros.
  void PackTransposed(Value* j0, int64_t cols, Value* packed) {
    auto& b = e_.b();
    const int64_t nr = nv_ * w_;
    Value* k_blocks = b.CreateUDiv(b.CreateAdd(k_, e_.c64(w_ - 1)), e_.c64(w_));
    e_.For((cols + w_ - 1) / w_, [&](Value* cb) {
      Value* c0 = b.CreateMul(cb, e_.c64(w_));
      e_.For(k_blocks, [&](Value* kb) {
        Value* p0 = b.CreateMul(kb, e_.c64(w_));
        Value* lanes = LaneMask(b.CreateSub(k_, p0));
        Value* none = llvm::Constant::getNullValue(lanes->getType());
        std::vector<Value*> v(w_);
        for (int r = 0; r < w_; ++r) {
          Value* c = b.CreateAdd(c0, e_.c64(r));
          Value* row = b.CreateAdd(j0, c);
          Value* ptr = b.CreateInBoundsGEP(e_.f32(), bm_, b.CreateAdd(b.CreateMul(row, k_), p0));
          Value* mask = cols % w_ == 0
                            ? lanes
                            : b.CreateSelect(b.CreateICmpULT(c, e_.c64(cols)), lanes, none);
          v[r] = b.CreateMaskedLoad(vec_, ptr, llvm::Align(4), mask,
                                    llvm::Constant::getNullValue(vec_));
        }
        e_.TransposeInRegisters(v);
        for (int c = 0; c < w_; ++c) {
          Value* to = b.CreateAdd(b.CreateMul(b.CreateAdd(p0, e_.c64(c)), e_.c64(nr)), c0);
          b.CreateAlignedStore(v[c], b.CreateInBoundsGEP(e_.f32(), packed, to), llvm::Align(32));
        }
      });
    });
  }

  // The first `lanes` lanes (a run-time count; all of them from W up).
  Value* LaneMask(Value* lanes) {
    auto& b = e_.b();
    std::vector<llvm::Constant*> index;
    for (int i = 0; i < w_; ++i) index.push_back(b.getInt64(i));
    return b.CreateICmpULT(llvm::ConstantVector::get(index), b.CreateVectorSplat(w_, lanes));
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
    std::vector<Value*> sums;
    const bool defer = Interleaves() && mr == mr_ && nv == nv_ && last_lanes == w_;
    std::vector<Value*> values = reduce_ ? SumParts(i0, j0, mr, nv, last_lanes)
                                         : Products(i0, j0, mr, nv, last_lanes,
                                                    column_sums && !part_ ? &sums : nullptr, defer);
    auto value = [&](int r, int v) { return values[r * nv + v]; };
    if (part_) return StoreTile(values, PartBuffer(part_), i0, j0, mr, nv, last_lanes);
    for (size_t v = 0; v < sums.size(); ++v) {
      StoreVector(sums[v], sums_, b.CreateAdd(j0, e_.c64(static_cast<int64_t>(v) * w_)),
                  v + 1 == sums.size() ? last_lanes : w_);
    }
    if (c_) StoreTile(values, c_, i0, j0, mr, nv, last_lanes);
    if (!epilogue_) return;
    if (defer) return Defer(values, i0, j0);
    Flush();
    // The epilogue reads the tile from a scratch array in L1 (mem2reg cannot
    // keep it in registers across the loop, but it never leaves the core).
    int64_t stride = nv_ * w_;
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::IRBuilder<> entry(&f->getEntryBlock(), f->getEntryBlock().begin());
    Value* tile = entry.CreateAlloca(llvm::ArrayType::get(e_.f32(), mr_ * stride));
    for (int r = 0; r < mr; ++r) {
      for (int v = 0; v < nv; ++v) {
        b.CreateAlignedStore(value(r, v),
                             b.CreateConstInBoundsGEP1_64(e_.f32(), tile, r * stride + v * w_),
                             llvm::Align(4));
      }
    }
    epilogue_(i0, j0, mr, (nv - 1) * w_ + last_lanes, tile, stride, false);
  }

  // A full tile's epilogue can wait in a scratch array and run one vector per
  // k step inside the next tile's k loop, so that the out-of-order core runs
  // its long operations (Adam's square root and divide) alongside the FMAs
  // rather than after them. The state belongs to the function being emitted
  // (a task, or the node's function): the waiting tile, its first row and
  // column, and how many of its vectors wait (0 or mr nv).
  struct Pending {
    Value* tile;
    Value* i0;
    Value* j0;
    Value* count;
  };

  bool Interleaves() const { return interleave_ && !reduce_ && !part_; }

  Pending& PendingState() {
    llvm::Function* f = e_.b().GetInsertBlock()->getParent();
    auto it = pending_.find(f);
    if (it != pending_.end()) return it->second;
    llvm::IRBuilder<> entry(&f->getEntryBlock(), f->getEntryBlock().begin());
    auto* tile = entry.CreateAlloca(llvm::ArrayType::get(e_.f32(), mr_ * nv_ * w_));
    tile->setAlignment(llvm::Align(64));
    Pending p{tile, entry.CreateAlloca(e_.i64()), entry.CreateAlloca(e_.i64()),
              entry.CreateAlloca(e_.i64())};
    entry.CreateStore(e_.c64(0), p.count);
    return pending_[f] = p;
  }

  void Defer(const std::vector<Value*>& values, Value* i0, Value* j0) {
    auto& b = e_.b();
    Pending& p = PendingState();
    for (size_t v = 0; v < values.size(); ++v) {
      b.CreateAlignedStore(values[v], b.CreateConstInBoundsGEP1_64(e_.f32(), p.tile, v * w_),
                           llvm::Align(64));
    }
    b.CreateStore(i0, p.i0);
    b.CreateStore(j0, p.j0);
    b.CreateStore(e_.c64(mr_ * nv_), p.count);
  }

  // Vector q of the waiting tile through the epilogue, in place.
  void PendingVector(const Pending& p, Value* i0, Value* j0, Value* q) {
    auto& b = e_.b();
    const int64_t stride = nv_ * w_;
    Value* r = b.CreateUDiv(q, e_.c64(nv_));
    Value* c = b.CreateMul(b.CreateURem(q, e_.c64(nv_)), e_.c64(w_));
    Value* at =
        b.CreateInBoundsGEP(e_.f32(), p.tile, b.CreateAdd(b.CreateMul(r, e_.c64(stride)), c));
    epilogue_(b.CreateAdd(i0, r), b.CreateAdd(j0, c), 1, w_, at, stride, true);
  }

  // Runs the waiting tile's epilogue, if a tile waits.
  void Flush() {
    if (!Interleaves()) return;
    auto& b = e_.b();
    Pending& p = PendingState();
    e_.If(b.CreateICmpNE(b.CreateLoad(e_.i64(), p.count), e_.c64(0)), [&] {
      epilogue_(b.CreateLoad(e_.i64(), p.i0), b.CreateLoad(e_.i64(), p.j0), mr_, nv_ * w_, p.tile,
                nv_ * w_, false);
      b.CreateStore(e_.c64(0), p.count);
    });
  }

  // The tile's mr x nv vectors of A[i0.., k0:k1] B[k0:k1, j0..] (k0:k1 the
  // part being emitted, else all of K), each a chain of FMAs from zero in
  // order over k; with `sums`, also B's column sums over those rows. With
  // `interleave`, the waiting tile's vectors go through the epilogue, one in
  // each of the first k steps (a loop of its own, so that the loop without
  // them keeps its accumulators in registers), the rest after the loop.
  std::vector<Value*> Products(Value* i0, Value* j0, int mr, int nv, int last_lanes,
                               std::vector<Value*>* sums, bool interleave) {
    auto& b = e_.b();
    Value* k0 = k_begin_ ? k_begin_ : e_.c64(0);
    Value* k1 = k_end_ ? k_end_ : k_;
    // Accumulators, then column sums.
    std::vector<Value*> carried(mr * nv + (sums ? nv : 0), llvm::Constant::getNullValue(vec_));
    const TilePlace tile{i0, j0, mr, nv, last_lanes, sums != nullptr};
    if (!interleave) {
      carried = KSteps(tile, k0, k1, carried, nullptr);
    } else {
      Pending& waiting = PendingState();
      Value* count = b.CreateLoad(e_.i64(), waiting.count);
      Value* wi0 = b.CreateLoad(e_.i64(), waiting.i0);
      Value* wj0 = b.CreateLoad(e_.i64(), waiting.j0);
      // An empty range (a static K of 0, or a part with no rows) has no steps.
      Value* steps = b.CreateSelect(b.CreateICmpULT(k0, k1), b.CreateSub(k1, k0), e_.c64(0));
      Value* shared = b.CreateBinaryIntrinsic(llvm::Intrinsic::umin, steps, count);
      Value* k_mid = b.CreateAdd(k0, shared);
      carried = KSteps(tile, k0, k_mid, carried,
                       [&](Value* k) { PendingVector(waiting, wi0, wj0, b.CreateSub(k, k0)); });
      carried = KSteps(tile, k_mid, k1, carried, nullptr);
      e_.For(b.CreateSub(count, shared),
             [&](Value* q) { PendingVector(waiting, wi0, wj0, b.CreateAdd(shared, q)); });
      b.CreateStore(e_.c64(0), waiting.count);
    }
    if (sums) sums->assign(carried.begin() + mr * nv, carried.end());
    carried.resize(mr * nv);
    return carried;
  }

  struct TilePlace {
    Value* i0;
    Value* j0;
    int mr, nv, last_lanes;
    bool sums;
  };

  // The k steps from k0 to k1 (none when k1 <= k0) on `carried` (the
  // accumulators, then the column sums); `also(k)` emits more work for step k.
  std::vector<Value*> KSteps(const TilePlace& t, Value* k0, Value* k1,
                             const std::vector<Value*>& carried,
                             const std::function<void(Value*)>& also) {
    auto& b = e_.b();
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* pre = b.GetInsertBlock();
    llvm::BasicBlock* loop = llvm::BasicBlock::Create(e_.ctx(), "ktile", f);
    llvm::BasicBlock* exit = llvm::BasicBlock::Create(e_.ctx(), "ktile.exit", f);
    b.CreateCondBr(b.CreateICmpULT(k0, k1), loop, exit);
    b.SetInsertPoint(loop);
    llvm::PHINode* p = b.CreatePHI(e_.i64(), 2, "k");
    p->addIncoming(k0, pre);
    std::vector<llvm::PHINode*> in;
    for (Value* x : carried) {
      in.push_back(b.CreatePHI(vec_, 2, "acc"));
      in.back()->addIncoming(x, pre);
    }
    std::vector<Value*> bv;
    Value* brow =
        packed_ ? b.CreateMul(p, e_.c64(nv_ * w_)) : b.CreateAdd(b.CreateMul(p, e_.c64(n_)), t.j0);
    for (int v = 0; v < t.nv; ++v) {
      Value* ptr =
          b.CreateInBoundsGEP(e_.f32(), packed_ ? packed_ : bm_, b.CreateAdd(brow, e_.c64(v * w_)));
      bv.push_back(LoadVector(ptr, v == t.nv - 1 ? t.last_lanes : w_));
    }
    std::vector<Value*> next(in.size());
    for (int r = 0; r < t.mr; ++r) {
      Value* a = b.CreateVectorSplat(w_, LoadA(b.CreateAdd(t.i0, e_.c64(r)), p));
      for (int v = 0; v < t.nv; ++v) {
        const int i = r * t.nv + v;
        // llvm.fma, not fmuladd: always fused, so results match the interpreter.
        next[i] = e_.Intrinsic(llvm::Intrinsic::fma, {vec_}, {a, bv[v], in[i]});
      }
    }
    // In order over k from 0, as reduce_sum adds, so the sums match the interpreter.
    for (int v = 0; t.sums && v < t.nv; ++v) {
      next[t.mr * t.nv + v] = b.CreateFAdd(in[t.mr * t.nv + v], bv[v]);
    }
    if (also) also(p);
    Value* pn = b.CreateAdd(p, e_.c64(1), "", true, true);
    llvm::BasicBlock* latch = b.GetInsertBlock();
    p->addIncoming(pn, latch);
    for (size_t i = 0; i < in.size(); ++i) in[i]->addIncoming(next[i], latch);
    b.CreateCondBr(b.CreateICmpULT(pn, k1), loop, exit);
    b.SetInsertPoint(exit);
    std::vector<Value*> out;
    for (size_t i = 0; i < in.size(); ++i) {
      llvm::PHINode* phi = b.CreatePHI(vec_, 2);
      phi->addIncoming(carried[i], pre);
      phi->addIncoming(next[i], latch);
      out.push_back(phi);
    }
    return out;
  }

  // Element (i, p) of A: X[i, p], or X[p, i] when A = X^T; through X's table
  // of row addresses when X is an input read row by row (the row's address
  // is loop-invariant in the k loop when A is not transposed).
  Value* LoadA(Value* i, Value* p) {
    auto& b = e_.b();
    Value* row = a_transposed_ ? p : i;
    Value* column = a_transposed_ ? i : p;
    if (!a_rows_) {
      return e_.Load(DType::kF32, a_,
                     b.CreateAdd(b.CreateMul(row, a_transposed_ ? m_ : k_), column));
    }
    Value* address = b.CreateLoad(b.getPtrTy(), b.CreateInBoundsGEP(b.getPtrTy(), a_, row));
    return e_.Load(DType::kF32, address, column);
  }

  // The tile of a split=contraction product: its parts' tiles added in order.
  std::vector<Value*> SumParts(Value* i0, Value* j0, int mr, int nv, int last_lanes) {
    auto& b = e_.b();
    std::vector<Value*> out;
    for (int r = 0; r < mr; ++r) {
      Value* crow = b.CreateAdd(b.CreateMul(b.CreateAdd(i0, e_.c64(r)), e_.c64(n_)), j0);
      for (int v = 0; v < nv; ++v) {
        Value* index = b.CreateAdd(crow, e_.c64(v * w_));
        const int lanes = v == nv - 1 ? last_lanes : w_;
        Value* total = nullptr;
        for (int q = 0; q < ir::kContractionParts; ++q) {
          Value* x = LoadVector(b.CreateInBoundsGEP(e_.f32(), PartBuffer(e_.c64(q)), index), lanes);
          total = total ? b.CreateFAdd(total, x) : x;
        }
        out.push_back(total);
      }
    }
    return out;
  }

  // Stores a tile's vectors in `buffer` (row stride N).
  void StoreTile(const std::vector<Value*>& values, Value* buffer, Value* i0, Value* j0, int mr,
                 int nv, int last_lanes) {
    auto& b = e_.b();
    for (int r = 0; r < mr; ++r) {
      Value* crow = b.CreateAdd(b.CreateMul(b.CreateAdd(i0, e_.c64(r)), e_.c64(n_)), j0);
      for (int v = 0; v < nv; ++v) {
        StoreVector(values[r * nv + v], buffer, b.CreateAdd(crow, e_.c64(v * w_)),
                    v == nv - 1 ? last_lanes : w_);
      }
    }
  }

  // Loads `lanes` floats at `ptr` (the rest of the vector zero).
  Value* LoadVector(Value* ptr, int lanes) {
    if (lanes < w_) {
      return e_.b().CreateMaskedLoad(vec_, ptr, llvm::Align(4), Mask(lanes),
                                     llvm::Constant::getNullValue(vec_));
    }
    return e_.b().CreateAlignedLoad(vec_, ptr, llvm::Align(4));
  }

  E& e_;
  ir::Shape a_shape_;
  int64_t m_cap_, k_cap_, n_;
  Value* m_ = nullptr;  // M and K in the current function: constants, or the rows
  Value* k_ = nullptr;
  Epilogue epilogue_;
  Value *a_, *bm_, *c_;      // the operand and result buffers of the function being emitted
  Value* packed_ = nullptr;  // while emitting a tile of a packed strip: the strip
  NodeId column_sum_;
  Value* sums_ = nullptr;  // the column sum's buffer
  bool a_transposed_ = false, b_transposed_ = false;
  bool a_rows_ = false;  // A (or X, for A = X^T) is read through a table of row addresses
  // While emitting a part of a split=contraction product: its index and K range.
  Value* part_ = nullptr;
  Value* k_begin_ = nullptr;
  Value* k_end_ = nullptr;
  bool reduce_ = false;  // while emitting tiles that add up the parts
  bool interleave_ = false;
  std::map<llvm::Function*, Pending> pending_;
  int w_, nv_, mr_;
  llvm::FixedVectorType* vec_;
};

}  // namespace

void emit_matmul_tiles(Emitter& e, MatMulEpilogue epilogue, NodeId column_sum) {
  MatMulEmitter(e, std::move(epilogue), column_sum).Emit();
}

}  // namespace kiln::codegen
