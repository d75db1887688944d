// Check-numerics: both executors can test every value they compute (the JIT:
// every value a fused kernel stores) for NaN and Inf and stop at the first,
// naming the op, as TensorFlow's enable_check_numerics does. Off by default;
// when off, no check is compiled in or run.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln {

/// Whether KILN_CHECK_NUMERICS asks for checks (any value but "" and "0").
bool check_numerics_from_env();

/// OK when the floats at `data`, the value of node `id` of this run's `type`
/// (its rows resolved), are all finite; otherwise an InvalidArgument error
/// naming the node (%id, op, layer, phase), the first non-finite element and
/// its value.
absl::Status check_finite(const ir::Graph& graph, ir::NodeId id, const float* data,
                          const ir::Type& type);

/// What compiled code with checks needs to find a node's value: the graph,
/// the step's storage table and each node's root; the first failure is kept.
struct NumericsCheck {
  const ir::Graph* graph = nullptr;
  void* const* table = nullptr;
  const std::vector<ir::NodeId>* root = nullptr;
  /// The run's row count: the extent of the batch dimension ?.
  int64_t rows = 0;
  absl::Status status;
};

/// Called by JIT code after a kernel for each f32 value it stored: checks node
/// `node` and returns 0, or records the error in `check` and returns 1.
extern "C" int32_t kiln_check_numerics(void* check, int64_t node);

}  // namespace kiln
