#include "runtime/executor.h"

#include "ir/strings.h"

namespace kiln {

absl::StatusOr<int64_t> run_rows(const ir::Graph& graph, const Feeds& feeds) {
  if (graph.capacity == 0) return 0;
  int64_t rows = -1;
  const std::string* first = nullptr;
  // Every step: a plain walk, no list of inputs built.
  for (const ir::Node& node : graph.nodes) {
    if (node.op != ir::OpKind::kInput) continue;
    const int axis = ir::batch_axis(node.type.shape);
    const std::string& name = ir::attr_string(node.attrs, "name");
    auto it = feeds.find(name);
    // A missing input or a wrong rank is bind_leaf's error to report.
    if (axis < 0 || it == feeds.end() ||
        static_cast<size_t>(it->second->rank()) != node.type.shape.size())
      continue;
    const int64_t n = it->second->dim(axis);
    if (n < 1 || n > graph.capacity) {
      return absl::InvalidArgumentError(str_cat("input \"", name, "\" has ", n,
                                                " rows, but graph \"", graph.name, "\" runs 1 to ",
                                                graph.capacity, " rows (its capacity)"));
    }
    if (rows >= 0 && n != rows) {
      return absl::InvalidArgumentError(
          str_cat("input \"", name, "\" has ", n, " rows but input \"", *first, "\" has ", rows));
    }
    rows = n;
    first = &name;
  }
  return rows >= 0 ? rows : graph.capacity;
}

absl::StatusOr<std::byte*> bind_leaf(const ir::Node& node, int64_t rows, const Feeds& feeds,
                                     VariableStore& variables) {
  const std::string& name = ir::attr_string(node.attrs, "name");
  Tensor* t = nullptr;
  if (node.op == ir::OpKind::kInput) {
    auto it = feeds.find(name);
    if (it == feeds.end()) {
      return absl::InvalidArgumentError(str_cat("no tensor fed for input \"", name, "\""));
    }
    // Executors never write their inputs; the table of buffers is untyped.
    t = const_cast<Tensor*>(it->second);
  } else {
    t = variables.find(name);
    if (!t) {
      return absl::FailedPreconditionError(str_cat("variable \"", name, "\" is not initialized"));
    }
  }
  if (!has_type(*t, node.type, rows)) {
    return absl::InvalidArgumentError(str_cat("\"", name, "\" is ", t->type_string(), ", expected ",
                                              ir::type_string(ir::with_rows(node.type, rows))));
  }
  return t->raw();
}

}  // namespace kiln
