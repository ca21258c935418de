// src/core/direct_conv.cpp — direct convolution of one image (see direct_conv.hpp).
//
// The input is copied once into a zero-padded buffer whose rows are wide enough
// for whole 16-column tiles, so the inner loops have no bounds checks: for each
// block of FB ≤ 8 (AVX-512) or ≤ 4 (AVX2) filters, output row and 16-column
// tile, FB accumulators of 16 floats stay in registers while every (c, kh, kw)
// tap adds w · x[row, col..col+15] (3x3 and 5x5 kernels: two tiles a step, each
// weight broadcast once for both; layers with few columns and ≥ 16 filters: the
// filters in the vector, each input broadcast once for all its taps). The
// activation (relu, tanh) is applied in registers before the store.
// Two bodies in intrinsics (AVX-512: one zmm per accumulator; AVX2 + FMA: two ymm)
// and plain loops elsewhere, all summing in the same order; the CPU picks one
// once, so results are reproducible on a machine. (One body on GCC vector types,
// as winograd.cpp does, spilled its accumulators: K's conv1 28 against 9.5 us.)
#include "core/direct_conv.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/cpu.hpp"
#include "core/kernels.hpp"
#include "core/tanh16.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace digitnet::kernels {
namespace {

constexpr int kTile = 16;

int padded_width(const DirectConvShape& s) {
  const int tiles = (s.ow + kTile - 1) / kTile;
  return tiles * kTile + s.kw - 1;
}
int padded_height(const DirectConvShape& s) { return s.oh + s.kh - 1; }
// Floats of one padded image (C, padded_height, padded_width).
std::size_t padded_floats(const DirectConvShape& s) {
  return static_cast<std::size_t>(s.c) * static_cast<std::size_t>(padded_height(s)) *
         static_cast<std::size_t>(padded_width(s));
}
#if defined(__x86_64__) && defined(__GNUC__)
// p moved up to the next 64-byte boundary (scratch sizes leave 16 floats for it).
float* align64(float* p) {
  const auto mis = (reinterpret_cast<std::uintptr_t>(p) / sizeof(float)) % 16;
  return mis ? p + (16 - mis) : p;
}
#endif

// The padded input: zero everywhere but the image. (The forward kernels and the
// weight gradient read the same layout.) `zero` floats from xp are cleared
// first, at least padded_floats(s).
void pad_input(const DirectConvShape& s, const float* x, float* xp, std::size_t zero) {
  const int wp = padded_width(s), hp = padded_height(s);
  std::fill(xp, xp + zero, 0.0f);
  const int c1 = std::min(s.w, wp - s.pad_left);  // columns of x inside a padded row
  for (int c = 0; c < s.c; ++c)
    for (int r = 0; r < s.h; ++r) {
      const int pr = r + s.pad_top;
      if (pr < 0 || pr >= hp || c1 <= 0) continue;
      std::memcpy(xp + (static_cast<std::ptrdiff_t>(c) * hp + pr) * wp + s.pad_left,
                  x + (static_cast<std::ptrdiff_t>(c) * s.h + r) * s.w,
                  static_cast<std::size_t>(c1) * sizeof(float));
    }
}

// Plain loops: the reference order of the vector versions (bias, then the taps
// in (c, kh, kw) order), for CPUs without AVX2.
void run_plain(const DirectConvShape& s, const float* xp, const float* w, const float* b, bool relu,
               float* y) {
  const int wp = padded_width(s), hp = padded_height(s);
  for (int f = 0; f < s.f; ++f)
    for (int oh = 0; oh < s.oh; ++oh)
      for (int ow = 0; ow < s.ow; ++ow) {
        float acc = b ? b[f] : 0.0f;
        for (int c = 0; c < s.c; ++c)
          for (int kh = 0; kh < s.kh; ++kh)
            for (int kw = 0; kw < s.kw; ++kw)
              acc += w[((static_cast<std::ptrdiff_t>(f) * s.c + c) * s.kh + kh) * s.kw + kw] *
                     xp[(static_cast<std::ptrdiff_t>(c) * hp + oh + kh) * wp + ow + kw];
        y[(static_cast<std::ptrdiff_t>(f) * s.oh + oh) * s.ow + ow] = relu && acc < 0 ? 0 : acc;
      }
}

#if defined(__x86_64__) && defined(__GNUC__)
// The activation applied in registers before a store: relu as max(x, 0) by a
// zero-masked move (GCC 12 warns inside _mm512_max_ps); tanh as kernels::tanh
// computes it (direct_conv takes tanh here only where kernels::tanh uses tanh16).
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline __m512 epilogue(
    ConvAct act, __m512 v) {
  if (act == ConvAct::relu)
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
  if (act == ConvAct::tanh) return detail::tanh16(v);
  return v;
}

// Stores FB accumulators (filters f0.., output row oh, columns ow0..), activated.
template <int FB>
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline void store_avx512(
    const DirectConvShape& s, __m512* acc, ConvAct act, float* y, int f0, int oh, int ow0) {
  const int n = std::min(kTile, s.ow - ow0);
  const __mmask16 keep = static_cast<__mmask16>((1u << n) - 1u);
  for (int q = 0; q < FB; ++q) {
    acc[q] = epilogue(act, acc[q]);
    _mm512_mask_storeu_ps(y + (static_cast<std::ptrdiff_t>(f0 + q) * s.oh + oh) * s.ow + ow0, keep,
                          acc[q]);
  }
}

// One kernel row's taps (weights wr[q·taps + kw], q < FB) against input row xr,
// added to FB accumulators, or to two sets at once (a second kernel row w1 into
// acc1) sharing each input load.
template <int FB, bool TWO>
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline void row_taps_avx512(
    const float* xr, int kw_n, int taps, const float* w0, __m512* acc0, const float* w1,
    __m512* acc1) {
  for (int kw = 0; kw < kw_n; ++kw) {
    const __m512 xv = _mm512_loadu_ps(xr + kw);
    for (int q = 0; q < FB; ++q)
      acc0[q] = _mm512_fmadd_ps(_mm512_set1_ps(w0[static_cast<std::ptrdiff_t>(q) * taps + kw]), xv,
                                acc0[q]);
    if constexpr (TWO)
      for (int q = 0; q < FB; ++q)
        acc1[q] = _mm512_fmadd_ps(_mm512_set1_ps(w1[static_cast<std::ptrdiff_t>(q) * taps + kw]),
                                  xv, acc1[q]);
  }
}

// FB filters f0..f0+FB-1, one 16-wide accumulator each (AVX-512).
template <int FB>
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline void block_avx512(
    const DirectConvShape& s, const float* xp, int wp, int hp, const float* w, const float* b,
    ConvAct act, float* y, int f0) {
  const int taps = s.c * s.kh * s.kw;
  auto input_row = [&](int c, int row, int ow0) {
    return xp + (static_cast<std::ptrdiff_t>(c) * hp + row) * wp + ow0;
  };
  auto kernel_rows = [&](int c) {
    return w + (static_cast<std::ptrdiff_t>(f0) * s.c + c) * s.kh * s.kw;
  };
  int oh = 0;
  // Two output rows at a time (2·FB <= 16 of the 32 registers): input row oh + r
  // feeds kernel row r of the first and r - 1 of the second, loaded once, and
  // the loop overhead per tile is shared (LeNet's conv1 at one image ~3.3 ->
  // 2.97 us, K's conv1 7.0-7.5 -> 6.95, one core, quiet stretch). Each output
  // still sums its taps in (c, kh, kw) order after the bias: the one-row loop's bits.
  static_assert(FB <= 8, "two rows of FB accumulators must fit the registers");
  for (; oh + 2 <= s.oh; oh += 2)
    for (int ow0 = 0; ow0 < s.ow; ow0 += kTile) {
      __m512 a0[FB], a1[FB];
      for (int q = 0; q < FB; ++q) a0[q] = a1[q] = _mm512_set1_ps(b ? b[f0 + q] : 0.0f);
      for (int c = 0; c < s.c; ++c) {
        const float* wc = kernel_rows(c);
        row_taps_avx512<FB, false>(input_row(c, oh, ow0), s.kw, taps, wc, a0, nullptr, nullptr);
        for (int r = 1; r < s.kh; ++r)
          row_taps_avx512<FB, true>(input_row(c, oh + r, ow0), s.kw, taps, wc + r * s.kw, a0,
                                    wc + (r - 1) * s.kw, a1);
        row_taps_avx512<FB, false>(input_row(c, oh + s.kh, ow0), s.kw, taps, wc + (s.kh - 1) * s.kw,
                                   a1, nullptr, nullptr);
      }
      store_avx512<FB>(s, a0, act, y, f0, oh, ow0);
      store_avx512<FB>(s, a1, act, y, f0, oh + 1, ow0);
    }
  for (; oh < s.oh; ++oh)
    for (int ow0 = 0; ow0 < s.ow; ow0 += kTile) {
      __m512 acc[FB];
      for (int q = 0; q < FB; ++q) acc[q] = _mm512_set1_ps(b ? b[f0 + q] : 0.0f);
      for (int c = 0; c < s.c; ++c)
        for (int kh = 0; kh < s.kh; ++kh)
          row_taps_avx512<FB, false>(input_row(c, oh + kh, ow0), s.kw, taps,
                                     kernel_rows(c) + kh * s.kw, acc, nullptr, nullptr);
      store_avx512<FB>(s, acc, act, y, f0, oh, ow0);
    }
}

// A KH x KW kernel known at compile time (3x3, 5x5): output row oh, T 16-column
// tiles from ow0, FB filters from f0, T·FB accumulators. Per tap, T input
// vectors are loaded and each filter's weight is broadcast once into a register
// for the T tiles (block_avx512 takes two output rows a step instead, sharing
// the input loads, a broadcast per FMA: LeNet's conv1 at one image 2.4-3.2 ->
// 2.0 us, K's 6.8-7.5 -> 6.3-6.6 us, alternating in one process). Each output
// sums its taps in (c, kh, kw) order after the bias: block_avx512's bits.
template <int FB, int KH, int KW, int T>
__attribute__((target("avx512f,avx512vl,avx2,fma"), noinline)) void tiles_fixed(
    const DirectConvShape& s, const float* xp, int wp, int hp, const float* w, const float* b,
    ConvAct act, float* y, int f0, int oh, int ow0) {
  const int taps = s.c * KH * KW;
  __m512 acc[T][FB];
  for (int q = 0; q < FB; ++q) {
    const __m512 bias = _mm512_set1_ps(b ? b[f0 + q] : 0.0f);
    for (int t = 0; t < T; ++t) acc[t][q] = bias;
  }
  for (int c = 0; c < s.c; ++c) {
    const float* wc = w + (static_cast<std::ptrdiff_t>(f0) * s.c + c) * KH * KW;
    const float* xc = xp + (static_cast<std::ptrdiff_t>(c) * hp + oh) * wp + ow0;
    for (int kh = 0; kh < KH; ++kh) {
      const float* xr = xc + kh * wp;
#pragma GCC unroll 8
      for (int kw = 0; kw < KW; ++kw) {
        __m512 xv[T];
        for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(xr + t * kTile + kw);
        const float* wk = wc + kh * KW + kw;
        for (int q = 0; q < FB; ++q) {
          __m512 wv = _mm512_set1_ps(wk[static_cast<std::ptrdiff_t>(q) * taps]);
          if constexpr (T > 1) asm("" : "+v"(wv));  // one broadcast for the T tiles
          for (int t = 0; t < T; ++t) acc[t][q] = _mm512_fmadd_ps(wv, xv[t], acc[t][q]);
        }
      }
    }
  }
  for (int t = 0; t < T; ++t) store_avx512<FB>(s, acc[t], act, y, f0, oh, ow0 + t * kTile);
}

// FB filters over the whole output with the kernel size known: two tiles a step
// (FB <= 8: at most 16 accumulators), then a last single tile.
template <int FB, int KH, int KW>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void block_fixed(const DirectConvShape& s,
                                                                      const float* xp, int wp,
                                                                      int hp, const float* w,
                                                                      const float* b, ConvAct act,
                                                                      float* y, int f0) {
  for (int oh = 0; oh < s.oh; ++oh) {
    int ow0 = 0;
    for (; ow0 + kTile < s.ow; ow0 += 2 * kTile)
      tiles_fixed<FB, KH, KW, 2>(s, xp, wp, hp, w, b, act, y, f0, oh, ow0);
    if (ow0 < s.ow) tiles_fixed<FB, KH, KW, 1>(s, xp, wp, hp, w, b, act, y, f0, oh, ow0);
  }
}

template <int KH, int KW, int FB>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void rest_fixed(
    int rest, const DirectConvShape& s, const float* xp, int wp, int hp, const float* w,
    const float* b, ConvAct act, float* y, int f0) {
  if constexpr (FB > 0) {
    if (rest == FB) return block_fixed<FB, KH, KW>(s, xp, wp, hp, w, b, act, y, f0);
    rest_fixed<KH, KW, FB - 1>(rest, s, xp, wp, hp, w, b, act, y, f0);
  }
}

// All the filters, blocks of 8 then the rest, with the kernel size known.
template <int KH, int KW>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void run_fixed(const DirectConvShape& s,
                                                                    const float* xp, int wp, int hp,
                                                                    const float* w, const float* b,
                                                                    ConvAct act, float* y) {
  int f0 = 0;
  for (; f0 + 8 <= s.f; f0 += 8) block_fixed<8, KH, KW>(s, xp, wp, hp, w, b, act, y, f0);
  rest_fixed<KH, KW, 7>(s.f - f0, s, xp, wp, hp, w, b, act, y, f0);
}

// The same with two 8-wide accumulators per filter (AVX2 + FMA).
template <int FB>
__attribute__((target("avx2,fma"), always_inline)) inline void block_avx2(const DirectConvShape& s,
                                                                          const float* xp, int wp,
                                                                          int hp, const float* w,
                                                                          const float* b, bool relu,
                                                                          float* y, int f0) {
  const int taps = s.c * s.kh * s.kw;
  for (int oh = 0; oh < s.oh; ++oh)
    for (int ow0 = 0; ow0 < s.ow; ow0 += kTile) {
      __m256 lo[FB], hi[FB];
      for (int q = 0; q < FB; ++q) lo[q] = hi[q] = _mm256_set1_ps(b ? b[f0 + q] : 0.0f);
      for (int c = 0; c < s.c; ++c)
        for (int kh = 0; kh < s.kh; ++kh) {
          const float* xr = xp + (static_cast<std::ptrdiff_t>(c) * hp + oh + kh) * wp + ow0;
          const float* wr =
              w + (static_cast<std::ptrdiff_t>(f0) * s.c + c) * s.kh * s.kw + kh * s.kw;
          for (int kw = 0; kw < s.kw; ++kw) {
            const __m256 x0 = _mm256_loadu_ps(xr + kw), x1 = _mm256_loadu_ps(xr + kw + 8);
            for (int q = 0; q < FB; ++q) {
              const __m256 wv = _mm256_set1_ps(wr[static_cast<std::ptrdiff_t>(q) * taps + kw]);
              lo[q] = _mm256_fmadd_ps(wv, x0, lo[q]);
              hi[q] = _mm256_fmadd_ps(wv, x1, hi[q]);
            }
          }
        }
      const int n = std::min(kTile, s.ow - ow0);
      for (int q = 0; q < FB; ++q) {
        if (relu) {
          lo[q] = _mm256_max_ps(lo[q], _mm256_setzero_ps());
          hi[q] = _mm256_max_ps(hi[q], _mm256_setzero_ps());
        }
        alignas(32) float out[kTile];
        _mm256_store_ps(out, lo[q]);
        _mm256_store_ps(out + 8, hi[q]);
        std::memcpy(y + (static_cast<std::ptrdiff_t>(f0 + q) * s.oh + oh) * s.ow + ow0, out,
                    static_cast<std::size_t>(n) * sizeof(float));
      }
    }
}

// One block of the `rest` (< FB + 1) filters left after the full blocks.
template <int FB>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void rest_avx512(
    int rest, const DirectConvShape& s, const float* xp, int wp, int hp, const float* w,
    const float* b, ConvAct act, float* y, int f0) {
  if constexpr (FB > 0) {
    if (rest == FB) return block_avx512<FB>(s, xp, wp, hp, w, b, act, y, f0);
    rest_avx512<FB - 1>(rest, s, xp, wp, hp, w, b, act, y, f0);
  }
}
template <int FB>
__attribute__((target("avx2,fma"))) void rest_avx2(int rest, const DirectConvShape& s,
                                                   const float* xp, int wp, int hp, const float* w,
                                                   const float* b, bool relu, float* y, int f0) {
  if constexpr (FB > 0) {
    if (rest == FB) return block_avx2<FB>(s, xp, wp, hp, w, b, relu, y, f0);
    rest_avx2<FB - 1>(rest, s, xp, wp, hp, w, b, relu, y, f0);
  }
}

// AVX-512: blocks of 8 filters, 8 independent FMA chains, enough to cover the
// latency of two FMA units (blocks of 4 leave half of it idle).
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void run_avx512(const DirectConvShape& s,
                                                                     const float* xp,
                                                                     const float* w, const float* b,
                                                                     ConvAct act, float* y) {
  const int wp = padded_width(s), hp = padded_height(s);
  if (s.kh == 5 && s.kw == 5) return run_fixed<5, 5>(s, xp, wp, hp, w, b, act, y);
  if (s.kh == 3 && s.kw == 3) return run_fixed<3, 3>(s, xp, wp, hp, w, b, act, y);
  int f0 = 0;
  for (; f0 + 8 <= s.f; f0 += 8) block_avx512<8>(s, xp, wp, hp, w, b, act, y, f0);
  rest_avx512<7>(s.f - f0, s, xp, wp, hp, w, b, act, y, f0);
}
// AVX2: blocks of 4 filters × two ymm halves (8 chains; 8 filters would need 16
// accumulators, all of AVX2's registers).
__attribute__((target("avx2,fma"))) void run_avx2(const DirectConvShape& s, const float* xp,
                                                  const float* w, const float* b, bool relu,
                                                  float* y) {
  const int wp = padded_width(s), hp = padded_height(s);
  int f0 = 0;
  for (; f0 + 4 <= s.f; f0 += 4) block_avx2<4>(s, xp, wp, hp, w, b, relu, y, f0);
  rest_avx2<3>(s.f - f0, s, xp, wp, hp, w, b, relu, y, f0);
}

// Filters in the vector (AVX-512): one accumulator per output column of a block
// of PB columns, 16 filters in its lanes, so a layer with few output columns
// and many filters (LeNet's conv2: 10 columns, 16 filters) fills every lane.
// The weights are first laid out as wt (C, KH, KW, Fp) with Fp = F rounded up to
// 16 (zeros past F). Each tap adds w · x exactly as the column kernel does (one
// FMA per tap, taps in (c, kh, kw) order after the bias), so the two give the
// same bits.
// r[i][j] -> r[j][i] for a 16 x 16 block in registers: 32-bit, then 64-bit
// interleaves within 128-bit lanes, then two rounds of 128-bit lane shuffles
// (64 shuffles instead of 256 scalar stores through memory). (The masked forms,
// all lanes selected: the plain ones start from an undefined vector, which GCC
// 12 reports as maybe uninitialised.)
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline void transpose16(
    __m512* r) {
  const __mmask16 all = 0xFFFF;
  const __mmask8 all8 = 0xFF;
  __m512 t[16], u[16];
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_maskz_unpacklo_ps(all, r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_maskz_unpackhi_ps(all, r[2 * k], r[2 * k + 1]);
  }
  for (int k = 0; k < 4; ++k) {
    const __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * k + 1]), d = _mm512_castps_pd(t[4 * k + 3]);
    u[4 * k] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(all8, a, b));
    u[4 * k + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(all8, a, b));
    u[4 * k + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(all8, c, d));
    u[4 * k + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(all8, c, d));
  }
  // u[4k + c], 128-bit lane L: rows 4k .. 4k + 3 of column 4L + c
  for (int c = 0; c < 4; ++c) {
    const __m512 v0 = _mm512_maskz_shuffle_f32x4(all, u[c], u[4 + c], 0x88);
    const __m512 v1 = _mm512_maskz_shuffle_f32x4(all, u[c], u[4 + c], 0xDD);
    const __m512 w0 = _mm512_maskz_shuffle_f32x4(all, u[8 + c], u[12 + c], 0x88);
    const __m512 w1 = _mm512_maskz_shuffle_f32x4(all, u[8 + c], u[12 + c], 0xDD);
    r[c] = _mm512_maskz_shuffle_f32x4(all, v0, w0, 0x88);
    r[8 + c] = _mm512_maskz_shuffle_f32x4(all, v0, w0, 0xDD);
    r[4 + c] = _mm512_maskz_shuffle_f32x4(all, v1, w1, 0x88);
    r[12 + c] = _mm512_maskz_shuffle_f32x4(all, v1, w1, 0xDD);
  }
}

// dz (F planes of P pixels) turned pixel-major for filter group g: rows[j] =
// pixel p0 + j's filters 16g .. 16g + 15 (zeros past F), j < n <= 16.
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline void pixels_of(
    const float* dz, int F, int P, int g, int p0, int n, __m512* rows) {
  const int nf = std::min(16, F - 16 * g);
  const __mmask16 pm = static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
  for (int f = 0; f < 16; ++f)
    rows[f] = f < nf
                  ? _mm512_maskz_loadu_ps(pm, dz + static_cast<std::ptrdiff_t>(16 * g + f) * P + p0)
                  : _mm512_setzero_ps();
  transpose16(rows);
}

// KW > 0: the kernel width known at compile time, and each kernel row's PB + KW − 1
// input values broadcast into registers once and used by all its KW taps (one
// broadcast for ~PB·KW/(PB + KW − 1) FMAs instead of one each, which would
// leave the loads, not the FMAs, the limit).
// KW = 0: any width, a broadcast per FMA. The same FMAs in the same order.
template <int PB, int KW>
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline void fv_block(
    const DirectConvShape& s, const float* xp, int wp, int hp, const float* wt, int fp,
    const float* b, ConvAct act, float* y, int oh, int ow0, int g) {
  const int nf = std::min(16, s.f - 16 * g);
  const __mmask16 fmask = static_cast<__mmask16>((1u << nf) - 1u);
  const __m512 bias = b ? _mm512_maskz_loadu_ps(fmask, b + 16 * g) : _mm512_setzero_ps();
  __m512 acc[PB];
  for (int p = 0; p < PB; ++p) acc[p] = bias;
  for (int c = 0; c < s.c; ++c)
    for (int kh = 0; kh < s.kh; ++kh) {
      const float* xr = xp + (static_cast<std::ptrdiff_t>(c) * hp + oh + kh) * wp + ow0;
      const float* wr = wt + (static_cast<std::ptrdiff_t>(c) * s.kh + kh) * s.kw * fp + 16 * g;
      if constexpr (KW > 0) {
        __m512 wv[KW];
#pragma GCC unroll 8
        for (int kw = 0; kw < KW; ++kw) {
          wv[kw] = _mm512_load_ps(wr + static_cast<std::ptrdiff_t>(kw) * fp);
        }
        // Input column j feeds output p = j − kw through tap kw: each output
        // still takes its taps in kw order.
#pragma GCC unroll 32
        for (int j = 0; j < PB + KW - 1; ++j) {
          __m512 xv = _mm512_set1_ps(xr[j]);
          asm("" : "+v"(xv));  // one broadcast, not one folded into each FMA
#pragma GCC unroll 8
          for (int kw = 0; kw < KW; ++kw)
            if (j - kw >= 0 && j - kw < PB) acc[j - kw] = _mm512_fmadd_ps(xv, wv[kw], acc[j - kw]);
        }
      } else {
        for (int kw = 0; kw < s.kw; ++kw) {
          const __m512 wv = _mm512_load_ps(wr + static_cast<std::ptrdiff_t>(kw) * fp);
          for (int p = 0; p < PB; ++p)
            acc[p] = _mm512_fmadd_ps(_mm512_set1_ps(xr[p + kw]), wv, acc[p]);
        }
      }
    }
  __m512 rows[16];
  for (int p = 0; p < 16; ++p) {
    rows[p] = p < PB ? epilogue(act, acc[p]) : _mm512_setzero_ps();
  }
  transpose16(rows);  // rows[f]: filter f's PB outputs
  const __mmask16 cols = static_cast<__mmask16>((1u << PB) - 1u);
  for (int f = 0; f < nf; ++f)
    _mm512_mask_storeu_ps(y + (static_cast<std::ptrdiff_t>(16 * g + f) * s.oh + oh) * s.ow + ow0,
                          cols, rows[f]);
}

template <int PB>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void fv_dispatch(
    int pb, const DirectConvShape& s, const float* xp, int wp, int hp, const float* wt, int fp,
    const float* b, ConvAct act, float* y, int oh, int ow0, int g) {
  if constexpr (PB > 0) {
    if (pb == PB) {
      if (s.kw == 5) return fv_block<PB, 5>(s, xp, wp, hp, wt, fp, b, act, y, oh, ow0, g);
      if (s.kw == 3) return fv_block<PB, 3>(s, xp, wp, hp, wt, fp, b, act, y, oh, ow0, g);
      return fv_block<PB, 0>(s, xp, wp, hp, wt, fp, b, act, y, oh, ow0, g);
    }
    fv_dispatch<PB - 1>(pb, s, xp, wp, hp, wt, fp, b, act, y, oh, ow0, g);
  }
}

constexpr int kMaxColumns = 12;  // accumulators per block (of 32 registers)

__attribute__((target("avx512f,avx512vl,avx2,fma"))) void run_fv_avx512(const DirectConvShape& s,
                                                                        const float* xp,
                                                                        const float* b, ConvAct act,
                                                                        float* y, const float* wt) {
  const int wp = padded_width(s), hp = padded_height(s), fp = (s.f + 15) / 16 * 16;
  // Columns in nearly equal blocks of at most kMaxColumns (10 -> 10; 26 -> 9, 9, 8).
  const int blocks = (s.ow + kMaxColumns - 1) / kMaxColumns;
  const int base = s.ow / blocks, extra = s.ow % blocks;
  for (int g = 0; g < fp / 16; ++g)
    for (int oh = 0; oh < s.oh; ++oh)
      for (int k = 0, ow0 = 0; k < blocks; ++k) {
        const int pb = base + (k < extra ? 1 : 0);
        fv_dispatch<kMaxColumns>(pb, s, xp, wp, hp, wt, fp, b, act, y, oh, ow0, g);
        ow0 += pb;
      }
}

// Whether the filters-in-the-vector kernel fills more lanes than the column
// tiles, F / (16·⌈F/16⌉) against OW / (16·⌈OW/16⌉), with enough taps per output
// to pay for its transposed store (a 3x3 single-channel layer has too few).
bool filters_in_vector(const DirectConvShape& s) {
  const double by_filters = s.f / (16.0 * ((s.f + 15) / 16));
  const double by_columns = s.ow / (16.0 * ((s.ow + 15) / 16));
  return s.f >= 16 && s.c * s.kh * s.kw >= 32 && by_filters > by_columns;
}
#endif

}  // namespace

bool direct_conv_avx512() {
#if defined(__x86_64__) && defined(__GNUC__)
  return cpu::allows(cpu::Isa::avx512) && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

std::size_t direct_conv_scratch(const DirectConvShape& s) {
  // + the packed weights, 64-byte aligned after the padded input
  return padded_floats(s) + 16 + direct_conv_packed_size(s);
}

std::size_t direct_conv_packed_size(const DirectConvShape& s) {
  const std::size_t fp = static_cast<std::size_t>((s.f + 15) / 16 * 16);
  return static_cast<std::size_t>(s.c * s.kh * s.kw) * fp;
}

void direct_conv_pack(const DirectConvShape& s, const float* w, float* packed) {
  const int fp = (s.f + 15) / 16 * 16, taps = s.c * s.kh * s.kw;
  for (int t = 0; t < taps; ++t)
    for (int f = 0; f < fp; ++f)
      packed[static_cast<std::ptrdiff_t>(t) * fp + f] =
          f < s.f ? w[static_cast<std::ptrdiff_t>(f) * taps + t] : 0.0f;
}

// ---- Weight gradient ----------------------------------------------------------

namespace {

// Filters per group of the columns body: G · KW accumulators stay in registers
// with G dz vectors and one input vector beside them.
constexpr int wgrad_group(int kw) { return kw <= 2 ? 8 : kw <= 4 ? 4 : kw <= 5 ? 3 : 2; }

#if defined(__x86_64__) && defined(__GNUC__)
// dz (F, P) of one image as (P, Fp): pixel p's filters in dzt[p·Fp ..], zeros
// past F (16 pixels a step, transposed in registers).
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void pixel_major(const float* dz, int F, int P,
                                                                      int fp, float* dzt) {
  for (int g = 0; g < fp / 16; ++g)
    for (int p0 = 0; p0 < P; p0 += 16) {
      const int n = std::min(16, P - p0);
      __m512 rows[16];
      pixels_of(dz, F, P, g, p0, n, rows);
      for (int j = 0; j < n; ++j)
        _mm512_store_ps(dzt + static_cast<std::ptrdiff_t>(p0 + j) * fp + 16 * g, rows[j]);
    }
}

// Kernel rows kh .. kh + KR - 1 (KR <= 2) of input channel c, filter group g:
// KR · KW accumulators of 16 filters summed over the m images and all pixels.
template <int KW, int KR>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void wgrad_rows(const DirectConvShape& s,
                                                                     int m, const float* xp,
                                                                     const float* dzt, int fp,
                                                                     float* dw, int c, int kh,
                                                                     int g) {
  const int wp = padded_width(s), hp = padded_height(s), P = s.oh * s.ow;
  __m512 acc[KR][KW];
  for (int r = 0; r < KR; ++r)
    for (int q = 0; q < KW; ++q) acc[r][q] = _mm512_setzero_ps();
  for (int i = 0; i < m; ++i) {
    const float* xi = xp + static_cast<std::ptrdiff_t>(i) * padded_floats(s) +
                      static_cast<std::ptrdiff_t>(c) * hp * wp;
    const float* di = dzt + static_cast<std::ptrdiff_t>(i) * P * fp + 16 * g;
    for (int oh = 0; oh < s.oh; ++oh) {
      const float* x0 = xi + static_cast<std::ptrdiff_t>(oh + kh) * wp;
      for (int ow = 0; ow < s.ow; ++ow) {
        const __m512 d = _mm512_load_ps(di + static_cast<std::ptrdiff_t>(oh * s.ow + ow) * fp);
        for (int r = 0; r < KR; ++r)
          for (int q = 0; q < KW; ++q)
            acc[r][q] = _mm512_fmadd_ps(_mm512_set1_ps(x0[r * wp + ow + q]), d, acc[r][q]);
      }
    }
  }
  const int nf = std::min(16, s.f - 16 * g);
  for (int r = 0; r < KR; ++r)
    for (int q = 0; q < KW; ++q) {
      alignas(64) float t[16];
      _mm512_store_ps(t, acc[r][q]);
      for (int f = 0; f < nf; ++f)
        dw[((static_cast<std::ptrdiff_t>(16 * g + f) * s.c + c) * s.kh + kh + r) * s.kw + q] +=
            t[f];
    }
}

// Pixels ow0 .. ow0 + B − 1 of one output row for two kernel rows, whose input
// rows start at x0 and x0 + second: the B + KW − 1 inputs of each broadcast
// once into registers and used by the B pixels' KW taps, one dz load per pixel.
template <int KW, int B>
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline void wgrad_pixels(
    const float* x0, std::ptrdiff_t second, const float* di, int fp, __m512 (&acc)[2][KW]) {
  __m512 xv[2][B + KW - 1];
#pragma GCC unroll 2
  for (int r = 0; r < 2; ++r)
#pragma GCC unroll 16
    for (int j = 0; j < B + KW - 1; ++j) {
      xv[r][j] = _mm512_set1_ps(x0[r * second + j]);
      asm("" : "+v"(xv[r][j]));  // one broadcast, not one folded into each FMA
    }
#pragma GCC unroll 8
  for (int p = 0; p < B; ++p) {
    const __m512 d = _mm512_load_ps(di + static_cast<std::ptrdiff_t>(p) * fp);
#pragma GCC unroll 2
    for (int r = 0; r < 2; ++r)
#pragma GCC unroll 8
      for (int q = 0; q < KW; ++q) acc[r][q] = _mm512_fmadd_ps(xv[r][p + q], d, acc[r][q]);
  }
}

template <int KW, int B>
__attribute__((target("avx512f,avx512vl,avx2,fma"), always_inline)) inline void wgrad_pixels_rest(
    int b, const float* x0, std::ptrdiff_t second, const float* di, int fp, __m512 (&acc)[2][KW]) {
  if constexpr (B > 0) {
    if (b == B) return wgrad_pixels<KW, B>(x0, second, di, fp, acc);
    wgrad_pixels_rest<KW, B - 1>(b, x0, second, di, fp, acc);
  }
}

// Two kernel rows (c0, kh0) and (c1, kh1), of one input channel or of two (the
// last row of one and the first of the next, so a 5-row kernel needs no lone
// rows), as wgrad_rows<KW, 2> sums them but with the inputs in registers
// (2·KW accumulators, 2·(5 + KW − 1) broadcasts: KW <= 5), pixels 5 at a time;
// the same sums in the same order (one broadcast per FMA would leave the loads
// the limit).
template <int KW>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void wgrad_row_pair(const DirectConvShape& s,
                                                                         int m, const float* xp,
                                                                         const float* dzt, int fp,
                                                                         float* dw, int c0, int kh0,
                                                                         int c1, int kh1, int g) {
  constexpr int B = 5;
  const int wp = padded_width(s), hp = padded_height(s), P = s.oh * s.ow;
  const std::ptrdiff_t second = (static_cast<std::ptrdiff_t>(c1 - c0) * hp + kh1 - kh0) * wp;
  __m512 acc[2][KW];
  for (int r = 0; r < 2; ++r)
    for (int q = 0; q < KW; ++q) acc[r][q] = _mm512_setzero_ps();
  for (int i = 0; i < m; ++i) {
    const float* xi = xp + static_cast<std::ptrdiff_t>(i) * padded_floats(s) +
                      static_cast<std::ptrdiff_t>(c0) * hp * wp;
    const float* di = dzt + static_cast<std::ptrdiff_t>(i) * P * fp + 16 * g;
    for (int oh = 0; oh < s.oh; ++oh) {
      const float* x0 = xi + static_cast<std::ptrdiff_t>(oh + kh0) * wp;
      const float* d0 = di + static_cast<std::ptrdiff_t>(oh) * s.ow * fp;
      int ow = 0;
      for (; ow + B <= s.ow; ow += B)
        wgrad_pixels<KW, B>(x0 + ow, second, d0 + static_cast<std::ptrdiff_t>(ow) * fp, fp, acc);
      if (ow < s.ow)
        wgrad_pixels_rest<KW, B - 1>(s.ow - ow, x0 + ow, second,
                                     d0 + static_cast<std::ptrdiff_t>(ow) * fp, fp, acc);
    }
  }
  const int nf = std::min(16, s.f - 16 * g);
  const int rc[2] = {c0, c1}, rk[2] = {kh0, kh1};
  for (int r = 0; r < 2; ++r)
    for (int q = 0; q < KW; ++q) {
      alignas(64) float t[16];
      _mm512_store_ps(t, acc[r][q]);
      for (int f = 0; f < nf; ++f)
        dw[((static_cast<std::ptrdiff_t>(16 * g + f) * s.c + rc[r]) * s.kh + rk[r]) * s.kw + q] +=
            t[f];
    }
}

template <int KW>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void wgrad_avx512(const DirectConvShape& s,
                                                                       int m, const float* xp,
                                                                       const float* dzt, int fp,
                                                                       float* dw) {
  for (int g = 0; g < fp / 16; ++g) {
    if constexpr (KW <= 5) {
      // The (c, kh) rows of all channels two at a pass, their inputs in registers.
      const int rows = s.c * s.kh;
      int r = 0;
      for (; r + 2 <= rows; r += 2)
        wgrad_row_pair<KW>(s, m, xp, dzt, fp, dw, r / s.kh, r % s.kh, (r + 1) / s.kh,
                           (r + 1) % s.kh, g);
      if (r < rows) wgrad_rows<KW, 1>(s, m, xp, dzt, fp, dw, r / s.kh, r % s.kh, g);
    } else {
      for (int c = 0; c < s.c; ++c) {
        int kh = 0;
        for (; kh + 2 <= s.kh; kh += 2) wgrad_rows<KW, 2>(s, m, xp, dzt, fp, dw, c, kh, g);
        if (kh < s.kh) wgrad_rows<KW, 1>(s, m, xp, dzt, fp, dw, c, kh, g);
      }
    }
  }
}

template <int KW>
void wgrad_dispatch(const DirectConvShape& s, int m, const float* xp, const float* dzt, int fp,
                    float* dw) {
  if constexpr (KW > 0) {
    if (s.kw == KW) return wgrad_avx512<KW>(s, m, xp, dzt, fp, dw);
    wgrad_dispatch<KW - 1>(s, m, xp, dzt, fp, dw);
  }
}

// The columns body, for layers with few filters (LeNet's first: 6 of the 16
// lanes the filters body would use): 16 output columns in the vector. For input
// channel c, kernel row kh and filters f0 .. f0 + G − 1, accumulator [j][q]
// sums dz[i, f0 + j, oh, ow..ow+15] · x[i, c, oh + kh, ow + q ..] over the
// images, rows and column tiles (lanes past the last column load dz as zero),
// and is reduced across its lanes at the end.
template <int KW>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void wgrad_columns_row(
    const DirectConvShape& s, int m, const float* xp, const float* dz, float* dw, int c, int kh,
    int f0) {
  constexpr int G = wgrad_group(KW);
  const int wp = padded_width(s), hp = padded_height(s), P = s.oh * s.ow;
  const int tiles = (s.ow + kTile - 1) / kTile, ng = std::min(G, s.f - f0);
  const __mmask16 tail = static_cast<__mmask16>((1u << (s.ow - (tiles - 1) * kTile)) - 1u);
  __m512 acc[G][KW];
#pragma GCC unroll 16
  for (int j = 0; j < G; ++j)
    for (int q = 0; q < KW; ++q) acc[j][q] = _mm512_setzero_ps();
  // Filters past the last read filter 0's rows under an all-zero mask (nothing).
  __mmask16 fmask[G];
  std::ptrdiff_t frow[G];
#pragma GCC unroll 16
  for (int j = 0; j < G; ++j) {
    fmask[j] = j < ng ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>(0);
    frow[j] = j < ng ? static_cast<std::ptrdiff_t>(j) * P : 0;
  }
  for (int t = 0; t < tiles; ++t) {
    const __mmask16 k = t + 1 < tiles ? static_cast<__mmask16>(0xFFFF) : tail;
    __mmask16 kj[G];
#pragma GCC unroll 16
    for (int j = 0; j < G; ++j) kj[j] = k & fmask[j];
    for (int i = 0; i < m; ++i) {
      const float* xr = xp + static_cast<std::ptrdiff_t>(i) * padded_floats(s) +
                        (static_cast<std::ptrdiff_t>(c) * hp + kh) * wp + t * kTile;
      const float* dr = dz + (static_cast<std::ptrdiff_t>(i) * s.f + f0) * P + t * kTile;
      for (int oh = 0; oh < s.oh; ++oh, xr += wp, dr += s.ow) {
        __m512 d[G];
#pragma GCC unroll 16
        for (int j = 0; j < G; ++j) d[j] = _mm512_maskz_loadu_ps(kj[j], dr + frow[j]);
#pragma GCC unroll 16
        for (int q = 0; q < KW; ++q) {
          __m512 xv = _mm512_loadu_ps(xr + q);
          // One load for the G products: GCC would fold it into each multiply-add,
          // G loads of a line-crossing vector (LeNet conv1: 5.7 -> 3.2-3.7 us an image).
          asm("" : "+v"(xv));
          for (int j = 0; j < G; ++j) acc[j][q] = _mm512_fmadd_ps(xv, d[j], acc[j][q]);
        }
      }
    }
  }
// Over the compile-time G (a bound known only at run time made GCC keep acc in
// memory, storing all of it every iteration: 2.5x slower).
#pragma GCC unroll 16
  for (int j = 0; j < G; ++j)
    for (int q = 0; q < KW; ++q) {
      if (j >= ng) continue;
      // (Through memory: GCC 12 warns about _mm512_reduce_add_ps' undefined upper half.)
      alignas(64) float t[16];
      _mm512_store_ps(t, acc[j][q]);
      float sum = 0.0f;
      for (float v : t) sum += v;
      dw[((static_cast<std::ptrdiff_t>(f0 + j) * s.c + c) * s.kh + kh) * s.kw + q] += sum;
    }
}

template <int KW>
void wgrad_columns_dispatch(const DirectConvShape& s, int m, const float* xp, const float* dz,
                            float* dw) {
  if constexpr (KW > 0) {
    if (s.kw != KW) return wgrad_columns_dispatch<KW - 1>(s, m, xp, dz, dw);
    for (int c = 0; c < s.c; ++c)
      for (int kh = 0; kh < s.kh; ++kh)
        for (int f0 = 0; f0 < s.f; f0 += wgrad_group(KW))
          wgrad_columns_row<KW>(s, m, xp, dz, dw, c, kh, f0);
  }
}
#endif

// Images a pass of the columns body, padded just before it: each pass over the
// kernel rows and filter groups then reads x and dz from L1, not from L2
// (LeNet's conv1 on one core: 3.5-3.7 us an image eight at a time, 2.9-3.0 two
// at a time).
constexpr int kColumnImages = 2;

// Whether the columns body beats the filters body: the share of its lanes and
// filter slots doing work against the filters body's share of 16-filter vectors.
bool wgrad_by_columns(const DirectConvShape& s) {
  const int g = wgrad_group(s.kw);
  const double by_filters = s.f / (16.0 * ((s.f + 15) / 16));
  const double by_columns =
      s.ow / (16.0 * ((s.ow + 15) / 16)) * (s.f / (static_cast<double>(g) * ((s.f + g - 1) / g)));
  return by_columns > by_filters;
}

}  // namespace

bool direct_conv_wgrad_vectorised(const DirectConvShape& s) {
  return s.kw >= 1 && s.kw <= 8 && direct_conv_avx512();
}

bool direct_conv_wgrad_by_columns(const DirectConvShape& s) {
  return direct_conv_wgrad_vectorised(s) && wgrad_by_columns(s);
}

bool direct_conv_wgrad_columns_suit(const DirectConvShape& s) { return wgrad_by_columns(s); }

std::size_t direct_conv_wgrad_scratch(const DirectConvShape& s, int m) {
  const std::size_t fp = static_cast<std::size_t>((s.f + 15) / 16 * 16);
  const std::size_t mm = static_cast<std::size_t>(std::max(m, 0));
  // The columns body pads kColumnImages at a time and needs no dzᵀ.
  if (direct_conv_wgrad_by_columns(s))
    return std::min<std::size_t>(mm, kColumnImages) * padded_floats(s) + 16;
  return mm * padded_floats(s) + 16 +
         mm * static_cast<std::size_t>(s.oh) * static_cast<std::size_t>(s.ow) * fp;
}

void direct_conv_wgrad(const DirectConvShape& s, int m, const float* x, const float* dz, float* dw,
                       float* scratch) {
  const std::size_t padded = padded_floats(s);
  const int P = s.oh * s.ow;
  float* xp = scratch;
#if defined(__x86_64__) && defined(__GNUC__)
  if (direct_conv_wgrad_by_columns(s)) {
    // kColumnImages a pass, padded just before.
    for (int i0 = 0; i0 < m; i0 += kColumnImages) {
      const int n = std::min(kColumnImages, m - i0);
      for (int i = 0; i < n; ++i)
        pad_input(s, x + static_cast<std::ptrdiff_t>(i0 + i) * s.c * s.h * s.w, xp + i * padded,
                  padded);
      wgrad_columns_dispatch<8>(s, n, xp, dz + static_cast<std::ptrdiff_t>(i0) * s.f * P, dw);
    }
    return;
  }
#endif
  for (int i = 0; i < m; ++i)
    pad_input(s, x + static_cast<std::ptrdiff_t>(i) * s.c * s.h * s.w, xp + i * padded, padded);
#if defined(__x86_64__) && defined(__GNUC__)
  if (direct_conv_wgrad_vectorised(s)) {
    // dz transposed to (image, pixel, Fp), 64-byte aligned, zeros past F.
    const int fp = (s.f + 15) / 16 * 16;
    float* dzt = align64(xp + m * padded);
    for (int i = 0; i < m; ++i)
      pixel_major(dz + static_cast<std::ptrdiff_t>(i) * s.f * P, s.f, P, fp,
                  dzt + static_cast<std::ptrdiff_t>(i) * P * fp);
    return wgrad_dispatch<8>(s, m, xp, dzt, fp, dw);
  }
#endif
  // Plain loops, the same sums in the same order per element.
  const int wp = padded_width(s), hp = padded_height(s);
  for (int f = 0; f < s.f; ++f)
    for (int c = 0; c < s.c; ++c)
      for (int kh = 0; kh < s.kh; ++kh)
        for (int kw = 0; kw < s.kw; ++kw) {
          float acc = 0.0f;
          for (int i = 0; i < m; ++i)
            for (int oh = 0; oh < s.oh; ++oh)
              for (int ow = 0; ow < s.ow; ++ow)
                acc +=
                    dz[(static_cast<std::ptrdiff_t>(i) * s.f + f) * P + oh * s.ow + ow] *
                    xp[i * padded + (static_cast<std::ptrdiff_t>(c) * hp + oh + kh) * wp + ow + kw];
          dw[((static_cast<std::ptrdiff_t>(f) * s.c + c) * s.kh + kh) * s.kw + kw] += acc;
        }
}

void direct_conv(const DirectConvShape& s, const float* x, const float* w, const float* b,
                 ConvAct act, float* y, float* scratch, const float* packed) {
  // Without packed weights the whole scratch is cleared, the region they are
  // packed into too although it is written in full (clearing only the padded
  // input measured slower, for a cause not established); with them (a layer's
  // cache) only the padded input is.
  pad_input(s, x, scratch, packed ? padded_floats(s) : direct_conv_scratch(s));
  const bool relu = act == ConvAct::relu;
#if defined(__x86_64__) && defined(__GNUC__)
  // tanh in the AVX-512 epilogue where kernels::tanh computes it the same way,
  // else kernels::tanh over the output afterwards.
  if (direct_conv_avx512() && (act != ConvAct::tanh || detail::tanh_is_tanh16())) {
    if (filters_in_vector(s)) {
      if (!packed) {
        float* wt = align64(scratch + padded_floats(s));
        direct_conv_pack(s, w, wt);
        packed = wt;
      }
      return run_fv_avx512(s, scratch, b, act, y, packed);
    }
    return run_avx512(s, scratch, w, b, act, y);
  }
  if (cpu::allows(cpu::Isa::avx2) && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma")) {
    run_avx2(s, scratch, w, b, relu, y);
  } else {
    run_plain(s, scratch, w, b, relu, y);
  }
#else
  run_plain(s, scratch, w, b, relu, y);
#endif
  if (act == ConvAct::tanh) kernels::tanh(y, static_cast<std::ptrdiff_t>(s.f) * s.oh * s.ow);
}

// ---- Input gradient ------------------------------------------------------------

namespace {

constexpr int kDgradPixels = 4;    // output pixels per block
constexpr int kDgradChannels = 6;  // input channels per block (4 × 6 accumulators)

// The zero-bordered dz: row oy at oy + KH − 1, column ox at ox + KW − 1, rows
// and columns enough for every (h, w) of x plus a block's overrun past W.
int dgrad_rows(const DirectConvShape& s) { return std::max(s.h + s.pad_top, s.oh) + s.kh - 1; }
int dgrad_cols(const DirectConvShape& s) {
  const int w4 = (s.w + kDgradPixels - 1) / kDgradPixels * kDgradPixels;
  return std::max(w4 + s.pad_left, s.ow) + s.kw - 1;
}

#if defined(__x86_64__) && defined(__GNUC__)
// The sums of the 16 lanes of a0 .. a3, in lanes 0 .. 3: halves folded pairwise,
// then quarters, then within each 128-bit lane. (The masked shuffles, all lanes
// selected: the plain _mm512_shuffle_f32x4 / _mm512_permute_ps start from
// _mm512_undefined_ps, which GCC 12 reports as maybe uninitialised.)
__attribute__((target("avx512f,avx512vl,avx2,fma"))) inline __m512 hsum4(__m512 a0, __m512 a1,
                                                                         __m512 a2, __m512 a3) {
  const __mmask16 all = 0xFFFF;
  // (a.lo256 + a.hi256 | b.lo256 + b.hi256)
  const __m512 z01 = _mm512_add_ps(_mm512_mask_shuffle_f32x4(a0, all, a0, a1, 0x44),
                                   _mm512_mask_shuffle_f32x4(a0, all, a0, a1, 0xEE));
  const __m512 z23 = _mm512_add_ps(_mm512_mask_shuffle_f32x4(a2, all, a2, a3, 0x44),
                                   _mm512_mask_shuffle_f32x4(a2, all, a2, a3, 0xEE));
  // 128-bit lane k: a_k folded to 4 floats
  __m512 v = _mm512_add_ps(_mm512_mask_shuffle_f32x4(z01, all, z01, z23, 0x88),
                           _mm512_mask_shuffle_f32x4(z01, all, z01, z23, 0xDD));
  v = _mm512_add_ps(v, _mm512_mask_permute_ps(v, all, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_mask_permute_ps(v, all, v, 0xB1));
  const __m512i first = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0);
  return _mm512_mask_permutexvar_ps(v, all, first, v);  // the sums in lanes 0..3
}

// dz (F <= 16, OH, OW) into the zero-bordered (row, column, 16) layout: each
// output row's pixels 16 at a time, transposed in registers.
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void bordered_pixel_major(
    const DirectConvShape& s, const float* dz, int pw, float* dzp) {
  const int P = s.oh * s.ow;
  for (int oh = 0; oh < s.oh; ++oh)
    for (int ow0 = 0; ow0 < s.ow; ow0 += 16) {
      const int n = std::min(16, s.ow - ow0);
      __m512 rows[16];
      pixels_of(dz, s.f, P, 0, oh * s.ow + ow0, n, rows);
      float* v = dzp + (static_cast<std::ptrdiff_t>(oh + s.kh - 1) * pw + ow0 + s.kw - 1) * 16;
      for (int j = 0; j < n; ++j) _mm512_store_ps(v + 16 * j, rows[j]);
    }
}

// Channels c0 .. c0 + CB − 1 of dx.
template <int CB>
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void dgrad_channels(const DirectConvShape& s,
                                                                         const float* dzp,
                                                                         const float* wt, float* dx,
                                                                         int c0) {
  const int pw = dgrad_cols(s);
  for (int h = 0; h < s.h; ++h) {
    // Kernel rows whose dz row h + pad_top − kh exists.
    const int kh0 = std::max(0, h + s.pad_top - s.oh + 1), kh1 = std::min(s.kh, h + s.pad_top + 1);
    for (int w0 = 0; w0 < s.w; w0 += kDgradPixels) {
      __m512 acc[kDgradPixels][CB];
#pragma GCC unroll 8
      for (int j = 0; j < kDgradPixels; ++j)
#pragma GCC unroll 8
        for (int c = 0; c < CB; ++c) acc[j][c] = _mm512_setzero_ps();
      // Kernel columns whose dz column w + pad_left − kw exists for some pixel of the block.
      const int kw0 = std::max(0, w0 + s.pad_left - s.ow + 1),
                kw1 = std::min(s.kw, w0 + kDgradPixels - 1 + s.pad_left + 1);
      for (int kh = kh0; kh < kh1; ++kh) {
        const float* drow = dzp + (static_cast<std::ptrdiff_t>(h + s.pad_top - kh + s.kh - 1) * pw +
                                   w0 + s.pad_left + s.kw - 1) *
                                      16;
        const float* wrow = wt + (static_cast<std::ptrdiff_t>(c0) * s.kh + kh) * s.kw * 16;
        for (int kw = kw0; kw < kw1; ++kw) {
          __m512 d[kDgradPixels];
#pragma GCC unroll 8
          for (int j = 0; j < kDgradPixels; ++j)
            d[j] = _mm512_load_ps(drow + static_cast<std::ptrdiff_t>(j - kw) * 16);
#pragma GCC unroll 8
          for (int c = 0; c < CB; ++c) {
            __m512 wv =
                _mm512_load_ps(wrow + (static_cast<std::ptrdiff_t>(c) * s.kh * s.kw + kw) * 16);
            asm("" : "+v"(wv));  // one load for the 4 pixels (see wgrad_columns_row)
#pragma GCC unroll 8
            for (int j = 0; j < kDgradPixels; ++j) acc[j][c] = _mm512_fmadd_ps(d[j], wv, acc[j][c]);
          }
        }
      }
      const __mmask16 valid = static_cast<__mmask16>((1u << std::min(kDgradPixels, s.w - w0)) - 1u);
#pragma GCC unroll 8
      for (int c = 0; c < CB; ++c)
        _mm512_mask_storeu_ps(dx + (static_cast<std::ptrdiff_t>(c0 + c) * s.h + h) * s.w + w0,
                              valid, hsum4(acc[0][c], acc[1][c], acc[2][c], acc[3][c]));
    }
  }
}

template <int CB>
void dgrad_tail(const DirectConvShape& s, const float* dzp, const float* wt, float* dx, int c0,
                int cb) {
  if constexpr (CB > 0) {
    if (cb == CB) return dgrad_channels<CB>(s, dzp, wt, dx, c0);
    dgrad_tail<CB - 1>(s, dzp, wt, dx, c0, cb);
  }
}
#endif

}  // namespace

bool direct_conv_dgrad_vectorised(const DirectConvShape& s) {
  return s.f <= 16 && direct_conv_avx512();
}

std::size_t direct_conv_dgrad_scratch(const DirectConvShape& s) {
  return static_cast<std::size_t>(dgrad_rows(s)) * static_cast<std::size_t>(dgrad_cols(s)) * 16 +
         16;
}

void direct_conv_dgrad(const DirectConvShape& s, const float* dz, const float* w, const float* wt,
                       float* dx, float* scratch) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (direct_conv_dgrad_vectorised(s)) {
    // dz as (row, column, 16 filters) with a zero border, 64-byte aligned.
    float* dzp = align64(scratch);
    const int pw = dgrad_cols(s);
    std::fill(dzp, dzp + static_cast<std::ptrdiff_t>(dgrad_rows(s)) * pw * 16, 0.0f);
    bordered_pixel_major(s, dz, pw, dzp);
    int c0 = 0;
    for (; c0 + kDgradChannels <= s.c; c0 += kDgradChannels)
      dgrad_channels<kDgradChannels>(s, dzp, wt, dx, c0);
    if (c0 < s.c) dgrad_tail<kDgradChannels - 1>(s, dzp, wt, dx, c0, s.c - c0);
    return;
  }
#endif
  (void)wt;
  (void)scratch;
  // Plain loops.
  for (int c = 0; c < s.c; ++c)
    for (int h = 0; h < s.h; ++h)
      for (int x = 0; x < s.w; ++x) {
        float acc = 0.0f;
        for (int f = 0; f < s.f; ++f)
          for (int kh = 0; kh < s.kh; ++kh) {
            const int oh = h + s.pad_top - kh;
            if (oh < 0 || oh >= s.oh) continue;
            for (int kw = 0; kw < s.kw; ++kw) {
              const int ow = x + s.pad_left - kw;
              if (ow < 0 || ow >= s.ow) continue;
              acc += w[((static_cast<std::ptrdiff_t>(f) * s.c + c) * s.kh + kh) * s.kw + kw] *
                     dz[(static_cast<std::ptrdiff_t>(f) * s.oh + oh) * s.ow + ow];
            }
          }
        dx[(static_cast<std::ptrdiff_t>(c) * s.h + h) * s.w + x] = acc;
      }
}

}  // namespace digitnet::kernels
