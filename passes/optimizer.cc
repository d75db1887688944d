// Lowers the optimizer update (Keras 3 formulas) into the training step.
#include <charconv>
#include <cmath>

#include "ir/builder.h"
#include "ir/strings.h"
#include "passes/passes.h"

namespace kiln::passes {
namespace {

using ir::NodeId;
using Kind = OptimizerConfig::Kind;

constexpr std::string_view kGradPrefix = "grad/";

// The shortest text that reads back to `v` exactly.
std::string Exact(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

// Emits the update of one variable from its gradient; scalars shared by all
// variables (learning rate, step count, Adam's alpha) are emitted once.
class UpdateEmitter {
 public:
  UpdateEmitter(ir::Builder& b, const OptimizerConfig& c) : b_(b), c_(c) {
    b_.set_layer("optimizer");
    lr_ = NewVariable("optimizer/learning_rate", {}, str_cat("constant:", Exact(c.learning_rate)));
    NodeId iterations = NewVariable("optimizer/iterations", {}, "zeros");
    NodeId t = b_.add(iterations, b_.constant(1.0));
    b_.assign(iterations, t);
    if (c.kind == Kind::kAdam) {
      // alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
      NodeId b1_t = b_.exp(b_.scale(t, std::log(c.beta_1)));
      NodeId b2_t = b_.exp(b_.scale(t, std::log(c.beta_2)));
      NodeId one = b_.constant(1.0);
      alpha_ = b_.div(b_.mul(lr_, b_.sqrt(b_.sub(one, b2_t))), b_.sub(one, b1_t));
    }
  }

  /// OK, or why the update cannot be added (a name it needs is taken).
  const absl::Status& status() const { return status_; }

  void update(NodeId w, NodeId g) {
    const std::string name = ir::attr_string(b_.graph().nodes[w].attrs, "name");
    b_.set_layer(b_.graph().nodes[w].layer);
    ir::Shape shape = b_.shape_of(w);
    switch (c_.kind) {
      case Kind::kSgd:
        return Sgd(name, shape, w, g);
      case Kind::kAdam:
        return Adam(name, shape, w, g);
      case Kind::kRmsprop:
        return Rmsprop(name, shape, w, g);
    }
  }

 private:
  // A non-trainable variable of the optimizer, unless the graph already has
  // one of that name: then it has an update already (the optimizer ran on
  // it), or a variable in the way, and adding another would be invalid IR.
  NodeId NewVariable(const std::string& name, ir::Shape shape, const std::string& init) {
    if (b_.graph().find_variable(name) >= 0 && status_.ok()) {
      status_ = absl::InvalidArgumentError(
          str_cat("the graph already has a variable \"", name,
                  "\": the optimizer has run on it, or a variable takes the name of an "
                  "optimizer slot"));
    }
    return b_.variable(name, std::move(shape), false, init);
  }

  NodeId Slot(const std::string& var, std::string_view slot, const ir::Shape& shape) {
    return NewVariable(str_cat(var, "/", slot), shape, "zeros");
  }
  NodeId Full(double value, const ir::Shape& shape) { return b_.constant(value, shape); }
  NodeId Spread(NodeId scalar, const ir::Shape& shape) { return b_.broadcast_to(scalar, shape); }

  void Sgd(const std::string& name, const ir::Shape& shape, NodeId w, NodeId g) {
    NodeId step = b_.mul(Spread(lr_, shape), g);  // lr * g
    if (c_.momentum == 0.0) {
      b_.assign(w, b_.sub(w, step));
      return;
    }
    NodeId m = Slot(name, "momentum", shape);
    NodeId m_new = b_.sub(b_.scale(m, c_.momentum), step);
    b_.assign(m, m_new);
    NodeId delta = c_.nesterov ? b_.sub(b_.scale(m_new, c_.momentum), step) : m_new;
    b_.assign(w, b_.add(w, delta));
  }

  void Adam(const std::string& name, const ir::Shape& shape, NodeId w, NodeId g) {
    NodeId m = Slot(name, "m", shape);
    NodeId v = Slot(name, "v", shape);
    NodeId m_new = b_.add(m, b_.scale(b_.sub(g, m), 1.0 - c_.beta_1));
    NodeId v_new = b_.add(v, b_.scale(b_.sub(b_.mul(g, g), v), 1.0 - c_.beta_2));
    NodeId denom = b_.add(b_.sqrt(v_new), Full(c_.epsilon, shape));
    NodeId w_new = b_.sub(w, b_.div(b_.mul(m_new, Spread(alpha_, shape)), denom));
    b_.assign(m, m_new);
    b_.assign(v, v_new);
    b_.assign(w, w_new);
  }

  void Rmsprop(const std::string& name, const ir::Shape& shape, NodeId w, NodeId g) {
    NodeId v = Slot(name, "velocity", shape);
    NodeId v_new = b_.add(b_.scale(v, c_.rho), b_.scale(b_.mul(g, g), 1.0 - c_.rho));
    b_.assign(v, v_new);
    NodeId denom = v_new;
    if (c_.centered) {
      NodeId avg = Slot(name, "average_gradient", shape);
      NodeId avg_new = b_.add(b_.scale(avg, c_.rho), b_.scale(g, 1.0 - c_.rho));
      b_.assign(avg, avg_new);
      denom = b_.sub(denom, b_.mul(avg_new, avg_new));
    }
    // Keras 3 puts epsilon inside the square root.
    denom = b_.add(denom, Full(c_.epsilon, shape));
    NodeId increment = b_.div(b_.mul(Spread(lr_, shape), g), b_.sqrt(denom));
    if (c_.momentum > 0.0) {
      NodeId m = Slot(name, "momentum", shape);
      increment = b_.add(b_.scale(m, c_.momentum), increment);
      b_.assign(m, increment);
    }
    b_.assign(w, b_.sub(w, increment));
  }

  ir::Builder& b_;
  const OptimizerConfig& c_;
  NodeId lr_ = -1;
  NodeId alpha_ = -1;
  absl::Status status_;
};

class OptimizerPass : public Pass {
 public:
  explicit OptimizerPass(OptimizerConfig config) : config_(config) {}
  std::string_view name() const override { return "optimizer"; }

  absl::StatusOr<bool> run(ir::Graph& graph) override {
    std::vector<std::pair<NodeId, NodeId>> updates;  // (variable, gradient)
    std::vector<bool> dead(graph.nodes.size(), false);
    for (NodeId out : graph.nodes_of(ir::OpKind::kOutput)) {
      const std::string& name = ir::attr_string(graph.nodes[out].attrs, "name");
      if (name.rfind(kGradPrefix, 0) != 0) continue;
      NodeId var = graph.find_variable(name.substr(kGradPrefix.size()));
      if (var < 0) {
        return absl::InvalidArgumentError(
            str_cat("output \"", name, "\" names no variable of the graph"));
      }
      updates.emplace_back(var, graph.nodes[out].inputs[0]);
      dead[out] = true;
    }
    if (updates.empty()) {
      return absl::InvalidArgumentError("no gradients to apply: run autodiff before the optimizer");
    }
    ir::Builder b(&graph);
    b.set_phase(ir::Phase::kUpdate);
    UpdateEmitter emitter(b, config_);
    for (auto [var, grad] : updates) emitter.update(var, grad);
    if (!emitter.status().ok()) return emitter.status();
    if (!b.status().ok()) return b.status();
    dead.resize(graph.nodes.size(), false);
    graph.remove(dead);
    return true;
  }

 private:
  OptimizerConfig config_;
};

}  // namespace

std::unique_ptr<Pass> make_optimizer(OptimizerConfig config) {
  return std::make_unique<OptimizerPass>(config);
}

}  // namespace kiln::passes
