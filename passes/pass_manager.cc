#include <iostream>

#include "ir/strings.h"
#include "ir/text.h"
#include "ir/verifier.h"
#include "passes/pass.h"

namespace kiln::passes {

std::vector<std::string> PassManager::names() const {
  std::vector<std::string> names;
  for (const auto& p : passes_) names.emplace_back(p->name());
  return names;
}

absl::Status PassManager::run(ir::Graph& graph) const {
  std::ostream& out = options_.stream ? *options_.stream : std::cerr;
  if (options_.verify_each) {
    if (auto s = ir::verify(graph); !s.ok()) {
      return absl::InvalidArgumentError(str_cat("input IR is invalid: ", s.message()));
    }
  }
  for (const auto& pass : passes_) {
    if (options_.print_ir_before.contains(pass->name())) {
      out << "// ----- IR before " << pass->name() << " -----\n" << ir::print(graph);
    }
    absl::StatusOr<bool> changed = pass->run(graph);
    if (!changed.ok()) {
      return absl::Status(changed.status().code(),
                          str_cat("pass ", pass->name(), ": ", changed.status().message()));
    }
    if (options_.verify_each) {
      if (auto s = ir::verify(graph); !s.ok()) {
        return absl::InternalError(
            str_cat("pass ", pass->name(), " produced invalid IR: ", s.message()));
      }
    }
    bool print = options_.print_ir_after_all || options_.print_ir_after.contains(pass->name()) ||
                 (options_.print_ir_after_change && *changed);
    if (print) out << "// ----- IR after " << pass->name() << " -----\n" << ir::print(graph);
  }
  return absl::OkStatus();
}

}  // namespace kiln::passes
