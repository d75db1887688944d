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
#include "runtime/json.h"

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

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::UnavailableError(str_cat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status Corrupt(const std::string& path, const std::string& problem) {
  return absl::DataLossError(str_cat("invalid safetensors file ", path, ": ", problem));
}

}  // namespace

absl::Status write_file_atomically(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = str_cat(path, ".tmp.", static_cast<int64_t>(::getpid()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  absl::Status s = WriteAll(fd, bytes, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("cannot fsync", tmp);
  if (::close(fd) != 0 && s.ok()) s = Errno("cannot close", tmp);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Errno("cannot rename onto", path);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  // The rename is durable only once the directory entry is on disk.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

absl::Status write_safetensors(const std::string& path,
                               const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  Json::Object header;
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.count(name)) {
      return absl::InvalidArgumentError(
          str_cat("duplicate or reserved tensor name \"", name, "\""));
    }
    Json::Array shape;
    for (int64_t d : t->shape()) shape.emplace_back(d);
    int64_t end = offset + static_cast<int64_t>(t->nbytes());
    header[name] = Json(Json::Object{{"dtype", DtypeCode(t->dtype())},
                                     {"shape", Json(std::move(shape))},
                                     {"data_offsets", Json(Json::Array{offset, end})}});
    offset = end;
  }
  if (!metadata.empty()) {
    Json::Object meta;
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = Json(std::move(meta));
  }
  std::string json = Json(std::move(header)).dump();
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

absl::StatusOr<SafetensorsFile> read_safetensors(const std::string& path) {
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
  auto json = parse_json(std::string_view(bytes).substr(8, n));
  if (!json.ok()) return Corrupt(path, std::string(json.status().message()));
  if (!json->is_object()) return Corrupt(path, "header is not a JSON object");
  const size_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;

  SafetensorsFile file;
  std::vector<std::pair<int64_t, NamedTensor>> by_offset;
  for (const auto& [name, entry] : json->object()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return Corrupt(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.object()) {
        if (!v.is_string()) return Corrupt(path, str_cat("metadata \"", k, "\" is not a string"));
        file.metadata[k] = v.string();
      }
      continue;
    }
    const Json* dtype = entry.find("dtype");
    const Json* shape = entry.find("shape");
    const Json* offsets = entry.find("data_offsets");
    DType d;
    if (!dtype || !dtype->is_string() || !DtypeFromCode(dtype->string(), &d)) {
      return Corrupt(path, str_cat("tensor \"", name, "\" has a missing or unsupported dtype"));
    }
    if (!shape || !shape->is_array() || !offsets || !offsets->is_array() ||
        offsets->array().size() != 2) {
      return Corrupt(path, str_cat("tensor \"", name, "\" lacks shape or data_offsets"));
    }
    Shape s;
    for (const Json& dim : shape->array()) {
      if (!dim.is_number() || dim.number() < 0) {
        return Corrupt(path, str_cat("tensor \"", name, "\" has a bad shape"));
      }
      s.push_back(static_cast<int64_t>(dim.number()));
    }
    const Json& b = offsets->array()[0];
    const Json& e = offsets->array()[1];
    if (!b.is_number() || !e.is_number()) return Corrupt(path, "bad data_offsets");
    auto begin = static_cast<int64_t>(b.number()), end = static_cast<int64_t>(e.number());
    Tensor t(d, s);
    if (begin < 0 || end < begin || static_cast<size_t>(end) > data_size ||
        static_cast<size_t>(end - begin) != t.nbytes()) {
      return Corrupt(path, str_cat("tensor \"", name, "\" data_offsets [", begin, ", ", end,
                                   ") do not fit its shape ", t.type_string(), " and the ",
                                   data_size, " data bytes"));
    }
    std::memcpy(t.raw(), data + begin, t.nbytes());
    by_offset.emplace_back(begin, NamedTensor{name, std::move(t)});
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  int64_t expected = 0;
  for (auto& [begin, nt] : by_offset) {
    if (begin != expected) return Corrupt(path, "tensor data overlaps or leaves a gap");
    expected += static_cast<int64_t>(nt.tensor.nbytes());
    file.tensors.push_back(std::move(nt));
  }
  if (static_cast<size_t>(expected) != data_size) {
    return Corrupt(path, str_cat(data_size - expected, " unindexed bytes after the tensors"));
  }
  return file;
}

}  // namespace kiln
