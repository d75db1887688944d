#include "runtime/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir/strings.h"
#include "support/files.h"
#include "support/json.h"

namespace kiln {
namespace {

const char* DtypeCode(DType d) {
  switch (d) {
    case DType::kF32:
      return "F32";
    case DType::kI32:
      return "I32";
    case DType::kU8:
      return "U8";
  }
  return "?";
}

bool DtypeFromCode(const std::string& code, DType* d) {
  for (DType c : {DType::kF32, DType::kI32, DType::kU8}) {
    if (code == DtypeCode(c)) {
      *d = c;
      return true;
    }
  }
  return false;
}

absl::Status Corrupt(const std::string& path, const std::string& problem) {
  return absl::DataLossError(str_cat("invalid safetensors file ", path, ": ", problem));
}

}  // namespace

absl::Status write_safetensors(const std::string& path,
                               const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name)) {
      return absl::InvalidArgumentError(
          str_cat("duplicate or reserved tensor name \"", name, "\""));
    }
    int64_t end = offset + static_cast<int64_t>(t->nbytes());
    header[name] = {
        {"dtype", DtypeCode(t->dtype())}, {"shape", t->shape()}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string json = dump_json(header);
  json.append((8 - json.size() % 8) % 8, ' ');  // align the data to 8 bytes
  std::string bytes(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  bytes += json;
  for (const auto& [name, t] : tensors) {
    bytes.append(reinterpret_cast<const char*>(t->raw()), t->nbytes());
  }
  return write_file_atomically(path, bytes);
}

namespace {

// A tensor's header entry, checked against the data section.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  int64_t begin, end;
};

// Nothing is allocated until every entry is checked: a header may declare any
// shape, and overlapping entries could otherwise each claim the whole file.
absl::StatusOr<Entry> ReadEntry(const std::string& path, const std::string& name, const Json& entry,
                                std::string_view data) {
  JsonFields fields(entry, str_cat("invalid safetensors file ", path, ": tensor \"", name, "\""));
  auto code = fields.string("dtype");
  if (!code.ok()) return code.status();
  DType dtype;
  if (!DtypeFromCode(*code, &dtype)) {
    return Corrupt(path, str_cat("tensor \"", name, "\" has the unsupported dtype \"", *code,
                                 "\" (expected F32, I32 or U8)"));
  }
  auto shape_json = fields.array("shape");
  if (!shape_json.ok()) return shape_json.status();
  Shape shape;
  for (size_t i = 0; i < (*shape_json)->size(); ++i) {
    auto d = fields.integer_element("shape", (**shape_json)[i], i, 0, ir::kMaxTensorBytes);
    if (!d.ok()) return d.status();
    shape.push_back(*d);
  }
  auto offsets = fields.array("data_offsets");
  if (!offsets.ok()) return offsets.status();
  if ((*offsets)->size() != 2)
    return Corrupt(path, str_cat("tensor \"", name, "\": data_offsets must have two elements"));
  const int64_t size = static_cast<int64_t>(data.size());
  auto begin = fields.integer_element("data_offsets", (**offsets)[0], 0, 0, size);
  if (!begin.ok()) return begin.status();
  auto end = fields.integer_element("data_offsets", (**offsets)[1], 1, *begin, size);
  if (!end.ok()) return end.status();
  auto bytes = ir::checked_byte_size(to_ir(dtype), shape);
  if (!bytes.ok() || *bytes != *end - *begin) {
    return Corrupt(path, str_cat("tensor \"", name, "\" data_offsets [", *begin, ", ", *end,
                                 ") do not fit its shape ", dtype_name(dtype),
                                 ir::shape_string(shape), " and the ", size, " data bytes"));
  }
  return Entry{name, dtype, std::move(shape), *begin, *end};
}

}  // namespace

absl::StatusOr<SafetensorsFile> read_safetensors(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(str_cat(path, " is a directory, not a safetensors file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(str_cat("cannot open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.size() < 8) return Corrupt(path, "shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  if (n > bytes.size() - 8) {
    return Corrupt(path, str_cat("header length ", n, " exceeds the file size ", bytes.size()));
  }
  auto json = parse_json(std::string_view(bytes).substr(8, n),
                         str_cat("invalid safetensors file ", path, ": header"));
  if (!json.ok()) return json.status();
  if (!json->is_object()) return Corrupt(path, "header is not a JSON object");
  std::string_view data = std::string_view(bytes).substr(8 + n);

  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [name, entry] : json->items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return Corrupt(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) return Corrupt(path, str_cat("metadata \"", k, "\" is not a string"));
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    auto e = ReadEntry(path, name, entry, data);
    if (!e.ok()) return e.status();
    entries.push_back(*std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  int64_t expected = 0;
  for (const Entry& e : entries) {
    if (e.begin != expected) {
      return Corrupt(path, str_cat("the data of tensor \"", e.name, "\" starts at byte ", e.begin,
                                   ", not at ", expected, " (overlap or gap)"));
    }
    expected = e.end;
  }
  if (static_cast<size_t>(expected) != data.size()) {
    return Corrupt(path, str_cat(data.size() - expected, " unindexed bytes after the tensors"));
  }
  for (Entry& e : entries) {
    Tensor t(e.dtype, std::move(e.shape));
    std::memcpy(t.raw(), data.data() + e.begin, t.nbytes());
    file.tensors.push_back({std::move(e.name), std::move(t)});
  }
  return file;
}

}  // namespace kiln
