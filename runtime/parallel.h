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
/// Threads: KILN_NUM_THREADS, else default_threads().
/// Parallel loops inside a task (a step's kernels inside a split over
/// batches) run inline on their thread. Whether a step uses the pool at all
/// is the executor's choice (AdaptiveChoice), made for whole steps: the
/// partition pass gives each weight one owner for a whole step, which a
/// kernel run on one thread alone would undo for the kernels after it.
extern "C" void kiln_parallel_for(ParallelTask task, void* context, int64_t n);

/// Runs main(main_context, 0, 1) with side(side_context, 0, 1) beside it: on a
/// pool of 3 threads or more, the first kiln_parallel_for of main's that runs
/// on the pool makes side one more piece of its job (the caller takes it first, any
/// other thread once its own share of chunks is done) and waits for it with
/// its chunks; if main makes none, the caller runs side after main. On fewer
/// threads, or inline, side runs and then main. Returns once both are done.
/// Neither may read what the other writes (ir::BesideRule), so results do
/// not depend on which runs first.
extern "C" void kiln_run_beside(ParallelTask side, void* side_context, ParallelTask main,
                                void* main_context);

/// Whether something (a whole step) runs faster on the pool or on its caller
/// alone depends on the machine of the moment: a busy core, or cores far
/// apart, make the split lose. This keeps a moving average of the way it runs
/// and a measurement of the other way, probed now and then to notice a change;
/// the slower the other way keeps proving, the more rarely it is probed. It
/// switches only when the other way is faster by kMargin: near a tie, noise
/// would otherwise flip it back and forth, and each switch costs (the data
/// the step's owners keep in their caches moves). A call counts at most twice
/// the average, so one stalled call cannot flip it. A probe runs two calls the other way and
/// keeps the second: the first pays for waking helpers that slept meanwhile.
/// Not thread-safe.
class AdaptiveChoice {
 public:
  /// Whether this call should use the pool.
  bool parallel();
  /// How long the call that parallel() was asked for took, in nanoseconds.
  void record(bool parallel, double ns);

 private:
  static constexpr double kUnknown = 1e300, kMargin = 0.1;
  static constexpr uint64_t kFirstInterval = 16, kMaxInterval = 1024;
  // Switches the way when the other is faster by kMargin.
  void Decide();
  double par_ns_ = kUnknown, ser_ns_ = kUnknown;
  uint64_t calls_ = 0, next_probe_ = 0, interval_ = kFirstInterval;
  int probe_left_ = 0;
  bool probe_way_ = true;
  bool way_ = true;  // the way calls run between probes
};

/// While alive, kiln_parallel_for on this thread runs its tasks inline, on
/// this thread alone.
class RunInline {
 public:
  RunInline();
  ~RunInline();
  RunInline(const RunInline&) = delete;
  RunInline& operator=(const RunInline&) = delete;

 private:
  bool saved_;
};

/// Whether threads are chosen by measurement (KILN_ADAPTIVE_THREADS=0: no,
/// always split).
bool adaptive_threads();

/// The number of threads of the pool kiln_parallel_for uses.
int parallel_threads();

/// The pool's threads unless KILN_NUM_THREADS says otherwise: the cores this
/// process may run on (its CPU affinity mask, which mpirun's binding narrows),
/// and at most its share of the machine when mpirun starts several processes
/// on it.
int default_threads();

/// Uses at most `threads` of the pool from now on (below 1: all of them);
/// for benchmarks that compare thread counts in one process.
void set_parallel_thread_limit(int threads);

}  // namespace kiln
