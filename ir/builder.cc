#include "ir/builder.h"

#include "ir/strings.h"
#include "ir/verifier.h"

namespace kiln::ir {

NodeId Builder::emit(OpKind op, std::vector<NodeId> inputs, Attrs attrs, Type declared) {
  if (!status_.ok()) return -1;
  for (NodeId in : inputs) {
    if (in < 0) return -1;
  }
  Node node{.op = op,
            .inputs = std::move(inputs),
            .attrs = std::move(attrs),
            .type = std::move(declared),
            .layer = layer_,
            .phase = phase_};
  auto type = infer_type(*graph_, node);
  if (!type.ok()) {
    std::string operands;
    for (NodeId in : node.inputs) {
      str_append(&operands, operands.empty() ? "" : ", ", type_string(type_of(in)));
    }
    status_ = absl::InvalidArgumentError(str_cat("layer ", layer_.empty() ? "-" : layer_, ": ",
                                                 op_name(op), "(", operands,
                                                 "): ", type.status().message()));
    return -1;
  }
  node.type = *type;
  return graph_->add(std::move(node));
}

const Type& Builder::type_of(NodeId id) const {
  // A failed emit returns -1 (its error is in status()); callers may ask its
  // type before checking, so that must be safe.
  static const Type kNone;
  if (id < 0 || static_cast<size_t>(id) >= graph_->nodes.size()) return kNone;
  return graph_->nodes[id].type;
}

NodeId Builder::input(const std::string& name, Type type) {
  return emit(OpKind::kInput, {}, {{"name", name}}, std::move(type));
}

NodeId Builder::variable(const std::string& name, Shape shape, bool trainable,
                         const std::string& init) {
  return emit(OpKind::kVariable, {},
              {{"name", name}, {"trainable", int64_t{trainable}}, {"init", init}},
              Type{DType::kF32, std::move(shape)});
}

NodeId Builder::constant(double value, Shape shape) {
  return emit(OpKind::kConstant, {}, {{"value", value}}, Type{DType::kF32, std::move(shape)});
}

NodeId Builder::random_uniform(int64_t seed, Shape shape) {
  return emit(OpKind::kRandomUniform, {}, {{"seed", seed}}, Type{DType::kF32, std::move(shape)});
}

NodeId Builder::cast(NodeId x, DType to) {
  return emit(OpKind::kCast, {x}, {{"to", std::string(dtype_name(to))}});
}

NodeId Builder::reshape(NodeId x, Shape shape) {
  if (x < 0) return -1;
  return emit(OpKind::kReshape, {x}, {}, Type{type_of(x).dtype, std::move(shape)});
}

NodeId Builder::slice(NodeId x, int64_t begin, int64_t size) {
  if (x < 0) return -1;
  return emit(OpKind::kSlice, {x}, {{"begin", begin}}, Type{type_of(x).dtype, {size}});
}

NodeId Builder::broadcast(NodeId x, Shape shape, std::vector<int64_t> dims) {
  if (x < 0) return -1;
  return emit(OpKind::kBroadcast, {x}, {{"dims", std::move(dims)}},
              Type{type_of(x).dtype, std::move(shape)});
}

NodeId Builder::broadcast_to(NodeId x, Shape shape) {
  if (x < 0) return -1;
  size_t rank = type_of(x).shape.size();
  if (rank == shape.size()) return x;
  std::vector<int64_t> dims;
  for (size_t i = 0; i < rank; ++i) dims.push_back(static_cast<int64_t>(shape.size() - rank + i));
  return broadcast(x, std::move(shape), std::move(dims));
}

NodeId Builder::reduce_sum(NodeId x, int64_t axis) {
  return emit(OpKind::kReduceSum, {x}, {{"axis", axis}});
}
NodeId Builder::reduce_max(NodeId x, int64_t axis) {
  return emit(OpKind::kReduceMax, {x}, {{"axis", axis}});
}
NodeId Builder::argmax(NodeId x, int64_t axis) {
  return emit(OpKind::kArgMax, {x}, {{"axis", axis}});
}
NodeId Builder::one_hot(NodeId x, int64_t depth) {
  return emit(OpKind::kOneHot, {x}, {{"depth", depth}});
}
NodeId Builder::output(const std::string& name, NodeId x) {
  return emit(OpKind::kOutput, {x}, {{"name", name}});
}

NodeId Builder::scale(NodeId x, double factor) {
  if (x < 0) return -1;
  return mul(x, constant(factor, type_of(x).shape));
}

NodeId Builder::mean_all(NodeId x) {
  if (x < 0) return -1;
  const Shape shape = type_of(x).shape;
  const int64_t per_row = num_elements(with_rows(shape, 1));
  const bool batched = batch_axis(shape) >= 0;
  while (x >= 0 && !type_of(x).shape.empty()) x = reduce_sum(x, 0);
  if (!batched) return scale(x, 1.0 / static_cast<double>(per_row));
  NodeId count = per_row == 1 ? rows() : scale(rows(), static_cast<double>(per_row));
  return div(x, count);
}

namespace {

// x minus its maximum over the last axis, and how to broadcast a row value back.
struct Shifted {
  NodeId value = -1;
  Shape shape;
  std::vector<int64_t> keep;
};

Shifted ShiftByRowMax(Builder& b, NodeId x) {
  if (x < 0) return {};
  Shifted s{-1, b.shape_of(x), {}};
  if (s.shape.empty()) return {};
  int64_t axis = static_cast<int64_t>(s.shape.size()) - 1;
  for (int64_t i = 0; i < axis; ++i) s.keep.push_back(i);
  s.value = b.sub(x, b.broadcast(b.reduce_max(x, axis), s.shape, s.keep));
  return s;
}

}  // namespace

NodeId Builder::softmax(NodeId x) {
  Shifted s = ShiftByRowMax(*this, x);
  if (s.value < 0) return -1;
  NodeId e = exp(s.value);
  int64_t axis = static_cast<int64_t>(s.shape.size()) - 1;
  return div(e, broadcast(reduce_sum(e, axis), s.shape, s.keep));
}

NodeId Builder::log_softmax(NodeId x) {
  Shifted s = ShiftByRowMax(*this, x);
  if (s.value < 0) return -1;
  int64_t axis = static_cast<int64_t>(s.shape.size()) - 1;
  NodeId log_sum = log(reduce_sum(exp(s.value), axis));
  return sub(s.value, broadcast(log_sum, s.shape, s.keep));
}

}  // namespace kiln::ir
