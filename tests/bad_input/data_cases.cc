// IDX files (raw and gzip) and dataset directories that lie about their content.
#include <zlib.h>

#include <cstdlib>
#include <filesystem>

#include "kiln/advanced.h"
#include "tests/bad_input/catalogue.h"

namespace kiln::bad_input {
namespace {

// An IDX file: magic (type, rank), big-endian dims, then `data`.
std::string Idx(const std::vector<uint32_t>& dims, const std::string& data, uint8_t type = 0x08,
                int rank = -1) {
  std::string b = {0, 0, static_cast<char>(type), static_cast<char>(rank < 0 ? dims.size() : rank)};
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b += static_cast<char>((d >> s) & 0xff);
  }
  return b + data;
}

std::string Gzip(const std::string& bytes) {
  uLongf size = compressBound(bytes.size()) + 32;
  std::string out(size, '\0');
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // 16: gzip header
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A case that reads one IDX file with these bytes.
Case ReadCase(std::string name, std::string bytes, std::vector<std::string> message_has) {
  return {std::move(name),
          [bytes](const std::string& dir) {
            write_file(dir + "/data", bytes);
            return status_of([&] { datasets::read_idx(dir + "/data"); });
          },
          std::move(message_has)};
}

// A fake MNIST directory whose train split is `images` and `labels`; loads it.
absl::Status LoadMnist(const std::string& dir, const std::string& images,
                       const std::string& labels) {
  std::filesystem::create_directories(dir + "/mnist");
  write_file(dir + "/mnist/train-images-idx3-ubyte", images);
  write_file(dir + "/mnist/train-labels-idx1-ubyte", labels);
  write_file(dir + "/mnist/t10k-images-idx3-ubyte", Idx({1, 28, 28}, std::string(784, '\0')));
  write_file(dir + "/mnist/t10k-labels-idx1-ubyte", Idx({1}, std::string(1, '\0')));
  setenv("KILN_DATA", dir.c_str(), 1);
  absl::Status s = status_of([] { datasets::mnist::load_data(); });
  unsetenv("KILN_DATA");
  return s;
}

const std::string kMalformed = "malformed IDX file {dir}/data: ";

const int kRegistered = add({
    ReadCase("idx/empty-file", "", {kMalformed, "shorter than the 4-byte magic number"}),
    ReadCase("idx/wrong-magic", "\x12\x34\x08\x01", {kMalformed, "wrong magic number 0x12340801"}),
    ReadCase("idx/png-instead", "\x89PNG\r\n\x1a\n", {kMalformed, "wrong magic number 0x89504e47"}),
    ReadCase("idx/float-elements", Idx({2}, std::string(8, '\0'), 0x0D),
             {kMalformed, "element type 0x0d is not supported"}),
    ReadCase("idx/rank-zero", Idx({}, ""), {kMalformed, "unsupported rank 0"}),
    ReadCase("idx/rank-five", Idx({1, 1, 1, 1, 1}, "x"), {kMalformed, "unsupported rank 5"}),
    ReadCase("idx/truncated-header", Idx({2}, "", 0x08, 3), {kMalformed, "truncated header"}),
    // 16 bytes declaring 4 GiB: refused from the file size, nothing allocated.
    ReadCase("idx/declares-4-GiB", Idx({65536, 256, 256}, ""),
             {kMalformed, "truncated: the header declares 4294967296 bytes", "[65536,256,256]",
              "only 0 are present"}),
    // The product overflows 64 bits when computed naively.
    ReadCase("idx/size-overflows", Idx({0xC0000000u, 0xC0000000u, 16}, ""),
             {kMalformed, "[3221225472,3221225472,16]", "exceeds the limit"}),
    ReadCase("idx/more-data-than-declared", Idx({2}, "abc"),
             {kMalformed, "more data than the header's shape [2] declares"}),
    ReadCase("idx/truncated-data", Idx({2, 3}, "abcd"),
             {kMalformed, "declares 6 bytes", "only 4 are present"}),
    ReadCase("idx/gzip-declares-4-GiB", Gzip(Idx({65536, 256, 256}, std::string(1000, 'x'))),
             {kMalformed, "declares 4294967296 bytes", "only 1000 are present"}),
    ReadCase("idx/gzip-corrupt", Gzip(Idx({4}, "abcd")).substr(0, 12) + std::string(20, '\x55'),
             {kMalformed}),
    {"idx/directory",
     [](const std::string& dir) { return status_of([&] { datasets::read_idx(dir); }); },
     {"{dir} is a directory, not an IDX file"}},
    {"idx/missing",
     [](const std::string& dir) { return status_of([&] { datasets::read_idx(dir + "/nope"); }); },
     {"no such file: {dir}/nope"}},
    {"dataset/label-out-of-range",
     [](const std::string& dir) {
       return LoadMnist(dir, Idx({2, 28, 28}, std::string(1568, '\0')), Idx({2}, "\x03\x0c"));
     },
     {"MNIST labels file {dir}/mnist/train-labels-idx1-ubyte", "label 12 at index 1", "[0, 10)"}},
    {"dataset/images-not-28x28",
     [](const std::string& dir) {
       return LoadMnist(dir, Idx({2, 27, 28}, std::string(1512, '\0')), Idx({2}, "\x01\x02"));
     },
     {"MNIST images file {dir}/mnist/train-images-idx3-ubyte", "u8[2,27,28]", "not (N, 28, 28)"}},
    {"dataset/fewer-labels-than-images",
     [](const std::string& dir) {
       return LoadMnist(dir, Idx({3, 28, 28}, std::string(2352, '\0')), Idx({2}, "\x01\x02"));
     },
     {"MNIST labels file {dir}/mnist/train-labels-idx1-ubyte", "u8[2]",
      "one label for each of the 3 images"}},
    {"dataset/missing-directory",
     [](const std::string& dir) {
       setenv("KILN_DATA", (dir + "/none").c_str(), 1);
       absl::Status s = status_of([] { datasets::mnist::load_data(); });
       unsetenv("KILN_DATA");
       return s;
     },
     {"MNIST file train-images-idx3-ubyte[.gz] not found in {dir}/none/mnist",
      "scripts/fetch-data"}},
});

}  // namespace
}  // namespace kiln::bad_input
