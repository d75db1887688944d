// Per-kernel wall time of compiled steps (KILN_PROFILE=1): the JIT's step
// calls kiln_profile_mark after each of its kernels, and the executor reports
// where a step's time went, kernel by kernel, when it is destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln {

/// Whether KILN_PROFILE asks for kernel profiles (any value but "" and "0").
bool profile_from_env();

/// Wall time per kernel of a step, summed over its runs.
struct StepProfile {
  /// Nanoseconds by the node id of each kernel's first node.
  std::vector<double> ns;
  int64_t steps = 0;
  /// When the previous kernel ended (or the step began).
  std::chrono::steady_clock::time_point last;

  /// Starts timing one run of the step.
  void begin_step() {
    ++steps;
    last = std::chrono::steady_clock::now();
  }
};

/// Called by JIT code after each kernel: charges the time since the previous
/// mark to the kernel led by node `node`.
extern "C" void kiln_profile_mark(void* profile, int64_t node);

/// A table of the kernels of `graph` by time per step, largest first: each
/// kernel's first node, its op and layer, how many nodes it fuses, its
/// microseconds per step and its share of the step.
std::string format_profile(const ir::Graph& graph, const StepProfile& profile);

}  // namespace kiln
