// Flush-to-zero for the duration of a step.
#pragma once

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace kiln {

/// Sets flush-to-zero and denormals-are-zero (MXCSR) while alive, as TensorFlow
/// does on CPU: subnormal optimizer state otherwise slows every op touching it
/// by an order of magnitude. Both executors run steps under it, so they agree.
class FlushDenormals {
 public:
#if defined(__x86_64__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
  ~FlushDenormals() { _mm_setcsr(saved_); }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned saved_;
#endif
};

}  // namespace kiln
