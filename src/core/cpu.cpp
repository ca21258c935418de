#include "core/cpu.hpp"

#include <cstdlib>
#include <string>

#include "digitnet/core/error.hpp"

namespace digitnet::cpu {
namespace {

Isa read_cap() {
  const char* env = std::getenv("DIGITNET_MAX_ISA");
  const std::string want = env ? env : "";
  if (want.empty() || want == "avx512") return Isa::avx512;
  if (want == "avx2") return Isa::avx2;
  if (want == "scalar") return Isa::scalar;
  throw Error("DIGITNET_MAX_ISA: unknown value '" + want + "' (avx512, avx2 or scalar)");
}

}  // namespace

Isa max_isa() {
  static const Isa cap = read_cap();  // the environment is read once, here
  return cap;
}

}  // namespace digitnet::cpu
