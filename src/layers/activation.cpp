// src/layers/activation.cpp — activation functions and the standalone Activation layer.
//
// Element-wise, z -> y:
//   linear      y = z                      y' = 1
//   relu        y = max(z, 0)              y' = [z > 0]
//   leaky_relu  y = z > 0 ? z : alpha·z    y' = z > 0 ? 1 : alpha
//   sigmoid     y = 1 / (1 + e^-z)         y' = y (1 - y)
//   tanh        y = tanh z                 y' = 1 - y²
// Per row of K features:
//   softmax     y_i = e^(z_i - max z) / Σ_j e^(z_j - max z)
//               dz_i = y_i (dy_i - Σ_j dy_j y_j)
#include <algorithm>
#include <cmath>

#include "core/kernels.hpp"
#include "layers/layer_util.hpp"

namespace digitnet {

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::linear:
      return "linear";
    case Activation::relu:
      return "relu";
    case Activation::leaky_relu:
      return "leaky_relu";
    case Activation::sigmoid:
      return "sigmoid";
    case Activation::tanh:
      return "tanh";
    case Activation::softmax:
      return "softmax";
  }
  return "unknown";
}

Activation activation_from_name(const std::string& name) {
  for (Activation a : {Activation::linear, Activation::relu, Activation::leaky_relu,
                       Activation::sigmoid, Activation::tanh, Activation::softmax})
    if (activation_name(a) == name) return a;
  throw Error("unknown activation '" + name +
              "' (expected linear, relu, leaky_relu, sigmoid, tanh or softmax)");
}

namespace detail {

namespace {
inline float sigmoid_f(float z) {
  // Stable for large |z|: never exponentiates a large positive number.
  if (z >= 0.0f) return 1.0f / (1.0f + std::exp(-z));
  const float e = std::exp(z);
  return e / (1.0f + e);
}

// softmax over one row of k values, in place. (k) -> (k)
void softmax_row(float* v, int64_t k) {
  float m = v[0];
  for (int64_t i = 1; i < k; ++i) m = std::max(m, v[i]);
  double s = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    v[i] = std::exp(v[i] - m);
    s += v[i];
  }
  const float inv = static_cast<float>(1.0 / s);
  for (int64_t i = 0; i < k; ++i) v[i] *= inv;
}
}  // namespace

// (rows, cols) -> (rows, cols), in place
void activation_forward(Activation a, float alpha, float* v, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  switch (a) {
    case Activation::linear:
      return;
    case Activation::relu:
      for (int64_t i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
      return;
    case Activation::leaky_relu:
      for (int64_t i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : alpha * v[i];
      return;
    case Activation::sigmoid:
      for (int64_t i = 0; i < n; ++i) v[i] = sigmoid_f(v[i]);
      return;
    case Activation::tanh:
      kernels::tanh(v, n);
      return;
    case Activation::softmax:
      for (int64_t r = 0; r < rows; ++r) softmax_row(v + r * cols, cols);
      return;
  }
}

// y, dy: (rows, cols) -> dz: (rows, cols)
void activation_backward_from_y(Activation a, float alpha, const float* y, const float* dy,
                                float* dz, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  switch (a) {
    case Activation::linear:
      std::copy(dy, dy + n, dz);
      return;
    case Activation::relu:
      for (int64_t i = 0; i < n; ++i) dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
      return;
    case Activation::leaky_relu:
      for (int64_t i = 0; i < n; ++i) dz[i] = y[i] > 0.0f ? dy[i] : alpha * dy[i];
      return;
    case Activation::sigmoid:
      for (int64_t i = 0; i < n; ++i) dz[i] = dy[i] * y[i] * (1.0f - y[i]);
      return;
    case Activation::tanh:
      for (int64_t i = 0; i < n; ++i) dz[i] = dy[i] * (1.0f - y[i] * y[i]);
      return;
    case Activation::softmax:
      for (int64_t r = 0; r < rows; ++r) {
        const float* yr = y + r * cols;
        const float* gr = dy + r * cols;
        float* zr = dz + r * cols;
        double dot = 0.0;
        for (int64_t i = 0; i < cols; ++i) dot += static_cast<double>(gr[i]) * yr[i];
        const float d = static_cast<float>(dot);
        for (int64_t i = 0; i < cols; ++i) zr[i] = yr[i] * (gr[i] - d);
      }
      return;
  }
}

}  // namespace detail

namespace {

// Activation: y = act(x), same shape as x. Softmax needs a flat (K,) per-sample shape.
// With logits output set (softmax only), forward is the identity and backward
// passes dLoss/dlogits straight through.
class ActivationLayerImpl final : public Layer {
 public:
  ActivationLayerImpl(Activation a, float alpha) : act_(a), alpha_(alpha) {
    if (!std::isfinite(alpha)) throw Error("Activation: alpha must be a finite number");
  }

  std::string type() const override { return "Activation"; }

  Shape build(const Shape& input_shape, Rng&) override {
    if (input_shape.empty() || shape_size(input_shape) <= 0)
      throw Error(detail::layer_label(*this) + ": invalid input shape " + shape_str(input_shape));
    if (act_ == Activation::softmax && input_shape.size() != 1)
      throw Error(detail::layer_label(*this) +
                  ": softmax needs a flat per-sample input (rank 1), got " +
                  shape_str(input_shape) + "; add Flatten() before it");
    input_shape_ = output_shape_ = input_shape;
    return output_shape_;
  }

  Activation effective() const {
    return act_ == Activation::softmax && logits_ ? Activation::linear : act_;
  }

  // x: (N, ...) -> y: (N, ...)
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    y.resize(x.shape());
    const int64_t rows = x.dim(0), cols = x.size() / rows;
    const Activation a = effective();
    ctx.pool->parallel_for(rows, [&](int64_t b, int64_t e, int) {
      std::copy(x.data() + b * cols, x.data() + e * cols, y.data() + b * cols);
      detail::activation_forward(a, alpha_, y.data() + b * cols, e - b, cols);
    });
  }

  // x, y, dy: (N, ...) -> dx: (N, ...). relu/leaky_relu use x (valid for any alpha).
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context& ctx) override {
    detail::check_backward_grad(*this, y, dy);
    if (!dx) return;
    dx->resize(x.shape());
    const int64_t rows = x.dim(0), cols = x.size() / rows;
    const Activation a = effective();
    ctx.pool->parallel_for(rows, [&](int64_t b, int64_t e, int) {
      const int64_t o = b * cols, n = (e - b) * cols;
      const float* xp = x.data() + o;
      const float* gp = dy.data() + o;
      float* dp = dx->data() + o;
      if (a == Activation::relu) {
        for (int64_t i = 0; i < n; ++i) dp[i] = xp[i] > 0.0f ? gp[i] : 0.0f;
      } else if (a == Activation::leaky_relu) {
        for (int64_t i = 0; i < n; ++i) dp[i] = xp[i] > 0.0f ? gp[i] : alpha_ * gp[i];
      } else {
        detail::activation_backward_from_y(a, alpha_, y.data() + o, gp, dp, e - b, cols);
      }
    });
  }

  nlohmann::json config() const override {
    return {{"activation", activation_name(act_)}, {"alpha", alpha_}};
  }

  bool per_sample() const override { return true; }  // softmax is per row
  bool has_softmax_output() const override { return act_ == Activation::softmax; }
  void set_logits_output(bool on) override { logits_ = on && act_ == Activation::softmax; }

 private:
  Activation act_;
  float alpha_;
  bool logits_ = false;
};

}  // namespace

LayerPtr ActivationLayer(Activation activation, float alpha) {
  return std::make_unique<ActivationLayerImpl>(activation, alpha);
}

namespace detail {
LayerPtr activation_from_config(const nlohmann::json& cfg) {
  const std::string t = "Activation";
  config_object(t, cfg);
  if (!has_field(cfg, "activation"))
    throw Error(t + " config: missing required field 'activation'");
  return ActivationLayer(config_activation(t, cfg, Activation::linear),
                         config_float(t, cfg, "alpha", 0.3f));
}
}  // namespace detail

}  // namespace digitnet
