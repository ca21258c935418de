// src/layers/fused_conv_pool.cpp — the fusion pass and its fused layer: a
// convolution and the 2x2/2 pooling after it as one layer (fusion.hpp).
//   forward:  y = pool(conv(x))           x (C, H, W) -> u (F, OH, OW) -> y (F, OH/2, OW/2)
//   backward: du = pool'(dy);  (dW, db, dx) = conv'(x, u, du)
// It runs the convolution's pooled entry points where they apply and the two
// layers one after the other elsewhere, keeping u (the unpooled output) for
// backward in training.
#include "digitnet/core/error.hpp"
#include "layers/fusion.hpp"

namespace digitnet::detail {
namespace {

class ConvPoolLayer final : public FusedLayer {
 public:
  ConvPoolLayer(Layer& conv, ConvPool2x2& fusable, Layer& pool, bool max)
      : conv_(conv), fusable_(fusable), pool_(pool), max_(max) {
    name = conv.name + "+" + pool.name;
    input_shape_ = conv.input_shape();
    output_shape_ = pool.output_shape();
  }

  std::string type() const override { return conv_.type() + "+" + pool_.type(); }
  Shape build(const Shape&, Rng&) override {
    throw Error(name + ": a fused layer is made from built layers, not built");
  }
  int span() const override { return 2; }

  bool runs(int64_t n, int threads, bool training) override {
    if (max_) return !training && fusable_.fuses_max_pool_2x2(n, threads);
    return fusable_.fuses_avg_pool_2x2(n, threads) ||
           (training && fusable_.fuses_avg_pool_2x2_backward());
  }

  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    const int64_t n = x.dim(0);
    const int threads = ctx.pool->size();
    if (max_ && !ctx.training && fusable_.fuses_max_pool_2x2(n, threads))
      return fusable_.forward_max_pool_2x2(x, y, ctx);
    if (!max_ && fusable_.fuses_avg_pool_2x2(n, threads))
      return fusable_.forward_avg_pool_2x2(x, ctx.training ? &u_ : nullptr, y, ctx);
    conv_.forward(x, u_, ctx);
    pool_.forward(u_, y, ctx);
  }

  // Reads u from the training forward, never y.
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context& ctx) override {
    if (!max_ && fusable_.fuses_avg_pool_2x2_backward())
      return fusable_.backward_from_avg_pool_2x2(x, u_, dy, dx, ctx);
    pool_.backward(u_, y, dy, &du_, ctx);
    conv_.backward(x, u_, du_, dx, ctx);
  }

  std::vector<Param*> params() override { return conv_.params(); }
  std::vector<const Param*> params() const override {
    return static_cast<const Layer&>(conv_).params();
  }
  nlohmann::json config() const override {
    return {
        {"layers", nlohmann::json::array({{{"type", conv_.type()}, {"config", conv_.config()}},
                                          {{"type", pool_.type()}, {"config", pool_.config()}}})}};
  }
  int64_t forward_macs() const override { return conv_.forward_macs(); }
  bool backward_reads_output() const override { return false; }
  bool per_sample() const override { return conv_.per_sample() && pool_.per_sample(); }

 private:
  Layer& conv_;
  ConvPool2x2& fusable_;
  Layer& pool_;
  bool max_;
  Tensor u_, du_;  // the convolution's output and its gradient
};

}  // namespace

std::vector<std::unique_ptr<FusedLayer>> plan_fusions(const std::vector<LayerPtr>& layers) {
  std::vector<std::unique_ptr<FusedLayer>> fused(layers.size());
  for (std::size_t i = 0; i + 1 < layers.size(); ++i) {
    auto* conv = dynamic_cast<ConvPool2x2*>(layers[i].get());
    const auto* pool = dynamic_cast<const Pool2x2Kind*>(layers[i + 1].get());
    if (!conv || !pool) continue;
    if (pool->is_max_pool_2x2() || pool->is_avg_pool_2x2())
      fused[i] = std::make_unique<ConvPoolLayer>(*layers[i], *conv, *layers[i + 1],
                                                 pool->is_max_pool_2x2());
    ++i;  // a layer belongs to one fused layer at most
  }
  return fused;
}

}  // namespace digitnet::detail
