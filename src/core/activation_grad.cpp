// src/core/activation_grad.cpp — the gradient through tanh for one plane, with
// the plane's sum, optionally through a 2x2 average pooling (see kernels.hpp).
// Built with -ffp-contract=off: the AVX-512 and plain bodies round each product
// and difference alike, so they give the same bits.
#include <algorithm>
#include <cstddef>

#include "core/cpu.hpp"
#include "core/kernels.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DIGITNET_ACT_GRAD_AVX512 1
#endif

namespace digitnet::kernels {
namespace {

constexpr int kLanes = 16;

// The running sums: cell (r, c) adds into lane c mod 16 of sum[r mod 2][(c / 16) mod 2]
// (four independent chains in the vector body), folded at the end as
// (sum[0][0] + sum[0][1]) + (sum[1][0] + sum[1][1]), then in halves:
// lane[i] += lane[i + 8], then + 4, + 2, + 1.
float fold_sums(float (*sum)[2][kLanes]) {
  float lane[kLanes];
  for (int i = 0; i < kLanes; ++i)
    lane[i] = (sum[0][0][i] + sum[0][1][i]) + (sum[1][0][i] + sum[1][1][i]);
  for (int half = kLanes / 2; half >= 1; half /= 2)
    for (int i = 0; i < half; ++i) lane[i] += lane[i + half];
  return lane[0];
}

// Cell (r, c)'s dy: dy itself, or through the pooling, its window's dy · 1/4.
inline float cell_dy(const float* dy, bool pooled, int w, int r, int c) {
  if (!pooled) return dy[static_cast<std::ptrdiff_t>(r) * w + c];
  return dy[static_cast<std::ptrdiff_t>(r / 2) * (w / 2) + c / 2] * 0.25f;
}

#ifdef DIGITNET_ACT_GRAD_AVX512
// Two rows at a time (r even, r + 1), in tiles of 16 columns, column c0 + j in
// lane j; through the pooling, both rows take the same 8 pooled values, each in
// two lanes. (One running sum took ~9 cycles a tile, LeNet's 28-wide planes.)
// dz = g · (1 − y²) for the cells in `keep`, added to sum (lanes past the row add nothing).
__attribute__((target("avx512f"), always_inline)) inline void tanh_grad_cells(
    __m512 g, __mmask16 keep, const float* y, float* dz, __m512 one, __m512& sum) {
  const __m512 yv = _mm512_maskz_loadu_ps(keep, y);
  g = _mm512_mul_ps(g, _mm512_sub_ps(one, _mm512_mul_ps(yv, yv)));
  _mm512_mask_storeu_ps(dz, keep, g);
  sum = _mm512_mask_add_ps(sum, keep, sum, g);
}

template <bool POOLED>
__attribute__((target("avx512f"))) float tanh_grad_sum_avx512(const float* y, const float* dy,
                                                              int h, int w, float* dz) {
  const __m512 one = _mm512_set1_ps(1.0f), quarter = _mm512_set1_ps(0.25f);
  // lanes 2k and 2k + 1 take pooled value k
  const __m512i twice = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  __m512 acc[2][2] = {{_mm512_setzero_ps(), _mm512_setzero_ps()},
                      {_mm512_setzero_ps(), _mm512_setzero_ps()}};
  for (int r = 0; r < h; r += 2) {
    const bool pair = r + 1 < h;
    const std::ptrdiff_t row = static_cast<std::ptrdiff_t>(r) * w;
    for (int c0 = 0, t = 0; c0 < w; c0 += kLanes, t ^= 1) {
      const int n = std::min(kLanes, w - c0);
      const auto keep = static_cast<__mmask16>(n >= kLanes ? 0xFFFFu : (1u << n) - 1u);
      if constexpr (POOLED) {
        const auto half = static_cast<__mmask16>((1u << (n / 2)) - 1u);
        const __m512 p =
            _mm512_maskz_loadu_ps(half, dy + static_cast<std::ptrdiff_t>(r / 2) * (w / 2) + c0 / 2);
        // (maskz: GCC 12 warns inside the plain permute)
        const __m512 g = _mm512_mul_ps(
            _mm512_maskz_permutexvar_ps(static_cast<__mmask16>(0xFFFF), twice, p), quarter);
        tanh_grad_cells(g, keep, y + row + c0, dz + row + c0, one, acc[0][t]);
        tanh_grad_cells(g, keep, y + row + w + c0, dz + row + w + c0, one, acc[1][t]);  // h even
      } else {
        tanh_grad_cells(_mm512_maskz_loadu_ps(keep, dy + row + c0), keep, y + row + c0,
                        dz + row + c0, one, acc[0][t]);
        if (pair)
          tanh_grad_cells(_mm512_maskz_loadu_ps(keep, dy + row + w + c0), keep, y + row + w + c0,
                          dz + row + w + c0, one, acc[1][t]);
      }
    }
  }
  alignas(64) float sum[2][2][kLanes];
  for (int i = 0; i < 2; ++i)
    for (int t = 0; t < 2; ++t) _mm512_store_ps(sum[i][t], acc[i][t]);
  return fold_sums(sum);
}
#endif

}  // namespace

float tanh_grad_sum(const float* y, const float* dy, bool pooled, int h, int w, float* dz) {
#ifdef DIGITNET_ACT_GRAD_AVX512
  if (cpu::allows(cpu::Isa::avx512) && __builtin_cpu_supports("avx512f"))
    return pooled ? tanh_grad_sum_avx512<true>(y, dy, h, w, dz)
                  : tanh_grad_sum_avx512<false>(y, dy, h, w, dz);
#endif
  // Plain loops, the same sums in the same order.
  float sum[2][2][kLanes] = {};
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const std::ptrdiff_t i = static_cast<std::ptrdiff_t>(r) * w + c;
      const float g = cell_dy(dy, pooled, w, r, c) * (1.0f - y[i] * y[i]);
      dz[i] = g;
      sum[r % 2][(c / kLanes) % 2][c % kLanes] += g;
    }
  return fold_sums(sum);
}

float tanh_grad_sum_ref(const float* y, const float* dy, bool pooled, int h, int w, float* dz) {
  double sum = 0.0;
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const std::ptrdiff_t i = static_cast<std::ptrdiff_t>(r) * w + c;
      const double g = static_cast<double>(cell_dy(dy, pooled, w, r, c)) *
                       (1.0 - static_cast<double>(y[i]) * y[i]);
      dz[i] = static_cast<float>(g);
      sum += g;
    }
  return static_cast<float>(sum);
}

}  // namespace digitnet::kernels
