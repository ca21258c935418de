// src/core/pool_kernels.cpp — 2x2/2 max (inference) and average pooling of one plane
// (see kernels.hpp).
#include <algorithm>
#include <cstddef>
#include <limits>

#include "core/cpu.hpp"
#include "core/kernels.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DIGITNET_POOL_AVX512 1
#endif

namespace digitnet::kernels {
namespace {

#ifdef DIGITNET_POOL_AVX512
// The low n bits (0 <= n <= 16).
inline __mmask16 low_bits(int n) {
  return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
}

// The loop both 2x2/2 poolings share: 16 windows a step, the 32 cells of each
// row split into even and odd columns by two permutes, the cells of each window
// folded as Op::fold(Op::fold(Op::fold(Op::fold(Op::start(), a0), a1), b0), b1),
// then Op::finish.
template <class Op>
__attribute__((target("avx512f"), always_inline)) inline void pool_2x2(const float* xp, int w,
                                                                       int oh, int ow, float* yp) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int r = 0; r < oh; ++r) {
    const float* a = xp + static_cast<std::ptrdiff_t>(2 * r) * w;
    const float* b = a + w;
    float* yr = yp + static_cast<std::ptrdiff_t>(r) * ow;
    for (int o = 0; o < ow; o += 16) {
      const int n = std::min(16, ow - o), cells = 2 * n;
      const __mmask16 lo = low_bits(std::min(cells, 16)), hi = low_bits(std::max(cells - 16, 0));
      const __m512 al = _mm512_maskz_loadu_ps(lo, a + 2 * o);
      const __m512 ah = _mm512_maskz_loadu_ps(hi, a + 2 * o + 16);
      const __m512 bl = _mm512_maskz_loadu_ps(lo, b + 2 * o);
      const __m512 bh = _mm512_maskz_loadu_ps(hi, b + 2 * o + 16);
      __m512 acc = Op::fold(Op::start(), _mm512_permutex2var_ps(al, even, ah));
      acc = Op::fold(acc, _mm512_permutex2var_ps(al, odd, ah));
      acc = Op::fold(acc, _mm512_permutex2var_ps(bl, even, bh));
      acc = Op::fold(acc, _mm512_permutex2var_ps(bl, odd, bh));
      _mm512_mask_storeu_ps(yr + o, low_bits(n), Op::finish(acc));
    }
  }
}

// Max: max(b1, max(b0, max(a1, max(a0, -inf)))) with max(p, q) = p > q ? p : q
// (what vmaxps computes: NaN cells lose, the first of equal cells stays), the
// MaxPooling2D training path's order, so the same bits as its values. (K's
// pooling at one image, 64 planes of 12 rows of 12 windows: ~7 -> ~1 us.)
struct MaxOp {
  __attribute__((target("avx512f"), always_inline)) static __m512 start() {
    return _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  }
  // (maskz: GCC 12 warns inside the plain _mm512_max_ps)
  __attribute__((target("avx512f"), always_inline)) static __m512 fold(__m512 acc, __m512 v) {
    return _mm512_maskz_max_ps(static_cast<__mmask16>(0xFFFF), v, acc);
  }
  __attribute__((target("avx512f"), always_inline)) static __m512 finish(__m512 acc) { return acc; }
};

// Average: ((((0 + a0) + a1) + b0) + b1) · 1/4, the generic path's sums in its
// order (the 0 keeps -0 sums at +0 as there), 16 windows a step.
struct AvgOp {
  __attribute__((target("avx512f"), always_inline)) static __m512 start() {
    return _mm512_setzero_ps();
  }
  __attribute__((target("avx512f"), always_inline)) static __m512 fold(__m512 acc, __m512 v) {
    return _mm512_add_ps(acc, v);
  }
  __attribute__((target("avx512f"), always_inline)) static __m512 finish(__m512 acc) {
    return _mm512_mul_ps(acc, _mm512_set1_ps(0.25f));
  }
};

__attribute__((target("avx512f"))) void max_pool_2x2_avx512(const float* x, int w, int oh, int ow,
                                                            float* y) {
  pool_2x2<MaxOp>(x, w, oh, ow, y);
}
__attribute__((target("avx512f"))) void avg_pool_2x2_avx512(const float* x, int w, int oh, int ow,
                                                            float* y) {
  pool_2x2<AvgOp>(x, w, oh, ow, y);
}
#endif

}  // namespace

bool pool_2x2_avx512_available() {
#ifdef DIGITNET_POOL_AVX512
  return cpu::allows(cpu::Isa::avx512) && __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

void max_pool_2x2_inference(const float* x, int w, int oh, int ow, float* y) {
#ifdef DIGITNET_POOL_AVX512
  if (pool_2x2_avx512_available()) return max_pool_2x2_avx512(x, w, oh, ow, y);
#endif
  // Plain loops in the same order (for a CPU without AVX-512; callers check first).
  for (int r = 0; r < oh; ++r)
    for (int o = 0; o < ow; ++o) {
      const float* a = x + static_cast<std::ptrdiff_t>(2 * r) * w + 2 * o;
      const float* b = a + w;
      float best = -std::numeric_limits<float>::infinity();
      for (float v : {a[0], a[1], b[0], b[1]}) best = v > best ? v : best;
      y[static_cast<std::ptrdiff_t>(r) * ow + o] = best;
    }
}

void avg_pool_2x2(const float* x, int w, int oh, int ow, float* y) {
#ifdef DIGITNET_POOL_AVX512
  if (pool_2x2_avx512_available()) return avg_pool_2x2_avx512(x, w, oh, ow, y);
#endif
  for (int r = 0; r < oh; ++r)
    for (int o = 0; o < ow; ++o) {
      const float* a = x + static_cast<std::ptrdiff_t>(2 * r) * w + 2 * o;
      const float* b = a + w;
      y[static_cast<std::ptrdiff_t>(r) * ow + o] = ((((0.0f + a[0]) + a[1]) + b[0]) + b[1]) * 0.25f;
    }
}

}  // namespace digitnet::kernels
