// src/core/direct_conv.hpp (private) — direct convolution of one image, for the
// single-image latency of small layers (LeNet's, the first layer of the Keras
// CNN), where a oneDNN call or an im2col + sgemm costs more in set-up than in
// arithmetic. Knows nothing of layers.
#pragma once
#include <cstddef>

namespace digitnet::kernels {

// One image, stride 1, zero padding:
//   y[f, oh, ow] = act(b[f] + Σ_{c,kh,kw} w[f, c, kh, kw] · x[c, oh + kh − pad_top, ow + kw −
//   pad_left])
// with act the identity, max(0, ·) or tanh (kernels::tanh's values, to the bit;
// with AVX-512 applied in registers before the store). x (C, H, W), w (F, C, KH, KW), b (F) or
// null, y (F, OH, OW). Vectorised over 16 output columns, 8 filters at a time with AVX-512, 4 with
// AVX2 + FMA, where the CPU has them. scratch holds direct_conv_scratch(...) floats (the
// zero-padded input).
struct DirectConvShape {
  int c, h, w, f, kh, kw, pad_top, pad_left, oh, ow;
};
enum class ConvAct { linear, relu, tanh };
std::size_t direct_conv_scratch(const DirectConvShape& s);
// packed: null, or w laid out by direct_conv_pack (64-byte aligned), which a
// caller whose weights do not change between calls can keep, saving the
// re-layout on every call; the result is the same.
void direct_conv(const DirectConvShape& s, const float* x, const float* w, const float* b,
                 ConvAct act, float* y, float* scratch, const float* packed = nullptr);
// Whether direct_conv runs its AVX-512 bodies on this CPU (where running whole
// batches of a one-channel layer through it was measured to beat oneDNN).
bool direct_conv_avx512();
// The filters-in-the-vector kernel reads the weights as (C, KH, KW, Fp), Fp = F
// rounded up to 16, zeros past F: direct_conv_pack writes that layout
// (direct_conv_packed_size floats).
std::size_t direct_conv_packed_size(const DirectConvShape& s);
void direct_conv_pack(const DirectConvShape& s, const float* w, float* packed);

// The weight gradient of the same convolution over m images, ADDED into dw:
//   dw[f, c, kh, kw] += Σ_i Σ_{oh,ow} dz[i, f, oh, ow] · x[i, c, oh + kh − pad_top, ow + kw −
//   pad_left]
// x (m, C, H, W), dz (m, F, OH, OW), dw (F, C, KH, KW). With AVX-512 (see
// direct_conv_wgrad_vectorised) either 16 filters per vector: dz is transposed to
// (pixel, F) and every input value is broadcast against it, two kernel rows of
// accumulators at a time; or, for few filters (direct_conv_wgrad_by_columns),
// 16 output columns per vector, a few filters × the kernel row's taps of
// accumulators reduced across lanes at the end. Plain loops elsewhere. For
// layers where oneDNN falls back to a slow weight-gradient kernel (LeNet's 6 ->
// 16 channels run oneDNN's AVX2 one on AVX-512 CPUs) or im2col + sgemm is slow
// (LeNet's first layer, 6 filters). scratch holds direct_conv_wgrad_scratch(s, m) floats.
std::size_t direct_conv_wgrad_scratch(const DirectConvShape& s, int m);
void direct_conv_wgrad(const DirectConvShape& s, int m, const float* x, const float* dz, float* dw,
                       float* scratch);
// Whether direct_conv_wgrad has its vector bodies on this CPU (kernel width <= 8).
bool direct_conv_wgrad_vectorised(const DirectConvShape& s);
// Whether it runs the columns body for this shape (few filters, wide rows).
bool direct_conv_wgrad_by_columns(const DirectConvShape& s);
// Whether the columns body suits the shape better than the filters body (a
// property of the shape alone; it runs only where the vector bodies do).
bool direct_conv_wgrad_columns_suit(const DirectConvShape& s);

// The input gradient of the same convolution, one image, OVERWRITING dx (C, H, W):
//   dx[c, h, w] = Σ_{f,kh,kw} w[f, c, kh, kw] · dz[f, h + pad_top − kh, w + pad_left − kw]
// (dz taken as zero outside (OH, OW)). With AVX-512 and at most 16 filters
// (direct_conv_dgrad_vectorised): the filters in the vector, dz copied to a
// zero-bordered (pixel, 16) layout, 4 pixels × up to 6 channels of accumulators
// per tap, each reduced across its lanes at the end; kernel rows that fall
// outside dz are skipped. Plain loops elsewhere. For LeNet's conv2 (6 -> 16,
// 5x5), whose input gradient oneDNN runs on its AVX2 kernel. wt is the weights
// laid out by direct_conv_pack (with F <= 16: (C, KH, KW, 16), the filters in
// the vector); the plain loops read w. scratch holds direct_conv_dgrad_scratch(s) floats.
bool direct_conv_dgrad_vectorised(const DirectConvShape& s);
std::size_t direct_conv_dgrad_scratch(const DirectConvShape& s);
void direct_conv_dgrad(const DirectConvShape& s, const float* dz, const float* w, const float* wt,
                       float* dx, float* scratch);

}  // namespace digitnet::kernels
