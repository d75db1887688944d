// Reverse-mode automatic differentiation with one gradient rule per op.
#include <algorithm>
#include <map>

#include "ir/builder.h"
#include "ir/strings.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

using ir::NodeId;
using ir::OpKind;

// What a gradient rule sees: the node being differentiated (by id: emitting
// nodes may reallocate the node list), its output gradient and a builder.
struct GradContext {
  ir::Builder& b;
  NodeId id;
  NodeId grad;
  const std::vector<bool>& needs;  // per node: a gradient must reach it

  const ir::Node& node() const { return b.graph().nodes[id]; }
  NodeId in(size_t i) const { return node().inputs[i]; }
  ir::Shape in_shape(size_t i) const { return b.shape_of(in(i)); }
  NodeId ones_like(NodeId x) { return b.constant(1.0, b.shape_of(x)); }
  bool wants(size_t i) const { return needs[in(i)]; }
  // A per-row value [rows] repeated along the last axis of operand `i`.
  NodeId rows_to(NodeId v, size_t i) { return b.broadcast(v, in_shape(i), {0}); }
};

// A rule returns one gradient per operand (-1: none flows to that operand);
// an empty result means the op is not differentiable.
using Grads = std::vector<NodeId>;
using GradRule = Grads (*)(GradContext&);

Grads NoGrad(GradContext&) { return {}; }
Grads GradInput(GradContext& c) { return NoGrad(c); }
Grads GradVariable(GradContext& c) { return NoGrad(c); }
Grads GradConstant(GradContext& c) { return NoGrad(c); }
Grads GradRandomUniform(GradContext& c) { return NoGrad(c); }
Grads GradRows(GradContext& c) { return NoGrad(c); }
Grads GradGreater(GradContext& c) { return NoGrad(c); }
Grads GradEqual(GradContext& c) { return NoGrad(c); }
Grads GradArgMax(GradContext& c) { return NoGrad(c); }
Grads GradOneHot(GradContext& c) { return NoGrad(c); }
Grads GradOutput(GradContext& c) { return NoGrad(c); }
Grads GradAssign(GradContext& c) { return NoGrad(c); }

Grads GradNeg(GradContext& c) { return {c.b.neg(c.grad)}; }
Grads GradExp(GradContext& c) { return {c.b.mul(c.grad, c.id)}; }
Grads GradLog(GradContext& c) { return {c.b.div(c.grad, c.in(0))}; }
Grads GradSqrt(GradContext& c) { return {c.b.div(c.grad, c.b.scale(c.id, 2.0))}; }
Grads GradTanh(GradContext& c) {
  NodeId y = c.id;
  return {c.b.mul(c.grad, c.b.sub(c.ones_like(y), c.b.mul(y, y)))};
}
// softplus'(x) = sigmoid(x) = (tanh(x / 2) + 1) / 2, which cannot overflow.
Grads GradSoftplus(GradContext& c) {
  NodeId t = c.b.tanh(c.b.scale(c.in(0), 0.5));
  return {c.b.mul(c.grad, c.b.scale(c.b.add(t, c.ones_like(t)), 0.5))};
}
Grads GradAdd(GradContext& c) { return {c.grad, c.grad}; }
Grads GradSub(GradContext& c) { return {c.grad, c.b.neg(c.grad)}; }
Grads GradMul(GradContext& c) {
  NodeId a = c.in(0), b = c.in(1);
  return {c.b.mul(c.grad, b), c.b.mul(c.grad, a)};
}
Grads GradDiv(GradContext& c) {
  NodeId b = c.in(1);
  return {c.b.div(c.grad, b), c.b.neg(c.b.div(c.b.mul(c.grad, c.id), b))};
}
// Kinks: at a tie the gradient goes to the second operand, so relu(x) =
// max(x, 0) has gradient 0 at x == 0, as in TensorFlow and PyTorch. The mask
// compares the result with b (max(a, b) > b exactly when a > b, NaN included),
// so a relu's backward pass reads its output, which the next layer's weight
// gradient reads anyway, and the pre-activation need not be kept.
Grads GradMax(GradContext& c) {
  NodeId ga = c.b.mul(c.grad, c.b.greater(c.id, c.in(1)));
  return {ga, c.b.sub(c.grad, ga)};
}
Grads GradMin(GradContext& c) {
  NodeId ga = c.b.mul(c.grad, c.b.greater(c.in(1), c.id));
  return {ga, c.b.sub(c.grad, ga)};
}
Grads GradCast(GradContext& c) {
  bool both_f32 =
      c.b.type_of(c.in(0)).dtype == ir::DType::kF32 && c.b.type_of(c.id).dtype == ir::DType::kF32;
  return both_f32 ? Grads{c.grad} : Grads{};
}
Grads GradReshape(GradContext& c) { return {c.b.reshape(c.grad, c.in_shape(0))}; }
Grads GradBroadcast(GradContext& c) {
  std::vector<int64_t> dims = ir::attr_ints(c.node().attrs, "dims");
  NodeId g = c.grad;
  for (int64_t axis = static_cast<int64_t>(c.b.shape_of(c.id).size()); axis-- > 0;) {
    if (std::find(dims.begin(), dims.end(), axis) == dims.end()) g = c.b.reduce_sum(g, axis);
  }
  return {g};
}
// Every process's value reaches every process's result, so each operand's
// gradient gathers every process's upstream gradient the same way.
Grads GradAllReduce(GradContext& c) {
  return {c.b.all_reduce(c.grad, ir::attr_string(c.node().attrs, "reduction"))};
}
// Each operand's gradient is its piece of the upstream gradient.
Grads GradConcat(GradContext& c) {
  Grads grads;
  int64_t at = 0;
  for (size_t i = 0; i < c.node().inputs.size(); ++i) {
    const int64_t n = c.in_shape(i)[0];
    grads.push_back(c.wants(i) ? c.b.slice(c.grad, at, n) : -1);
    at += n;
  }
  return grads;
}
// The upstream gradient where the piece was, zeros elsewhere.
Grads GradSlice(GradContext& c) {
  const int64_t begin = ir::attr_int(c.node().attrs, "begin");
  const int64_t size = c.b.shape_of(c.id)[0], after = c.in_shape(0)[0] - begin - size;
  std::vector<NodeId> parts;
  if (begin > 0) parts.push_back(c.b.constant(0.0, {begin}));
  parts.push_back(c.grad);
  if (after > 0) parts.push_back(c.b.constant(0.0, {after}));
  return {parts.size() == 1 ? c.grad : c.b.concat(parts)};
}
Grads GradTranspose(GradContext& c) { return {c.b.transpose(c.grad)}; }
Grads GradMatMul(GradContext& c) {
  NodeId a = c.in(0), b = c.in(1);
  return {c.b.matmul(c.grad, c.b.transpose(b)), c.b.matmul(c.b.transpose(a), c.grad)};
}

// Broadcasts a reduced value back over the reduced axis.
NodeId Unreduce(GradContext& c, NodeId v) {
  int64_t axis = ir::attr_int(c.node().attrs, "axis");
  ir::Shape shape = c.in_shape(0);
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    if (i != axis) dims.push_back(i);
  }
  return c.b.broadcast(v, shape, dims);
}
Grads GradReduceSum(GradContext& c) { return {Unreduce(c, c.grad)}; }
// Every element equal to the maximum receives the gradient (ties share it fully).
Grads GradReduceMax(GradContext& c) {
  NodeId x = c.in(0);
  NodeId mask = c.b.equal(x, Unreduce(c, c.id));
  return {c.b.mul(Unreduce(c, c.grad), mask)};
}

// d/dz = g (softmax(z) sum(t) - t) is the op's own gradient op; d/dt = -g log_softmax(z).
Grads GradSoftmaxCrossEntropy(GradContext& c) {
  NodeId z = c.in(0), t = c.in(1);
  Grads g = {c.b.softmax_cross_entropy_grad(z, t, c.grad), -1};
  if (c.wants(1)) g[1] = c.b.neg(c.b.mul(c.rows_to(c.grad, 1), c.b.log_softmax(z)));
  return g;
}
// With p = softmax(z), T = sum(t), G = g (p T - t) and upstream U, s = sum(U p):
// dG/dz = g T p (U - s), dG/dt = g (s - U), dG/dg = sum(U (p T - t)).
Grads GradSoftmaxCrossEntropyGrad(GradContext& c) {
  ir::Builder& b = c.b;
  NodeId z = c.in(0), t = c.in(1), g = c.in(2), u = c.grad;
  NodeId p = b.softmax(z);
  NodeId total = c.wants(0) || c.wants(2) ? b.reduce_sum(t, 1) : -1;
  NodeId s = c.wants(0) || c.wants(1) ? c.rows_to(b.reduce_sum(b.mul(u, p), 1), 0) : -1;
  Grads out(3, -1);
  if (c.wants(0)) out[0] = b.mul(b.mul(c.rows_to(b.mul(g, total), 0), p), b.sub(u, s));
  if (c.wants(1)) out[1] = b.mul(c.rows_to(g, 0), b.sub(s, u));
  if (c.wants(2)) out[2] = b.reduce_sum(b.mul(u, b.sub(b.mul(p, c.rows_to(total, 0)), t)), 1);
  return out;
}

constexpr GradRule kRules[] = {
#define KILN_OP(Enum, ...) &Grad##Enum,
#include "ir/ops.def"
#undef KILN_OP
};
static_assert(std::size(kRules) == ir::kNumOps);

bool IsTrainable(const ir::Node& n) {
  return n.op == OpKind::kVariable && ir::attr_int(n.attrs, "trainable") != 0;
}

class Autodiff : public Pass {
 public:
  std::string_view name() const override { return "autodiff"; }

  absl::StatusOr<bool> run(ir::Graph& graph) override {
    NodeId loss_out = graph.find_output("loss");
    if (loss_out < 0) {
      return absl::InvalidArgumentError(
          "no loss: the graph has no `output \"loss\"` to differentiate");
    }
    NodeId loss = graph.nodes[loss_out].inputs[0];
    if (!graph.nodes[loss].type.shape.empty() || graph.nodes[loss].type.dtype != ir::DType::kF32) {
      return absl::InvalidArgumentError(
          str_cat("the loss must be a f32 scalar, got ", ir::type_string(graph.nodes[loss].type)));
    }
    std::vector<bool> needs = NeedsGrad(graph, loss);
    if (!needs[loss]) {
      return absl::InvalidArgumentError(
          "no parameter: the loss does not depend on any trainable variable");
    }
    ir::Builder b(&graph);
    b.set_phase(ir::Phase::kBackward);
    std::map<NodeId, NodeId> grads;
    b.set_layer(graph.nodes[loss].layer);
    grads[loss] = b.constant(1.0);
    for (NodeId id = loss; id >= 0; --id) {
      auto it = grads.find(id);
      if (it == grads.end() || !needs[id] || graph.nodes[id].op == OpKind::kVariable) continue;
      b.set_layer(graph.nodes[id].layer);
      GradContext ctx{b, id, it->second, needs};
      Grads in_grads = kRules[static_cast<size_t>(graph.nodes[id].op)](ctx);
      std::vector<NodeId> inputs = graph.nodes[id].inputs;
      for (size_t i = 0; i < in_grads.size(); ++i) {
        if (in_grads[i] < 0 || !needs[inputs[i]]) continue;
        auto [slot, fresh] = grads.try_emplace(inputs[i], in_grads[i]);
        if (!fresh) slot->second = b.add(slot->second, in_grads[i]);
      }
      if (!b.status().ok()) return b.status();
    }
    return EmitGradientOutputs(graph, b, grads);
  }

 private:
  // Nodes on a path from a trainable variable to the loss.
  static std::vector<bool> NeedsGrad(const ir::Graph& graph, NodeId loss) {
    std::vector<bool> needs(graph.nodes.size(), false);
    for (NodeId id = 0; id <= loss; ++id) {
      const ir::Node& n = graph.nodes[id];
      needs[id] = IsTrainable(n);
      for (NodeId in : n.inputs) needs[id] = needs[id] || needs[in];
    }
    return needs;
  }

  static absl::StatusOr<bool> EmitGradientOutputs(ir::Graph& graph, ir::Builder& b,
                                                  const std::map<NodeId, NodeId>& grads) {
    int emitted = 0;
    for (NodeId v : graph.nodes_of(OpKind::kVariable)) {
      auto it = grads.find(v);
      if (!IsTrainable(graph.nodes[v]) || it == grads.end()) continue;
      b.set_layer(graph.nodes[v].layer);
      b.output(str_cat("grad/", ir::attr_string(graph.nodes[v].attrs, "name")), it->second);
      ++emitted;
    }
    if (!b.status().ok()) return b.status();
    if (emitted == 0) {
      return absl::InvalidArgumentError(
          "no parameter: no gradient reaches a trainable variable (only non-differentiable "
          "ops lie between them and the loss)");
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_autodiff() { return std::make_unique<Autodiff>(); }

}  // namespace kiln::passes
