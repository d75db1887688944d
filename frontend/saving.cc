// Weights and whole-model saving in the safetensors format, ahead-of-time
// export of the prediction graph, and learning rate access.
#include <algorithm>
#include <cstring>
#include <map>
#include <variant>

#include "codegen/aot.h"
#include "frontend/access.h"
#include "frontend/model_impl.h"
#include "ir/strings.h"
#include "runtime/safetensors.h"
#include "support/files.h"
#include "support/json.h"
#include "support/status.h"

namespace kiln {
namespace {

constexpr char kConfigKey[] = "kiln_config";
constexpr char kLearningRate[] = "optimizer/learning_rate";
// A compiled model's file also holds its compile settings and, after the
// weights, the optimizer's variables (slots, iterations), as Keras 3's
// model.save does, so training resumes where it stopped.
constexpr char kCompileKey[] = "kiln_compile";
constexpr char kOptimizerVariablesKey[] = "kiln_optimizer_variables";

// The settings of each optimizer and loss by their Keras names, for writing
// and for reading back.
template <typename F>
void Fields(optimizers::SGD& o, F f) {
  f("learning_rate", o.learning_rate);
  f("momentum", o.momentum);
  f("nesterov", o.nesterov);
}
template <typename F>
void Fields(optimizers::Adam& o, F f) {
  f("learning_rate", o.learning_rate);
  f("beta_1", o.beta_1);
  f("beta_2", o.beta_2);
  f("epsilon", o.epsilon);
}
template <typename F>
void Fields(optimizers::RMSprop& o, F f) {
  f("learning_rate", o.learning_rate);
  f("rho", o.rho);
  f("momentum", o.momentum);
  f("epsilon", o.epsilon);
  f("centered", o.centered);
}
template <typename F>
void Fields(losses::SparseCategoricalCrossentropy& l, F f) {
  f("from_logits", l.from_logits);
}
template <typename F>
void Fields(losses::CategoricalCrossentropy& l, F f) {
  f("from_logits", l.from_logits);
}
template <typename F>
void Fields(losses::MeanSquaredError&, F) {}

template <typename Settings>
Json SettingsJson(const std::string& name, Settings settings) {
  Json j = {{"name", name}};
  std::visit([&](auto& s) { Fields(s, [&](const char* key, auto& v) { j[key] = v; }); }, settings);
  return j;
}

// `settings` (defaults of the named class) updated from the fields of `j`.
template <typename Settings>
Settings ReadSettings(Settings settings, const Json& j, const std::string& where) {
  JsonFields fields(j, where);
  std::visit(
      [&](auto& s) {
        Fields(s, [&](const char* key, auto& v) {
          if (!fields.has(key)) return;
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, bool>) {
            v = value_or_throw(fields.boolean(key));
          } else {
            v = value_or_throw(fields.number(key));
          }
        });
      },
      settings);
  return settings;
}

Json CompileJson(const detail::TrainingState& state) {
  Json j;
  j["optimizer"] = SettingsJson(state.optimizer->name(), state.optimizer->settings());
  j["loss"] = SettingsJson(state.loss->name(), state.loss->value());
  j["metrics"] = state.accuracy ? Json::array({"accuracy"}) : Json::array();
  return j;
}

// Compiles `model` as `j` (written by CompileJson) says.
void Recompile(Sequential& model, const Json& j, const std::string& where) {
  auto object = [&](const char* key) -> const Json& {
    if (!j.is_object() || !j.contains(key) || !j[key].is_object()) {
      throw to_error(
          absl::InvalidArgumentError(str_cat(where, ": \"", key, "\" must be an object")));
    }
    return j[key];
  };
  const std::string opt_where = str_cat(where, ", optimizer");
  const Json& opt = object("optimizer");
  Optimizer defaults(value_or_throw(JsonFields(opt, opt_where).string("name")));
  Optimizer optimizer = std::visit([](const auto& s) { return Optimizer(s); },
                                   ReadSettings(defaults.settings(), opt, opt_where));
  const std::string loss_where = str_cat(where, ", loss");
  const Json& loss = object("loss");
  Loss loss_defaults(value_or_throw(JsonFields(loss, loss_where).string("name")));
  Loss chosen = std::visit([](const auto& s) { return Loss(s); },
                           ReadSettings(loss_defaults.value(), loss, loss_where));
  std::vector<std::string> metrics;
  for (const Json& m : *value_or_throw(JsonFields(j, where).array("metrics"))) {
    if (!m.is_string()) {
      throw to_error(absl::InvalidArgumentError(str_cat(where, ": metrics must be names")));
    }
    metrics.push_back(m.get<std::string>());
  }
  model.compile(optimizer, chosen, metrics);
}

void RequireBuilt(const detail::SequentialImpl& impl, const char* what) {
  if (!impl.built()) {
    throw to_error(absl::FailedPreconditionError(
        str_cat(what, ": model ", impl.name(),
                " is not built yet (give Flatten an input_shape, call build(), or fit first)")));
  }
}

std::string Describe(const std::string& name, const Tensor& t) {
  return str_cat("\"", name, "\" ", t.type_string());
}

// Checks `tensors` fit the model's weights one by one, in order.
void CheckCompatible(const detail::SequentialImpl& impl, const std::vector<NamedTensor>& tensors,
                     const std::string& source) {
  auto weights = impl.weights();
  if (tensors.size() != weights.size()) {
    throw to_error(
        absl::InvalidArgumentError(str_cat(source, " holds ", tensors.size(), " tensors but model ",
                                           impl.name(), " has ", weights.size(), " weights")));
  }
  for (size_t i = 0; i < weights.size(); ++i) {
    const Tensor& have = tensors[i].tensor;
    const Tensor& want = *weights[i]->value;
    if (have.dtype() != want.dtype() || have.shape() != want.shape()) {
      throw to_error(absl::InvalidArgumentError(
          str_cat(source, " does not fit model ", impl.name(), ": tensor ", i, " is ",
                  Describe(tensors[i].name, have), " but the model's weight ", i, " is ",
                  Describe(weights[i]->variable, want))));
    }
  }
}

void Assign(const detail::SequentialImpl& impl, const std::vector<NamedTensor>& tensors) {
  auto weights = impl.weights();
  for (size_t i = 0; i < weights.size(); ++i) {
    // Copy in place: executors hold on to the weights' storage.
    std::memcpy(weights[i]->value->raw(), tensors[i].tensor.raw(), weights[i]->value->nbytes());
  }
}

std::vector<std::pair<std::string, const Tensor*>> NamedWeights(
    const detail::SequentialImpl& impl) {
  std::vector<std::pair<std::string, const Tensor*>> out;
  for (const detail::Weight* w : impl.weights()) out.emplace_back(w->variable, w->value.get());
  return out;
}

}  // namespace

std::vector<Tensor> Sequential::get_weights() const {
  std::vector<Tensor> out;
  for (const detail::Weight* w : impl_->weights()) out.push_back(*w->value);
  return out;
}

void Sequential::set_weights(const std::vector<Tensor>& weights) {
  RequireBuilt(*impl_, "set_weights");
  std::vector<NamedTensor> named;
  for (size_t i = 0; i < weights.size(); ++i)
    named.push_back({str_cat("weights[", i, "]"), weights[i]});
  CheckCompatible(*impl_, named, "set_weights: the list");
  Assign(*impl_, named);
}

void Sequential::save_weights(const std::string& path) const {
  RequireBuilt(*impl_, "save_weights");
  throw_if_error(write_safetensors(path, NamedWeights(*impl_), {{"format", "kiln-weights"}}));
}

void Sequential::load_weights(const std::string& path) {
  RequireBuilt(*impl_, "load_weights");
  SafetensorsFile file = value_or_throw(read_safetensors(path));
  CheckCompatible(*impl_, file.tensors, str_cat("weights file ", path));
  Assign(*impl_, file.tensors);
}

void Sequential::save(const std::string& path) const {
  RequireBuilt(*impl_, "save");
  Json config = impl_->config();
  config["input_shape"] = impl_->input_shape();
  std::map<std::string, std::string> metadata = {{"format", "kiln-model"},
                                                 {kConfigKey, dump_json(config)}};
  auto tensors = NamedWeights(*impl_);
  if (state_->optimizer && state_->loss) {
    metadata[kCompileKey] = dump_json(CompileJson(*state_));
    size_t weights = tensors.size();
    for (const auto& [name, tensor] : state_->store.all()) {
      bool is_weight = std::any_of(tensors.begin(), tensors.begin() + weights,
                                   [&](const auto& w) { return w.first == name; });
      if (!is_weight) tensors.emplace_back(name, tensor.get());
    }
    metadata[kOptimizerVariablesKey] = std::to_string(tensors.size() - weights);
  }
  throw_if_error(write_safetensors(path, tensors, metadata));
}

Sequential load_model(const std::string& path) {
  SafetensorsFile file = value_or_throw(read_safetensors(path));
  auto it = file.metadata.find(kConfigKey);
  if (it == file.metadata.end()) {
    throw to_error(absl::InvalidArgumentError(
        str_cat(path,
                " holds weights only (no model config): build the model in code and use "
                "load_weights()")));
  }
  const std::string where = str_cat("model config of ", path);
  Json config = value_or_throw(parse_json(it->second, where));
  auto impl = value_or_throw(detail::layer_from_config(config, where));
  auto* seq = dynamic_cast<detail::SequentialImpl*>(impl.get());
  if (!seq) {
    throw to_error(absl::InvalidArgumentError(str_cat(where, ": not a Sequential model")));
  }
  JsonFields fields(config, where);
  Shape input_shape;
  auto dims = value_or_throw(fields.array("input_shape"));
  for (size_t i = 0; i < dims->size(); ++i) {
    input_shape.push_back(
        value_or_throw(fields.integer_element("input_shape", (*dims)[i], i, 1, int64_t{1} << 31)));
  }
  Sequential model(seq->layers());
  try {
    if (!model.built()) model.build(input_shape);
  } catch (const Error& e) {
    throw Error(e.code(), str_cat(where, ": ", e.what()));
  }
  // The optimizer's variables follow the weights.
  size_t optimizer_variables = 0;
  if (auto n = file.metadata.find(kOptimizerVariablesKey); n != file.metadata.end()) {
    Json count = value_or_throw(parse_json(n->second, where));
    if (!count.is_number_unsigned() || count.get<uint64_t>() > file.tensors.size()) {
      throw to_error(absl::InvalidArgumentError(
          str_cat(path, ": ", kOptimizerVariablesKey, " is not a count of its tensors")));
    }
    optimizer_variables = count.get<size_t>();
  }
  std::vector<NamedTensor> optimizer(file.tensors.end() - optimizer_variables, file.tensors.end());
  file.tensors.resize(file.tensors.size() - optimizer_variables);
  CheckCompatible(*detail::Access::impl(model), file.tensors, str_cat("model file ", path));
  Assign(*detail::Access::impl(model), file.tensors);
  if (auto c = file.metadata.find(kCompileKey); c != file.metadata.end()) {
    const std::string compile_where = str_cat("compile settings of ", path);
    Recompile(model, value_or_throw(parse_json(c->second, compile_where)), compile_where);
    // The compiled step finds these in the store and starts from them (one of
    // another shape is an error there). Slots are named after their weight,
    // "<weight>/<slot>", and the loaded layers may have other names than the
    // saved ones: weights match by order.
    std::map<std::string, std::string> renamed;
    auto weights = detail::Access::impl(model)->weights();
    for (size_t i = 0; i < weights.size(); ++i)
      renamed[file.tensors[i].name] = weights[i]->variable;
    for (NamedTensor& v : optimizer) {
      std::string name = v.name;
      const size_t cut = name.rfind('/');
      if (auto weight = renamed.find(name.substr(0, cut));
          cut != std::string::npos && weight != renamed.end()) {
        name = weight->second + name.substr(cut);
      }
      detail::Access::state(model).store.set(name, std::make_shared<Tensor>(std::move(v.tensor)));
    }
  }
  return model;
}

void Sequential::export_model(const std::string& name, const std::string& dir,
                              const ExportOptions& options) {
  RequireBuilt(*impl_, "export_model");
  detail::check_batch_size("export_model", options.batch_size);
  ir::Graph graph = detail::planned_graph(*impl_, *state_, detail::GraphKind::kPredict,
                                          options.batch_size, DType::kF32);
  std::map<std::string, const Tensor*> weights;
  for (const detail::Weight* w : impl_->weights()) weights[w->variable] = w->value.get();
  std::string description = str_cat("model \"", impl_->name(), "\", ", count_params(),
                                    " weights, input ", detail::NoneShape(impl_->input_shape()),
                                    ", output ", detail::NoneShape(impl_->output_shape()));
  AotFiles files = value_or_throw(compile_aot(
      graph, weights, {.name = name, .target = options.target, .description = description}));
  // Object first: a header without its object cannot link, so a crash
  // between the two writes leaves nothing that runs with the wrong weights.
  throw_if_error(write_file_atomically(str_cat(dir, "/", name, ".o"), files.object));
  throw_if_error(write_file_atomically(str_cat(dir, "/", name, ".h"), files.header));
}

double Sequential::learning_rate() const {
  if (const Tensor* lr = state_->store.find(kLearningRate)) return lr->data<float>()[0];
  if (!state_->optimizer) {
    throw to_error(absl::FailedPreconditionError("learning_rate: the model is not compiled"));
  }
  return optimizer_config(*state_->optimizer).learning_rate;
}

void Sequential::set_learning_rate(double learning_rate) {
  if (!state_->optimizer) {
    throw to_error(absl::FailedPreconditionError("set_learning_rate: the model is not compiled"));
  }
  state_->optimizer->set_learning_rate(learning_rate);
  // The rate is a variable of the compiled step, so changing it needs no recompile.
  if (Tensor* lr = state_->store.find(kLearningRate)) {
    lr->data<float>()[0] = static_cast<float>(learning_rate);
  }
}

}  // namespace kiln
