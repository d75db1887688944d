// The register-tiled matmul micro-kernel (internal to codegen/), for a matmul
// on its own and for one that leads a fusion group, whose other members run on
// each output tile as an epilogue.
#pragma once

#include <cstdint>
#include <functional>

#include "codegen/emit_context.h"

namespace kiln::codegen {

/// Called on each output tile after it is computed, with the tile's first row
/// and column, its size, and the tile itself (row stride `stride`) in a
/// scratch buffer that stays in L1. `inlined` asks for the code in place (one
/// vector of a tile, inside the next tile's k loop) rather than a call.
using MatMulEpilogue = std::function<void(Value* i0, Value* j0, int rows, int cols, Value* tile,
                                          int64_t stride, bool inlined)>;

/// Emits C[M,N] = A[M,K] B[K,N] for `e`'s current node (a matmul), where M or
/// K may be the batch dimension (the run's rows). `column_sum`, when >= 0, is a
/// node that receives the column sums of B.
void emit_matmul_tiles(Emitter& e, MatMulEpilogue epilogue = nullptr, NodeId column_sum = -1);

}  // namespace kiln::codegen
