#include "tools/models.h"

#include <functional>
#include <sstream>

#include "absl/strings/str_join.h"
#include "kiln/advanced.h"

namespace kiln::tools {
namespace {

using namespace kiln::layers;

// How each example builds and compiles its model. Layers are made only for the
// model asked for: layer names come from a process-wide counter ("dense_1"),
// so recording one model per process keeps names equal to the example's.
struct ModelRecipe {
  BuiltinModel model;
  Optimizer optimizer;
  std::function<Sequential(const Optimizer&, const CompileOptions&)> make;
};

const std::vector<ModelRecipe>& Recipes() {
  static const auto* recipes = new std::vector<ModelRecipe>{
      {{"seed000",
        "Flatten(28x28) -> Dense(128, relu) -> Dense(128, relu) -> Dense(10); SGD; "
        "sparse categorical crossentropy from logits",
        32},
       Optimizer("sgd"),
       [](const Optimizer& optimizer, const CompileOptions& options) {
         Sequential model({Flatten({28, 28}), Dense(128, "relu"), Dense(128, "relu"), Dense(10)});
         model.compile(optimizer, losses::SparseCategoricalCrossentropy{.from_logits = true},
                       {"accuracy"}, options);
         return model;
       }},
      {{"seed001",
        "Flatten(28x28) -> Dense(128, relu) -> Dense(10, softmax); Adam; "
        "sparse categorical crossentropy",
        32},
       Optimizer("adam"),
       [](const Optimizer& optimizer, const CompileOptions& options) {
         Sequential model({Flatten({28, 28}), Dense(128, "relu"), Dense(10, "softmax")});
         model.compile(optimizer, "sparse_categorical_crossentropy", {"accuracy"}, options);
         return model;
       }},
      {{"seed002",
        "Flatten -> Dense(128, relu) -> Dense(10, softmax) on 28x28 Fashion-MNIST; "
        "Adam; sparse categorical crossentropy",
        32},
       Optimizer(optimizers::Adam{}),
       [](const Optimizer& optimizer, const CompileOptions& options) {
         Sequential model({Flatten(), Dense(128, "relu"), Dense(10, "softmax")});
         model.build({28, 28});
         model.compile(optimizer, "sparse_categorical_crossentropy", {"accuracy"}, options);
         return model;
       }},
      {{"seed003",
        "(784) -> Dense(512, relu) -> Dense(10, softmax); RMSprop; "
        "sparse categorical crossentropy; batch 128",
        128},
       Optimizer("rmsprop"),
       [](const Optimizer& optimizer, const CompileOptions& options) {
         Sequential model({Dense(512, "relu"), Dense(10, "softmax")});
         model.build({28 * 28});
         model.compile(optimizer, "sparse_categorical_crossentropy", {"accuracy"}, options);
         return model;
       }},
      {{"seed004",
        "Flatten -> Dense(128, relu) -> Dense(10, softmax) on 28x28 Fashion-MNIST; "
        "Adam; sparse categorical crossentropy",
        32},
       Optimizer("adam"),
       [](const Optimizer& optimizer, const CompileOptions& options) {
         Sequential model({Flatten(), Dense(128, "relu"), Dense(10, "softmax")});
         model.build({28, 28});
         model.compile(optimizer, "sparse_categorical_crossentropy", {"accuracy"}, options);
         return model;
       }},
  };
  return *recipes;
}

const ModelRecipe* FindRecipe(const BuiltinModel& model) {
  for (const ModelRecipe& r : Recipes()) {
    if (r.model.name == model.name) return &r;
  }
  return nullptr;
}

}  // namespace

const std::vector<BuiltinModel>& builtin_models() {
  static const auto* models = [] {
    auto* v = new std::vector<BuiltinModel>;
    for (const ModelRecipe& r : Recipes()) v->push_back(r.model);
    return v;
  }();
  return *models;
}

const BuiltinModel* find_builtin_model(std::string_view name) {
  for (const BuiltinModel& m : builtin_models()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string builtin_model_names() {
  std::vector<std::string> names;
  for (const BuiltinModel& m : builtin_models()) names.emplace_back(m.name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<Sequential> make_builtin_model(const BuiltinModel& model,
                                              const CompileOptions& options) {
  const ModelRecipe* recipe = FindRecipe(model);
  if (!recipe) return absl::NotFoundError(str_cat("no built-in model ", model.name));
  try {
    return recipe->make(recipe->optimizer, options);
  } catch (const Error& e) {
    return absl::Status(to_status(e).code(), str_cat(model.name, ": ", e.what()));
  }
}

absl::StatusOr<RecordedModel> record_builtin_model(const BuiltinModel& model, int batch_size) {
  const ModelRecipe* recipe = FindRecipe(model);
  if (!recipe) return absl::NotFoundError(str_cat("no built-in model ", model.name));
  // The frontend records the training graph and hands it to the training
  // pipeline; printing it before the first pass and stopping there captures
  // the graph exactly as recorded.
  const std::string first_pass = passes::training_pipeline().front();
  std::ostringstream recorded;
  CompileOptions options;
  options.pipeline.print_ir_before = {first_pass};
  options.pipeline.stop_after = first_pass;
  options.pipeline.stream = &recorded;
  try {
    Sequential sequential = recipe->make(recipe->optimizer, options);
    sequential.ir(batch_size, /*training_step=*/true);
  } catch (const Error& e) {
    return absl::Status(to_status(e).code(), str_cat(model.name, ": ", e.what()));
  }
  absl::StatusOr<ir::Graph> graph = ir::parse(recorded.str());
  if (!graph.ok()) {
    return absl::InternalError(
        str_cat(model.name, ": the recorded graph does not parse: ", graph.status().message()));
  }
  return RecordedModel{*std::move(graph), recipe->optimizer.name(),
                       optimizer_config(recipe->optimizer)};
}

}  // namespace kiln::tools
