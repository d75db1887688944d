// The thread pool compiled steps use to split large matrix products.
#pragma once

#include <cstdint>

namespace kiln {

/// A task over the index range [begin, end).
using ParallelTask = void (*)(void* context, int64_t begin, int64_t end);

/// Runs task over [0, n) split into fixed contiguous chunks (a few per thread)
/// that the threads of a persistent pool claim, each first from its own share;
/// the caller runs every chunk nobody has started, so a descheduled thread
/// delays at most the chunk it holds. Each index is computed by exactly one
/// chunk, so results do not depend on the number of threads or on timing.
/// Threads: KILN_NUM_THREADS, else this process's share of the machine's
/// cores (all of them, or their share when mpirun starts several here).
extern "C" void kiln_parallel_for(ParallelTask task, void* context, int64_t n);

/// The number of threads kiln_parallel_for uses.
int parallel_threads();

}  // namespace kiln
