#include <set>

#include "passes/passes.h"

namespace kiln::passes {
namespace {

class DeadCodeElimination : public Pass {
 public:
  std::string_view name() const override { return "dce"; }
  absl::StatusOr<bool> run(ir::Graph& graph) override {
    const size_t n = graph.nodes.size();
    std::vector<bool> live(n, false);
    for (size_t i = n; i-- > 0;) {
      const ir::Node& node = graph.nodes[i];
      if (node.op == ir::OpKind::kOutput || node.op == ir::OpKind::kAssign) live[i] = true;
      if (!live[i]) continue;
      for (ir::NodeId in : node.inputs) live[in] = true;
    }
    std::vector<bool> dead(n);
    bool changed = false;
    std::set<int> broken;  // fusion groups that lose a member
    for (size_t i = 0; i < n; ++i) {
      dead[i] = !live[i];
      changed |= dead[i];
      if (dead[i] && graph.nodes[i].group >= 0) broken.insert(graph.nodes[i].group);
    }
    // What is left of such a group need not be one (a weight's bias gradient
    // once its matmul is gone, when the weight is frozen); the fusion passes
    // can group it again.
    for (size_t i = 0; i < n; ++i) {
      if (!dead[i] && broken.count(graph.nodes[i].group)) graph.nodes[i].group = -1;
    }
    if (changed) graph.remove(dead);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_dce() { return std::make_unique<DeadCodeElimination>(); }

}  // namespace kiln::passes
