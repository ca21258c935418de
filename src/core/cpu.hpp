// src/core/cpu.hpp (private) — which instruction sets digitnet's own kernels may use.
//
// Each kernel checks the CPU's features where it dispatches, and also this cap:
// DIGITNET_MAX_ISA=avx512|avx2|scalar (read once per process; unset: no cap),
// so that the AVX2 and plain paths can be run and tested on an AVX-512 machine,
// as oneDNN's DNNL_MAX_CPU_ISA does for its own kernels.
#pragma once

namespace digitnet::cpu {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

// The cap; an unknown value of DIGITNET_MAX_ISA is an Error naming it.
Isa max_isa();

// Whether kernels of `isa` may run (the CPU must still have the features).
inline bool allows(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(max_isa()); }

}  // namespace digitnet::cpu
