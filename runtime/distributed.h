// The processes of a distributed job: which one this is, and the collectives
// the training loop and the all_reduce op use. MPI does the communication;
// only distributed.cc includes mpi.h, and a Kiln built without MPI
// (KILN_WITH_MPI=OFF) runs single-process programs unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::distributed {

/// This process's place in the job.
struct World {
  int rank = 0;
  int size = 1;
};

/// The number of processes an MPI launcher (mpirun) started in this job, read
/// from its environment; 1 when the process was not started by one.
int launched_size();

/// The number of processes of the job on this machine (1 when not launched).
int local_size();

/// Joins the job (MPI_Init) unless already done; a no-op for a process that
/// mpirun did not start. An error when this Kiln was built without MPI but
/// the process is one of several.
absl::Status join();

/// This process's rank and the job's size, joining the job first when mpirun
/// started several processes; {0, 1} for a lone process.
absl::StatusOr<World> world();

/// The reduction of an all-reduce.
enum class Reduction : int32_t { kSum = 0, kMean = 1 };

/// The reduction an all_reduce node's "reduction" attribute names (the
/// verifier admits only "sum" and "mean").
inline Reduction reduction_of(const std::string& name) {
  return name == "mean" ? Reduction::kMean : Reduction::kSum;
}

/// Replaces `data[0..n)` on every process by its sum (or mean) over all
/// processes, the same bits on each. The identity in a job of one.
void all_reduce(float* data, int64_t n, Reduction reduction);
void all_reduce(double* data, int64_t n, Reduction reduction);

/// The largest `value` of any process.
int64_t all_reduce_max(int64_t value);

/// Copies rank 0's `bytes` at `data` into `data` on every process.
void broadcast(void* data, int64_t bytes);

/// Every process's `bytes` (which may differ between processes), concatenated
/// in rank order, on every process.
std::vector<std::byte> all_gather(const void* data, int64_t bytes);

/// Prints "kiln: rank R of N: `message`" and ends every process of the job
/// (MPI_Abort): used when one process fails while the others may be blocked
/// in a collective, which MPI cannot cancel.
[[noreturn]] void abort_job(const std::string& message);

}  // namespace kiln::distributed

/// Called by compiled steps for an all_reduce node: in-place reduction of `n`
/// floats (`reduction` is a distributed::Reduction).
extern "C" void kiln_all_reduce(float* data, int64_t n, int32_t reduction);
