// src/core/pool_kernels.cpp — 2x2/2 max pooling for inference (see kernels.hpp).
#include <algorithm>
#include <cstddef>
#include <limits>

#include "digitnet/core/kernels.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DIGITNET_POOL_AVX512 1
#endif

namespace digitnet::kernels {
namespace {

#ifdef DIGITNET_POOL_AVX512
// Max pooling for inference (no winners kept), the same layout: each window's
// best in the SSE path's order, max(b1, max(b0, max(a1, max(a0, -inf)))) with
// max(p, q) = p > q ? p : q (what vmaxps computes: NaN cells lose, the
// first of equal cells stays), so the same bits as the training path's values.
// (K's pooling at one image, 64 planes of 12 rows of 12 windows: ~7 -> ~1 us.)
__attribute__((target("avx512f"))) void max_pool_2x2_avx512(const float* xp, int w, int oh, int ow,
                                                            float* yp) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  constexpr __mmask16 all = 0xFFFF;  // (maskz: GCC 12 warns inside the plain _mm512_max_ps)
  auto bits = [](int n) {            // the low n bits (0 <= n <= 16)
    return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
  };
  for (int r = 0; r < oh; ++r) {
    const float* a = xp + static_cast<std::ptrdiff_t>(2 * r) * w;
    const float* b = a + w;
    float* yr = yp + static_cast<std::ptrdiff_t>(r) * ow;
    for (int o = 0; o < ow; o += 16) {
      const int n = std::min(16, ow - o), cells = 2 * n;
      const __mmask16 lo = bits(std::min(cells, 16)), hi = bits(std::max(cells - 16, 0));
      const __m512 al = _mm512_maskz_loadu_ps(lo, a + 2 * o);
      const __m512 ah = _mm512_maskz_loadu_ps(hi, a + 2 * o + 16);
      const __m512 bl = _mm512_maskz_loadu_ps(lo, b + 2 * o);
      const __m512 bh = _mm512_maskz_loadu_ps(hi, b + 2 * o + 16);
      __m512 best = _mm512_maskz_max_ps(all, _mm512_permutex2var_ps(al, even, ah), ninf);
      best = _mm512_maskz_max_ps(all, _mm512_permutex2var_ps(al, odd, ah), best);
      best = _mm512_maskz_max_ps(all, _mm512_permutex2var_ps(bl, even, bh), best);
      best = _mm512_maskz_max_ps(all, _mm512_permutex2var_ps(bl, odd, bh), best);
      _mm512_mask_storeu_ps(yr + o, bits(n), best);
    }
  }
}
#endif

}  // namespace

bool max_pool_2x2_inference_available() {
#ifdef DIGITNET_POOL_AVX512
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

void max_pool_2x2_inference(const float* x, int w, int oh, int ow, float* y) {
#ifdef DIGITNET_POOL_AVX512
  if (max_pool_2x2_inference_available()) return max_pool_2x2_avx512(x, w, oh, ow, y);
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

}  // namespace digitnet::kernels
