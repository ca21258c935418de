// tests/support/conv_reference.hpp — a plain direct convolution in double
// precision (forward, weight gradient, input gradient) that the fast
// convolution paths are compared against.
#pragma once
#include <algorithm>
#include <vector>

#include "core/dnnl_conv.hpp"

namespace digitnet::convref {

using kernels::ConvGeometry;

// Index of the input pixel a tap reads, or -1 in the padding.
inline int tap(const ConvGeometry& g, int o, int k, int pad, int size) {
  const int i = o * g.stride - pad + k;
  return i >= 0 && i < size ? i : -1;
}

// Direct convolution in double: y = act(conv(x, w) + b).
inline std::vector<float> forward_ref(const ConvGeometry& g, const std::vector<float>& x,
                                      const std::vector<float>& w, const float* b, bool relu) {
  std::vector<float> y(static_cast<std::size_t>(g.n) * g.f * g.oh * g.ow);
  for (int n = 0; n < g.n; ++n)
    for (int f = 0; f < g.f; ++f)
      for (int oh = 0; oh < g.oh; ++oh)
        for (int ow = 0; ow < g.ow; ++ow) {
          double acc = b ? b[f] : 0.0;
          for (int c = 0; c < g.c; ++c)
            for (int i = 0; i < g.kh; ++i)
              for (int j = 0; j < g.kw; ++j) {
                const int ih = tap(g, oh, i, g.pad_top, g.h), iw = tap(g, ow, j, g.pad_left, g.w);
                if (ih < 0 || iw < 0) continue;
                acc += double(w[((size_t(f) * g.c + c) * g.kh + i) * g.kw + j]) *
                       x[((size_t(n) * g.c + c) * g.h + ih) * g.w + iw];
              }
          y[((size_t(n) * g.f + f) * g.oh + oh) * g.ow + ow] =
              static_cast<float>(relu ? std::max(acc, 0.0) : acc);
        }
  return y;
}

// dw = Σ dz ⋆ x and dx = convᵀ(dz, w), in double.
inline void backward_ref(const ConvGeometry& g, const std::vector<float>& x,
                         const std::vector<float>& dz, const std::vector<float>& w,
                         std::vector<float>& dx, std::vector<float>& dw) {
  std::vector<double> ddx(x.size(), 0.0), ddw(w.size(), 0.0);
  for (int n = 0; n < g.n; ++n)
    for (int f = 0; f < g.f; ++f)
      for (int oh = 0; oh < g.oh; ++oh)
        for (int ow = 0; ow < g.ow; ++ow) {
          const double d = dz[((size_t(n) * g.f + f) * g.oh + oh) * g.ow + ow];
          for (int c = 0; c < g.c; ++c)
            for (int i = 0; i < g.kh; ++i)
              for (int j = 0; j < g.kw; ++j) {
                const int ih = tap(g, oh, i, g.pad_top, g.h), iw = tap(g, ow, j, g.pad_left, g.w);
                if (ih < 0 || iw < 0) continue;
                const size_t xi = ((size_t(n) * g.c + c) * g.h + ih) * g.w + iw;
                const size_t wi = ((size_t(f) * g.c + c) * g.kh + i) * g.kw + j;
                ddw[wi] += d * x[xi];
                ddx[xi] += d * w[wi];
              }
        }
  dx.assign(ddx.begin(), ddx.end());
  dw.assign(ddw.begin(), ddw.end());
}

}  // namespace digitnet::convref
