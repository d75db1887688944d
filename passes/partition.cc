// "partition": decides how threads share each large matmul, for the whole
// step at once, so that each weight has one owner in every kernel that
// touches it.
//
// The weight-gradient product xᵀ·dY is split by rows (a thread's share is a
// block of rows of the gradient), and its optimizer epilogue updates those
// rows of the weight and its slots, so the owner of a row block keeps it in
// its cache from step to step if no other kernel reads it. The forward product
// x·W is therefore split by its contraction: each part reads only its own
// rows of W, and the parts' sums are added in a fixed order. The input
// gradient dY·Wᵀ, whose columns are W's rows, is split by columns. Splitting
// x·W by rows instead makes every thread read all of W, half of it freshly
// written by the other core; splitting everything by columns of W gives
// each thread every other 256-byte piece of each row, whose neighbours the
// other core writes, and the cache lines (and the prefetchers' adjacent
// lines) then travel between cores. Measured on seed-001's first layer
// (docs/scaling.md), the weight-gradient kernel with Adam takes about half
// as long on two threads once the forward product is split by contraction.
#include "ir/memory_plan.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

class Partition : public Pass {
 public:
  std::string_view name() const override { return "partition"; }

  absl::StatusOr<bool> run(ir::Graph& g) override {
    std::vector<bool> assigned(g.nodes.size(), false);
    for (const ir::Node& n : g.nodes) {
      if (n.op == ir::OpKind::kAssign) assigned[n.inputs[0]] = true;
    }
    // Variables whose forward product is split by contraction, so that their
    // rows have owners.
    std::vector<bool> row_owned(g.nodes.size(), false);
    bool changed = false;
    for (ir::NodeId id : g.nodes_of(ir::OpKind::kMatMul)) {
      ir::Node& m = g.nodes[id];
      const ir::Split split = Choose(g, m, assigned, row_owned);
      if (split == ir::Split::kContraction) row_owned[m.inputs[1]] = true;
      changed |= split != m.split;
      m.split = split;
    }
    return changed;
  }

 private:
  static ir::Split Choose(const ir::Graph& g, const ir::Node& m, const std::vector<bool>& assigned,
                          const std::vector<bool>& row_owned) {
    const ir::Node& a = g.nodes[m.inputs[0]];
    const ir::Node& b = g.nodes[m.inputs[1]];
    // Unverified IR (passes run without --verify-each) may lie about ranks.
    if (a.type.shape.size() != 2 || b.type.shape.size() != 2) return ir::Split::kNone;
    const int64_t k = a.type.shape[1], n = b.type.shape[1];
    // A weight this step updates, large enough that where it lives matters.
    // Decided from the weight alone: a contraction split changes the sum's
    // rounding, so graphs of any capacity must agree on it.
    if (b.op == ir::OpKind::kVariable && assigned[m.inputs[1]] && k != ir::kBatch &&
        k >= 2 * ir::kContractionParts && k * n > kSharedWeight && !LeadsColumnSum(g, m)) {
      return ir::Split::kContraction;
    }
    const ir::Shape at = g.at_capacity(a.type.shape);
    if (2.0 * static_cast<double>(at[0]) * static_cast<double>(at[1]) * static_cast<double>(n) <
        ir::kSplitFlops) {
      return ir::Split::kNone;  // one thread
    }
    if (b.op == ir::OpKind::kTranspose && row_owned[b.inputs[0]]) return ir::Split::kColumns;
    return ir::Split::kRows;
  }

  // Weights of up to 64 KiB of f32 stay in any core's L2 whoever writes them:
  // a contraction split would only add its parts' sums. Measured on seed-000's
  // 128x128 W2 (two threads, batch 32): split by rows, its forward product
  // takes 6.3 us against 9.0 us by contraction, and the weight gradient after
  // it 7.2 us against 6.1 us.
  static constexpr int64_t kSharedWeight = 16384;

  // Whether the fusion group `m` leads computes a column sum of its operand,
  // which a contraction's parts cannot (each streams only some rows).
  static bool LeadsColumnSum(const ir::Graph& g, const ir::Node& m) {
    const auto id = static_cast<ir::NodeId>(&m - g.nodes.data());
    return m.group >= 0 && id + 1 < static_cast<ir::NodeId>(g.nodes.size()) &&
           g.nodes[id + 1].group == m.group && ir::is_column_sum_of(g, id, id + 1);
  }
};

}  // namespace

std::unique_ptr<Pass> make_partition() { return std::make_unique<Partition>(); }

}  // namespace kiln::passes
