#include "runtime/parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "runtime/distributed.h"
#include "support/env.h"

namespace kiln {
namespace {

// One helper thread that takes the second half of each range. It spins briefly
// after each task (steps issue matmuls microseconds apart) and then sleeps, so
// an idle process does not burn a core.
class Pool {
 public:
  Pool() : threads_(ChooseThreads()) {
    if (threads_ > 1) worker_ = std::thread([this] { Work(); });
  }
  ~Pool() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_one();
    worker_.join();
  }

  int threads() const { return threads_; }

  void Run(ParallelTask task, void* context, int64_t n) {
    if (threads_ == 1 || n < 2) return task(context, 0, n);
    // Steps running on several threads at once take turns with the helper.
    std::lock_guard<std::mutex> caller(run_mu_);
    // Fixed halves, not chunks taken on demand: each core then updates the
    // same half of a weight and its optimizer slots every step, which stays
    // in its own L2 (on-demand chunks measured no faster, often slower).
    int64_t half = n / 2;
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = task;
      context_ = context;
      begin_ = half;
      end_ = n;
      done_.store(false, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_one();
    task(context, 0, half);
    while (!done_.load(std::memory_order_acquire)) {
      // The other half is about as long as ours: it ends within microseconds.
    }
  }

 private:
  static int ChooseThreads() {
    absl::StatusOr<int> n = env_int("KILN_NUM_THREADS", 0, 1, 1 << 16);
    if (!n.ok()) std::cerr << "kiln: " << n.status().message() << "; using the default\n";
    if (n.ok() && *n >= 1) return *n >= 2 ? 2 : 1;
    // Processes of a distributed job on this machine share its cores.
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    return cores / distributed::local_size() >= 2 ? 2 : 1;
  }

  void Work() {
    uint64_t seen = 0;
    while (true) {
      uint64_t gen = generation_.load(std::memory_order_acquire);
      auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (gen == seen && std::chrono::steady_clock::now() < spin_until) {
        gen = generation_.load(std::memory_order_acquire);
      }
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      seen = generation_.load(std::memory_order_acquire);
      if (stop_) return;
      ParallelTask task = task_;
      void* context = context_;
      int64_t begin = begin_, end = end_;
      lock.unlock();
      task(context, begin, end);
      done_.store(true, std::memory_order_release);
    }
  }

  const int threads_;
  std::thread worker_;
  std::mutex run_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> done_{true};
  bool stop_ = false;
  ParallelTask task_ = nullptr;
  void* context_ = nullptr;
  int64_t begin_ = 0, end_ = 0;
};

Pool& GlobalPool() {
  static Pool pool;
  return pool;
}

}  // namespace

extern "C" void kiln_parallel_for(ParallelTask task, void* context, int64_t n) {
  GlobalPool().Run(task, context, n);
}

int parallel_threads() { return GlobalPool().threads(); }

}  // namespace kiln
