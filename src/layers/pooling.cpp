// src/layers/pooling.cpp — MaxPooling2D and AveragePooling2D over (C, H, W).
//
// Window (oh, ow) covers rows oh·s - pad_top .. + k-1 and columns likewise,
// clipped to the image (TensorFlow 'same' padding never yields an empty window).
//   max:  y = max over the window's valid cells; dx[argmax] += dy (the first
//         maximum in row-major order wins; padded cells never win).
//   avg:  y = mean over the window's valid cells (padded cells are not counted);
//         dx[cell] += dy / count for every valid cell.
// Planes (sample, channel) are independent, so the batch·channel planes are split
// over the pool without any reduction across threads.
#include <algorithm>
#include <limits>

#include "layers/layer_util.hpp"

namespace digitnet {
namespace {

class Pool2DLayer final : public Layer {
 public:
  Pool2DLayer(bool is_max, int pool, int stride, Padding padding)
      : is_max_(is_max), pool_(pool), stride_(stride == 0 ? pool : stride), padding_(padding) {
    if (pool <= 0)
      throw Error(type() + ": pool_size must be >= 1 (got " + std::to_string(pool) + ")");
    if (stride < 0)
      throw Error(type() + ": strides must be >= 1, or 0 for pool_size (got " +
                  std::to_string(stride) + ")");
  }

  std::string type() const override { return is_max_ ? "MaxPooling2D" : "AveragePooling2D"; }

  Shape build(const Shape& input_shape, Rng&) override {
    if (input_shape.size() != 3 || shape_size(input_shape) <= 0)
      throw Error(detail::layer_label(*this) + ": expects a (channels, height, width) input, got " +
                  shape_str(input_shape));
    c_ = static_cast<int>(input_shape[0]);
    h_ = static_cast<int>(input_shape[1]);
    w_ = static_cast<int>(input_shape[2]);
    const detail::Axis ah = detail::spatial_axis(h_, pool_, stride_, padding_);
    const detail::Axis aw = detail::spatial_axis(w_, pool_, stride_, padding_);
    if (ah.out <= 0 || aw.out <= 0)
      throw Error(detail::layer_label(*this) + ": pool " + std::to_string(pool_) + "x" +
                  std::to_string(pool_) + " is larger than the input " + shape_str(input_shape) +
                  " with 'valid' padding");
    oh_ = ah.out;
    ow_ = aw.out;
    pad_top_ = ah.pad_before;
    pad_left_ = aw.pad_before;
    input_shape_ = input_shape;
    output_shape_ = {c_, oh_, ow_};
    return output_shape_;
  }

  // x (N, C, H, W) -> y (N, C, OH, OW)
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    const int64_t n = x.dim(0), planes = n * c_, in_plane = int64_t{h_} * w_,
                  out_plane = int64_t{oh_} * ow_;
    y.resize(with_batch(n, output_shape_));
    if (is_max_) argmax_.resize(static_cast<std::size_t>(planes * out_plane));
    // The common 2×2, stride 2 max pooling with every window inside the image:
    // the same comparisons in the same order, unrolled.
    if (is_max_ && pool_ == 2 && stride_ == 2 && pad_top_ == 0 && pad_left_ == 0 && 2 * oh_ <= h_ &&
        2 * ow_ <= w_) {
      ctx.pool->parallel_for(planes, [&](int64_t p0, int64_t p1, int) {
        for (int64_t p = p0; p < p1; ++p)
          max_pool_2x2(x.data() + p * in_plane, y.data() + p * out_plane,
                       argmax_.data() + p * out_plane);
      });
      return;
    }
    ctx.pool->parallel_for(planes, [&](int64_t p0, int64_t p1, int) {
      for (int64_t p = p0; p < p1; ++p) {
        const float* xp = x.data() + p * in_plane;
        float* yp = y.data() + p * out_plane;
        int32_t* am = is_max_ ? argmax_.data() + p * out_plane : nullptr;
        for (int oh = 0; oh < oh_; ++oh) {
          const int r0 = std::max(oh * stride_ - pad_top_, 0);
          const int r1 = std::min(oh * stride_ - pad_top_ + pool_, h_);
          for (int ow = 0; ow < ow_; ++ow) {
            const int q0 = std::max(ow * stride_ - pad_left_, 0);
            const int q1 = std::min(ow * stride_ - pad_left_ + pool_, w_);
            if (is_max_) {
              float best = -std::numeric_limits<float>::infinity();
              int32_t at = r0 * w_ + q0;
              for (int r = r0; r < r1; ++r)
                for (int q = q0; q < q1; ++q)
                  if (xp[r * w_ + q] > best) {
                    best = xp[r * w_ + q];
                    at = r * w_ + q;
                  }
              yp[oh * ow_ + ow] = best;
              am[oh * ow_ + ow] = at;
            } else {
              float sum = 0.0f;
              for (int r = r0; r < r1; ++r)
                for (int q = q0; q < q1; ++q) sum += xp[r * w_ + q];
              yp[oh * ow_ + ow] = sum / static_cast<float>((r1 - r0) * (q1 - q0));
            }
          }
        }
      }
    });
  }

  // dy (N, C, OH, OW) -> dx (N, C, H, W)
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context& ctx) override {
    detail::check_backward_grad(*this, y, dy);
    if (!dx) return;
    dx->resize(x.shape());
    const int64_t planes = x.dim(0) * c_, in_plane = int64_t{h_} * w_,
                  out_plane = int64_t{oh_} * ow_;
    ctx.pool->parallel_for(planes, [&](int64_t p0, int64_t p1, int) {
      for (int64_t p = p0; p < p1; ++p) {
        float* dxp = dx->data() + p * in_plane;
        const float* dyp = dy.data() + p * out_plane;
        std::fill(dxp, dxp + in_plane, 0.0f);
        if (is_max_) {
          const int32_t* am = argmax_.data() + p * out_plane;
          for (int64_t o = 0; o < out_plane; ++o) dxp[am[o]] += dyp[o];
          continue;
        }
        for (int oh = 0; oh < oh_; ++oh) {
          const int r0 = std::max(oh * stride_ - pad_top_, 0);
          const int r1 = std::min(oh * stride_ - pad_top_ + pool_, h_);
          for (int ow = 0; ow < ow_; ++ow) {
            const int q0 = std::max(ow * stride_ - pad_left_, 0);
            const int q1 = std::min(ow * stride_ - pad_left_ + pool_, w_);
            const float g = dyp[oh * ow_ + ow] / static_cast<float>((r1 - r0) * (q1 - q0));
            for (int r = r0; r < r1; ++r)
              for (int q = q0; q < q1; ++q) dxp[r * w_ + q] += g;
          }
        }
      }
    });
  }

  nlohmann::json config() const override {
    return {
        {"pool_size", pool_}, {"strides", stride_}, {"padding", detail::padding_name(padding_)}};
  }

 private:
  void max_pool_2x2(const float* xp, float* yp, int32_t* am) const {
    for (int oh = 0; oh < oh_; ++oh) {
      const int r = 2 * oh;
      const float* a = xp + r * w_;
      const float* b = a + w_;
      for (int ow = 0; ow < ow_; ++ow) {
        const int q = 2 * ow;
        // Selects instead of branches (the winner is data-dependent and unpredictable).
        const int32_t i0 = r * w_ + q, i2 = i0 + w_;
        float best = -std::numeric_limits<float>::infinity();
        int32_t at = i0;
        best = a[q] > best ? a[q] : best;
        const bool t1 = a[q + 1] > best;
        best = t1 ? a[q + 1] : best;
        at = t1 ? i0 + 1 : at;
        const bool t2 = b[q] > best;
        best = t2 ? b[q] : best;
        at = t2 ? i2 : at;
        const bool t3 = b[q + 1] > best;
        best = t3 ? b[q + 1] : best;
        at = t3 ? i2 + 1 : at;
        yp[oh * ow_ + ow] = best;
        am[oh * ow_ + ow] = at;
      }
    }
  }

  bool is_max_;
  int pool_, stride_;
  Padding padding_;
  int c_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0, pad_top_ = 0, pad_left_ = 0;
  std::vector<int32_t> argmax_;  // (N·C, OH·OW) index into the input plane, from forward
};

LayerPtr pool_from_config(bool is_max, const nlohmann::json& cfg) {
  const std::string t = is_max ? "MaxPooling2D" : "AveragePooling2D";
  detail::config_object(t, cfg);
  const int pool = detail::config_int(t, cfg, "pool_size", 2);
  if (pool <= 0) throw Error(t + " config: field 'pool_size' must be >= 1");
  const int stride = detail::config_int(t, cfg, "strides", 0);
  if (stride < 0) throw Error(t + " config: field 'strides' must be >= 1 (or null)");
  const Padding padding =
      detail::padding_from_name(t, detail::config_string(t, cfg, "padding", "valid"));
  return std::make_unique<Pool2DLayer>(is_max, pool, stride, padding);
}

}  // namespace

LayerPtr MaxPooling2D(int pool_size, int stride, Padding padding) {
  return std::make_unique<Pool2DLayer>(true, pool_size, stride, padding);
}

LayerPtr AveragePooling2D(int pool_size, int stride, Padding padding) {
  return std::make_unique<Pool2DLayer>(false, pool_size, stride, padding);
}

namespace detail {
LayerPtr max_pooling2d_from_config(const nlohmann::json& cfg) {
  return pool_from_config(true, cfg);
}
LayerPtr average_pooling2d_from_config(const nlohmann::json& cfg) {
  return pool_from_config(false, cfg);
}
}  // namespace detail

}  // namespace digitnet
