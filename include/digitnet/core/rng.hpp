// digitnet/core/rng.hpp — a small, portable, seedable random generator.
//
// xoshiro256** seeded through SplitMix64. Unlike std::*_distribution, every
// draw here is specified bit for bit, so the same seed gives the same weights,
// shuffles and dropout masks on every platform.
#pragma once
#include <cstdint>

namespace digitnet {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits.
  float uniform();
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal (Box–Muller; no cached second value, so draws are independent of call history).
  float normal();
  // Uniform integer in [0, n) without modulo bias. n > 0.
  uint64_t below(uint64_t n);
  // A new generator whose stream is independent of this one (for per-layer / per-epoch streams).
  Rng split();

 private:
  uint64_t s_[4];
};

}  // namespace digitnet
