// Model configs (the JSON a saved model carries): parse_json, then
// detail::layer_from_config on what parses.
#include <string>

#include "frontend/layer_impl.h"
#include "support/json.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  auto json = parse_json(fuzz::as_text(data, size), "fuzz input");
  if (!json.ok()) return 0;
  auto layer = detail::layer_from_config(*json, "model config of fuzz input");
  (void)layer;
  return 0;
}
