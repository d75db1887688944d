#include <cmath>
#include <limits>

#include "frontend/loss_impl.h"
#include "ir/strings.h"
#include "kiln/optimizers.h"
#include "support/status.h"

namespace kiln {

namespace {

// Keras's ranges for optimizer settings; a value outside one would make the
// update formula meaningless (or NaN) rather than fail later.
void CheckSetting(const char* optimizer, const char* setting, double value, double min, double max,
                  bool max_open) {
  bool ok = std::isfinite(value) && value >= min && (max_open ? value < max : value <= max);
  if (!ok) {
    throw to_error(absl::InvalidArgumentError(
        str_cat(optimizer, ": ", setting, " must be in [", min, ", ",
                std::isinf(max) ? "inf" : str_cat(max), max_open ? ")" : "]", ", got ", value)));
  }
}

constexpr double kInf = std::numeric_limits<double>::infinity();

void CheckLearningRate(const char* optimizer, double learning_rate) {
  CheckSetting(optimizer, "learning_rate", learning_rate, 0, kInf, true);
}

}  // namespace

Optimizer::Optimizer(optimizers::SGD o) : value_(o) {
  CheckLearningRate("SGD", o.learning_rate);
  CheckSetting("SGD", "momentum", o.momentum, 0, 1, false);
}

Optimizer::Optimizer(optimizers::Adam o) : value_(o) {
  CheckLearningRate("Adam", o.learning_rate);
  CheckSetting("Adam", "beta_1", o.beta_1, 0, 1, true);
  CheckSetting("Adam", "beta_2", o.beta_2, 0, 1, true);
  CheckSetting("Adam", "epsilon", o.epsilon, 0, kInf, true);
}

Optimizer::Optimizer(optimizers::RMSprop o) : value_(o) {
  CheckLearningRate("RMSprop", o.learning_rate);
  CheckSetting("RMSprop", "rho", o.rho, 0, 1, true);
  CheckSetting("RMSprop", "momentum", o.momentum, 0, 1, false);
  CheckSetting("RMSprop", "epsilon", o.epsilon, 0, kInf, true);
}

Optimizer::Optimizer(const std::string& name) {
  if (name == "sgd") {
    value_ = optimizers::SGD{};
  } else if (name == "adam") {
    value_ = optimizers::Adam{};
  } else if (name == "rmsprop") {
    value_ = optimizers::RMSprop{};
  } else {
    throw to_error(absl::InvalidArgumentError(
        str_cat("unknown optimizer \"", name, "\" (expected sgd, adam or rmsprop)")));
  }
}

std::string Optimizer::name() const {
  static const char* kNames[] = {"sgd", "adam", "rmsprop"};
  return kNames[value_.index()];
}

passes::OptimizerConfig optimizer_config(const Optimizer& optimizer) {
  using Kind = passes::OptimizerConfig::Kind;
  passes::OptimizerConfig c;
  const auto& value = optimizer.settings();
  if (auto* o = std::get_if<optimizers::SGD>(&value)) {
    c.kind = Kind::kSgd;
    c.learning_rate = o->learning_rate;
    c.momentum = o->momentum;
    c.nesterov = o->nesterov;
  } else if (auto* a = std::get_if<optimizers::Adam>(&value)) {
    c.kind = Kind::kAdam;
    c.learning_rate = a->learning_rate;
    c.beta_1 = a->beta_1;
    c.beta_2 = a->beta_2;
    c.epsilon = a->epsilon;
  } else {
    const auto& r = std::get<optimizers::RMSprop>(value);
    c.kind = Kind::kRmsprop;
    c.learning_rate = r.learning_rate;
    c.rho = r.rho;
    c.momentum = r.momentum;
    c.epsilon = r.epsilon;
    c.centered = r.centered;
  }
  return c;
}

void Optimizer::set_learning_rate(double learning_rate) {
  CheckLearningRate(name().c_str(), learning_rate);
  std::visit([&](auto& o) { o.learning_rate = learning_rate; }, value_);
}

Loss::Loss(const std::string& name) {
  if (name == "sparse_categorical_crossentropy") {
    value_ = losses::SparseCategoricalCrossentropy{};
  } else if (name == "categorical_crossentropy") {
    value_ = losses::CategoricalCrossentropy{};
  } else if (name == "mean_squared_error" || name == "mse") {
    value_ = losses::MeanSquaredError{};
  } else {
    throw to_error(absl::InvalidArgumentError(
        str_cat("unknown loss \"", name,
                "\" (expected sparse_categorical_crossentropy, categorical_crossentropy or "
                "mean_squared_error)")));
  }
}

std::string Loss::name() const {
  static const char* kNames[] = {"sparse_categorical_crossentropy", "categorical_crossentropy",
                                 "mean_squared_error"};
  return kNames[value_.index()];
}

namespace detail {
namespace {

constexpr double kEpsilon = 1e-7;  // Keras's backend epsilon for clipping probabilities.

bool IsSparse(const Loss& loss) {
  return std::holds_alternative<losses::SparseCategoricalCrossentropy>(loss.value());
}

bool FromLogits(const Loss& loss) {
  if (auto* s = std::get_if<losses::SparseCategoricalCrossentropy>(&loss.value())) {
    return s->from_logits;
  }
  if (auto* c = std::get_if<losses::CategoricalCrossentropy>(&loss.value())) return c->from_logits;
  return false;
}

std::string OutputShape(const Shape& shape) {
  std::string s = "(None";
  for (size_t i = 1; i < shape.size(); ++i) str_append(&s, ", ", shape[i]);
  return s + ")";
}

// The logits of the output when they are known, else -1: the input of a
// softmax output layer (so the loss never takes the log of a rounded
// probability), even with from_logits, as Keras 3 does; else the output itself
// with from_logits.
ir::NodeId Logits(const Loss& loss, Recorded out) {
  if (out.logits >= 0) return out.logits;
  return FromLogits(loss) ? out.out : -1;
}

ir::NodeId Clip(ir::Builder& b, ir::NodeId probabilities) {
  const Shape shape = b.shape_of(probabilities);  // a copy: emitting nodes moves the graph
  return b.min(b.max(probabilities, b.constant(kEpsilon, shape)),
               b.constant(1.0 - kEpsilon, shape));
}

// Per-example cross-entropy when the output's logits are unknown, as Keras 3
// computes it: sparse treats log(clip(p)) as logits (so p is renormalised by
// the softmax); categorical renormalises p to sum 1, clips, and takes -sum(t log p).
ir::NodeId CrossEntropyOfProbabilities(ir::Builder& b, bool sparse, ir::NodeId probabilities,
                                       ir::NodeId target) {
  if (sparse) return b.softmax_cross_entropy(b.log(Clip(b, probabilities)), target);
  const Shape shape = b.shape_of(probabilities);
  ir::NodeId total = b.broadcast(b.reduce_sum(probabilities, 1), shape, {0});
  ir::NodeId log_p = b.log(Clip(b, b.div(probabilities, total)));
  return b.neg(b.reduce_sum(b.mul(target, log_p), 1));
}

// The batch mean of per-example values ([batch] or [batch, k], whose mean
// is over both axes), or per example: the mean over the last axis.
ir::NodeId Reduce(ir::Builder& b, ir::NodeId per_example, BatchReduction reduction) {
  if (reduction == BatchReduction::kMean) return b.mean_all(per_example);
  const Shape shape = b.shape_of(per_example);
  if (shape.size() == 1) return per_example;
  return b.scale(b.reduce_sum(per_example, 1), 1.0 / static_cast<double>(shape[1]));
}

}  // namespace

absl::StatusOr<ir::Type> label_type(const Loss& loss, const ir::Type& output) {
  if (output.shape.size() != 2) {
    std::string hint = output.shape.size() > 2 ? " (add a Flatten() layer first to flatten "
                                                 "each example)"
                                               : "";
    return absl::InvalidArgumentError(str_cat(
        loss.name(), " needs a model output of shape (None, classes), but the model outputs ",
        OutputShape(output.shape), hint));
  }
  if (IsSparse(loss)) return ir::Type{ir::DType::kI32, {output.shape[0]}};
  return ir::Type{ir::DType::kF32, output.shape};
}

ir::NodeId record_loss(ir::Builder& b, const Loss& loss, Recorded out, ir::NodeId labels,
                       BatchReduction reduction) {
  b.set_layer("loss");
  if (out.out < 0 || labels < 0) return -1;
  if (std::holds_alternative<losses::MeanSquaredError>(loss.value())) {
    ir::NodeId diff = b.sub(labels, out.out);
    return Reduce(b, b.mul(diff, diff), reduction);
  }
  int64_t classes = b.shape_of(out.out).back();
  ir::NodeId target = IsSparse(loss) ? b.one_hot(labels, classes) : labels;
  ir::NodeId logits = Logits(loss, out);
  ir::NodeId per_example = logits >= 0
                               ? b.softmax_cross_entropy(logits, target)
                               : CrossEntropyOfProbabilities(b, IsSparse(loss), out.out, target);
  return Reduce(b, per_example, reduction);
}

ir::NodeId record_accuracy(ir::Builder& b, const Loss& loss, Recorded out, ir::NodeId labels,
                           BatchReduction reduction) {
  b.set_layer("accuracy");
  if (out.out < 0 || labels < 0) return -1;
  const ir::NodeId scores = out.logits >= 0 ? out.logits : out.out;
  if (IsSparse(loss)) return Reduce(b, b.equal(b.argmax(scores, 1), labels), reduction);
  const Shape shape = b.shape_of(out.out);
  if (shape.back() == 1) {  // binary accuracy at threshold 0.5
    ir::NodeId half = b.constant(0.5, shape);
    return Reduce(b, b.equal(b.greater(out.out, half), b.greater(labels, half)), reduction);
  }
  return Reduce(b, b.equal(b.argmax(scores, 1), b.argmax(labels, 1)), reduction);
}

absl::StatusOr<Tensor> prepare_labels(const Loss& loss, const Tensor& y,
                                      const Shape& output_shape) {
  if (!IsSparse(loss)) {
    Shape want{y.rank() > 0 ? y.dim(0) : 0};
    want.insert(want.end(), output_shape.begin(), output_shape.end());
    if (y.shape() != want) {
      return absl::InvalidArgumentError(
          str_cat(loss.name(), ": labels have shape ", ir::shape_string(y.shape()),
                  " but the model outputs ", OutputShape(want), " per batch"));
    }
    return y.astype(DType::kF32);
  }
  if (y.rank() != 1) {
    return absl::InvalidArgumentError(
        str_cat(loss.name(), " takes one integer label per example, got labels of shape ",
                ir::shape_string(y.shape())));
  }
  int64_t classes = output_shape.empty() ? 1 : output_shape.back();
  Tensor labels = y.astype(DType::kI32);
  const int32_t* l = labels.data<int32_t>();
  for (int64_t i = 0; i < labels.size(); ++i) {
    if (y.as_float(i) != static_cast<float>(l[i]) || l[i] < 0 || l[i] >= classes) {
      return absl::OutOfRangeError(str_cat(
          loss.name(), ": label ", y.as_float(i), " at y[", i, "] is outside [0, ", classes,
          "): the model's last layer has ", classes, " units, so it can only predict classes 0..",
          classes - 1, "; give it one unit per class"));
    }
  }
  return labels;
}

}  // namespace detail
}  // namespace kiln
