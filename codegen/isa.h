// The vector instruction sets the JIT can target. Kept apart from jit.h so the
// public model API can name an ISA without seeing the engine.
#pragma once

namespace kiln {

/// Which vector instruction set the JIT targets: kAuto picks AVX-512 when the
/// host has it, else AVX2; asking for an ISA the host lacks is an error.
enum class Isa { kAuto, kAvx2, kAvx512 };

}  // namespace kiln
