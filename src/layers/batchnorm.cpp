// src/layers/batchnorm.cpp — batch normalisation per channel.
//
// Channel = dim 0 of the per-sample shape (C of (C, H, W), or each feature of a
// flat input); statistics reduce over the M = N·(H·W) values of a channel.
//   training:  μ = Σx/M,  σ² = Σ(x-μ)²/M,  x̂ = (x-μ)/√(σ²+ε),  y = γ·x̂ + β
//              w' = m·w + (1-m),  mₜ = m·w/w'        (w = moving_weight, 0 when built)
//              moving_mean = mₜ·moving_mean + (1-mₜ)·μ
//              moving_var  = mₜ·moving_var  + (1-mₜ)·σ²·M/(M-1)   (unbiased, like PyTorch)
//   The moving statistics are debiased exponential averages: the batches' statistics
//   weighted by m^age and divided by the weights' sum w, so the initial 0 and 1 carry no
//   weight. Keras and PyTorch average from 0 and 1 instead; after t updates those keep
//   m^t of the initial values, which outweigh small true variances (0.99^234 = 0.095
//   against a first convolution's ~0.006 with Glorot weights). Once w = 1 the update is
//   theirs exactly.
//   inference: x̂ = (x - moving_mean)/√(moving_var+ε),  y = γ·x̂ + β
//   backward:  dβ = Σdy,  dγ = Σ dy·x̂
//              training:  dx = γ/(M·√(σ²+ε)) · (M·dy - dβ - x̂·dγ)
//              inference: dx = γ/√(moving_var+ε) · dy
// Channels are independent, so they are split over the pool (no cross-thread sums).
#include <algorithm>
#include <cmath>

#include "layers/layer_util.hpp"

namespace digitnet {
namespace {

// Sums over one plane of a channel, in 8 float lanes the compiler vectorises (a
// double accumulator is a serial chain: it made this layer slower than the
// convolutions around it); the planes' sums are then added in double.
constexpr int kLanes = 8;

template <class Term>
double lane_sum(int64_t n, Term term) {
  float acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += term(j + k);
  double s = 0.0;
  for (; j < n; ++j) s += term(j);
  for (float a : acc) s += a;
  return s;
}

class BatchNormLayer final : public Layer {
 public:
  BatchNormLayer(float momentum, float epsilon) : momentum_(momentum), eps_(epsilon) {
    if (!(momentum >= 0.0f && momentum <= 1.0f))
      throw Error("BatchNormalization: momentum must be in [0, 1] (got " +
                  std::to_string(momentum) + ")");
    if (!(epsilon > 0.0f && std::isfinite(epsilon)))
      throw Error("BatchNormalization: epsilon must be > 0 (got " + std::to_string(epsilon) + ")");
  }

  std::string type() const override { return "BatchNormalization"; }

  Shape build(const Shape& input_shape, Rng&) override {
    if (input_shape.empty() || shape_size(input_shape) <= 0)
      throw Error(detail::layer_label(*this) + ": invalid input shape " + shape_str(input_shape));
    channels_ = input_shape[0];
    spatial_ = shape_size(input_shape) / channels_;
    gamma_ = Param{"gamma", Tensor({channels_}, 1.0f), Tensor({channels_}), false};
    beta_ = Param{"beta", Tensor({channels_}), Tensor({channels_}), false};
    moving_mean_ = Tensor({channels_}, 0.0f);
    moving_var_ = Tensor({channels_}, 1.0f);
    moving_weight_ = Tensor({1}, 0.0f);
    mean_ = Tensor({channels_});
    inv_std_ = Tensor({channels_});
    input_shape_ = output_shape_ = input_shape;
    return output_shape_;
  }

  // x (N, C, ...) -> y (N, C, ...)
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    y.resize(x.shape());
    const int64_t n = x.dim(0), hw = spatial_, C = channels_, m = n * hw;
    trained_ = ctx.training;
    // The weight of the moving averages before and after this batch (see the top).
    const double w = moving_weight_[0];
    const double w_new = std::min(1.0, momentum_ * w + (1.0 - momentum_));
    // (momentum 1 never moves the averages; w_new >= 1 - m > 0 otherwise)
    const double mt = (w >= 1.0 || momentum_ >= 1.0f) ? momentum_ : momentum_ * w / w_new;
    ctx.pool->parallel_for(C, [&](int64_t c0, int64_t c1, int) {
      for (int64_t c = c0; c < c1; ++c) {
        float mean, inv_std;
        if (ctx.training) {
          double s = 0.0;
          for (int64_t i = 0; i < n; ++i) {
            const float* xp = x.data() + (i * C + c) * hw;
            s += lane_sum(hw, [xp](int64_t j) { return xp[j]; });
          }
          const double mu = s / static_cast<double>(m);
          const float muf = static_cast<float>(mu);
          double ss = 0.0;
          for (int64_t i = 0; i < n; ++i) {
            const float* xp = x.data() + (i * C + c) * hw;
            ss += lane_sum(hw, [xp, muf](int64_t j) { return (xp[j] - muf) * (xp[j] - muf); });
          }
          const double var = ss / static_cast<double>(m);
          mean = static_cast<float>(mu);
          inv_std = static_cast<float>(1.0 / std::sqrt(var + eps_));
          const double unbiased = m > 1 ? var * static_cast<double>(m) / (m - 1.0) : var;
          moving_mean_[c] = static_cast<float>(mt * moving_mean_[c] + (1.0 - mt) * mu);
          moving_var_[c] = static_cast<float>(mt * moving_var_[c] + (1.0 - mt) * unbiased);
        } else {
          mean = moving_mean_[c];
          inv_std = static_cast<float>(1.0 / std::sqrt(static_cast<double>(moving_var_[c]) + eps_));
        }
        mean_[c] = mean;
        inv_std_[c] = inv_std;
        const float g = gamma_.value[c] * inv_std, b = beta_.value[c];
        for (int64_t i = 0; i < n; ++i) {
          const float* xp = x.data() + (i * C + c) * hw;
          float* yp = y.data() + (i * C + c) * hw;
          for (int64_t j = 0; j < hw; ++j) yp[j] = g * (xp[j] - mean) + b;
        }
      }
    });
    if (ctx.training) moving_weight_[0] = static_cast<float>(w_new);
  }

  // x, dy (N, C, ...) -> dγ, dβ (C), dx (N, C, ...)
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context& ctx) override {
    detail::check_backward_grad(*this, y, dy);
    const int64_t n = x.dim(0), hw = spatial_, C = channels_, m = n * hw;
    if (dx) dx->resize(x.shape());
    ctx.pool->parallel_for(C, [&](int64_t c0, int64_t c1, int) {
      for (int64_t c = c0; c < c1; ++c) {
        const float mean = mean_[c], inv_std = inv_std_[c];
        double sdy = 0.0, sdyx = 0.0;  // Σdy and Σdy·x̂ = inv_std·Σdy·(x - mean)
        for (int64_t i = 0; i < n; ++i) {
          const float* xp = x.data() + (i * C + c) * hw;
          const float* gp = dy.data() + (i * C + c) * hw;
          sdy += lane_sum(hw, [gp](int64_t j) { return gp[j]; });
          sdyx += lane_sum(hw, [gp, xp, mean](int64_t j) { return gp[j] * (xp[j] - mean); });
        }
        sdyx *= inv_std;
        beta_.grad[c] = static_cast<float>(sdy);
        gamma_.grad[c] = static_cast<float>(sdyx);
        if (!dx) continue;
        const float g = gamma_.value[c] * inv_std;
        // training: dx = g·(dy - mean(dy) - x̂·mean(dy·x̂)); inference: dx = g·dy
        const float a = trained_ ? static_cast<float>(sdy / static_cast<double>(m)) : 0.0f;
        const float b = trained_ ? static_cast<float>(sdyx / static_cast<double>(m)) : 0.0f;
        for (int64_t i = 0; i < n; ++i) {
          const float* xp = x.data() + (i * C + c) * hw;
          const float* gp = dy.data() + (i * C + c) * hw;
          float* dp = dx->data() + (i * C + c) * hw;
          for (int64_t j = 0; j < hw; ++j) dp[j] = g * (gp[j] - a - (xp[j] - mean) * inv_std * b);
        }
      }
    });
  }

  std::vector<Param*> params() override { return {&gamma_, &beta_}; }
  std::vector<const Param*> params() const override { return {&gamma_, &beta_}; }
  std::vector<std::pair<std::string, Tensor*>> buffers() override {
    return {{"moving_mean", &moving_mean_},
            {"moving_variance", &moving_var_},
            {"moving_weight", &moving_weight_}};
  }
  std::vector<std::pair<std::string, const Tensor*>> buffers() const override {
    return {{"moving_mean", &moving_mean_},
            {"moving_variance", &moving_var_},
            {"moving_weight", &moving_weight_}};
  }

  nlohmann::json config() const override { return {{"momentum", momentum_}, {"epsilon", eps_}}; }

 private:
  float momentum_, eps_;
  int64_t channels_ = 0, spatial_ = 1;
  Param gamma_, beta_;
  Tensor moving_mean_, moving_var_;
  Tensor moving_weight_;   // (1) the moving averages' weight w in [0, 1]
  Tensor mean_, inv_std_;  // (C) statistics used by the last forward
  bool trained_ = false;   // the last forward used batch statistics
};

}  // namespace

LayerPtr BatchNormalization(float momentum, float epsilon) {
  return std::make_unique<BatchNormLayer>(momentum, epsilon);
}

namespace detail {
LayerPtr batchnorm_from_config(const nlohmann::json& cfg) {
  const std::string t = "BatchNormalization";
  config_object(t, cfg);
  const float momentum = config_float(t, cfg, "momentum", 0.99f);
  if (!(momentum >= 0.0f && momentum <= 1.0f))
    throw Error(t + " config: field 'momentum' must be in [0, 1]");
  const float eps = config_float(t, cfg, "epsilon", 1e-3f);
  if (!(eps > 0.0f)) throw Error(t + " config: field 'epsilon' must be > 0");
  return BatchNormalization(momentum, eps);
}
}  // namespace detail

}  // namespace digitnet
