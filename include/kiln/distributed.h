// Data-parallel training over several processes (MPI). Launch a program with
// `mpirun -np N prog` and model.fit() trains on every process: each takes
// batch_size / N rows of every global batch, gradients and metrics are
// averaged over the job, and only rank 0 prints and writes files. A program
// started without mpirun is a job of one and needs none of this.
#pragma once

namespace kiln::distributed {

/// Joins the job now rather than at the first fit(). Throws kiln::Error when
/// the process is one of several but Kiln was built without MPI.
void initialize();

/// This process's rank in the job: 0 to world_size() - 1 (0 when alone).
int rank();

/// The number of processes in the job (1 when not started by mpirun).
int world_size();

}  // namespace kiln::distributed
