// src/core/dnnl_conv.hpp — 2-D convolution kernels from oneDNN (libdnnl), run on
// the calling thread only. They know nothing of layers.
//
// Why: oneDNN's JIT kernels run convolutions faster than im2col + sgemm for
// most shapes (docs/PERFORMANCE.md, "Which algorithm runs where"). The 3x3
// layers with >= 16 channels use digitnet's own Winograd (winograd.hpp) by
// default: oneDNN's keeps a 9 MB scratchpad per thread and is no faster.
//
// Threading: every call executes single-threaded on the calling thread (it sets
// the calling thread's OpenMP team size to 1), so the caller's ThreadPool stays
// the one source of parallelism: the pool splits the batch and each participant
// drives its own DnnlConv. One object must not be used by two threads at once.
// With the same shapes the same kernels run in the same order: results are
// bit-identical run after run.
//
// User buffers are plain row-major NCHW activations and (F, C, KH, KW) weights;
// reorders to oneDNN's blocked layouts happen inside: weights into buffers the
// object owns, activations and oneDNN's scratchpad into a workspace the caller
// passes to every call (workspace_floats() floats, 64-byte aligned), so objects
// that never run at the same time (one pool participant's, across sub-batch
// sizes and layers) share one. No allocation per call.
#pragma once
#include <memory>
#include <string>

namespace digitnet::kernels {

struct ConvGeometry {
  int n = 1;                  // batch
  int c = 1, h = 1, w = 1;    // input channels, height, width
  int f = 1, kh = 1, kw = 1;  // filters, kernel height and width
  int stride = 1;             // same stride on both axes
  int pad_top = 0, pad_left = 0;
  int oh = 1, ow = 1;  // output height and width (bottom/right padding follows)
};

enum class ConvAlgo { direct, winograd };

class DnnlConv {
 public:
  // Returns null when oneDNN has no implementation of `algo` for this geometry on
  // this CPU (e.g. Winograd needs AVX-512 and a 3x3 stride-1 kernel). `training`
  // prepares backward too; `relu` fuses y = max(z, 0) into forward; `bias`
  // says whether forward adds a per-filter bias.
  static std::unique_ptr<DnnlConv> create(const ConvGeometry& g, ConvAlgo algo, bool training,
                                          bool bias, bool relu);
  ~DnnlConv();
  DnnlConv(const DnnlConv&) = delete;
  DnnlConv& operator=(const DnnlConv&) = delete;

  const ConvGeometry& geometry() const;
  // oneDNN's name for the kernels chosen, e.g. "jit_wino_4x3:avx512_core".
  std::string implementation() const;

  // Floats of workspace every call needs.
  std::size_t workspace_floats() const;

  // x (n, c, h, w), w (f, c, kh, kw), b (f) or null -> y (n, f, oh, ow):
  // y = act(Σ_{c,i,j} w[f,c,i,j]·x[c, oh·s+i-pt, ow·s+j-pl] + b[f]).
  void forward(const float* x, const float* w, const float* b, float* y, float* workspace);
  // dz (n, f, oh, ow) = dLoss/d(pre-activation). When dw is not null overwrites
  // dw (f, c, kh, kw) with Σ_n dz ⋆ x, and, when dx is not null, dx (n, c, h, w)
  // with the transposed convolution of dz by w. Needs `training`.
  void backward(const float* x, const float* dz, const float* w, float* dx, float* dw,
                float* workspace);

 private:
  struct Impl;
  explicit DnnlConv(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace digitnet::kernels
