// IR text: parse -> verify -> print -> reparse, which must print identically;
// then the passes. A verified graph goes through the training pipeline and
// each pass alone with --verify-each (a pass that produces invalid IR from
// valid IR is a finding); an unverified one that parses goes through them
// without verification, as `kiln opt --verify-each=false` runs them, where
// errors are fine but memory errors are not.
#include <string>

#include "ir/text.h"
#include "ir/verifier.h"
#include "passes/pipeline.h"
#include "tests/fuzz/fuzz_util.h"

namespace kiln::fuzz {
namespace {

// Error messages quote hostile text escaped and cut short.
void CheckMessage(const absl::Status& status, size_t max_size) {
  const std::string message(status.message());
  if (message.size() > max_size) finding("error message too long", message.substr(0, 400));
  for (unsigned char c : message) {
    if (c < 0x20 && c != '\n' && c != '\t') finding("raw control byte in an error message");
  }
}

void RunPipeline(const ir::Graph& input, const std::vector<std::string>& names, bool verify) {
  ir::Graph g = input;
  auto pm = passes::build_pipeline(names, {}, {.verify_each = verify});
  if (!pm.ok()) finding("cannot build the pipeline", std::string(pm.status().message()));
  absl::Status s = pm->run(g);
  // From verified IR, a pass must produce verified IR.
  if (verify && s.code() == absl::StatusCode::kInternal) {
    finding("a pass broke valid IR", std::string(s.message()));
  }
  if (!s.ok()) return;
  // Whatever the passes made must print and parse back.
  std::string printed = ir::print(g);
  auto again = ir::parse(printed);
  if (!again.ok())
    finding("the passes' output does not parse", std::string(again.status().message()));
  if (verify) {
    if (auto v = ir::verify(*again); !v.ok())
      finding("the passes' output does not verify", std::string(v.message()));
  }
}

}  // namespace
}  // namespace kiln::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  auto parsed = ir::parse(fuzz::as_text(data, size));
  if (!parsed.ok()) {
    fuzz::CheckMessage(parsed.status(), 1000);
    return 0;
  }
  std::string printed = ir::print(*parsed);
  auto reparsed = ir::parse(printed);
  if (!reparsed.ok())
    fuzz::finding("printed IR does not parse", std::string(reparsed.status().message()));
  if (ir::print(*reparsed) != printed) fuzz::finding("print(parse(print(g))) != print(g)", printed);
  absl::Status verified = ir::verify(*parsed);
  bool ok = verified.ok();
  if (!ok) fuzz::CheckMessage(verified, 1 << 20);
  if (ok != ir::verify(*reparsed).ok()) fuzz::finding("verify differs after a round trip");
  fuzz::RunPipeline(*parsed, passes::training_pipeline(), ok);
  for (const std::string& name : passes::pass_names()) fuzz::RunPipeline(*parsed, {name}, ok);
  return 0;
}
