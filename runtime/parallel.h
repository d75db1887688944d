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
/// Each kernel (task) runs on the pool or on the caller alone, whichever its
/// recent runs measured faster, so a busy core never makes it slower than one
/// thread for long (KILN_ADAPTIVE_THREADS=0: always on the pool).
extern "C" void kiln_parallel_for(ParallelTask task, void* context, int64_t n);

/// kiln_parallel_for for coarse work (whole batches of a forward pass), which
/// a split always pays for: always on the pool, no adaptive choice. Parallel
/// loops inside its tasks (a step's kernels) run inline on their thread.
void parallel_for_coarse(ParallelTask task, void* context, int64_t n);

/// The number of threads of the pool kiln_parallel_for uses.
int parallel_threads();

/// Uses at most `threads` of the pool from now on (below 1: all of them);
/// for benchmarks that compare thread counts in one process.
void set_parallel_thread_limit(int threads);

}  // namespace kiln
