// Data parallelism as a graph rewrite: every process of the job runs the same
// step on its own rows, and all_reduce nodes make the gradients and metrics
// those of the whole global batch before the optimizer sees them.
#include <map>

#include "ir/builder.h"
#include "ir/strings.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

using ir::NodeId;

class DataParallelPass : public Pass {
 public:
  std::string_view name() const override { return "data-parallel"; }

  absl::StatusOr<bool> run(ir::Graph& graph) override {
    for (NodeId in : graph.nodes_of(ir::OpKind::kInput)) {
      if (ir::attr_string(graph.nodes[in].attrs, "name") == kShardWeightInput) {
        return absl::FailedPreconditionError("data-parallel has already run on this graph");
      }
    }
    // Outputs to reduce: gradients (from autodiff) and the step's metrics,
    // which are batch means (scalars); anything else stays per process.
    std::vector<NodeId> reduced;
    for (NodeId out : graph.nodes_of(ir::OpKind::kOutput)) {
      const ir::Node& node = graph.nodes[out];
      bool gradient = ir::attr_string(node.attrs, "name").rfind("grad/", 0) == 0;
      if (gradient || node.type.shape.empty()) reduced.push_back(out);
    }
    if (reduced.empty()) return false;
    const auto old_size = static_cast<NodeId>(graph.nodes.size());
    ir::Builder b(&graph);
    // A batch mean here is over this process's rows; weighting it by their
    // share of the global batch and summing over processes gives the mean over
    // the global batch, also when the last batch splits unevenly.
    b.set_layer("input");
    NodeId weight = b.input(std::string(kShardWeightInput), ir::Type{ir::DType::kF32, {}});
    std::map<NodeId, std::vector<NodeId>> placed_after;  // value -> its new nodes
    for (NodeId out : reduced) {
      NodeId value = graph.nodes[out].inputs[0];
      b.set_layer(graph.nodes[value].layer);
      b.set_phase(graph.nodes[value].phase);
      const NodeId first = static_cast<NodeId>(graph.nodes.size());
      ir::Shape shape = b.shape_of(value);
      NodeId scaled = b.mul(value, shape.empty() ? weight : b.broadcast_to(weight, shape));
      NodeId total = b.all_reduce(scaled, "sum");
      if (!b.status().ok()) return b.status();
      graph.nodes[out].inputs[0] = total;
      for (NodeId id = first; id <= total; ++id) placed_after[value].push_back(id);
    }
    // Each reduction goes right after the value it reduces, so a process
    // sends a layer's gradient while later layers' backward pass is still
    // ahead of it, and every process issues them in the same order.
    std::vector<NodeId> order = {weight};
    for (NodeId id = 0; id < old_size; ++id) {
      order.push_back(id);
      if (auto it = placed_after.find(id); it != placed_after.end()) {
        order.insert(order.end(), it->second.begin(), it->second.end());
      }
    }
    graph.reorder(order);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_data_parallel() { return std::make_unique<DataParallelPass>(); }

}  // namespace kiln::passes
