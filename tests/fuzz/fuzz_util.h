// Shared helpers of the libFuzzer harnesses (tests/fuzz/README in README.md's
// "Fuzzing" section). Each harness feeds one input to one reader; an error
// status or a kiln::Error is the expected outcome of a hostile input, anything
// else (a crash, a sanitizer report, another exception, a hang) is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace kiln::fuzz {

/// The input as a string view.
inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// A scratch file for readers that take a path: one per process, rewritten
/// for every input (libFuzzer runs inputs one after another).
inline const std::string& scratch_path(std::string_view suffix) {
  static const std::string path = [&] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp") + "/kiln-fuzz-" + std::to_string(::getpid()) +
           std::string(suffix);
  }();
  return path;
}

/// Writes `bytes` to `path`; aborts if it cannot (a broken setup, not a finding).
inline void write_bytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::abort();
  }
}

/// Stops the run with a message: a property the harness checks was violated.
[[noreturn]] inline void finding(std::string_view what, std::string_view detail = "") {
  std::fprintf(stderr, "FINDING: %.*s\n%.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size() < 4000 ? detail.size() : 4000), detail.data());
  __builtin_trap();
}

}  // namespace kiln::fuzz
