#include "runtime/executor.h"

#include "ir/strings.h"

namespace kiln {

absl::StatusOr<std::byte*> bind_leaf(const ir::Node& node, const Feeds& feeds,
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
  if (!has_type(*t, node.type)) {
    return absl::InvalidArgumentError(
        str_cat("\"", name, "\" is ", t->type_string(), ", expected ", ir::type_string(node.type)));
  }
  return t->raw();
}

}  // namespace kiln
