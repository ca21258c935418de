// src/layers/flatten.cpp — (C, H, W) -> (C·H·W), row-major (channels-first order).
//
//   forward:  y = reshape(x)     (N, ...) -> (N, prod)
//   backward: dx = reshape(dy)   (N, prod) -> (N, ...)
// is_reshape(): Sequential skips both calls and shares the storage (no copy);
// called directly, the layer copies.
#include <algorithm>

#include "layers/layer_util.hpp"

namespace digitnet {
namespace {

class FlattenLayer final : public Layer {
 public:
  std::string type() const override { return "Flatten"; }

  Shape build(const Shape& input_shape, Rng&) override {
    if (input_shape.empty() || shape_size(input_shape) <= 0)
      throw Error(detail::layer_label(*this) + ": invalid input shape " + shape_str(input_shape));
    input_shape_ = input_shape;
    output_shape_ = {shape_size(input_shape)};
    return output_shape_;
  }

  // x (N, ...) -> y (N, prod)
  void forward(const Tensor& x, Tensor& y, const Context&) override {
    detail::check_forward_input(*this, x);
    y.resize(with_batch(x.dim(0), output_shape_));
    std::copy(x.data(), x.data() + x.size(), y.data());
  }

  // dy (N, prod) -> dx (N, ...)
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context&) override {
    detail::check_backward_grad(*this, y, dy);
    if (!dx) return;
    dx->resize(x.shape());
    std::copy(dy.data(), dy.data() + dy.size(), dx->data());
  }

  nlohmann::json config() const override { return nlohmann::json::object(); }

  bool is_reshape() const override { return true; }
  bool per_sample() const override { return true; }
  bool backward_reads_output() const override { return false; }
};

}  // namespace

LayerPtr Flatten() { return std::make_unique<FlattenLayer>(); }

namespace detail {
LayerPtr flatten_from_config(const nlohmann::json& cfg) {
  config_object("Flatten", cfg);
  return Flatten();
}
}  // namespace detail

}  // namespace digitnet
