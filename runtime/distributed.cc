// The one unit that talks to MPI. Without MPI (KILN_WITH_MPI=0) a job of one
// process works unchanged and a job of several is refused with an error.
#include "runtime/distributed.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <type_traits>

#include "ir/strings.h"
#include "support/env.h"

#if KILN_WITH_MPI
#include <mpi.h>
#endif

namespace kiln::distributed {
namespace {

// What the launcher says, before MPI is initialised: Open MPI's mpirun sets
// OMPI_*, MPICH's and Intel MPI's Hydra set PMI_*.
int EnvCount(const char* open_mpi, const char* hydra) {
  for (const char* name : {open_mpi, hydra}) {
    absl::StatusOr<int> n = env_int(name, 0, 0, INT_MAX);
    if (n.ok() && *n > 0) return *n;
  }
  return 1;
}

World g_world;
bool g_joined = false;
std::once_flag g_once;
absl::Status g_init_status;

#if KILN_WITH_MPI
// MPI counts are ints: longer buffers go in pieces.
template <typename F>
void InPieces(int64_t n, F f) {
  for (int64_t at = 0; at < n; at += INT_MAX)
    f(at, static_cast<int>(std::min<int64_t>(INT_MAX, n - at)));
}

absl::Status Init() {
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready) {
    // The training loop and compiled steps call MPI from the thread that
    // runs fit(); the worker threads never do.
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      return absl::UnavailableError("MPI_Init_thread failed: cannot join the distributed job");
    }
    std::atexit([] {
      int done = 0;
      MPI_Finalized(&done);
      if (!done) MPI_Finalize();
    });
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  g_joined = true;
  return absl::OkStatus();
}
#else
absl::Status Init() {
  return absl::FailedPreconditionError(str_cat(
      "this process is one of ", launched_size(),
      " started by mpirun, but this Kiln was built without MPI (KILN_WITH_MPI=OFF): install "
      "libopenmpi-dev and rebuild, or run a single process"));
}
#endif

}  // namespace

int launched_size() { return EnvCount("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"); }

int local_size() { return EnvCount("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"); }

absl::Status join() {
  std::call_once(g_once, [] {
    if (launched_size() > 1 || KILN_WITH_MPI) g_init_status = Init();
  });
  return g_init_status;
}

absl::StatusOr<World> world() {
  if (!g_joined && launched_size() > 1) {
    if (absl::Status s = join(); !s.ok()) return s;
  }
  return g_world;
}

namespace {

// One implementation for both element types: MPI sums, the mean scales after.
template <typename T>
void AllReduce(T* data, int64_t n, Reduction reduction) {
  if (g_world.size == 1) return;
#if KILN_WITH_MPI
  const MPI_Datatype type = std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
  InPieces(n, [&](int64_t at, int count) {
    MPI_Allreduce(MPI_IN_PLACE, data + at, count, type, MPI_SUM, MPI_COMM_WORLD);
  });
#endif
  if (reduction == Reduction::kMean) {
    const T scale = T{1} / static_cast<T>(g_world.size);
    for (int64_t i = 0; i < n; ++i) data[i] *= scale;
  }
}

}  // namespace

void all_reduce(float* data, int64_t n, Reduction reduction) { AllReduce(data, n, reduction); }
void all_reduce(double* data, int64_t n, Reduction reduction) { AllReduce(data, n, reduction); }

int64_t all_reduce_max(int64_t value) {
#if KILN_WITH_MPI
  if (g_world.size > 1) {
    MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  }
#endif
  return value;
}

void broadcast(void* data, int64_t bytes) {
#if KILN_WITH_MPI
  if (g_world.size == 1) return;
  auto* p = static_cast<char*>(data);
  InPieces(bytes,
           [&](int64_t at, int count) { MPI_Bcast(p + at, count, MPI_BYTE, 0, MPI_COMM_WORLD); });
#endif
}

std::vector<std::byte> all_gather(const void* data, int64_t bytes) {
  const auto* p = static_cast<const std::byte*>(data);
  if (g_world.size == 1) return std::vector<std::byte>(p, p + bytes);
  std::vector<std::byte> all;
#if KILN_WITH_MPI
  std::vector<int64_t> sizes(g_world.size);
  MPI_Allgather(&bytes, 1, MPI_INT64_T, sizes.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  all.resize(total);
  // Each rank's piece goes out as a broadcast from that rank: no int limit on
  // the total, unlike MPI_Allgatherv's displacements.
  int64_t at = 0;
  for (int r = 0; r < g_world.size; ++r) {
    if (r == g_world.rank && bytes > 0) std::copy(p, p + bytes, all.data() + at);
    InPieces(sizes[r], [&](int64_t off, int count) {
      MPI_Bcast(all.data() + at + off, count, MPI_BYTE, r, MPI_COMM_WORLD);
    });
    at += sizes[r];
  }
#endif
  return all;
}

void abort_job(const std::string& message) {
  std::cerr << "kiln: rank " << g_world.rank << " of " << g_world.size << ": " << message
            << "\nkiln: stopping every process of the job" << std::endl;
#if KILN_WITH_MPI
  if (g_joined) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
  std::abort();
}

}  // namespace kiln::distributed

extern "C" void kiln_all_reduce(float* data, int64_t n, int32_t reduction) {
  kiln::distributed::all_reduce(data, n, static_cast<kiln::distributed::Reduction>(reduction));
}
