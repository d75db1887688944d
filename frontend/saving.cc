// Weights and whole-model saving in the safetensors format, ahead-of-time
// export of the prediction graph, and learning rate access.
#include <cstring>

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
  throw_if_error(write_safetensors(path, NamedWeights(*impl_),
                                   {{"format", "kiln-model"}, {kConfigKey, dump_json(config)}}));
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
  CheckCompatible(*detail::Access::impl(model), file.tensors, str_cat("model file ", path));
  Assign(*detail::Access::impl(model), file.tensors);
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
