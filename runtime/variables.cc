#include "runtime/variables.h"

#include <cmath>
#include <string>

#include "absl/strings/numbers.h"
#include "ir/strings.h"

namespace kiln {
namespace {

absl::Status Fill(const std::string& init, Tensor* t, Rng& rng) {
  float* w = t->data<float>();
  if (init == "zeros") return absl::OkStatus();
  if (init == "glorot_uniform") {
    double fan_in = static_cast<double>(t->dim(0));
    double fan_out = static_cast<double>(t->dim(1));
    float limit = static_cast<float>(std::sqrt(6.0 / (fan_in + fan_out)));
    for (int64_t i = 0; i < t->size(); ++i) w[i] = limit * (2.0f * rng.uniform() - 1.0f);
    return absl::OkStatus();
  }
  double value = 0;
  if (init.rfind("constant:", 0) == 0 && absl::SimpleAtod(init.substr(9), &value)) {
    for (int64_t i = 0; i < t->size(); ++i) w[i] = static_cast<float>(value);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(str_cat("unknown initializer \"", init, "\""));
}

}  // namespace

absl::StatusOr<Tensor> make_initialized(const std::string& init, DType dtype, Shape shape,
                                        Rng& rng) {
  if (dtype != DType::kF32) return absl::InvalidArgumentError("variables must be f32");
  if (init == "glorot_uniform" && shape.size() != 2) {
    return absl::InvalidArgumentError(
        str_cat("glorot_uniform needs a rank-2 shape, got ", ir::shape_string(shape)));
  }
  Tensor t(dtype, std::move(shape));
  if (auto s = Fill(init, &t, rng); !s.ok()) return s;
  return t;
}

Tensor* VariableStore::find(std::string_view name) {
  auto it = vars_.find(name);
  return it == vars_.end() ? nullptr : it->second.get();
}

const Tensor* VariableStore::find(std::string_view name) const {
  auto it = vars_.find(name);
  return it == vars_.end() ? nullptr : it->second.get();
}

absl::Status VariableStore::initialize(const ir::Graph& graph, Rng& rng) {
  for (ir::NodeId id : graph.nodes_of(ir::OpKind::kVariable)) {
    const ir::Node& n = graph.nodes[id];
    const std::string& name = ir::attr_string(n.attrs, "name");
    if (const Tensor* existing = find(name)) {
      if (!has_type(*existing, n.type)) {
        return absl::InvalidArgumentError(
            str_cat("variable \"", name, "\" holds ", existing->type_string(), " but graph \"",
                    graph.name, "\" declares ", ir::type_string(n.type)));
      }
      continue;
    }
    auto t = make_initialized(ir::attr_string(n.attrs, "init"), from_ir(n.type.dtype), n.type.shape,
                              rng);
    if (!t.ok()) return t.status();
    vars_.emplace(name, std::make_shared<Tensor>(*std::move(t)));
  }
  return absl::OkStatus();
}

}  // namespace kiln
