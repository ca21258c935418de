// src/core/vecmat.cpp — one row times a matrix (see kernels.hpp).
#include <algorithm>
#include <cstddef>

#include "core/cpu.hpp"
#include "core/kernels.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace digitnet::kernels {
namespace {

#if defined(__x86_64__) && defined(__GNUC__)
// Columns j0 .. j0 + 16·NV (the last vector masked by `last`), over the rows
// whose x is not zero (kRows at a time, their indices compacted first). Rows go
// two at a time into SETS accumulator sets (SETS = 2 when NV <= 4, so that at
// least 8 FMA chains are in flight), added at the end.
constexpr int kRows = 256;
template <int NV, int SETS>
__attribute__((target("avx512f,avx512vl,fma"), always_inline)) inline void block_avx512(
    int k, const float* x, const float* W, int ldw, const float* b, float* y, int j0,
    __mmask16 last) {
  __m512 acc[SETS][NV];
  for (int q = 0; q < NV; ++q) {
    const __mmask16 m = q == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
    acc[0][q] = b ? _mm512_maskz_loadu_ps(m, b + j0 + 16 * q) : _mm512_setzero_ps();
    if constexpr (SETS == 2) acc[1][q] = _mm512_setzero_ps();
  }
  auto row = [&](int i) { return W + static_cast<std::ptrdiff_t>(i) * ldw + j0; };
  int idx[kRows + 16];
  for (int r0 = 0; r0 < k; r0 += kRows) {
    const int r1 = std::min(k, r0 + kRows);
    // The rows whose x is not zero (NaN counts as not zero, so it propagates),
    // 16 at a time: compare, compress the indices in a register, store all 16
    // (a scalar loop costs a few cycles a row).
    int m = 0, i = r0;
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; i + 16 <= r1; i += 16) {
      const __mmask16 nz =
          _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), _mm512_setzero_ps(), _CMP_NEQ_UQ);
      const __m512i rows = _mm512_add_epi32(_mm512_set1_epi32(i), lanes);
      _mm512_storeu_si512(idx + m, _mm512_maskz_compress_epi32(nz, rows));
      m += __builtin_popcount(nz);
    }
    for (; i < r1; ++i) {  // branch-free: the pattern of zeros is the data's
      idx[m] = i;
      m += x[i] != 0.0f;
    }
    int p = 0;
    for (; p + 2 <= m; p += 2) {
      const float* w0 = row(idx[p]);
      const float* w1 = row(idx[p + 1]);
      const __m512 x0 = _mm512_set1_ps(x[idx[p]]), x1 = _mm512_set1_ps(x[idx[p + 1]]);
      for (int q = 0; q < NV; ++q) {
        const __mmask16 mk = q == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
        acc[0][q] = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(mk, w0 + 16 * q), acc[0][q]);
        acc[SETS - 1][q] =
            _mm512_fmadd_ps(x1, _mm512_maskz_loadu_ps(mk, w1 + 16 * q), acc[SETS - 1][q]);
      }
    }
    if (p < m) {
      const float* w0 = row(idx[p]);
      const __m512 x0 = _mm512_set1_ps(x[idx[p]]);
      for (int q = 0; q < NV; ++q) {
        const __mmask16 mk = q == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
        acc[0][q] = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(mk, w0 + 16 * q), acc[0][q]);
      }
    }
  }
  for (int q = 0; q < NV; ++q) {
    const __mmask16 m = q == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
    const __m512 v = SETS == 2 ? _mm512_add_ps(acc[0][q], acc[SETS - 1][q]) : acc[0][q];
    _mm512_mask_storeu_ps(y + j0 + 16 * q, m, v);
  }
}

// The last block of NV = nv vectors (sets of accumulators as block_avx512 says).
template <int NV>
__attribute__((target("avx512f,avx512vl,fma"))) void rest_avx512(int nv, int k, const float* x,
                                                                 const float* W, int ldw,
                                                                 const float* b, float* y, int j0,
                                                                 __mmask16 last) {
  if constexpr (NV > 0) {
    if (nv == NV) return block_avx512<NV, (NV <= 4 ? 2 : 1)>(k, x, W, ldw, b, y, j0, last);
    rest_avx512<NV - 1>(nv, k, x, W, ldw, b, y, j0, last);
  }
}

// Blocks of 128 columns (8 vectors: each row's slice read once, contiguously),
// then one block of the rest.
__attribute__((target("avx512f,avx512vl,fma"))) void vecmat_avx512(int k, int n, const float* x,
                                                                   const float* W, int ldw,
                                                                   const float* b, float* y) {
  const auto all = static_cast<__mmask16>(0xFFFF);
  int j0 = 0;
  for (; j0 + 128 <= n; j0 += 128) block_avx512<8, 1>(k, x, W, ldw, b, y, j0, all);
  const int rest = n - j0;
  if (rest == 0) return;
  const int nv = (rest + 15) / 16, tail = rest - 16 * (nv - 1);
  rest_avx512<8>(nv, k, x, W, ldw, b, y, j0, static_cast<__mmask16>((1u << tail) - 1u));
}
#endif

}  // namespace

void vecmat(int k, int n, const float* x, const float* W, int ldw, const float* b, float* y) {
  if (n <= 0) return;
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu::allows(cpu::Isa::avx512) && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vl"))
    return vecmat_avx512(k, n, x, W, ldw, b, y);
#endif
  // Elsewhere the library's M = 1 product (OpenBLAS' sgemv on AVX2 CPUs), then the bias.
  sgemm(false, false, 1, n, k, 1.0f, x, std::max(k, 1), W, ldw, 0.0f, y, n);
  if (b)
    for (int j = 0; j < n; ++j) y[j] += b[j];
}

void vecmat_ref(int k, int n, const float* x, const float* W, int ldw, const float* b, float* y) {
  for (int j = 0; j < n; ++j) {
    double acc = b ? b[j] : 0.0;
    for (int i = 0; i < k; ++i)
      acc += static_cast<double>(x[i]) * W[static_cast<std::ptrdiff_t>(i) * ldw + j];
    y[j] = static_cast<float>(acc);
  }
}

}  // namespace digitnet::kernels
