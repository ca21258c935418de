// src/core/tanh16.hpp — tanh of 16 floats (AVX-512), shared by kernels::tanh
// and the direct convolution's epilogue, so the two give the same bits.
// Internal to the library.
#pragma once
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include <cstdint>

namespace digitnet::kernels::detail {

// Whether kernels::tanh computes its values with tanh16 on this CPU (AVX-512
// with glibc's libmvec present for the other paths).
bool tanh_is_tanh16();

// Our own: a rational function instead of
// libmvec's _ZGVeN16v_tanhf, which took twice as long (LeNet's first layer at
// one image, 4,704 values: 2.2-2.6 against 1.23 us on Zen 4), and LeNet spends
// more of its single-image time in tanh than in its first convolution.
//   tanh x = x·P(x²)/Q(x²) for |x| < 9.0111, ±1 beyond (where tanh rounds to ±1)
// with P, Q of degree 4 in x², a minimax fit in relative error on [0, 9.0111]
// (scripts/fit_tanh.py); the quotient by a 14-bit reciprocal refined by one
// Newton step, the result clamped to [-1, 1]. At most 2.8 ulp (of 2^-23) from
// tanh over every float in [0, 12] (measured once; the tests sweep every 997th
// float); NaN stays NaN, -0 stays -0.
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline __m512 tanh16(__m512 x) {
  constexpr __mmask16 kAll = 0xFFFF;
  const __m512 t = _mm512_mul_ps(x, x);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.333612065224088e-08f), t,
                             _mm512_set1_ps(2.0595782189047895e-05f));
  __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(7.768995260448719e-07f), t,
                             _mm512_set1_ps(0.000328431575326249f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.003494782606139779f));
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.02587391994893551f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.13380348682403564f));
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.4671366214752197f));
  const __m512 one = _mm512_set1_ps(1.0f);
  p = _mm512_fmadd_ps(p, t, one);
  q = _mm512_fmadd_ps(q, t, one);
  __m512 r = _mm512_maskz_rcp14_ps(kAll, q);  // (maskz: GCC 12 warns inside the plain forms)
  r = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, r, one), r, r);
  __m512 y = _mm512_mul_ps(_mm512_mul_ps(x, p), r);
  // (max and min return their second operand when one is NaN: NaN goes through)
  y = _mm512_maskz_min_ps(kAll, one, _mm512_maskz_max_ps(kAll, _mm512_set1_ps(-1.0f), y));
  const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(9.0111f), _CMP_GE_OQ);
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN));
  return _mm512_mask_mov_ps(y, big,
                            _mm512_castsi512_ps(_mm512_or_si512(sign, _mm512_castps_si512(one))));
}

}  // namespace digitnet::kernels::detail
#endif
