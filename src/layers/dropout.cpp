// src/layers/dropout.cpp — inverted dropout.
//
//   training:  m_i = [u_i >= rate] / (1 - rate), u_i ~ U[0,1) from ctx.rng drawn
//              serially in element order (so the mask does not depend on threads)
//              y = x ⊙ m,  dx = dy ⊙ m
//   inference: y = x, dx = dy
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "layers/layer_util.hpp"

namespace digitnet {
namespace {

class DropoutLayer final : public Layer {
 public:
  explicit DropoutLayer(float rate) : rate_(rate) {
    if (!(rate >= 0.0f && rate < 1.0f))
      throw Error("Dropout: rate must be in [0, 1) (got " + std::to_string(rate) + ")");
  }

  std::string type() const override { return "Dropout"; }

  Shape build(const Shape& input_shape, Rng&) override {
    if (input_shape.empty() || shape_size(input_shape) <= 0)
      throw Error(detail::layer_label(*this) + ": invalid input shape " + shape_str(input_shape));
    input_shape_ = output_shape_ = input_shape;
    return output_shape_;
  }

  // x (N, ...) -> y (N, ...)
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    y.resize(x.shape());
    masked_ = ctx.training && rate_ > 0.0f;
    if (!masked_) {
      std::copy(x.data(), x.data() + x.size(), y.data());
      return;
    }
    if (!ctx.rng) throw Error(detail::layer_label(*this) + ": training needs a random generator");
    // The draws stay serial (the mask must not depend on the thread count); the
    // mask is kept as bytes and the products are split over the pool.
    // keep ? v·scale : v·0 gives the same bits as v·m did with a float mask.
    const int64_t n = x.size();
    keep_.resize(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      keep_[static_cast<std::size_t>(i)] = ctx.rng->uniform() >= rate_ ? 1 : 0;
    apply_mask(x.data(), y.data(), n, *ctx.pool);
  }

  // dy (N, ...) -> dx (N, ...)
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context& ctx) override {
    detail::check_backward_grad(*this, y, dy);
    if (!dx) return;
    dx->resize(x.shape());
    if (!masked_) {
      std::copy(dy.data(), dy.data() + dy.size(), dx->data());
      return;
    }
    apply_mask(dy.data(), dx->data(), dy.size(), *ctx.pool);
  }

  nlohmann::json config() const override { return {{"rate", rate_}}; }

 private:
  // out = in ⊙ m with m_i = keep_i / (1 - rate), over the pool.
  void apply_mask(const float* in, float* out, int64_t n, ThreadPool& pool) const {
    const float scale = 1.0f / (1.0f - rate_);
    const uint8_t* keep = keep_.data();
    pool.parallel_for(n, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) out[i] = in[i] * (keep[i] ? scale : 0.0f);
    });
  }

  float rate_;
  bool masked_ = false;        // whether the last forward applied a mask
  std::vector<uint8_t> keep_;  // (N·...) 1 where kept, from the last training forward
};

}  // namespace

LayerPtr Dropout(float rate) { return std::make_unique<DropoutLayer>(rate); }

namespace detail {
LayerPtr dropout_from_config(const nlohmann::json& cfg) {
  const std::string t = "Dropout";
  config_object(t, cfg);
  const float rate = config_float(t, cfg, "rate");
  if (!(rate >= 0.0f && rate < 1.0f)) throw Error(t + " config: field 'rate' must be in [0, 1)");
  return Dropout(rate);
}
}  // namespace detail

}  // namespace digitnet
