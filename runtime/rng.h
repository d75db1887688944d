// Kiln's own random numbers, so results never depend on the standard library.
#pragma once

#include <cstdint>

namespace kiln {

/// SplitMix64 finalizer: a bijective 64-bit mix.
uint64_t mix64(uint64_t x);

/// A counter-based uniform float in [0, 1) for (key, index): the same inputs
/// always give the same value, whatever the order or thread they are drawn in.
float uniform_at(uint64_t key, uint64_t index);

/// A small sequential generator (SplitMix64) seeded explicitly.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  /// The next 64 random bits.
  uint64_t next_u64();
  /// Uniform float in [0, 1) with 24 random bits.
  float uniform();
  /// Uniform integer in [0, n) (n > 0), by rejection so it is unbiased.
  uint64_t uniform_int(uint64_t n);

 private:
  uint64_t state_;
};

}  // namespace kiln
