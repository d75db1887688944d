// Weight and model files: read_safetensors, Sequential::load_weights into a
// small built model, and kiln::load_model, on the input written to a file.
#include <string>

#include "kiln/kiln.h"
#include "runtime/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  const std::string& path = fuzz::scratch_path(".kiln");
  fuzz::write_bytes(path, fuzz::as_text(data, size));
  auto file = read_safetensors(path);
  (void)file;
  try {
    // The architecture of the seed model (corpus/safetensors/dense.kiln).
    static Sequential* model = [] {
      auto* m = new Sequential({layers::Flatten({4}), layers::Dense(3, "relu"), layers::Dense(2)});
      if (!m->built()) m->build({4});
      return m;
    }();
    model->load_weights(path);
  } catch (const Error&) {
  }
  try {
    Sequential loaded = load_model(path);
    (void)loaded;
  } catch (const Error&) {
  }
  return 0;
}
