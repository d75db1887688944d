#include "runtime/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/distributed.h"
#include "support/env.h"

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace kiln {
namespace {

// The fewest threads a side unit runs beside a job on (see Pool::runs_sides).
constexpr int kSideThreads = 3;
// Chunks per thread: enough that a thread the OS deschedules holds up at most
// a small piece of a kernel, few enough that claiming stays negligible.
constexpr int kChunksPerThread = 4;
// How long a waiting thread polls before it yields its core: steps issue
// kernels microseconds apart, but a descheduled thread is gone for a slice.
constexpr auto kSpin = std::chrono::microseconds(50);
// How long an idle helper polls for the next kernel before it sleeps.
constexpr auto kIdleSpin = std::chrono::microseconds(200);

// A polling loop's pause: the CPU's spin hint, a look at the clock only every
// 64 rounds (reading it is most of a round's cost otherwise), and once `spin`
// has passed, the core handed to another thread each round.
class SpinThenYield {
 public:
  explicit SpinThenYield(std::chrono::microseconds spin)
      : until_(std::chrono::steady_clock::now() + spin) {}
  // Returns false once the spin time is over.
  bool pause() {
    if (yielding_) {
      std::this_thread::yield();
      return false;
    }
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
    if (++rounds_ % 64 == 0 && std::chrono::steady_clock::now() > until_) yielding_ = true;
    return !yielding_;
  }

 private:
  std::chrono::steady_clock::time_point until_;
  uint32_t rounds_ = 0;
  bool yielding_ = false;
};

// A unit that runs beside the next job (kiln_run_beside).
struct Side {
  ParallelTask task = nullptr;
  void* context = nullptr;
};

// The side unit waiting for the next job this thread starts on the pool.
thread_local Side pending_side;

// Set while this thread runs a chunk of a job: a parallel loop inside one
// (a step's kernels inside a split over batches) runs inline, since the
// pool is busy with the outer one.
thread_local bool in_chunk = false;

// The caller's floating-point mode (MXCSR: flush-to-zero, denormals-are-zero,
// rounding), which a helper takes on while it runs the caller's chunks: a
// tile must round the same on any thread, and a helper that kept subnormals
// would also run its half of a kernel many times slower.
class FloatMode {
 public:
#if defined(__x86_64__)
  FloatMode() : csr_(_mm_getcsr()) {}
  // Sets this mode on the calling thread while `Scope` lives.
  class Scope {
   public:
    explicit Scope(const FloatMode& mode) : saved_(_mm_getcsr()) { _mm_setcsr(mode.csr_); }
    ~Scope() { _mm_setcsr(saved_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    unsigned saved_;
  };

 private:
  unsigned csr_;
#else
  struct Scope {
    explicit Scope(const FloatMode&) {}
  };
#endif
};

// One kernel split into chunks. Threads claim chunks, so none is ever waited
// for before it starts: the caller runs whatever nobody has taken. A helper
// that wakes late finds every chunk of an old job claimed and does nothing,
// which is why each job is its own object.
struct Job {
  Job(ParallelTask t, void* c, int64_t size, int chunks, int workers, Side s)
      : task(t),
        context(c),
        n(size),
        parts(chunks),
        threads(workers),
        side(s),
        claimed(chunks),
        remaining(chunks + (s.task ? 1 : 0)) {}

  // Chunk p covers [begin(p), begin(p + 1)): fixed boundaries, and every index
  // is computed by exactly one chunk whoever runs it.
  int64_t begin(int p) const { return n * p / parts; }

  // Runs the chunks `thread` can claim: first its own share, then the others'
  // leftovers, starting after its share so threads rarely collide.
  void Work(int thread) {
    FloatMode::Scope mode(float_mode);
    const int first = parts * thread / threads;
    const int share = parts * (thread + 1) / threads - first;
    // The caller takes the side unit first: its operands and weight are in
    // the caller's cache, since the small kernels around it run there.
    if (thread == 0) RunSide();
    for (int k = 0; k < parts; ++k) {
      if (k == share) RunSide();
      const int p = (first + k) % parts;
      if (claimed[p].load(std::memory_order_relaxed) ||
          claimed[p].exchange(true, std::memory_order_acq_rel)) {
        continue;
      }
      in_chunk = true;
      task(context, begin(p), begin(p + 1));
      in_chunk = false;
      remaining.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  // Runs the side unit unless another thread has taken it.
  void RunSide() {
    if (!side.task || side_claimed.load(std::memory_order_relaxed) ||
        side_claimed.exchange(true, std::memory_order_acq_rel)) {
      return;
    }
    in_chunk = true;
    side.task(side.context, 0, 1);
    in_chunk = false;
    remaining.fetch_sub(1, std::memory_order_acq_rel);
  }

  void WaitAll() const {
    SpinThenYield wait(kSpin);
    while (remaining.load(std::memory_order_acquire) > 0) wait.pause();
  }

  const FloatMode float_mode;  // the caller's, taken when the job is made
  const ParallelTask task;
  void* const context;
  const int64_t n;
  const int parts;
  const int threads;
  const Side side;
  std::atomic<bool> side_claimed{false};
  std::vector<std::atomic<bool>> claimed;  // value-initialised: false
  std::atomic<int> remaining;              // chunks and side not yet done
};

// The caller plus threads - 1 helpers that spin briefly after each kernel and
// then sleep, so an idle process does not burn cores.
class Pool {
 public:
  Pool() : threads_(ChooseThreads()) {
    for (int t = 1; t < threads_; ++t) helpers_.emplace_back([this, t] { Help(t); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (std::thread& h : helpers_) h.join();
  }

  int threads() const { return threads_; }

  // Whether a job started now would run a side unit beside its chunks. On
  // two threads the side's thread ends its share of the job late and the
  // other takes its last chunk, with the weight rows that chunk updates: on
  // this 2-vCPU machine, seed-000's and seed-001's steps took 90.7-92.9 and
  // 78.0-78.3 us that way against 89.8-91.0 and 78.1-78.2 us in order.
  bool runs_sides() const {
    return !in_chunk && std::min(threads_, limit_.load(std::memory_order_relaxed)) >= kSideThreads;
  }

  void Run(ParallelTask task, void* context, int64_t n) {
    const int threads = std::min(threads_, limit_.load(std::memory_order_relaxed));
    if (threads == 1 || n < 2 || in_chunk) return task(context, 0, n);
    // Steps running on several threads at once take turns with the pool.
    std::lock_guard<std::mutex> caller(run_mu_);
    RunOnPool(task, context, n, threads);
  }

  void set_limit(int threads) { limit_.store(threads < 1 ? threads_ : threads); }

 private:
  void RunOnPool(ParallelTask task, void* context, int64_t n, int threads) {
    const int parts = static_cast<int>(std::min<int64_t>(n, int64_t{threads} * kChunksPerThread));
    auto job =
        std::make_shared<Job>(task, context, n, parts, threads, std::exchange(pending_side, {}));
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    job->Work(0);
    job->WaitAll();
  }

  // KILN_NUM_THREADS as asked (more threads than cores too: the tests check
  // results do not change), else this process's share of the cores.
  static int ChooseThreads() {
    absl::StatusOr<int> n = env_int("KILN_NUM_THREADS", 0, 1, 256);
    if (!n.ok()) std::cerr << "kiln: " << n.status().message() << "; using the default\n";
    if (n.ok() && *n >= 1) return *n;
    return default_threads();
  }

  void Help(int thread) {
    uint64_t seen = 0;
    while (true) {
      // Poll for the next kernel a while, then sleep until notified.
      SpinThenYield idle(kIdleSpin);
      while (generation_.load(std::memory_order_acquire) == seen && idle.pause()) {
      }
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        seen = generation_.load(std::memory_order_acquire);
        if (stop_) return;
        job = job_;
      }
      if (thread < job->threads) job->Work(thread);
    }
  }

  const int threads_;
  std::vector<std::thread> helpers_;
  std::mutex run_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
  std::shared_ptr<Job> job_;
  std::atomic<int> limit_{1 << 16};
};

Pool& GlobalPool() {
  static Pool pool;
  return pool;
}

}  // namespace

bool AdaptiveChoice::parallel() {
  if (probe_left_ > 0) return probe_way_;
  if (++calls_ < next_probe_) return way_;
  probe_way_ = par_ns_ == kUnknown || (ser_ns_ != kUnknown && !way_);
  probe_left_ = 2;
  return probe_way_;
}

void AdaptiveChoice::record(bool parallel, double ns) {
  if (probe_left_ > 0) {
    if (--probe_left_ == 1) return;  // the warm-up call
    (parallel ? par_ns_ : ser_ns_) = ns;
    if (par_ns_ == kUnknown || ser_ns_ == kUnknown) {
      next_probe_ = calls_;  // measure the other way at once
      return;
    }
    const bool before = way_;
    Decide();
    interval_ = way_ != before ? kFirstInterval : std::min(interval_ * 2, kMaxInterval);
    next_probe_ = calls_ + interval_;
    return;
  }
  // A lone call far slower than the average (a helper whose vCPU the host
  // took away for milliseconds) moves it by at most an eighth; a lasting
  // change (a busy core) still moves it within a few calls.
  double& average = parallel ? par_ns_ : ser_ns_;
  average += (std::min(ns, 2 * average) - average) / 8;
  Decide();
}

void AdaptiveChoice::Decide() {
  const double mine = way_ ? par_ns_ : ser_ns_, other = way_ ? ser_ns_ : par_ns_;
  if (other < mine * (1 - kMargin)) way_ = !way_;
}

RunInline::RunInline() : saved_(in_chunk) { in_chunk = true; }
RunInline::~RunInline() { in_chunk = saved_; }

bool adaptive_threads() {
  static const bool adaptive = env_value("KILN_ADAPTIVE_THREADS").value_or("1") != "0";
  return adaptive;
}

extern "C" void kiln_parallel_for(ParallelTask task, void* context, int64_t n) {
  GlobalPool().Run(task, context, n);
}

extern "C" void kiln_run_beside(ParallelTask side, void* side_context, ParallelTask main,
                                void* main_context) {
  if (!GlobalPool().runs_sides()) {
    side(side_context, 0, 1);
    main(main_context, 0, 1);
    return;
  }
  pending_side = {side, side_context};
  main(main_context, 0, 1);
  // Still pending: main ran no job on the pool.
  const Side left = std::exchange(pending_side, {});
  if (left.task) left.task(left.context, 0, 1);
}

int default_threads() {
  const int machine = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  int allowed = machine;
#if defined(__linux__)
  // mpirun binds each process to its cores (one core each for two or fewer
  // processes, by default); a pool wider than its mask would time-share them.
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0) allowed = std::max(1, CPU_COUNT(&mask));
#endif
  return std::max(1, std::min(allowed, machine / distributed::local_size()));
}

int parallel_threads() { return GlobalPool().threads(); }

void set_parallel_thread_limit(int threads) { GlobalPool().set_limit(threads); }

}  // namespace kiln
