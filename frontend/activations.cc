// The activation registry: every name Dense(units, activation) accepts, with
// the ops it records (keras.activations.get). Adding an activation is one row.
#include <array>

#include "absl/strings/str_join.h"
#include "frontend/layer_impl.h"
#include "ir/strings.h"

namespace kiln::detail {
namespace {

using Recorder = Recorded (*)(ir::Builder& b, Recorded x);

struct Activation {
  std::string_view name;
  Recorder record;
};

Recorded Identity(ir::Builder&, Recorded x) { return x; }

Recorded Relu(ir::Builder& b, Recorded x) {
  const Shape shape = b.shape_of(x.out);  // a copy: emitting nodes moves the graph
  return {b.max(x.out, b.constant(0.0, shape))};
}

// sigmoid(x) = (tanh(x / 2) + 1) / 2: no overflow for large |x|.
Recorded Sigmoid(ir::Builder& b, Recorded x) {
  const Shape shape = b.shape_of(x.out);
  ir::NodeId t = b.tanh(b.scale(x.out, 0.5));
  return {b.scale(b.add(t, b.constant(1.0, shape)), 0.5)};
}

Recorded Softmax(ir::Builder& b, Recorded x) { return record_softmax(b, x.out); }
Recorded Softplus(ir::Builder& b, Recorded x) { return {b.emit(ir::OpKind::kSoftplus, {x.out})}; }
Recorded Tanh(ir::Builder& b, Recorded x) { return {b.tanh(x.out)}; }

constexpr std::array<Activation, 6> kActivations{{
    {"linear", Identity},
    {"relu", Relu},
    {"sigmoid", Sigmoid},
    {"softmax", Softmax},
    {"softplus", Softplus},
    {"tanh", Tanh},
}};

const Activation* Find(std::string_view name) {
  if (name.empty()) name = "linear";
  for (const Activation& a : kActivations) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

}  // namespace

absl::Status check_activation(std::string_view name) {
  if (Find(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      str_cat("unknown activation \"", name, "\" (known: ", activation_names(), ")"));
}

std::string activation_names() {
  std::vector<std::string> names;
  for (const Activation& a : kActivations) names.emplace_back(a.name);
  return absl::StrJoin(names, ", ");
}

Recorded record_activation(ir::Builder& b, const std::string& activation, Recorded x) {
  if (x.out < 0) return {};
  const Activation* a = Find(activation);
  if (!a) return {};  // check_activation() rejected it when the layer was made
  return a->record(b, x);
}

}  // namespace kiln::detail
