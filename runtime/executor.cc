#include "runtime/executor.h"

#include "ir/strings.h"

namespace kiln {
namespace {

// The rows a feed gives its input's batch axis `axis`.
int64_t FedRows(const Feed& feed, int axis) {
  return feed.rows ? static_cast<int64_t>(feed.rows->size()) : feed.tensor->dim(axis);
}

// The feed of input `node` for a run of `rows` rows, checked against its type.
absl::StatusOr<const Feed*> FindFeed(const ir::Node& node, int64_t rows, const Feeds& feeds) {
  const std::string& name = ir::attr_string(node.attrs, "name");
  auto it = feeds.find(name);
  if (it == feeds.end() || !it->second.tensor) {
    return absl::InvalidArgumentError(str_cat("no tensor fed for input \"", name, "\""));
  }
  const Feed& feed = it->second;
  const Tensor& t = *feed.tensor;
  if (!feed.rows) {
    if (has_type(t, node.type, rows)) return &feed;
    return absl::InvalidArgumentError(str_cat("\"", name, "\" is ", t.type_string(), ", expected ",
                                              ir::type_string(ir::with_rows(node.type, rows))));
  }
  // Rows are listed along the first axis: the batch's, or the first of a
  // graph compiled for one batch size (no ?).
  if (ir::batch_axis(node.type.shape) > 0) {
    return absl::InvalidArgumentError(
        str_cat("input \"", name, "\" is ", ir::type_string(node.type),
                ": only rows along a first batch axis can be listed"));
  }
  // The listed rows' type: the tensor's with its first axis that many rows.
  ir::Shape listed = t.shape();
  if (!listed.empty()) listed[0] = static_cast<int64_t>(feed.rows->size());
  if (listed.empty() || to_ir(t.dtype()) != node.type.dtype ||
      listed != ir::with_rows(node.type, rows).shape) {
    return absl::InvalidArgumentError(str_cat("\"", name, "\" lists ", feed.rows->size(),
                                              " rows of ", t.type_string(), ", expected ",
                                              ir::type_string(ir::with_rows(node.type, rows))));
  }
  for (size_t i = 0; i < feed.rows->size(); ++i) {
    const int64_t r = (*feed.rows)[i];
    if (r < 0 || r >= t.dim(0)) {
      return absl::OutOfRangeError(str_cat("input \"", name, "\": row ", r, " (listed at ", i,
                                           ") is outside [0, ", t.dim(0), ")"));
    }
  }
  return &feed;
}

}  // namespace

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
    if (axis < 0 || it == feeds.end() || !it->second.tensor ||
        static_cast<size_t>(it->second.tensor->rank()) != node.type.shape.size())
      continue;
    const int64_t n = FedRows(it->second, axis);
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
                                     VariableStore& variables, Tensor* gathered) {
  if (node.op == ir::OpKind::kInput) {
    absl::StatusOr<const Feed*> found = FindFeed(node, rows, feeds);
    if (!found.ok()) return found.status();
    const Feed& feed = **found;
    const Tensor& t = *feed.tensor;
    // Executors never write their inputs; the table of buffers is untyped.
    if (!feed.rows) return const_cast<std::byte*>(t.raw());
    ir::Shape shape = t.shape();
    shape[0] = rows;
    if (gathered->shape() != shape || gathered->dtype() != t.dtype()) {
      *gathered = Tensor(t.dtype(), shape);
    }
    gather_rows(t, *feed.rows, gathered->raw());
    return gathered->raw();
  }
  const std::string& name = ir::attr_string(node.attrs, "name");
  Tensor* t = variables.find(name);
  if (!t) {
    return absl::FailedPreconditionError(str_cat("variable \"", name, "\" is not initialized"));
  }
  if (!has_type(*t, node.type, rows)) {
    return absl::InvalidArgumentError(str_cat("\"", name, "\" is ", t->type_string(), ", expected ",
                                              ir::type_string(ir::with_rows(node.type, rows))));
  }
  return t->raw();
}

absl::Status bind_rows(const ir::Node& node, int64_t rows, const Feeds& feeds,
                       std::vector<const std::byte*>* table) {
  absl::StatusOr<const Feed*> found = FindFeed(node, rows, feeds);
  if (!found.ok()) return found.status();
  const Feed& feed = **found;
  const Tensor& t = *feed.tensor;
  const size_t bytes = row_bytes(t);
  if (table->size() < static_cast<size_t>(rows)) table->resize(rows);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t r = feed.rows ? (*feed.rows)[i] : i;
    (*table)[i] = t.raw() + r * bytes;
  }
  return absl::OkStatus();
}

}  // namespace kiln
