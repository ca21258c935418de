// src/layers/fusion.hpp (private) — the fusion pass: known runs of a model's
// layers rewritten into one fused layer that keeps the ordinary Layer contract
// (tests/test_layers_fusion.cpp checks each against the layers it replaces,
// bit for bit, with the layer-contract harness).
//
// Patterns:
//  * Conv2D + MaxPooling2D(2x2/2), inference, one image split by filters on the
//    own Winograd: each participant pools its planes from its own scratch.
//  * Conv2D + AveragePooling2D(2x2/2), training and inference: on the direct
//    kernel each image is pooled right after its convolution, while its planes
//    are in L1; with tanh the backward takes dz = unpool(dy) ⊙ tanh'(y) and the
//    bias sums in one pass.
// The layers themselves know nothing of the pass: the pooling says what it is,
// and the convolution offers the pooled entry points through ConvPool2x2.
#pragma once
#include <memory>
#include <vector>

#include "digitnet/layers/layer.hpp"

namespace digitnet::detail {

// A layer standing for `span()` consecutive layers of a model, with their
// input and the last one's output (their parameters are the first layer's).
class FusedLayer : public Layer {
 public:
  virtual int span() const = 0;
  // Whether it runs for a batch of n samples on `threads` participants in this
  // mode; if not, the model runs the layers one by one.
  virtual bool runs(int64_t n, int threads, bool training) = 0;
};

// What a pooling layer is, for the pass.
class Pool2x2Kind {
 public:
  virtual ~Pool2x2Kind() = default;
  // 2x2 windows, stride 2, no padding; average pooling only of even planes.
  virtual bool is_max_pool_2x2() const = 0;
  virtual bool is_avg_pool_2x2() const = 0;
};

// The pooled entry points a convolution offers (each the same bits as the
// convolution followed by the pooling layer).
class ConvPool2x2 {
 public:
  virtual ~ConvPool2x2() = default;
  // Inference, one image: y = maxpool(forward(x)), where fuses_max_pool_2x2(n, threads).
  virtual bool fuses_max_pool_2x2(int64_t n, int threads) = 0;
  virtual void forward_max_pool_2x2(const Tensor& x, Tensor& y, const Context& ctx) = 0;
  // pooled = avgpool(forward(x)), and *y = forward(x) when y is given (training).
  virtual bool fuses_avg_pool_2x2(int64_t n, int threads) = 0;
  virtual void forward_avg_pool_2x2(const Tensor& x, Tensor* y, Tensor& pooled,
                                    const Context& ctx) = 0;
  // backward(x, y, dy, dx) with dy the pooling's backward of dy_pooled.
  virtual bool fuses_avg_pool_2x2_backward() = 0;
  virtual void backward_from_avg_pool_2x2(const Tensor& x, const Tensor& y, const Tensor& dy_pooled,
                                          Tensor* dx, const Context& ctx) = 0;
};

// The pass: for every layer index, the fused layer that starts there, or null.
// The fused layers refer to the model's layers, which must outlive them.
std::vector<std::unique_ptr<FusedLayer>> plan_fusions(const std::vector<LayerPtr>& layers);

}  // namespace digitnet::detail
