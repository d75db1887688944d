#include "runtime/numerics.h"

#include <cmath>

#include "ir/strings.h"
#include "ir/verifier.h"
#include "support/env.h"

namespace kiln {

bool check_numerics_from_env() {
  std::optional<std::string> v = env_string("KILN_CHECK_NUMERICS");
  return v && *v != "0";
}

absl::Status check_finite(const ir::Graph& graph, ir::NodeId id, const float* data,
                          const ir::Type& type) {
  const int64_t n = ir::num_elements(type.shape);
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(data[i])) {
      return absl::InvalidArgumentError(str_cat("check_numerics: ", ir::describe_node(graph, id),
                                                " produced ", data[i], " at element ", i, " of ",
                                                ir::type_string(type)));
    }
  }
  return absl::OkStatus();
}

extern "C" int32_t kiln_check_numerics(void* check, int64_t node) {
  auto* c = static_cast<NumericsCheck*>(check);
  auto id = static_cast<ir::NodeId>(node);
  const ir::Node& n = c->graph->nodes[id];
  const auto* data = static_cast<const float*>(c->table[(*c->root)[id]]);
  absl::Status s = check_finite(*c->graph, id, data, ir::with_rows(n.type, c->rows));
  if (s.ok()) return 0;
  c->status = std::move(s);
  return 1;
}

}  // namespace kiln
