// Saved models and weight files (safetensors with a JSON config) that lie.
#include <cstring>

#include "kiln/advanced.h"
#include "tests/bad_input/catalogue.h"

namespace kiln::bad_input {
namespace {

// A safetensors file from its JSON header and data bytes.
std::string Safetensors(const std::string& header, const std::string& data = "") {
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return bytes + header + data;
}

// A model file: Flatten + Dense(units) with the given config JSON text for the model.
std::string ModelFile(const std::string& config_json, const std::string& tensors = "{}",
                      const std::string& data = "") {
  std::string escaped;
  for (char c : config_json) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  std::string header = tensors.substr(0, tensors.size() - 1);
  if (header.size() > 1) header += ",";
  header += "\"__metadata__\":{\"format\":\"kiln-model\",\"kiln_config\":\"" + escaped + "\"}}";
  return Safetensors(header, data);
}

absl::Status LoadModel(const std::string& path) {
  return status_of([&] { load_model(path); });
}

const std::string kDense =
    R"({"class_name":"Sequential","input_shape":[4],"layers":[{"class_name":"Dense","units":3}]})";

// A case that loads a model file made of these bytes.
Case LoadCase(std::string name, std::string bytes, std::vector<std::string> message_has) {
  return {std::move(name),
          [bytes](const std::string& dir) {
            write_file(dir + "/m.kiln", bytes);
            return LoadModel(dir + "/m.kiln");
          },
          std::move(message_has)};
}

// A config with one layer of this JSON.
std::string OneLayer(const std::string& layer) {
  return R"({"class_name":"Sequential","input_shape":[4],"layers":[)" + layer + "]}";
}

const std::string kConfig = "model config of {dir}/m.kiln";
const std::string kInvalid = "invalid safetensors file {dir}/m.kiln: ";

const int kRegistered = add({
    {"model/huge-kernel-shape",
     [](const std::string& dir) {
       // The kernel declares [784, 2^60] with no data: it must never be allocated.
       std::string path = dir + "/huge.kiln";
       write_file(
           path,
           ModelFile(
               kDense,
               R"({"dense/kernel":{"dtype":"F32","shape":[784,1152921504606846976],"data_offsets":[0,0]}})"));
       return LoadModel(path);
     },
     {"{dir}/huge.kiln", "\"dense/kernel\"", "shape[1]", "1152921504606846976"}},
    {"model/units-not-an-integer",
     [](const std::string& dir) {
       std::string path = dir + "/units.kiln";
       write_file(
           path,
           ModelFile(
               R"({"class_name":"Sequential","input_shape":[4],"layers":[{"class_name":"Dense","units":1e30}]})"));
       return LoadModel(path);
     },
     {"model config of {dir}/units.kiln", "layer 0 (Dense)", "\"units\"", "1e+30"}},
    {"model/input-shape-string",
     [](const std::string& dir) {
       std::string path = dir + "/shape.kiln";
       write_file(path,
                  ModelFile(R"({"class_name":"Sequential","input_shape":["a"],"layers":[]})"));
       return LoadModel(path);
     },
     {"model config of {dir}/shape.kiln", "input_shape[0]", "got a string"}},
    LoadCase("model/empty-file", "", {kInvalid, "shorter than the 8-byte header length"}),
    LoadCase("model/header-longer-than-file", std::string("\xff\xff\xff\xff\0\0\0\0{}", 10),
             {kInvalid, "header length 4294967295 exceeds the file size 10"}),
    LoadCase("model/header-not-json", Safetensors("{\"a\": [1, 2"),
             {kInvalid, "header: invalid JSON", "parse error"}),
    LoadCase("model/header-nested-too-deep",
             Safetensors(std::string(200, '[') + std::string(200, ']')),
             {kInvalid, "nested deeper than 64 levels"}),
    LoadCase("model/header-not-an-object", Safetensors("[1, 2]"), {kInvalid, "not a JSON object"}),
    LoadCase("model/unsupported-dtype",
             Safetensors(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
                         std::string(8, '\0')),
             {kInvalid, "tensor \"w\"", "unsupported dtype \"F64\""}),
    LoadCase("model/negative-dimension",
             Safetensors(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
                         std::string(4, '\0')),
             {kInvalid, "tensor \"w\"", "shape[0]", "got a number -1"}),
    LoadCase("model/offsets-beyond-data",
             Safetensors(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                         std::string(4, '\0')),
             {kInvalid, "tensor \"w\"", "data_offsets[1]", "[0, 4]"}),
    LoadCase(
        "model/overlapping-tensors",
        Safetensors(
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            std::string(4, '\0')),
        {kInvalid, "starts at byte 0, not at 4"}),
    LoadCase("model/shape-does-not-match-offsets",
             Safetensors(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                         std::string(8, '\0')),
             {kInvalid, "tensor \"w\" data_offsets [0, 8) do not fit its shape f32[3]"}),
    LoadCase("model/weights-only", Safetensors("{}"),
             {"{dir}/m.kiln holds weights only (no model config)", "load_weights()"}),
    LoadCase("model/config-not-json", ModelFile("{not json"), {kConfig, "invalid JSON"}),
    LoadCase(
        "model/unknown-layer", ModelFile(OneLayer(R"({"class_name":"Conv2D"})")),
        {kConfig, "layer 0: unknown layer class \"Conv2D\"", "known: Dense, Dropout, Flatten"}),
    LoadCase("model/unknown-activation",
             ModelFile(OneLayer(R"({"class_name":"Dense","units":3,"activation":"swish"})")),
             {kConfig, "layer 0 (Dense)", "swish"}),
    LoadCase("model/dropout-rate-out-of-range",
             ModelFile(OneLayer(R"({"class_name":"Dropout","rate":1.5})")),
             {kConfig, "layer 0 (Dropout)", "rate must be in [0, 1), got 1.5"}),
    LoadCase("model/use-bias-not-boolean",
             ModelFile(OneLayer(R"({"class_name":"Dense","units":3,"use_bias":"yes"})")),
             {kConfig, "layer 0 (Dense)", "\"use_bias\" must be a boolean"}),
    LoadCase("model/layers-not-an-array",
             ModelFile(R"({"class_name":"Sequential","input_shape":[4],"layers":7})"),
             {kConfig, "\"layers\" must be an array"}),
    LoadCase("model/not-a-sequential", ModelFile(R"({"class_name":"Dense","units":3})"),
             {kConfig, "not a Sequential model"}),
    LoadCase(
        "model/huge-flatten",
        ModelFile(
            R"({"class_name":"Sequential","input_shape":[1048576,1048576],"layers":[{"class_name":"Flatten"},{"class_name":"Dense","units":1048576}]})"),
        {"exceeds the limit", "GiB per tensor"}),
    LoadCase(
        "model/weights-do-not-match",
        ModelFile(kDense, R"({"dense/kernel":{"dtype":"F32","shape":[4,2],"data_offsets":[0,32]}})",
                  std::string(32, '\0')),
        {"model file {dir}/m.kiln"}),
    {"model/directory",
     [](const std::string& dir) { return LoadModel(dir); },
     {"{dir} is a directory, not a safetensors file"}},
    {"model/missing",
     [](const std::string& dir) { return LoadModel(dir + "/nope.kiln"); },
     {"cannot open {dir}/nope.kiln"}},
});

}  // namespace
}  // namespace kiln::bad_input
