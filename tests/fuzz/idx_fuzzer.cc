// IDX files (MNIST's format): kiln::datasets::read_idx on the input written to
// a file, raw and gzip-compressed (read_idx detects gzip from the content).
#include <zlib.h>

#include <string>

#include "kiln/datasets.h"
#include "kiln/error.h"
#include "tests/fuzz/fuzz_util.h"

namespace kiln::fuzz {
namespace {

std::string Gzip(std::string_view bytes) {
  z_stream z{};
  // 15 + 16: a gzip header and trailer rather than zlib's.
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    finding("deflateInit2 failed");
  }
  std::string out(deflateBound(&z, bytes.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) finding("deflate failed");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void Read(std::string_view bytes) {
  const std::string& path = scratch_path(".idx");
  write_bytes(path, bytes);
  try {
    Tensor t = datasets::read_idx(path);
    (void)t;
  } catch (const Error&) {
    // A clear error is the expected answer to a bad file.
  }
}

}  // namespace
}  // namespace kiln::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = kiln::fuzz::as_text(data, size);
  kiln::fuzz::Read(bytes);
  kiln::fuzz::Read(kiln::fuzz::Gzip(bytes));
  return 0;
}
