// "overlap": lets a small matmul's unit run on one thread beside the next
// matmul that the pool splits, when nothing between them depends on it
// (ir::BesideRule). In a step the small serial kernels (the last layer's
// weight gradient and update) otherwise run on the caller while the other
// threads wait, and a small split one pays a hand-off; beside a large
// product, the thread that runs it simply takes fewer of that product's tiles.
#include "ir/overlap.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "passes/passes.h"

namespace kiln::passes {
namespace {

class Overlap : public Pass {
 public:
  std::string_view name() const override { return "overlap"; }

  absl::StatusOr<bool> run(ir::Graph& g) override {
    const auto n = static_cast<ir::NodeId>(g.nodes.size());
    std::vector<ir::NodeId> before(n);
    for (ir::NodeId id = 0; id < n; ++id) before[id] = std::exchange(g.nodes[id].beside, -1);
    // Only neighbouring matmul units pair up, and a main is no side: the
    // ranges of the pairs do not overlap, as the verifier requires.
    const ir::BesideRule rule(g);
    bool is_main = false;  // whether the previous matmul's unit is a main
    ir::NodeId side = -1;  // the matmul that leads the previous matmul's unit
    for (ir::NodeId id = 0; id < n; ++id) {
      if (g.nodes[id].op != ir::OpKind::kMatMul || !ir::starts_unit(g, id)) continue;
      const bool pairs = side >= 0 && !is_main && g.nodes[id].split != ir::Split::kNone &&
                         kSideShare * Flops(g, side) <= Flops(g, id) && rule.check(side, id).ok();
      if (pairs) g.nodes[side].beside = id;
      is_main = pairs;
      side = id;
    }
    bool changed = false;
    for (ir::NodeId id = 0; id < n; ++id) changed |= before[id] != g.nodes[id].beside;
    return changed;
  }

 private:
  // The side unit runs on one thread (a split one too: its own loops run
  // inline there) while the others share the main one, so it is hidden while
  // side <= (side + main) / threads: a side of at most a seventh of the main
  // product keeps it so up to 8 threads. seed-000's h1^T dH2 (a sixth of
  // x^T dH1) would take 9.3 us on 16 cores, where x^T dH1's share is 5.2.
  static constexpr double kSideShare = 7;

  static double Flops(const ir::Graph& g, ir::NodeId matmul) {
    const ir::Shape a = g.at_capacity(g.nodes[g.nodes[matmul].inputs[0]].type.shape);
    const ir::Shape b = g.at_capacity(g.nodes[g.nodes[matmul].inputs[1]].type.shape);
    // Unverified IR (passes run without --verify-each) may lie about ranks.
    if (a.size() != 2 || b.size() != 2) return 0;
    // Without a capacity the batch stays unknown; both products of a step
    // scale with it, so one row compares them as well.
    auto dim = [](int64_t d) { return static_cast<double>(std::max<int64_t>(d, 1)); };
    return 2.0 * dim(a[0]) * dim(a[1]) * dim(b[1]);
  }
};

}  // namespace

std::unique_ptr<Pass> make_overlap() { return std::make_unique<Overlap>(); }

}  // namespace kiln::passes
