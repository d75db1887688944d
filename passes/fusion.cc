// Elementwise fusion: marks runs of consecutive elementwise nodes of one shape
// as a group the JIT computes in one loop. The optimizer update of a weight
// (a dozen elementwise ops over the whole tensor) becomes one pass over memory.
#include "passes/passes.h"

namespace kiln::passes {
namespace {

class FuseElementwise : public Pass {
 public:
  std::string_view name() const override { return "fuse-elementwise"; }

  absl::StatusOr<bool> run(ir::Graph& graph) override {
    std::vector<int> before;
    for (ir::Node& n : graph.nodes) {
      before.push_back(n.group);
      n.group = -1;
    }
    int next = 0;
    size_t i = 0;
    while (i < graph.nodes.size()) {
      size_t end = i;
      int computing = 0;  // a run of constants alone is not worth a group
      while (end < graph.nodes.size() && ir::is_fusible(graph.nodes[end].op) &&
             graph.nodes[end].type.shape == graph.nodes[i].type.shape) {
        computing += graph.nodes[end].op != ir::OpKind::kConstant;
        ++end;
      }
      if (end - i >= 2 && computing >= 1) {
        for (size_t k = i; k < end; ++k) graph.nodes[k].group = next;
        ++next;
      }
      i = std::max(end, i + 1);
    }
    for (size_t k = 0; k < graph.nodes.size(); ++k) {
      if (graph.nodes[k].group != before[k]) return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_elementwise() { return std::make_unique<FuseElementwise>(); }

}  // namespace kiln::passes
