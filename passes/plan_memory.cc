// The memory plan as a pass, so it is printed, dumped and verified like every
// other stage; the planning itself lives in ir/ because the JIT also plans
// graphs that did not come through a pipeline.
#include "ir/memory_plan.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

class PlanMemory : public Pass {
 public:
  std::string_view name() const override { return "plan-memory"; }
  bool keeps_memory_plan() const override { return true; }

  absl::StatusOr<bool> run(ir::Graph& graph) override {
    std::vector<ir::Storage> before;
    for (const ir::Node& n : graph.nodes) before.push_back(n.storage);
    int64_t arena_before = graph.arena_bytes;
    ir::plan_memory(graph);
    bool changed = graph.arena_bytes != arena_before;
    for (size_t i = 0; i < graph.nodes.size() && !changed; ++i) {
      const ir::Storage& a = before[i];
      const ir::Storage& b = graph.nodes[i].storage;
      changed = a.kind != b.kind || a.alias != b.alias || a.offset != b.offset;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_plan_memory() { return std::make_unique<PlanMemory>(); }

}  // namespace kiln::passes
