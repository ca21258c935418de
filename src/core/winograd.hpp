// src/core/winograd.hpp (private) — 3x3 stride-1 convolution by Winograd F(4x4, 3x3).
// Kernels know nothing of layers.
//
// Lavin & Gray (2015), interpolation points 0, ±1, ±2, ∞. Per (output channel f,
// input channel c) the 3x3 filter g becomes U = G g Gᵀ (6x6); per input tile d
// (6x6, tiles overlapping by 2) V = Bᵀ d B; for each of the 36 positions ξ of
// the 6x6 tile a GEMM sums over channels, M[ξ] (F x T) = U[ξ] (F x C) · V[ξ]
// (C x T) for T tiles; each output tile (4x4) is Y = Aᵀ M A. The GEMM stage does
// 36 multiplies per 16 outputs instead of 9 · 16: 4x fewer.
//
// Error: the transforms scale values by up to ~10² and cancel again, so in fp32
// the result differs from a direct convolution by about 1e-6 of the output
// scale (max |y|) on typical data; the tests allow 1e-4.
#pragma once
#include <cstdint>

namespace digitnet::kernels {

// One 3x3 stride-1 convolution: x (nb, C, H, W) -> y (nb, F, OH, OW), where
// y[s][f][oh][ow] = bias[f] + Σ_{c,i,j} w[f][c][i][j] · x[s][c][oh - pad_top + i][ow - pad_left +
// j], and x reads as 0 outside the image (so any OH, OW >= 1 is allowed: the bottom and right
// padding is implied).
struct Conv3x3Shape {
  int C, F, H, W, OH, OW, pad_top, pad_left;
};

// The transformed filters of w (F, C, 3, 3): U (36, F, C) with U[ξ][f][c] =
// (G w[f][c] Gᵀ)[ξ / 6][ξ % 6]. With backward_data, the transform of the
// backward-data kernel w'[c][f][i][j] = w[f][c][2-i][2-j], shape (36, C, F): a
// convolution with it (C and F swapped, padding 2 - pad) maps dy to dx.
void winograd_filter_transform(const float* w, int F, int C, bool backward_data, float* U);

// Tiles transformed and multiplied per GEMM batch (measured, see bench/kernels_bench.cpp).
constexpr int kWinogradTileBlock = 64;
constexpr int kWinogradMaxTileBlock = 512;

// Floats of workspace winograd_conv3x3 needs for this shape, nb samples and tile block.
int64_t winograd_workspace_size(const Conv3x3Shape& s, int nb, int tile_block = kWinogradTileBlock);

// y = conv(x, w) + bias (bias may be null), then max(0, ·) if relu. U is
// winograd_filter_transform(w). Single-threaded (sgemm from the calling thread);
// allocates nothing: workspace holds winograd_workspace_size(s, nb, tile_block)
// floats. tile_block in [1, kWinogradMaxTileBlock]. For a given nb and
// tile_block the result does not depend on anything else (deterministic).
//
// Ut, when given, is winograd_transpose_filters(U): on AVX-512, a block's last
// few tiles (up to 8 past a multiple of 16, e.g. the 36 of one 24x24 output)
// then run with channels and filters in the vector lanes instead of tiles, for
// the same bits in about a third of the time the nearly empty lane group takes
// (used where C and F are multiples of 16 and the patches lie inside x).
void winograd_conv3x3(const Conv3x3Shape& s, int nb, const float* x, const float* U,
                      const float* bias, bool relu, float* y, float* workspace,
                      int tile_block = kWinogradTileBlock, const float* Ut = nullptr);

// The filter gradient dw (F, C, 3, 3) = Σ_n Σ_{oh,ow} dz[n][f][oh][ow] ·
// x[n][c][oh - pad_top + i][ow - pad_left + j], in two steps. Per tile, the 4x4
// block of dz becomes Z = A dz Aᵀ (6x6) and the input patch V = Bᵀ d B, and the
// transformed gradient dU (36, F, C) gets, per position ξ, Σ_tiles Z[ξ] · V[ξ]ᵀ
// (one GEMM over the tiles): this is the exact gradient of the Winograd forward
// with respect to U = G w Gᵀ. winograd_filter_grad overwrites dU, or adds to it
// with accumulate (so sub-batches can be summed); winograd_filter_grad_finish
// maps it back, dw[f][c] = Gᵀ dU[f][c] G (in double). dz has x's batch and y's
// shape (nb, F, OH, OW); workspace as for winograd_conv3x3 with the same s, nb
// and tile_block. Single-threaded, allocates nothing, deterministic.
void winograd_filter_grad(const Conv3x3Shape& s, int nb, const float* x, const float* dz, float* dU,
                          bool accumulate, float* workspace, int tile_block = kWinogradTileBlock);
void winograd_filter_grad_finish(const float* dU, int F, int C, float* dw);

// The filter gradient and the input gradient in one pass over the tiles (they
// share Z = A dz Aᵀ): dU as winograd_filter_grad, and, when dx is not null, dx
// (nb, C, H, W) overwritten with the adjoint of the forward, per tile and input
// channel the 6x6 patch gradient B (Σ_f U[ξ][f][c] · Z[ξ][f]) Bᵀ added where the
// patch lies in the image. Ut (36, C, F) is the forward transform U transposed
// per position (winograd_transpose_filters). Same workspace as winograd_conv3x3.
//
// A fold does a ReLU layer's and a bias's work in the same read of dz (saving a
// pass that writes dz ⊙ relu'(y) and one that reads it back): with relu_y (the
// forward's output, shaped as dz), every dz element is taken as dz · [relu_y > 0];
// with db (F floats), db[f] += the sum of the (so taken) dz[·][f] over the
// samples and positions, added in an order fixed by s, nb and tile_block.
struct WinogradGradFold {
  const float* relu_y = nullptr;
  float* db = nullptr;
};
void winograd_backward(const Conv3x3Shape& s, int nb, const float* x, const float* dz,
                       const float* Ut, float* dU, bool accumulate, float* dx, float* workspace,
                       int tile_block = kWinogradTileBlock, const WinogradGradFold& fold = {});
// Ut[ξ][c][f] = U[ξ][f][c].
void winograd_transpose_filters(const float* U, int F, int C, float* Ut);

// The plain reference of the filter gradient, accumulated in double.
void conv3x3_filter_grad_ref(const Conv3x3Shape& s, int nb, const float* x, const float* dz,
                             float* dw);

// The plain reference: direct convolution, accumulated in double, same contract
// with the untransformed w (F, C, 3, 3).
void conv3x3_ref(const Conv3x3Shape& s, int nb, const float* x, const float* w, const float* bias,
                 bool relu, float* y);

}  // namespace digitnet::kernels
