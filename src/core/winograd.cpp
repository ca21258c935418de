// Winograd F(4x4, 3x3) convolution (see core/winograd.hpp).
//
// The matrices (Lavin & Gray 2015, points 0, 1, -1, 2, -2, ∞):
//   Bᵀ = [4  0 -5  0  1  0]    G = [ 1/4     0     0 ]    Aᵀ = [1  1  1  1  1  0]
//        [0 -4 -4  1  1  0]        [-1/6  -1/6  -1/6 ]         [0  1 -1  2 -2  0]
//        [0  4 -4 -1  1  0]        [-1/6   1/6  -1/6 ]         [0  1  1  4  4  0]
//        [0 -2 -1  2  1  0]        [1/24  1/12   1/6 ]         [0  1 -1  8 -8  1]
//        [0  2 -1 -2  1  0]        [1/24 -1/12   1/6 ]
//        [0  4  0 -5  0  1]        [   0     0     1 ]
//
// Work is done per block of `tile_block` tiles (running over samples, tile rows,
// tile columns). For each block:
//   1. per input channel, the 6x6 patches are gathered into d[36][tb] (zero
//      outside the image) and transformed, V = Bᵀ d B, as two passes of the 1-D
//      transform over vectors of tb tiles (so every arithmetic loop is
//      contiguous and vectorises); V is stored (36, C, tb);
//   2. 36 GEMMs M[ξ] (F x tb) = U[ξ] (F x C) · V[ξ] (C x tb);
//   3. per output channel, Y = Aᵀ M A in two passes, + bias, relu, and the 4x4
//      tiles scattered into y (clipped at the bottom/right edge).
#include "core/winograd.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/cpu.hpp"
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "core/kernels.hpp"

namespace digitnet::kernels {
namespace {

constexpr int kTile = 6;    // input tile
constexpr int kOut = 4;     // output tile
constexpr int kXi = 36;     // positions in the 6x6 transformed tile
constexpr int kLanes = 16;  // tiles per vector; rows of the buffers are padded to a multiple

// The vector helpers are always inlined, so no vector crosses a call boundary and
// the ABI note -Wpsabi gives for 64-byte vectors does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
// 16 floats; GCC lowers the arithmetic to whatever vectors the function's target has.
typedef float vfloat __attribute__((vector_size(kLanes * sizeof(float))));

#define DIGITNET_INLINE inline __attribute__((always_inline))
// The same vector, readable from any float address (unaligned loads and stores).
typedef float vfloat_u __attribute__((vector_size(kLanes * sizeof(float)), aligned(4)));
DIGITNET_INLINE vfloat load(const float* p) { return *reinterpret_cast<const vfloat_u*>(p); }
DIGITNET_INLINE void store(float* p, const vfloat& v) { *reinterpret_cast<vfloat_u*>(p) = v; }

// o[k] = (Bᵀ d)[k], k < 6.
DIGITNET_INLINE void bt(const vfloat d[6], vfloat o[6]) {
  const vfloat a = d[4] - 4.0f * d[2], b = d[3] - 4.0f * d[1];
  const vfloat c = d[4] - d[2], e = 2.0f * (d[3] - d[1]);
  o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  o[1] = a + b;
  o[2] = a - b;
  o[3] = c + e;
  o[4] = c - e;
  o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// o[k] = (Aᵀ m)[k], k < 4.
DIGITNET_INLINE void at(const vfloat m[6], vfloat o[4]) {
  const vfloat p = m[1] - m[2], q = m[3] - m[4], r = m[1] + m[2], u = m[3] + m[4];
  o[0] = m[0] + r + u;
  o[1] = p + 2.0f * q;
  o[2] = r + 4.0f * u;
  o[3] = p + 8.0f * q + m[5];
}

// max(v, 0) lane by lane, bit-exact, as integer operations (a vector ?: on these
// generic vectors is lowered to one compare-and-blend per lane on AVX2): the sign
// bit, spread by an arithmetic shift, masks negative lanes (and -0) to +0.
typedef int32_t vint __attribute__((vector_size(kLanes * sizeof(float))));
DIGITNET_INLINE vfloat relu_v(const vfloat& v) {
  const vint bits = reinterpret_cast<vint>(v);
  return reinterpret_cast<vfloat>(bits & ~(bits >> 31));
}

// V = Bᵀ d B for one vector of patches (tiles or channels in the lanes): d's
// position (i, j) read at d + (i·6 + j)·ds, V's (a, b) stored at v + (a·6 + b)·vs.
DIGITNET_INLINE void input_tile(const float* d, int64_t ds, float* v, int64_t vs) {
  vfloat t[6][6];  // t[j][a] = (Bᵀ d)[a][j]
  for (int j = 0; j < kTile; ++j) {
    vfloat col[6];
    for (int i = 0; i < kTile; ++i) col[i] = load(d + (i * kTile + j) * ds);
    bt(col, t[j]);
  }
  for (int a = 0; a < kTile; ++a) {
    const vfloat row[6] = {t[0][a], t[1][a], t[2][a], t[3][a], t[4][a], t[5][a]};
    vfloat o[6];
    bt(row, o);
    for (int b = 0; b < kTile; ++b) store(v + (a * kTile + b) * vs, o[b]);
  }
}

// Y = Aᵀ M A + bf, then max(0, ·) if relu, for one vector (tiles or filters in
// the lanes): M's position (i, j) read at m + (i·6 + j)·ms, Y's (a, b) stored at
// y + (a·4 + b)·ys.
DIGITNET_INLINE void output_tile(const float* m, int64_t ms, const vfloat& bf, bool relu, float* y,
                                 int64_t ys) {
  vfloat t[6][4];  // t[j][a] = (Aᵀ M)[a][j]
  for (int j = 0; j < kTile; ++j) {
    vfloat col[6];
    for (int i = 0; i < kTile; ++i) col[i] = load(m + (i * kTile + j) * ms);
    at(col, t[j]);
  }
  for (int a = 0; a < kOut; ++a) {
    const vfloat row[6] = {t[0][a], t[1][a], t[2][a], t[3][a], t[4][a], t[5][a]};
    vfloat o[4];
    at(row, o);
    for (int b = 0; b < kOut; ++b) {
      vfloat v = o[b] + bf;
      if (relu) v = relu_v(v);
      store(y + (a * kOut + b) * ys, v);
    }
  }
}

// Transposes between "4 floats per tile" (a row of a patch or an output tile)
// and "one position, 4 tiles per vector" (the lanes of the buffers), with SSE.
// rows4: dst[k * ld + q] = src_q[k] for q, k < 4, src_q = base + off[q].
DIGITNET_INLINE void rows4_to_lanes(const float* base, const int64_t* off, float* dst, int64_t ld) {
#if defined(__SSE2__)
  __m128 r0 = _mm_loadu_ps(base + off[0]), r1 = _mm_loadu_ps(base + off[1]),
         r2 = _mm_loadu_ps(base + off[2]), r3 = _mm_loadu_ps(base + off[3]);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(dst, r0);
  _mm_storeu_ps(dst + ld, r1);
  _mm_storeu_ps(dst + 2 * ld, r2);
  _mm_storeu_ps(dst + 3 * ld, r3);
#else
  for (int q = 0; q < 4; ++q)
    for (int k = 0; k < 4; ++k) dst[k * ld + q] = base[off[q] + k];
#endif
}
// The inverse: base[off[q] + k] = src[k * ld + q].
DIGITNET_INLINE void lanes_to_rows4(const float* src, int64_t ld, float* base, const int64_t* off) {
#if defined(__SSE2__)
  __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + ld), r2 = _mm_loadu_ps(src + 2 * ld),
         r3 = _mm_loadu_ps(src + 3 * ld);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(base + off[0], r0);
  _mm_storeu_ps(base + off[1], r1);
  _mm_storeu_ps(base + off[2], r2);
  _mm_storeu_ps(base + off[3], r3);
#else
  for (int q = 0; q < 4; ++q)
    for (int k = 0; k < 4; ++k) base[off[q] + k] = src[k * ld + q];
#endif
}

// rows4_to_lanes of g ⊙ [y > 0] (y at the same offsets from ybase as g from
// base; no mask when ybase is null), adding the stored values into acc[k] (the
// sum over q of row k; the four rows kept apart, added in a fixed order later).
DIGITNET_INLINE void rows4_to_lanes_fold(const float* base, const float* ybase, const int64_t* off,
                                         float* dst, int64_t ld, float acc[4]) {
#if defined(__SSE2__)
  __m128 r0 = _mm_loadu_ps(base + off[0]), r1 = _mm_loadu_ps(base + off[1]),
         r2 = _mm_loadu_ps(base + off[2]), r3 = _mm_loadu_ps(base + off[3]);
  if (ybase) {
    const __m128 zero = _mm_setzero_ps();
    r0 = _mm_and_ps(r0, _mm_cmpgt_ps(_mm_loadu_ps(ybase + off[0]), zero));
    r1 = _mm_and_ps(r1, _mm_cmpgt_ps(_mm_loadu_ps(ybase + off[1]), zero));
    r2 = _mm_and_ps(r2, _mm_cmpgt_ps(_mm_loadu_ps(ybase + off[2]), zero));
    r3 = _mm_and_ps(r3, _mm_cmpgt_ps(_mm_loadu_ps(ybase + off[3]), zero));
  }
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // r_k: element k of the four rows
  _mm_storeu_ps(dst, r0);
  _mm_storeu_ps(dst + ld, r1);
  _mm_storeu_ps(dst + 2 * ld, r2);
  _mm_storeu_ps(dst + 3 * ld, r3);
  _mm_storeu_ps(acc,
                _mm_add_ps(_mm_loadu_ps(acc), _mm_add_ps(_mm_add_ps(r0, r1), _mm_add_ps(r2, r3))));
#else
  for (int q = 0; q < 4; ++q) {
    float v[4];
    for (int k = 0; k < 4; ++k) {
      v[k] = ybase && !(ybase[off[q] + k] > 0.0f) ? 0.0f : base[off[q] + k];
      dst[k * ld + q] = v[k];
    }
    acc[q] += (v[0] + v[1]) + (v[2] + v[3]);
  }
#endif
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// The GEMM stage's own micro-kernel: C (M x N) = A (M x K) · B (K x N), all
// row-major, N a multiple of 16 (the buffers' padded rows). K is the channel
// count (16-64 here): too small for OpenBLAS, whose per-call packing and
// C-scaling pass cost more than the products at these sizes. R rows of A times
// 16 columns of B in 2R accumulators (see gemm_small_t for R), the B panel
// (K x 16) staying in L1 across the rows. The multiply-adds
// fuse to FMA (winograd.cpp is built with -ffp-contract=fast).
typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
typedef float v8u __attribute__((vector_size(8 * sizeof(float)), aligned(4)));

template <int R, bool Add>
DIGITNET_INLINE void gemm_rows(int K, const float* A, int64_t lda, const float* B, int64_t ldb,
                               float* C, int64_t ldc) {
  v8 acc[R][2] = {};
  if constexpr (Add)
    for (int r = 0; r < R; ++r) {
      acc[r][0] = *reinterpret_cast<const v8u*>(C + r * ldc);
      acc[r][1] = *reinterpret_cast<const v8u*>(C + r * ldc + 8);
    }
  for (int k = 0; k < K; ++k) {
    const v8 b0 = *reinterpret_cast<const v8u*>(B + k * ldb);
    const v8 b1 = *reinterpret_cast<const v8u*>(B + k * ldb + 8);
    for (int r = 0; r < R; ++r) {
      const float a = A[r * lda + k];
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
  }
  for (int r = 0; r < R; ++r) {
    *reinterpret_cast<v8u*>(C + r * ldc) = acc[r][0];
    *reinterpret_cast<v8u*>(C + r * ldc + 8) = acc[r][1];
  }
}

// The last rows (< R) of a panel: one gemm_rows instance per count, picked by
// recursion (not a lambda: a lambda would not carry the caller's target).
template <int R, bool Add>
DIGITNET_INLINE void gemm_tail(int rows, int K, const float* A, int64_t lda, const float* B,
                               int64_t ldb, float* C, int64_t ldc) {
  if constexpr (R > 0) {
    if (rows == R) return gemm_rows<R, Add>(K, A, lda, B, ldb, C, ldc);
    gemm_tail<R - 1, Add>(rows, K, A, lda, B, ldb, C, ldc);
  }
}

// R rows at a time: 6 fits AVX2's 16 vector registers (12 accumulators). On
// AVX-512 both passes run the 16-float body (gemm_wide_t below) with 8 rows × 2
// panels (16 accumulators, no tail rows for 32 or 64 channels): on Zen 5 the
// forward 29-33 % and the backward 23-31 % faster than this 8-float body
// (bench/ab/winograd_ab.sh, K's and S's layers; 8 rows beat 6 by 5-10 %).
template <int R, bool Add>
DIGITNET_INLINE void gemm_small_t(int M, int64_t N, int K, const float* A, int64_t lda,
                                  const float* B, int64_t ldb, float* C, int64_t ldc) {
  for (int64_t j = 0; j < N; j += 16) {
    int i = 0;
    for (; i + R <= M; i += R)
      gemm_rows<R, Add>(K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc);
    gemm_tail<R - 1, Add>(M - i, K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc);
  }
}

// The same product with 16-float accumulators (one 512-bit register each where
// the target has AVX-512), P panels of 16 columns side by side. The 8-float
// body above runs AVX-512 CPUs with full-width FMA units (Zen 5) at half their
// rate; on Zen 4, whose units are 256 bits wide, the two are the same rate in
// FLOPs. Every element still sums its K products in order from 0 (or from C),
// one FMA each: the same bits as the 8-float body.
// AT: A is given transposed, element (r, k) at A[k * lda + r] (the forward's
// filters as Ut (36, C, F), which the tail reads too: one copy in cache, not two).
template <int R, int P, bool Add, bool AT = false>
DIGITNET_INLINE void gemm_rows_wide(int K, const float* A, int64_t lda, const float* B, int64_t ldb,
                                    float* C, int64_t ldc) {
  vfloat acc[R][P] = {};
  if constexpr (Add)
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < P; ++q) acc[r][q] = load(C + r * ldc + 16 * q);
  for (int k = 0; k < K; ++k) {
    vfloat bv[P];
    for (int q = 0; q < P; ++q) bv[q] = load(B + k * ldb + 16 * q);
    for (int r = 0; r < R; ++r) {
      const float a = AT ? A[k * lda + r] : A[r * lda + k];
      for (int q = 0; q < P; ++q) acc[r][q] += a * bv[q];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < P; ++q) store(C + r * ldc + 16 * q, acc[r][q]);
}

template <int R, int P, bool Add, bool AT = false>
DIGITNET_INLINE void gemm_tail_wide(int rows, int K, const float* A, int64_t lda, const float* B,
                                    int64_t ldb, float* C, int64_t ldc) {
  if constexpr (R > 0) {
    if (rows == R) return gemm_rows_wide<R, P, Add, AT>(K, A, lda, B, ldb, C, ldc);
    gemm_tail_wide<R - 1, P, Add, AT>(rows, K, A, lda, B, ldb, C, ldc);
  }
}

// Panels of 32 columns (R rows × 2 accumulators), then one of 16 if N leaves it.
template <int R, bool Add, bool AT = false>
DIGITNET_INLINE void gemm_wide_t(int M, int64_t N, int K, const float* A, int64_t lda,
                                 const float* B, int64_t ldb, float* C, int64_t ldc) {
  const int64_t ra = AT ? 1 : lda;  // from one row of A to the next
  int64_t j = 0;
  for (; j + 32 <= N; j += 32) {
    int i = 0;
    for (; i + R <= M; i += R)
      gemm_rows_wide<R, 2, Add, AT>(K, A + i * ra, lda, B + j, ldb, C + i * ldc + j, ldc);
    gemm_tail_wide<R - 1, 2, Add, AT>(M - i, K, A + i * ra, lda, B + j, ldb, C + i * ldc + j, ldc);
  }
  if (j < N) {
    int i = 0;
    for (; i + R <= M; i += R)
      gemm_rows_wide<R, 1, Add, AT>(K, A + i * ra, lda, B + j, ldb, C + i * ldc + j, ldc);
    gemm_tail_wide<R - 1, 1, Add, AT>(M - i, K, A + i * ra, lda, B + j, ldb, C + i * ldc + j, ldc);
  }
}

// C (M x N) = A · B, or C += A · B with add; N a multiple of 16. Wide: the
// 16-float body (AVX-512).
template <int R, bool Wide = false>
DIGITNET_INLINE void gemm_small(int M, int64_t N, int K, const float* A, int64_t lda,
                                const float* B, int64_t ldb, float* C, int64_t ldc,
                                bool add = false) {
  if constexpr (Wide) {
    if (add)
      gemm_wide_t<R, true>(M, N, K, A, lda, B, ldb, C, ldc);
    else
      gemm_wide_t<R, false>(M, N, K, A, lda, B, ldb, C, ldc);
  } else {
    if (add)
      gemm_small_t<R, true>(M, N, K, A, lda, B, ldb, C, ldc);
    else
      gemm_small_t<R, false>(M, N, K, A, lda, B, ldb, C, ldc);
  }
}

// Where one tile of the block reads and writes.
struct TileAt {
  int64_t src;    // top-left of the 6x6 input patch in x (channel 0) or in the padded planes
  int64_t y_off;  // offset of the sample in y
  int oh, ow;     // top-left output pixel
};

// Geometry shared by the workspace size and the convolution.
struct Plan {
  int TH, TW;          // tiles per column and row
  int64_t per_sample;  // tiles per sample
  int Tb;              // tiles per block
  int64_t Tp;          // row length of the buffers (Tb rounded up to kLanes)
  int Hp, Wp;          // padded plane: the input the tiles cover, TH·4+2 x TW·4+2
  bool direct;         // every patch lies inside x: read x itself, no padded planes
  int plane_samples;   // padded planes per block (samples a block can touch)
  int64_t vs, ms;      // floats from one position's V (C x Tp) and M (F x Tp) to the next
};

Plan make_plan(const Conv3x3Shape& s, int nb, int tile_block) {
  Plan p;
  p.TH = (s.OH + kOut - 1) / kOut;
  p.TW = (s.OW + kOut - 1) / kOut;
  p.per_sample = int64_t{p.TH} * p.TW;
  p.Tb = static_cast<int>(std::min<int64_t>(tile_block, nb * p.per_sample));
  p.Tp = round_up(p.Tb, kLanes);
  p.Hp = p.TH * kOut + 2;
  p.Wp = p.TW * kOut + 2;
  p.direct = s.pad_top == 0 && s.pad_left == 0 && s.H >= p.Hp && s.W >= p.Wp;
  p.plane_samples =
      p.direct ? 0 : static_cast<int>(std::min<int64_t>(nb, (p.Tb - 1) / p.per_sample + 2));
  // One cache line more than the matrices: the transforms read and write one
  // row of each of the 36 positions in turn, and at K's and S's sizes (8 and 16
  // KB apart) those rows all fell in the same L1 set. With the extra line: K's
  // conv2d_1 forward 10-11 %, backward 12-15 % faster (S's alike; the same code
  // in one process, alternating). Three lines instead of one gave the same.
  p.vs = s.C * p.Tp + kLanes;
  p.ms = s.F * p.Tp + kLanes;
  return p;
}

// The block loop both the convolution and the filter gradient share: tiles
// [t0, t0 + tb) are addressed (at_), and V (36, C, Tp) = Bᵀ d B for each tile
// and input channel. `pl` comes from make_plan; planes / d are workspace.
struct Block {
  const Conv3x3Shape& s;
  const Plan& pl;
  const float* x;
  float* V;       // (36, C, Tp)
  float* d;       // (36, Tp)
  float* planes;  // (plane_samples, Hp, Wp)
  TileAt* at_;    // [tile_block]
  int64_t* src_;  // [tile_block]: at_[].src, contiguous
};

DIGITNET_INLINE void input_transform(const Block& b, int64_t t0, int tb) {
  const Conv3x3Shape& s = b.s;
  const Plan& pl = b.pl;
  const int C = s.C, F = s.F, H = s.H, W = s.W, OH = s.OH, OW = s.OW;
  const int64_t Tp = pl.Tp, HW = int64_t{H} * W, OHW = int64_t{OH} * OW,
                plane = int64_t{pl.Hp} * pl.Wp;
  const int64_t src_stride = pl.direct ? W : pl.Wp;  // between the rows of a patch
  float* d = b.d;
  // The part of x that lands inside a padded plane.
  const int copy_rows = std::clamp(pl.Hp - s.pad_top, 0, H);
  const int copy_cols = std::clamp(pl.Wp - s.pad_left, 0, W);
  const int64_t tp = round_up(tb, kLanes);
  const int64_t s_first = t0 / pl.per_sample, s_last = (t0 + tb - 1) / pl.per_sample;
  for (int tt = 0; tt < tb; ++tt) {
    const int64_t g = t0 + tt, smp = g / pl.per_sample, r = g % pl.per_sample;
    const int oh = static_cast<int>(r / pl.TW) * kOut, ow = static_cast<int>(r % pl.TW) * kOut;
    const int64_t src = pl.direct ? smp * C * HW + int64_t{oh} * W + ow
                                  : (smp - s_first) * plane + int64_t{oh} * pl.Wp + ow;
    b.at_[tt] = {src, smp * F * OHW, oh, ow};
    b.src_[tt] = src;
  }
  for (int k = 0; k < kXi; ++k)
    std::fill(d + k * Tp + tb, d + k * Tp + tp, 0.0f);  // lanes past the last tile
  if (!pl.direct) std::fill(b.planes, b.planes + (s_last - s_first + 1) * plane, 0.0f);

  for (int c = 0; c < C; ++c) {
    const float* src = b.x + c * HW;
    if (!pl.direct) {
      // Channel c of the block's samples into the zero-bordered planes.
      for (int64_t smp = s_first; smp <= s_last; ++smp) {
        const float* xs = b.x + (smp * C + c) * HW;
        float* ps = b.planes + (smp - s_first) * plane + int64_t{s.pad_top} * pl.Wp + s.pad_left;
        for (int r = 0; r < copy_rows; ++r)
          std::memcpy(ps + int64_t{r} * pl.Wp, xs + int64_t{r} * W,
                      sizeof(float) * static_cast<std::size_t>(copy_cols));
      }
      src = b.planes;
    }
    // Position by position, tiles innermost: contiguous stores, no spilled pointers.
    // Four tiles at a time: each patch row (6 floats) as two overlapping 4-float
    // loads, columns 0-3 and 2-5, transposed into the lanes of positions (i, 0..5).
    const int tb4 = tb / 4 * 4;
    for (int i = 0; i < kTile; ++i) {
      const float* p = src + i * src_stride;
      float* di = d + i * kTile * Tp;
      for (int tt = 0; tt < tb4; tt += 4) {
        alignas(16) float hi[4 * 4];
        rows4_to_lanes(p, b.src_ + tt, di + tt, Tp);  // columns 0..3
        rows4_to_lanes(p + 2, b.src_ + tt, hi, 4);    // columns 2..5
        std::memcpy(di + 4 * Tp + tt, hi + 2 * 4, 4 * sizeof(float));
        std::memcpy(di + 5 * Tp + tt, hi + 3 * 4, 4 * sizeof(float));
      }
      for (int j = 0; j < kTile; ++j)
        for (int tt = tb4; tt < tb; ++tt) di[j * Tp + tt] = p[b.src_[tt] + j];
    }
    for (int64_t l = 0; l < tp; l += kLanes) input_tile(d + l, Tp, b.V + c * Tp + l, pl.vs);
  }
}

// The workspace carved up: V (36, C, Tp) and M (36, F, Tp), each position's
// matrix Plan::vs / ms floats after the last, d (36, Tp), out (16, Tp), planes,
// from a 64-byte aligned start (the size function adds the slack).
// The filter gradient's extras: Vt (Tp, Cp), one position's V transposed, and
// dUp (36, F, Cp), the gradient with rows padded to Cp = C rounded up to 16.
int64_t padded_channels(int C) { return round_up(C, 16); }

// The tail's buffers (tail_tiles): VT (36, kMaxTail, C), MT (36, kMaxTail, F),
// one tile's patches (36, C) and one vector's output tile (16, 16).
constexpr int kMaxTail = 8;
int64_t tail_floats(const Conv3x3Shape& s) {
  return int64_t{kXi} * kMaxTail * (s.C + s.F) + int64_t{kXi} * s.C + kOut * kOut * kLanes;
}

struct Carve {
  float *V, *M, *d, *out, *planes, *vt, *dup, *tail;
  Carve(float* workspace, const Conv3x3Shape& s, const Plan& pl) {
    V = workspace + (-(reinterpret_cast<uintptr_t>(workspace) / sizeof(float)) & 15);
    M = V + kXi * pl.vs;
    d = M + kXi * pl.ms;
    out = d + kXi * pl.Tp;
    planes = out + kOut * kOut * pl.Tp;
    vt = planes + int64_t{pl.plane_samples} * pl.Hp * pl.Wp;
    dup = vt + pl.Tp * padded_channels(s.C);
    tail = dup + kXi * int64_t{s.F} * padded_channels(s.C);
  }
};

// The last r (<= kMaxTail) tiles of a block whose lane group they would fill by
// less than half (one image of K's conv2d_1: 36 tiles, a third group of 16 lanes
// for 4 of them, a third of the layer's time): the channels, then the filters,
// in the lanes instead of the tiles. Every value goes through the same
// operations in the same order as on the lane-per-tile path (the transforms'
// passes, the GEMM's sum over c from zero, bias, relu): the same bits. Direct
// plans only (every patch inside x), C and F multiples of 16, Ut (36, C, F).
template <int RT>
DIGITNET_INLINE void tail_gemm(int r, int C, int F, const float* VT, const float* Ut, float* MT) {
  if constexpr (RT > 0) {
    if (r != RT) return tail_gemm<RT - 1>(r, C, F, VT, Ut, MT);
    for (int xi = 0; xi < kXi; ++xi) {
      const float* u = Ut + int64_t{xi} * C * F;
      const float* v = VT + int64_t{xi} * RT * C;
      float* m = MT + int64_t{xi} * RT * F;
      int f0 = 0;
      for (; f0 + 2 * kLanes <= F; f0 += 2 * kLanes) {
        vfloat acc[RT][2] = {};
        for (int c = 0; c < C; ++c) {
          const vfloat b0 = load(u + int64_t{c} * F + f0),
                       b1 = load(u + int64_t{c} * F + f0 + kLanes);
          for (int q = 0; q < RT; ++q) {
            const float a = v[q * C + c];
            acc[q][0] += a * b0;
            acc[q][1] += a * b1;
          }
        }
        for (int q = 0; q < RT; ++q) {
          store(m + q * F + f0, acc[q][0]);
          store(m + q * F + f0 + kLanes, acc[q][1]);
        }
      }
      if (f0 < F) {
        vfloat acc[RT] = {};
        for (int c = 0; c < C; ++c) {
          const vfloat b0 = load(u + int64_t{c} * F + f0);
          for (int q = 0; q < RT; ++q) acc[q] += v[q * C + c] * b0;
        }
        for (int q = 0; q < RT; ++q) store(m + q * F + f0, acc[q]);
      }
    }
  }
}

DIGITNET_INLINE void tail_tiles(const Conv3x3Shape& s, const float* x, const float* Ut,
                                const float* bias, bool relu, float* y, const TileAt* tat, int r,
                                float* buf) {
  const int C = s.C, F = s.F, W = s.W, OH = s.OH, OW = s.OW;
  const int64_t HW = int64_t{s.H} * W, OHW = int64_t{OH} * OW;
  float* VT = buf;                               // (36, r, C)
  float* MT = VT + int64_t{kXi} * kMaxTail * C;  // (36, r, F)
  float* dt = MT + int64_t{kXi} * kMaxTail * F;  // (36, C): one tile's patches
  float* ot = dt + int64_t{kXi} * C;             // (16 positions, 16 filters)
  const vfloat zero = {};
  // 1. V = Bᵀ d B, 16 channels a vector.
  for (int q = 0; q < r; ++q) {
    const float* xs = x + tat[q].src;
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < kTile; ++i)
        for (int j = 0; j < kTile; ++j) dt[(i * kTile + j) * C + c] = xs[c * HW + i * W + j];
    for (int c0 = 0; c0 < C; c0 += kLanes)
      input_tile(dt + c0, C, VT + int64_t{q} * C + c0, int64_t{r} * C);
  }
  // 2. M[ξ] (r x F) = V[ξ] (r x C) · Ut[ξ] (C x F).
  tail_gemm<kMaxTail>(r, C, F, VT, Ut, MT);
  // 3. Y = Aᵀ M A + bias, relu, 16 filters a vector, into y (clipped at the edges).
  for (int q = 0; q < r; ++q) {
    const TileAt& a0 = tat[q];
    const int rows = std::min(kOut, OH - a0.oh), cols = std::min(kOut, OW - a0.ow);
    for (int f0 = 0; f0 < F; f0 += kLanes) {
      const vfloat bf = bias ? load(bias + f0) : zero;
      output_tile(MT + int64_t{q} * F + f0, int64_t{r} * F, bf, relu, ot, kLanes);
      for (int l = 0; l < kLanes; ++l) {
        float* yf = y + a0.y_off + (f0 + l) * OHW + int64_t{a0.oh} * OW + a0.ow;
        for (int i = 0; i < rows; ++i)
          for (int j = 0; j < cols; ++j) yf[int64_t{i} * OW + j] = ot[(i * kOut + j) * kLanes + l];
      }
    }
  }
}

// Tiles [g0, g0 + r) of the batch through tail_tiles (a function, not a lambda:
// a lambda would not carry the caller's target, and would round without FMA).
DIGITNET_INLINE void block_tail(const Conv3x3Shape& s, const Plan& pl, int64_t g0, int r,
                                const float* x, const float* Ut, const float* bias, bool relu,
                                float* y, float* buf) {
  const int64_t OHW = int64_t{s.OH} * s.OW;
  TileAt tat[kMaxTail];  // addressed as input_transform addresses the others
  for (int q = 0; q < r; ++q) {
    const int64_t g = g0 + q, smp = g / pl.per_sample, k = g % pl.per_sample;
    const int oh = static_cast<int>(k / pl.TW) * kOut, ow = static_cast<int>(k % pl.TW) * kOut;
    tat[q] = {smp * s.C * int64_t{s.H} * s.W + int64_t{oh} * s.W + ow, smp * s.F * OHW, oh, ow};
  }
  tail_tiles(s, x, Ut, bias, relu, y, tat, r, buf);
}

// The whole convolution; compiled once per instruction set below.
template <int R, bool Wide = false>
DIGITNET_INLINE void conv_body(const Conv3x3Shape& s, int nb, const float* x, const float* U,
                               const float* bias, bool relu, float* y, float* workspace,
                               int tile_block, const float* Ut = nullptr) {
  const int C = s.C, F = s.F, OH = s.OH, OW = s.OW;
  const Plan pl = make_plan(s, nb, tile_block);
  const int64_t tiles = nb * pl.per_sample, Tp = pl.Tp, OHW = int64_t{OH} * OW;
  const Carve w(workspace, s, pl);
  float* M = w.M;
  float* out = w.out;
  TileAt at_[kWinogradMaxTileBlock];
  int64_t src_[kWinogradMaxTileBlock], yo_[kWinogradMaxTileBlock];
  const Block blk{s, pl, x, w.V, w.d, w.planes, at_, src_};
  const vfloat zero = {};

  // The tail's conditions but the tile count (see tail_tiles).
  const bool tail_ok = Wide && Ut && pl.direct && C % kLanes == 0 && F % kLanes == 0;
  for (int64_t t0 = 0; t0 < tiles; t0 += pl.Tb) {
    const int tall = static_cast<int>(std::min<int64_t>(pl.Tb, tiles - t0));
    // The block's last r tiles go through the tail (after the others: their input
    // transform brings x into cache, and a first touch by the tail's scalar reads,
    // from the core that wrote x, cost all it saved), unless that is all of them.
    const int r = tail_ok && tall % kLanes <= kMaxTail ? tall % kLanes : 0;
    if (r > 0 && tall == r) {
      block_tail(s, pl, t0 + tall - r, r, x, Ut, bias, relu, y, w.tail);
      continue;
    }
    const int tb = tall - r;
    const int64_t tp = round_up(tb, kLanes);
    // 1. Input transform: V[a][b] = (Bᵀ d B)[a][b].
    input_transform(blk, t0, tb);
    // Full 4x4 output tiles first (their offset in y in yo_), then the clipped ones.
    int full = 0;
    for (int tt = 0; tt < tb; ++tt)
      if (at_[tt].oh + kOut <= OH && at_[tt].ow + kOut <= OW)
        yo_[full++] = at_[tt].y_off + int64_t{at_[tt].oh} * OW + at_[tt].ow;

    // 2. One GEMM per tile position: M[ξ] (F x tb) = U[ξ] (F x C) · V[ξ] (C x tb).
    // With the tail's Ut (36, C, F) the GEMM reads it too, not U: one copy in cache.
    // (This form measured fastest: a branch inside one loop, or the two loops
    // under if/else, ran the batch forward 2-5 % slower in winograd_ab.)
    bool done = false;
    if constexpr (Wide) {
      if (tail_ok) {
        for (int xi = 0; xi < kXi; ++xi)
          gemm_wide_t<R, false, true>(F, tp, C, Ut + int64_t{xi} * F * C, F, w.V + xi * pl.vs, Tp,
                                      M + xi * pl.ms, Tp);
        done = true;
      }
    }
    for (int xi = 0; xi < kXi && !done; ++xi)
      gemm_small<R, Wide>(F, tp, C, U + int64_t{xi} * F * C, C, w.V + xi * pl.vs, Tp,
                          M + xi * pl.ms, Tp);

    // 3. Output transform, one output channel at a time: Y = Aᵀ M A (+ bias, relu).
    for (int f = 0; f < F; ++f) {
      const vfloat bf = zero + (bias ? bias[f] : 0.0f);
      for (int64_t l = 0; l < tp; l += kLanes)
        output_tile(M + f * Tp + l, pl.ms, bf, relu, out + l, Tp);
      if (full == tb) {  // every tile whole: position by position, tiles innermost
        const int tb4 = tb / 4 * 4;
        for (int i = 0; i < kOut; ++i) {
          float* yi = y + f * OHW + int64_t{i} * OW;
          const float* oi = out + i * kOut * Tp;
          for (int tt = 0; tt < tb4; tt += 4) lanes_to_rows4(oi + tt, Tp, yi, yo_ + tt);
          for (int j = 0; j < kOut; ++j)
            for (int tt = tb4; tt < tb; ++tt) yi[yo_[tt] + j] = oi[j * Tp + tt];
        }
        continue;
      }
      for (int tt = 0; tt < tb; ++tt) {
        const TileAt& a = at_[tt];
        float* yf = y + a.y_off + f * OHW + int64_t{a.oh} * OW + a.ow;
        const int rows = std::min(kOut, OH - a.oh), cols = std::min(kOut, OW - a.ow);
        for (int i = 0; i < rows; ++i)
          for (int j = 0; j < cols; ++j) yf[int64_t{i} * OW + j] = out[(i * kOut + j) * Tp + tt];
      }
    }
    if (r > 0) block_tail(s, pl, t0 + tall - r, r, x, Ut, bias, relu, y, w.tail);
  }
  (void)C;
}

// o[k] = (A z)[k], k < 6, for a 4-vector z (A = (Aᵀ)ᵀ, 6x4).
DIGITNET_INLINE void a_col(const vfloat z[4], vfloat o[6]) {
  const vfloat e = z[0] + z[2], od = z[1] + z[3];
  const vfloat e4 = z[0] + 4.0f * z[2], od2 = 2.0f * z[1] + 8.0f * z[3];
  o[0] = z[0];
  o[1] = e + od;
  o[2] = e - od;
  o[3] = e4 + od2;
  o[4] = e4 - od2;
  o[5] = z[3];
}

// o[i] = (B v)[i], i < 6: the transpose of bt (the adjoint of the input transform).
DIGITNET_INLINE void b_col(const vfloat v[6], vfloat o[6]) {
  o[0] = 4.0f * v[0];
  o[1] = 4.0f * (v[2] - v[1]) + 2.0f * (v[4] - v[3]) + 4.0f * v[5];
  o[2] = -5.0f * v[0] - 4.0f * (v[1] + v[2]) - (v[3] + v[4]);
  o[3] = (v[1] - v[2]) + 2.0f * (v[3] - v[4]) - 5.0f * v[5];
  o[4] = v[0] + v[1] + v[2] + v[3] + v[4];
  o[5] = v[5];
}

// The filter gradient in the transformed domain: for each tile, the 4x4 block of
// dz (zero past the output's edge) becomes Z = A dz Aᵀ (6x6), and
// dU[ξ] (F x C) (+)= Σ_tiles Z[ξ] (F x tb) · V[ξ]ᵀ (tb x C).
template <int R, bool Wide = false>
DIGITNET_INLINE void filter_grad_body(const Conv3x3Shape& s, int nb, const float* x,
                                      const float* dz, float* dU, bool accumulate, float* workspace,
                                      int tile_block, const float* Ut, float* dx,
                                      const WinogradGradFold& fold) {
  const float* ry = fold.relu_y;  // dz ⊙ [ry > 0] when not null
  const bool folding = ry || fold.db;
  const int C = s.C, F = s.F, OH = s.OH, OW = s.OW, H = s.H, W = s.W;
  const int64_t HW = int64_t{H} * W;
  if (dx) std::fill(dx, dx + nb * C * HW, 0.0f);
  const Plan pl = make_plan(s, nb, tile_block);
  const int64_t tiles = nb * pl.per_sample, Tp = pl.Tp, OHW = int64_t{OH} * OW;
  const Carve w(workspace, s, pl);
  float* Z = w.M;     // (36, F, Tp)
  float* dd = w.out;  // (16, Tp): one output channel's dz tiles
  const int64_t Cp = padded_channels(C);
  float* Vt = w.vt;
  float* dUp = w.dup;
  for (int64_t t = 0; t < Tp; ++t) std::fill(Vt + t * Cp + C, Vt + (t + 1) * Cp, 0.0f);
  TileAt at_[kWinogradMaxTileBlock];
  int64_t src_[kWinogradMaxTileBlock], zo_[kWinogradMaxTileBlock], patch[kWinogradMaxTileBlock];
  const Block blk{s, pl, x, w.V, w.d, w.planes, at_, src_};
  bool first = true;  // dUp not yet written

  for (int64_t t0 = 0; t0 < tiles; t0 += pl.Tb) {
    const int tb = static_cast<int>(std::min<int64_t>(pl.Tb, tiles - t0));
    const int64_t tp = round_up(tb, kLanes);
    input_transform(blk, t0, tb);
    for (int k = 0; k < kOut * kOut; ++k) std::fill(dd + k * Tp + tb, dd + k * Tp + tp, 0.0f);
    int full = 0;
    for (int tt = 0; tt < tb; ++tt)
      if (at_[tt].oh + kOut <= OH && at_[tt].ow + kOut <= OW)
        zo_[full++] = at_[tt].y_off + int64_t{at_[tt].oh} * OW + at_[tt].ow;
    for (int f = 0; f < F; ++f) {
      // With a fold, the values gathered are dz ⊙ [y > 0], and their sum (the
      // tiles partition the output, so each element is gathered once) goes to
      // db[f]: four running sums of whole-tile rows, then the rest, in order.
      float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f}, rest = 0.0f;
      if (full == tb) {
        const int tb4 = tb / 4 * 4;
        for (int i = 0; i < kOut; ++i) {
          const int64_t o = f * OHW + int64_t{i} * OW;
          const float* zi = dz + o;
          const float* yi = ry ? ry + o : nullptr;
          float* di = dd + i * kOut * Tp;
          if (folding)
            for (int tt = 0; tt < tb4; tt += 4)
              rows4_to_lanes_fold(zi, yi, zo_ + tt, di + tt, Tp, acc);
          else
            for (int tt = 0; tt < tb4; tt += 4) rows4_to_lanes(zi, zo_ + tt, di + tt, Tp);
          for (int j = 0; j < kOut; ++j)
            for (int tt = tb4; tt < tb; ++tt) {
              const float v = yi && !(yi[zo_[tt] + j] > 0.0f) ? 0.0f : zi[zo_[tt] + j];
              di[j * Tp + tt] = v;
              rest += v;
            }
        }
      } else {
        for (int tt = 0; tt < tb; ++tt) {
          const TileAt& a = at_[tt];
          const int64_t o = a.y_off + f * OHW + int64_t{a.oh} * OW + a.ow;
          const int rows = std::min(kOut, OH - a.oh), cols = std::min(kOut, OW - a.ow);
          for (int i = 0; i < kOut; ++i)
            for (int j = 0; j < kOut; ++j) {
              const int64_t e = o + int64_t{i} * OW + j;
              const float v = i < rows && j < cols && !(ry && !(ry[e] > 0.0f)) ? dz[e] : 0.0f;
              dd[(i * kOut + j) * Tp + tt] = v;
              rest += v;
            }
        }
      }
      if (fold.db) fold.db[f] += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + rest;
      for (int64_t l = 0; l < tp; l += kLanes) {
        vfloat t[4][6];  // t[j][a] = (A dz)[a][j]
        for (int j = 0; j < kOut; ++j) {
          vfloat col[4];
          for (int i = 0; i < kOut; ++i) col[i] = load(dd + (i * kOut + j) * Tp + l);
          a_col(col, t[j]);
        }
        for (int a = 0; a < kTile; ++a) {
          const vfloat row[4] = {t[0][a], t[1][a], t[2][a], t[3][a]};
          vfloat o[6];
          a_col(row, o);
          for (int b = 0; b < kTile; ++b) store(Z + (a * kTile + b) * pl.ms + f * Tp + l, o[b]);
        }
      }
    }
    // Per position: Vt = V[ξ]ᵀ (tiles x channels, 4x4 blocks with SSE), then
    // dUp[ξ] (F x Cp) (+)= Z[ξ] (F x tb) · Vt (tb x Cp) on the NN micro-kernel.
    const int c4 = C / 4 * 4, tb4 = tb / 4 * 4;
    for (int xi = 0; xi < kXi; ++xi) {
      const float* Vx = w.V + xi * pl.vs;
      for (int c = 0; c < c4; c += 4) {
        const int64_t off[4] = {0, Tp, 2 * Tp, 3 * Tp};
        for (int tt = 0; tt < tb4; tt += 4)
          rows4_to_lanes(Vx + c * Tp + tt, off, Vt + tt * Cp + c, Cp);
        for (int tt = tb4; tt < tb; ++tt)
          for (int q = 0; q < 4; ++q) Vt[tt * Cp + c + q] = Vx[(c + q) * Tp + tt];
      }
      for (int c = c4; c < C; ++c)
        for (int tt = 0; tt < tb; ++tt) Vt[tt * Cp + c] = Vx[c * Tp + tt];
      gemm_small<R, Wide>(F, Cp, tb, Z + xi * pl.ms, Tp, Vt, Cp, dUp + xi * F * Cp, Cp, !first);
    }
    first = false;
    if (!dx) continue;
    // dx, the adjoint of the forward: per position dV[ξ] (C x tb) = U[ξ]ᵀ · Z[ξ]
    // (into V, no longer needed), then per channel and tile the 6x6 patch
    // gradient B dV Bᵀ, added into dx where the patch lies in the image.
    for (int xi = 0; xi < kXi; ++xi)
      gemm_small<R, Wide>(C, tp, F, Ut + int64_t{xi} * C * F, F, Z + xi * pl.ms, Tp,
                          w.V + xi * pl.vs, Tp);
    float* pd = w.d;  // (36, Tp): one channel's patch gradients
    // Per tile: 1 + the offset in dx (channel 0) of a patch that lies wholly in
    // the image, else 0.
    for (int tt = 0; tt < tb; ++tt) {
      const TileAt& a = at_[tt];
      const int r0 = a.oh - s.pad_top, q0 = a.ow - s.pad_left;
      const bool whole = r0 >= 0 && q0 >= 0 && r0 + kTile <= H && q0 + kTile <= W;
      patch[tt] = whole ? a.y_off / (int64_t{F} * OHW) * C * HW + int64_t{r0} * W + q0 + 1 : 0;
    }
    for (int c = 0; c < C; ++c) {
      for (int64_t l = 0; l < tp; l += kLanes) {
        vfloat t[6][6];  // t[j][i] = (B dV)[i][j]
        for (int j = 0; j < kTile; ++j) {
          vfloat col[6];
          for (int i = 0; i < kTile; ++i) col[i] = load(w.V + (i * kTile + j) * pl.vs + c * Tp + l);
          b_col(col, t[j]);
        }
        for (int i = 0; i < kTile; ++i) {
          const vfloat row[6] = {t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i]};
          vfloat o[6];
          b_col(row, o);
          for (int j = 0; j < kTile; ++j) store(pd + (i * kTile + j) * Tp + l, o[j]);
        }
      }
      for (int tt = 0; tt < tb; ++tt) {
        if (tt % 4 == 0 && tt + 4 <= tb && patch[tt] && patch[tt + 1] && patch[tt + 2] &&
            patch[tt + 3]) {
          // Four whole patches: each row's 6 values per tile out of the lanes with
          // two 4x4 transposes (columns 0-3 and 2-5), then added tile by tile, in
          // the order of the one-tile loop below (so the same sums, bit for bit).
          alignas(16) float lo[kTile][16], hi[kTile][16];  // [row][tile q · 4 + column]
          const int64_t off[4] = {0, 4, 8, 12};
          for (int i = 0; i < kTile; ++i) {
            lanes_to_rows4(pd + i * kTile * Tp + tt, Tp, lo[i], off);
            lanes_to_rows4(pd + (i * kTile + 2) * Tp + tt, Tp, hi[i], off);
          }
          for (int q = 0; q < 4; ++q) {
            float* xp = dx + patch[tt + q] - 1 + int64_t{c} * HW;
            for (int i = 0; i < kTile; ++i) {
              float* xr = xp + int64_t{i} * W;
              for (int j = 0; j < 4; ++j) xr[j] += lo[i][q * 4 + j];
              xr[4] += hi[i][q * 4 + 2];
              xr[5] += hi[i][q * 4 + 3];
            }
          }
          tt += 3;
          continue;
        }
        const TileAt& a = at_[tt];
        const int64_t smp = a.y_off / (int64_t{F} * OHW);
        const int r0 = a.oh - s.pad_top, q0 = a.ow - s.pad_left;
        float* xc = dx + (smp * C + c) * HW;
        if (patch[tt]) {
          float* xp = xc + int64_t{r0} * W + q0;
          for (int i = 0; i < kTile; ++i)
            for (int j = 0; j < kTile; ++j) xp[int64_t{i} * W + j] += pd[(i * kTile + j) * Tp + tt];
          continue;
        }
        for (int i = std::max(0, -r0); i < kTile && r0 + i < H; ++i)
          for (int j = std::max(0, -q0); j < kTile && q0 + j < W; ++j)
            xc[int64_t{r0 + i} * W + q0 + j] += pd[(i * kTile + j) * Tp + tt];
      }
    }
  }
  // dU (36, F, C) from the padded rows (or added to it).
  for (int64_t r = 0; r < int64_t{kXi} * F; ++r)
    for (int c = 0; c < C; ++c) {
      const float g = first ? 0.0f : dUp[r * Cp + c];  // first: no tiles at all
      dU[r * C + c] = accumulate ? dU[r * C + c] + g : g;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define DIGITNET_WINOGRAD_DISPATCH 1
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void conv_avx512(
    const Conv3x3Shape& s, int nb, const float* x, const float* U, const float* bias, bool relu,
    float* y, float* workspace, int tile_block, const float* Ut) {
  conv_body<8, true>(s, nb, x, U, bias, relu, y, workspace, tile_block, Ut);
}
__attribute__((target("avx2,fma"))) void conv_avx2(const Conv3x3Shape& s, int nb, const float* x,
                                                   const float* U, const float* bias, bool relu,
                                                   float* y, float* workspace, int tile_block) {
  conv_body<6>(s, nb, x, U, bias, relu, y, workspace, tile_block);
}
__attribute__((target("avx512f,avx512vl,avx2,fma"))) void backward_avx512(
    const Conv3x3Shape& s, int nb, const float* x, const float* dz, const float* Ut, float* dU,
    bool accumulate, float* dx, float* workspace, int tile_block, const WinogradGradFold& fold) {
  filter_grad_body<8, true>(s, nb, x, dz, dU, accumulate, workspace, tile_block, Ut, dx, fold);
}
__attribute__((target("avx2,fma"))) void backward_avx2(const Conv3x3Shape& s, int nb,
                                                       const float* x, const float* dz,
                                                       const float* Ut, float* dU, bool accumulate,
                                                       float* dx, float* workspace, int tile_block,
                                                       const WinogradGradFold& fold) {
  filter_grad_body<6>(s, nb, x, dz, dU, accumulate, workspace, tile_block, Ut, dx, fold);
}
#endif

// The filter transform as one small linear map: U[ξ] = Σ_k T[ξ][k] · g[k] over the
// 9 taps k = (i, j), with T[(a, b)][(i, j)] = G[a][i] · G[b][j] (computed in double,
// rounded once). Eight filters at a time as the lanes of a vector.
struct FilterMap {
  float t[36][9];
  FilterMap() {
    constexpr double k6 = 1.0 / 6.0, k24 = 1.0 / 24.0, k12 = 1.0 / 12.0;
    const double G[6][3] = {{0.25, 0, 0},   {-k6, -k6, -k6}, {-k6, k6, -k6},
                            {k24, k12, k6}, {k24, -k12, k6}, {0, 0, 1}};
    for (int xi = 0; xi < kXi; ++xi)
      for (int k = 0; k < 9; ++k)
        t[xi][k] = static_cast<float>(G[xi / 6][k / 3] * G[xi % 6][k % 3]);
  }
};

}  // namespace

void winograd_filter_transform(const float* w, int F, int C, bool backward_data, float* U) {
  static const FilterMap map;  // constant after its first use (thread-safe initialisation)
  const int64_t FC = int64_t{F} * C;
  // Output column o of U: forward o = f·C + c reads w[f][c]; backward-data
  // o = c·F + f reads w[f][c] with the taps reversed.
  auto src = [&](int64_t o) {
    if (!backward_data) return w + o * 9;
    const int64_t c = o / F, f = o % F;
    return w + (f * C + c) * 9;
  };
  int64_t o = 0;
  for (; o + 8 <= FC; o += 8) {
    v8 g[9];
    for (int q = 0; q < 8; ++q) {
      const float* gq = src(o + q);
      for (int k = 0; k < 9; ++k) g[k][q] = gq[backward_data ? 8 - k : k];
    }
    for (int xi = 0; xi < kXi; ++xi) {
      v8 acc = map.t[xi][0] * g[0];
      for (int k = 1; k < 9; ++k) acc += map.t[xi][k] * g[k];
      *reinterpret_cast<v8u*>(U + xi * FC + o) = acc;
    }
  }
  for (; o < FC; ++o) {
    const float* gq = src(o);
    for (int xi = 0; xi < kXi; ++xi) {
      float acc = map.t[xi][0] * gq[backward_data ? 8 : 0];
      for (int k = 1; k < 9; ++k) acc += map.t[xi][k] * gq[backward_data ? 8 - k : k];
      U[xi * FC + o] = acc;
    }
  }
}

int64_t winograd_workspace_size(const Conv3x3Shape& s, int nb, int tile_block) {
  const Plan p = make_plan(s, nb, tile_block);
  // V (36, C, Tp), M (36, F, Tp), d (36, Tp), out (16, Tp), the padded planes,
  // and slack for alignment.
  // Then the filter gradient's Vt (Tp, Cp) and dUp (36, F, Cp).
  const int64_t cp = padded_channels(s.C);
  return kXi * (p.vs + p.ms) + (kXi + kOut * kOut) * p.Tp + int64_t{p.plane_samples} * p.Hp * p.Wp +
         p.Tp * cp + kXi * int64_t{s.F} * cp + tail_floats(s) + kLanes;
}

void winograd_conv3x3(const Conv3x3Shape& s, int nb, const float* x, const float* U,
                      const float* bias, bool relu, float* y, float* workspace, int tile_block,
                      [[maybe_unused]] const float* Ut) {  // read by the AVX-512 body only
#ifdef DIGITNET_WINOGRAD_DISPATCH
  if (cpu::allows(cpu::Isa::avx512) && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vl"))
    return conv_avx512(s, nb, x, U, bias, relu, y, workspace, tile_block, Ut);
  if (cpu::allows(cpu::Isa::avx2) && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return conv_avx2(s, nb, x, U, bias, relu, y, workspace, tile_block);
#endif
  conv_body<6>(s, nb, x, U, bias, relu, y, workspace, tile_block);
}

void winograd_filter_grad(const Conv3x3Shape& s, int nb, const float* x, const float* dz, float* dU,
                          bool accumulate, float* workspace, int tile_block) {
  winograd_backward(s, nb, x, dz, nullptr, dU, accumulate, nullptr, workspace, tile_block);
}

void winograd_backward(const Conv3x3Shape& s, int nb, const float* x, const float* dz,
                       const float* Ut, float* dU, bool accumulate, float* dx, float* workspace,
                       int tile_block, const WinogradGradFold& fold) {
#ifdef DIGITNET_WINOGRAD_DISPATCH
  if (cpu::allows(cpu::Isa::avx512) && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vl"))
    return backward_avx512(s, nb, x, dz, Ut, dU, accumulate, dx, workspace, tile_block, fold);
  if (cpu::allows(cpu::Isa::avx2) && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return backward_avx2(s, nb, x, dz, Ut, dU, accumulate, dx, workspace, tile_block, fold);
#endif
  filter_grad_body<6>(s, nb, x, dz, dU, accumulate, workspace, tile_block, Ut, dx, fold);
}

void winograd_transpose_filters(const float* U, int F, int C, float* Ut) {
  const int64_t FC = int64_t{F} * C;
  for (int xi = 0; xi < kXi; ++xi)
    for (int f = 0; f < F; ++f)
      for (int c = 0; c < C; ++c)
        Ut[xi * FC + int64_t{c} * F + f] = U[xi * FC + int64_t{f} * C + c];
}

void winograd_filter_grad_finish(const float* dU, int F, int C, float* dw) {
  // dw[f][c] = Gᵀ dU[f][c] G, i.e. dw[k] = Σ_ξ T[ξ][k] · dU[ξ] (the transpose of
  // the filter transform's map), eight filters at a time.
  static const FilterMap map;
  const int64_t FC = int64_t{F} * C;
  int64_t o = 0;
  for (; o + 8 <= FC; o += 8) {
    v8 acc[9] = {};
    for (int xi = 0; xi < kXi; ++xi) {
      const v8 u = *reinterpret_cast<const v8u*>(dU + xi * FC + o);
      for (int k = 0; k < 9; ++k) acc[k] += map.t[xi][k] * u;
    }
    for (int q = 0; q < 8; ++q)
      for (int k = 0; k < 9; ++k) dw[(o + q) * 9 + k] = acc[k][q];
  }
  for (; o < FC; ++o)
    for (int k = 0; k < 9; ++k) {
      float acc = 0.0f;
      for (int xi = 0; xi < kXi; ++xi) acc += map.t[xi][k] * dU[xi * FC + o];
      dw[o * 9 + k] = acc;
    }
}

void conv3x3_filter_grad_ref(const Conv3x3Shape& s, int nb, const float* x, const float* dz,
                             float* dw) {
  for (int f = 0; f < s.F; ++f)
    for (int c = 0; c < s.C; ++c)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
          double acc = 0.0;
          for (int n = 0; n < nb; ++n)
            for (int oh = 0; oh < s.OH; ++oh) {
              const int ih = oh - s.pad_top + i;
              if (ih < 0 || ih >= s.H) continue;
              for (int ow = 0; ow < s.OW; ++ow) {
                const int iw = ow - s.pad_left + j;
                if (iw < 0 || iw >= s.W) continue;
                acc += static_cast<double>(dz[((int64_t{n} * s.F + f) * s.OH + oh) * s.OW + ow]) *
                       x[((int64_t{n} * s.C + c) * s.H + ih) * s.W + iw];
              }
            }
          dw[((int64_t{f} * s.C + c) * 3 + i) * 3 + j] = static_cast<float>(acc);
        }
}

void conv3x3_ref(const Conv3x3Shape& s, int nb, const float* x, const float* w, const float* bias,
                 bool relu, float* y) {
  for (int n = 0; n < nb; ++n)
    for (int f = 0; f < s.F; ++f)
      for (int oh = 0; oh < s.OH; ++oh)
        for (int ow = 0; ow < s.OW; ++ow) {
          double acc = bias ? bias[f] : 0.0;
          for (int c = 0; c < s.C; ++c)
            for (int i = 0; i < 3; ++i) {
              const int ih = oh - s.pad_top + i;
              if (ih < 0 || ih >= s.H) continue;
              for (int j = 0; j < 3; ++j) {
                const int iw = ow - s.pad_left + j;
                if (iw < 0 || iw >= s.W) continue;
                acc += static_cast<double>(w[((int64_t{f} * s.C + c) * 3 + i) * 3 + j]) *
                       x[((int64_t{n} * s.C + c) * s.H + ih) * s.W + iw];
              }
            }
          if (relu && acc < 0.0) acc = 0.0;
          y[((int64_t{n} * s.F + f) * s.OH + oh) * s.OW + ow] = static_cast<float>(acc);
        }
}

}  // namespace digitnet::kernels
