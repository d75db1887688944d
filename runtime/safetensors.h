// The safetensors file format: an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the
// raw little-endian tensor bytes. Python's safetensors and numpy read it.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tensor.h"

namespace kiln {

/// A tensor with its name, as stored in a file.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

/// The content of a safetensors file; tensors in the order of their data.
struct SafetensorsFile {
  std::vector<NamedTensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Writes `tensors` (data in the given order) and string `metadata` to `path`
/// atomically: a crash never leaves a partial file at `path`.
absl::Status write_safetensors(const std::string& path,
                               const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

/// Reads and validates a safetensors file; errors name the file and the problem.
absl::StatusOr<SafetensorsFile> read_safetensors(const std::string& path);

}  // namespace kiln
