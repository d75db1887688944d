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
});

}  // namespace
}  // namespace kiln::bad_input
