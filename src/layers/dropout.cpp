// src/layers/dropout.cpp — inverted dropout.
//
//   training:  m_i = [u_i >= rate] / (1 - rate), u_i ~ U[0,1) from ctx.rng drawn
//              serially in element order (so the mask does not depend on threads)
//              y = x ⊙ m,  dx = dy ⊙ m
//   inference: y = x, dx = dy
#include <algorithm>
#include <cmath>

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
    mask_.resize(x.shape());
    const float scale = 1.0f / (1.0f - rate_);
    for (int64_t i = 0; i < x.size(); ++i) mask_[i] = ctx.rng->uniform() >= rate_ ? scale : 0.0f;
    for (int64_t i = 0; i < x.size(); ++i) y[i] = x[i] * mask_[i];
  }

  // dy (N, ...) -> dx (N, ...)
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context&) override {
    detail::check_backward_grad(*this, y, dy);
    if (!dx) return;
    dx->resize(x.shape());
    if (!masked_) {
      std::copy(dy.data(), dy.data() + dy.size(), dx->data());
      return;
    }
    for (int64_t i = 0; i < dy.size(); ++i) (*dx)[i] = dy[i] * mask_[i];
  }

  nlohmann::json config() const override { return {{"rate", rate_}}; }

 private:
  float rate_;
  bool masked_ = false;  // whether the last forward applied a mask
  Tensor mask_;          // (N, ...) 0 or 1/(1-rate), from the last training forward
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
