#include "kiln/layers.h"

#include <map>
#include <mutex>

#include "frontend/access.h"
#include "frontend/layer_impl.h"
#include "frontend/sequential_impl.h"
#include "ir/strings.h"
#include "kiln/model.h"
#include "runtime/variables.h"
#include "support/json.h"
#include "support/status.h"

namespace kiln {
namespace detail {
namespace {

std::string SnakeCase(const std::string& type) {
  std::string out;
  for (size_t i = 0; i < type.size(); ++i) {
    char c = type[i];
    bool upper = c >= 'A' && c <= 'Z';
    bool prev_lower = i > 0 && !(type[i - 1] >= 'A' && type[i - 1] <= 'Z');
    if (upper && i > 0 && prev_lower) out += '_';
    out += upper ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

Shape WithBatch(int64_t batch, const Shape& shape) {
  Shape s{batch};
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}

}  // namespace

std::string unique_layer_name(const std::string& type) {
  static std::mutex mu;
  static std::map<std::string, int> counts;
  std::lock_guard<std::mutex> lock(mu);
  std::string base = SnakeCase(type);
  int n = counts[base]++;
  return n == 0 ? base : str_cat(base, "_", n);
}

Rng& global_rng() {
  static Rng rng(0);
  return rng;
}

LayerImpl::LayerImpl(std::string type_name)
    : type_(std::move(type_name)), name_(unique_layer_name(type_)) {}

std::vector<const Weight*> LayerImpl::weights() const {
  std::vector<const Weight*> out;
  for (const Weight& w : weights_) out.push_back(&w);
  return out;
}

std::vector<SummaryRow> LayerImpl::summary_rows() const {
  int64_t params = 0;
  for (const Weight* w : weights()) params += w->value ? w->value->size() : 0;
  return {{name_, type_, output_shape_, params}};
}

absl::Status LayerImpl::CheckRebuild(const Shape& input_shape) const {
  if (input_shape == input_shape_) return absl::OkStatus();
  return absl::InvalidArgumentError(str_cat("layer ", name_, " was built for inputs of shape ",
                                            ir::shape_string(input_shape_), " and cannot take ",
                                            ir::shape_string(input_shape)));
}

void LayerImpl::add_weight(const std::string& name, const std::string& init, Tensor value) {
  weights_.push_back({name, name_ + "/" + name, init, std::make_shared<Tensor>(std::move(value))});
}

ir::NodeId LayerImpl::record_weight(ir::Builder& b, const Weight& w) const {
  return b.variable(w.variable, w.value->shape(), true, w.init);
}

Recorded record_softmax(ir::Builder& b, ir::NodeId logits) {
  if (logits < 0) return {};
  return {b.softmax(logits), logits};
}

namespace {

class FlattenImpl : public LayerImpl {
 public:
  explicit FlattenImpl(Shape input_shape)
      : LayerImpl("Flatten"), declared_(std::move(input_shape)) {}
  Shape declared_input_shape() const override { return declared_; }
  absl::StatusOr<Shape> build(const Shape& input_shape, Rng&) override {
    if (built_) {
      if (auto s = CheckRebuild(input_shape); !s.ok()) return s;
      return output_shape_;
    }
    if (auto bytes = ir::checked_byte_size(ir::DType::kF32, input_shape); !bytes.ok()) {
      return absl::InvalidArgumentError(str_cat("layer ", name_, " (Flatten): inputs of shape ",
                                                ir::shape_string(input_shape), ": ",
                                                bytes.status().message()));
    }
    input_shape_ = input_shape;
    output_shape_ = {ir::num_elements(input_shape)};
    built_ = true;
    return output_shape_;
  }
  Recorded record(ir::Builder& b, Recorded x, bool) const override {
    if (x.out < 0) return {};
    return {b.reshape(x.out, WithBatch(b.shape_of(x.out)[0], output_shape_))};
  }
  Json config() const override { return {{"class_name", "Flatten"}, {"input_shape", declared_}}; }

 private:
  Shape declared_;
};

class DenseImpl : public LayerImpl {
 public:
  DenseImpl(int64_t units, std::string activation, bool use_bias)
      : LayerImpl("Dense"),
        units_(units),
        activation_(std::move(activation)),
        use_bias_(use_bias) {}

  absl::StatusOr<Shape> build(const Shape& input_shape, Rng& rng) override {
    if (built_) {
      if (auto s = CheckRebuild(input_shape); !s.ok()) return s;
      return output_shape_;
    }
    if (input_shape.empty()) {
      return absl::InvalidArgumentError(str_cat(
          "layer ", name_, " (Dense) needs inputs with at least one axis besides the batch"));
    }
    int64_t in = input_shape.back();
    if (auto bytes = ir::checked_byte_size(ir::DType::kF32, {in, units_}); !bytes.ok()) {
      return absl::InvalidArgumentError(str_cat("layer ", name_, " (Dense): kernel of shape ",
                                                ir::shape_string({in, units_}), ": ",
                                                bytes.status().message()));
    }
    auto kernel = make_initialized("glorot_uniform", DType::kF32, {in, units_}, rng);
    if (!kernel.ok()) return kernel.status();
    add_weight("kernel", "glorot_uniform", *std::move(kernel));
    if (use_bias_) add_weight("bias", "zeros", Tensor(DType::kF32, Shape{units_}));
    input_shape_ = input_shape;
    output_shape_ = input_shape;
    output_shape_.back() = units_;
    built_ = true;
    return output_shape_;
  }

  bool batch_polymorphic() const override { return input_shape_.size() <= 1; }

  Recorded record(ir::Builder& b, Recorded x, bool) const override {
    if (x.out < 0) return {};
    Shape shape = b.shape_of(x.out);
    // Like Keras, Dense acts on the last axis: fold the other axes into rows.
    int64_t rows = ir::num_elements(shape) / shape.back();
    ir::NodeId flat = shape.size() == 2 ? x.out : b.reshape(x.out, {rows, shape.back()});
    ir::NodeId y = b.matmul(flat, record_weight(b, weights_[0]));
    if (use_bias_) y = b.add(y, b.broadcast_to(record_weight(b, weights_[1]), {rows, units_}));
    if (shape.size() != 2) {
      shape.back() = units_;
      y = b.reshape(y, shape);
    }
    return record_activation(b, activation_, {y});
  }
  Json config() const override {
    return {{"class_name", "Dense"},
            {"units", units_},
            {"activation", activation_.empty() ? "linear" : activation_},
            {"use_bias", use_bias_}};
  }

 private:
  int64_t units_;
  std::string activation_;
  bool use_bias_;
};

// A parameter-free layer defined by how it records.
class StatelessImpl : public LayerImpl {
 public:
  using Fn = std::function<Recorded(const StatelessImpl&, ir::Builder&, Recorded, bool)>;
  StatelessImpl(std::string type, Fn fn, Json params = Json::object(), bool random = false)
      : LayerImpl(std::move(type)),
        fn_(std::move(fn)),
        params_(std::move(params)),
        random_(random) {
    params_["class_name"] = type_;
  }
  Json config() const override { return params_; }
  absl::StatusOr<Shape> build(const Shape& input_shape, Rng& rng) override {
    if (built_) return output_shape_;
    // Random layers take their seed from the seeded generator, in build order,
    // so set_random_seed() alone fixes them.
    if (random_) seed_ = static_cast<int64_t>(rng.next_u64() >> 1);
    input_shape_ = output_shape_ = input_shape;
    built_ = true;
    return output_shape_;
  }
  int64_t seed() const { return seed_; }
  Recorded record(ir::Builder& b, Recorded x, bool training) const override {
    if (x.out < 0) return {};
    return fn_(*this, b, x, training);
  }

 private:
  Fn fn_;
  Json params_;
  bool random_;
  int64_t seed_ = 0;
};

}  // namespace

SequentialImpl::SequentialImpl(std::vector<Layer> layers, std::string name)
    : LayerImpl("Sequential"), layers_(std::move(layers)) {
  if (!name.empty()) name_ = std::move(name);
}

void SequentialImpl::add(Layer layer) { layers_.push_back(std::move(layer)); }

Shape SequentialImpl::declared_input_shape() const {
  return layers_.empty() ? Shape{} : Access::impl(layers_.front())->declared_input_shape();
}

absl::StatusOr<Shape> SequentialImpl::build(const Shape& input_shape, Rng& rng) {
  if (built_) {
    if (auto s = CheckRebuild(input_shape); !s.ok()) return s;
    return output_shape_;
  }
  Shape shape = input_shape;
  for (const Layer& layer : layers_) {
    auto out = Access::impl(layer)->build(shape, rng);
    if (!out.ok()) return out.status();
    shape = *out;
  }
  input_shape_ = input_shape;
  output_shape_ = shape;
  built_ = true;
  return shape;
}

Recorded SequentialImpl::record(ir::Builder& b, Recorded x, bool training) const {
  for (const Layer& layer : layers_) {
    b.set_layer(layer.name());
    x = Access::impl(layer)->record(b, x, training);
  }
  return x;
}

std::vector<const Weight*> SequentialImpl::weights() const {
  std::vector<const Weight*> out;
  for (const Layer& layer : layers_) {
    for (const Weight* w : Access::impl(layer)->weights()) out.push_back(w);
  }
  return out;
}

bool SequentialImpl::batch_polymorphic() const {
  for (const Layer& layer : layers_) {
    if (!Access::impl(layer)->batch_polymorphic()) return false;
  }
  return true;
}

std::vector<SummaryRow> SequentialImpl::summary_rows() const {
  int64_t params = 0;
  for (const Weight* w : weights()) params += w->value->size();
  return {{name_, type_, output_shape_, params}};
}

Json SequentialImpl::config() const {
  Json layers = Json::array();
  for (const Layer& layer : layers_) layers.push_back(Access::impl(layer)->config());
  return {{"class_name", "Sequential"}, {"layers", std::move(layers)}};
}

std::vector<SummaryRow> SequentialImpl::layer_rows() const {
  std::vector<SummaryRow> rows;
  for (const Layer& layer : layers_) {
    for (SummaryRow& r : Access::impl(layer)->summary_rows()) rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace detail

Layer::Layer(const Sequential& model) : impl_(detail::Access::impl(model)) {}

const std::string& Layer::name() const { return impl_->name(); }

std::vector<std::pair<std::string, Tensor>> Layer::get_weights() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const detail::Weight* w : impl_->weights()) out.emplace_back(w->name, *w->value);
  return out;
}

namespace layers {

using detail::Recorded;
using detail::StatelessImpl;

Layer Flatten(Shape input_shape) {
  return detail::Access::layer(std::make_shared<detail::FlattenImpl>(std::move(input_shape)));
}

Layer Dense(int64_t units, const std::string& activation, bool use_bias) {
  if (units <= 0) {
    throw to_error(
        absl::InvalidArgumentError(str_cat("Dense: units must be positive, got ", units)));
  }
  if (auto s = detail::check_activation(activation); !s.ok()) {
    throw to_error(absl::InvalidArgumentError(str_cat("Dense: ", s.message())));
  }
  return detail::Access::layer(std::make_shared<detail::DenseImpl>(units, activation, use_bias));
}

Layer Softmax() {
  return detail::Access::layer(std::make_shared<StatelessImpl>(
      "Softmax", [](const StatelessImpl&, ir::Builder& b, Recorded x, bool) {
        return detail::record_softmax(b, x.out);
      }));
}

Layer ReLU() {
  return detail::Access::layer(std::make_shared<StatelessImpl>(
      "ReLU", [](const StatelessImpl&, ir::Builder& b, Recorded x, bool) {
        return detail::record_activation(b, "relu", x);
      }));
}

Layer Dropout(double rate) {
  if (!(rate >= 0.0 && rate < 1.0)) {
    throw to_error(
        absl::InvalidArgumentError(str_cat("Dropout: rate must be in [0, 1), got ", rate)));
  }
  return detail::Access::layer(std::make_shared<StatelessImpl>(
      "Dropout",
      [rate](const StatelessImpl& self, ir::Builder& b, Recorded x, bool training) {
        if (!training || rate == 0.0) return x;
        Shape shape = b.shape_of(x.out);
        ir::NodeId keep = b.greater(b.random_uniform(self.seed(), shape), b.constant(rate, shape));
        return Recorded{b.scale(b.mul(x.out, keep), 1.0 / (1.0 - rate))};
      },
      Json{{"rate", rate}}, /*random=*/true));
}

Layer Rescaling(double scale, double offset) {
  return detail::Access::layer(std::make_shared<StatelessImpl>(
      "Rescaling",
      [scale, offset](const StatelessImpl&, ir::Builder& b, Recorded x, bool) {
        ir::NodeId y = b.scale(x.out, scale);
        if (offset != 0.0) y = b.add(y, b.constant(offset, b.shape_of(y)));
        return Recorded{y};
      },
      Json{{"scale", scale}, {"offset", offset}}));
}

}  // namespace layers

namespace detail {
namespace {

using FromConfig = absl::StatusOr<Layer> (*)(const JsonFields& config, const std::string& where);

// Dimensions and unit counts a config may declare: positive, and small enough
// that no product of two of them overflows before the size checks.
constexpr int64_t kMaxDim = int64_t{1} << 31;

absl::StatusOr<Layer> SequentialFromConfig(const JsonFields& config, const std::string& where) {
  auto list = config.array("layers");
  if (!list.ok()) return list.status();
  std::vector<Layer> layers;
  for (size_t i = 0; i < (*list)->size(); ++i) {
    auto layer = layer_from_config((**list)[i], str_cat(where, ", layer ", i));
    if (!layer.ok()) return layer.status();
    layers.push_back(Access::layer(*std::move(layer)));
  }
  return Access::layer(std::make_shared<SequentialImpl>(std::move(layers), ""));
}

absl::StatusOr<Shape> ShapeField(const JsonFields& config, std::string_view key) {
  auto list = config.array(key);
  if (!list.ok()) return list.status();
  Shape shape;
  for (size_t i = 0; i < (*list)->size(); ++i) {
    auto d = config.integer_element(key, (**list)[i], i, 1, kMaxDim);
    if (!d.ok()) return d.status();
    shape.push_back(*d);
  }
  return shape;
}

absl::StatusOr<Layer> FlattenFromConfig(const JsonFields& config, const std::string&) {
  Shape shape;
  if (config.has("input_shape")) {
    auto s = ShapeField(config, "input_shape");
    if (!s.ok()) return s.status();
    shape = *std::move(s);
  }
  return layers::Flatten(shape);
}

absl::StatusOr<Layer> DenseFromConfig(const JsonFields& config, const std::string&) {
  auto units = config.integer("units", 1, kMaxDim);
  if (!units.ok()) return units.status();
  std::string activation = "linear";
  if (config.has("activation")) {
    auto a = config.string("activation");
    if (!a.ok()) return a.status();
    activation = *a;
  }
  bool use_bias = true;
  if (config.has("use_bias")) {
    auto b = config.boolean("use_bias");
    if (!b.ok()) return b.status();
    use_bias = *b;
  }
  return layers::Dense(*units, activation == "linear" ? "" : activation, use_bias);
}

absl::StatusOr<Layer> DropoutFromConfig(const JsonFields& config, const std::string&) {
  auto rate = config.number("rate");
  if (!rate.ok()) return rate.status();
  return layers::Dropout(*rate);
}

absl::StatusOr<Layer> RescalingFromConfig(const JsonFields& config, const std::string&) {
  auto scale = config.number("scale");
  if (!scale.ok()) return scale.status();
  double offset = 0.0;
  if (config.has("offset")) {
    auto o = config.number("offset");
    if (!o.ok()) return o.status();
    offset = *o;
  }
  return layers::Rescaling(*scale, offset);
}

// Every layer class a saved model may name: Keras's class_name -> how its
// config() is read back. A new layer adds its row here.
const std::map<std::string, FromConfig, std::less<>>& LayerClasses() {
  static const auto* classes = new std::map<std::string, FromConfig, std::less<>>{
      {"Sequential", SequentialFromConfig},
      {"Flatten", FlattenFromConfig},
      {"Dense", DenseFromConfig},
      {"Softmax",
       [](const JsonFields&, const std::string&) -> absl::StatusOr<Layer> {
         return layers::Softmax();
       }},
      {"ReLU",
       [](const JsonFields&, const std::string&) -> absl::StatusOr<Layer> {
         return layers::ReLU();
       }},
      {"Dropout", DropoutFromConfig},
      {"Rescaling", RescalingFromConfig},
  };
  return *classes;
}

}  // namespace

std::string layer_class_names() {
  std::string out;
  for (const auto& [name, from_config] : LayerClasses()) {
    str_append(&out, out.empty() ? "" : ", ", name);
  }
  return out;
}

absl::StatusOr<std::shared_ptr<LayerImpl>> layer_from_config(const Json& config,
                                                             const std::string& where) {
  JsonFields fields(config, where);
  auto name = fields.string("class_name");
  if (!name.ok()) return name.status();
  auto it = LayerClasses().find(*name);
  if (it == LayerClasses().end()) {
    return absl::InvalidArgumentError(
        str_cat(where, ": unknown layer class \"", *name, "\" (known: ", layer_class_names(), ")"));
  }
  std::string layer_where = str_cat(where, " (", *name, ")");
  try {
    auto layer = it->second(JsonFields(config, layer_where), layer_where);
    if (!layer.ok()) return layer.status();
    return Access::impl(*layer);
  } catch (const Error& e) {
    return absl::InvalidArgumentError(str_cat(layer_where, ": ", e.what()));
  }
}

}  // namespace detail
}  // namespace kiln
