// digitnet/core/direct_conv.hpp — direct convolution of one image, for the
// single-image latency of small layers (LeNet's, the first layer of the Keras
// CNN), where a oneDNN call or an im2col + sgemm costs more in set-up than in
// arithmetic. Knows nothing of layers.
#pragma once
#include <cstddef>

namespace digitnet::kernels {

// One image, stride 1, zero padding:
//   y[f, oh, ow] = b[f] + Σ_{c,kh,kw} w[f, c, kh, kw] · x[c, oh + kh − pad_top, ow + kw − pad_left]
// then max(0, ·) when relu. x (C, H, W), w (F, C, KH, KW), b (F) or null, y (F, OH, OW).
// Vectorised over 16 output columns, 8 filters at a time with AVX-512, 4 with
// AVX2 + FMA, where the CPU has them. scratch holds direct_conv_scratch(...) floats (the
// zero-padded input).
struct DirectConvShape {
  int c, h, w, f, kh, kw, pad_top, pad_left, oh, ow;
};
std::size_t direct_conv_scratch(const DirectConvShape& s);
void direct_conv(const DirectConvShape& s, const float* x, const float* w, const float* b,
                 bool relu, float* y, float* scratch);

}  // namespace digitnet::kernels
