// The thread pool compiled steps use to split large matrix products.
#pragma once

#include <cstdint>

namespace kiln {

/// A task over the index range [begin, end).
using ParallelTask = void (*)(void* context, int64_t begin, int64_t end);

/// Runs task over [0, n) split into fixed contiguous parts, one per thread of a
/// persistent pool (the caller is one of them). Each index is handled by
/// exactly one part, so results do not depend on the number of threads or on
/// timing. Threads: KILN_NUM_THREADS, else the cores this process may use (its
/// share when mpirun starts several on the machine; at most 2 today).
extern "C" void kiln_parallel_for(ParallelTask task, void* context, int64_t n);

/// The number of threads kiln_parallel_for uses.
int parallel_threads();

}  // namespace kiln
