// Data parallelism as a graph rewrite: every process of the job runs the same
// step on its own rows, and all_reduce nodes make the gradients and metrics
// those of the whole global batch before the optimizer sees them.
#include <algorithm>
#include <map>
#include <utility>

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
    // which are batch means (f32 scalars); anything else stays per process.
    std::vector<NodeId> reduced;
    for (NodeId out : graph.nodes_of(ir::OpKind::kOutput)) {
      const ir::Node& node = graph.nodes[out];
      bool gradient = ir::attr_string(node.attrs, "name").rfind("grad/", 0) == 0;
      const bool metric = node.type.shape.empty() && node.type.dtype == ir::DType::kF32;
      if (gradient || metric) reduced.push_back(out);
    }
    if (reduced.empty()) return false;
    // In the order the values are computed.
    std::sort(reduced.begin(), reduced.end(), [&](NodeId a, NodeId b) {
      return graph.nodes[a].inputs[0] < graph.nodes[b].inputs[0];
    });
    const auto old_size = static_cast<NodeId>(graph.nodes.size());
    ir::Builder b(&graph);
    // A batch mean here is over this process's rows; weighting it by their
    // share of the global batch and summing over processes gives the mean over
    // the global batch, also when the last batch splits unevenly.
    b.set_layer("input");
    weight_ = b.input(std::string(kShardWeightInput), ir::Type{ir::DType::kF32, {}});
    // Small values share a bucket, one buffer and one all_reduce, sent as soon
    // as its last value is computed; a value of kBucketBytes or more goes alone.
    moved_.assign(old_size, false);
    std::vector<NodeId> bucket;
    int64_t bucket_bytes = 0;
    auto flush = [&] {
      if (!bucket.empty()) Reduce(b, std::exchange(bucket, {}));
      bucket_bytes = 0;
    };
    for (NodeId out : reduced) {
      const ir::Type& type = graph.nodes[out].type;
      const int64_t bytes = ir::num_elements(type.shape) * ir::dtype_size(type.dtype);
      if (bytes >= kBucketBytes) {
        flush();
        Reduce(b, {out});
        continue;
      }
      bucket.push_back(out);
      bucket_bytes += bytes;
      if (bucket_bytes >= kBucketBytes) flush();
    }
    flush();
    if (!b.status().ok()) return b.status();
    // Each bucket's reduction goes right after its last value, so a process
    // sends the later layers' gradients before the earlier layers' backward
    // pass, and every process issues them in the same order.
    std::vector<NodeId> order = {weight_};
    for (NodeId id = 0; id < old_size; ++id) {
      if (!moved_[id]) order.push_back(id);
      if (auto it = placed_after_.find(id); it != placed_after_.end()) {
        order.insert(order.end(), it->second.begin(), it->second.end());
      }
    }
    graph.reorder(order);
    placed_after_.clear();
    return true;
  }

 private:
  static constexpr int64_t kBucketBytes = 256 << 10;

  // Replaces the values of `outputs` by their weighted sums over the
  // processes: one all_reduce, over the values packed end to end when there
  // are several. The new nodes go right after the last value.
  void Reduce(ir::Builder& b, const std::vector<NodeId>& outputs) {
    ir::Graph& g = b.graph();
    const NodeId last = g.nodes[outputs.back()].inputs[0];
    b.set_layer(g.nodes[last].layer);
    b.set_phase(g.nodes[last].phase);
    const auto first = static_cast<NodeId>(g.nodes.size());
    // Shapes are copied: emitting nodes may move the graph's nodes.
    auto weighted_sum = [&](NodeId v) {
      const ir::Shape shape = b.shape_of(v);
      return b.all_reduce(b.mul(v, shape.empty() ? weight_ : b.broadcast_to(weight_, shape)),
                          "sum");
    };
    if (outputs.size() == 1) {
      const NodeId total = weighted_sum(last);
      if (total < 0) return;  // the builder's status has the error
      g.nodes[outputs[0]].inputs[0] = total;
    } else {
      std::vector<NodeId> flat;
      for (NodeId out : outputs) {
        const NodeId v = g.nodes[out].inputs[0];
        const ir::Shape shape = b.shape_of(v);
        flat.push_back(shape.size() == 1 ? v : b.reshape(v, {ir::num_elements(shape)}));
      }
      const NodeId total = weighted_sum(b.concat(flat));
      if (total < 0) return;  // the builder's status has the error
      int64_t at = 0;
      for (NodeId out : outputs) {
        const ir::Shape shape = b.shape_of(g.nodes[out].inputs[0]);
        const int64_t n = ir::num_elements(shape);
        NodeId piece = b.slice(total, at, n);
        if (shape.size() != 1) piece = b.reshape(piece, shape);
        if (piece < 0) return;
        g.nodes[out].inputs[0] = piece;
        at += n;
      }
    }
    std::vector<NodeId>& after = placed_after_[last];
    for (auto id = first; id < static_cast<NodeId>(g.nodes.size()); ++id) after.push_back(id);
    // Each output moves with its value's reduction (a metric's output from the
    // forward pass to its bucket); nothing reads an output.
    for (NodeId out : outputs) {
      after.push_back(out);
      moved_[out] = true;
    }
  }

  NodeId weight_ = -1;
  std::map<NodeId, std::vector<NodeId>> placed_after_;  // value -> nodes placed after it
  std::vector<bool> moved_;                             // old nodes placed elsewhere
};

}  // namespace

std::unique_ptr<Pass> make_data_parallel() { return std::make_unique<DataParallelPass>(); }

}  // namespace kiln::passes
