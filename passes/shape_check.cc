#include "ir/strings.h"
#include "ir/verifier.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

class InferShapes : public Pass {
 public:
  std::string_view name() const override { return "infer-shapes"; }
  absl::StatusOr<bool> run(ir::Graph& graph) override {
    bool changed = false;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      ir::Node& node = graph.nodes[i];
      absl::StatusOr<ir::Type> type = ir::infer_type(graph, node);
      if (!type.ok()) {
        return absl::InvalidArgumentError(str_cat(
            ir::describe_node(graph, static_cast<ir::NodeId>(i)), ": ", type.status().message()));
      }
      if (!(*type == node.type)) {
        node.type = *type;
        changed = true;
      }
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_infer_shapes() { return std::make_unique<InferShapes>(); }

}  // namespace kiln::passes
