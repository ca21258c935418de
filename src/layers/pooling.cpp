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
//
// Fast path: max pooling 2×2, stride 2, no padding (windows never overlap and
// never leave the image; an odd last row/column is dropped). The argmax is kept
// as a byte, the winner's position k = 2·row + col in its window (0..3), the
// maximum taken over a0, a1, b0, b1 in that order with strict '>' (the same
// comparisons as the generic path). Backward writes every dx element once:
// dx = dy at the winner, 0 elsewhere (and 0 in a dropped row/column). Four
// windows at a time with SSE2 selects. Average pooling 2×2/2 has the same kind
// of fast path (four windows at a time, the generic path's sums); any other
// shape takes the generic path.
#include <algorithm>
#include <cstring>
#include <limits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/kernels.hpp"
#include "layers/fusion.hpp"
#include "layers/layer_util.hpp"

namespace digitnet {
namespace {

#if defined(__SSE2__)
// Four 2x2 windows side by side from rows a and b (8 floats each): the cells
// a0 = a[2i], a1 = a[2i+1], b0 = b[2i], b1 = b[2i+1] of windows i = 0..3.
struct Windows4 {
  __m128 a0, a1, b0, b1;
};
inline Windows4 windows4(const float* a, const float* b) {
  const __m128 al = _mm_loadu_ps(a), ah = _mm_loadu_ps(a + 4);
  const __m128 bl = _mm_loadu_ps(b), bh = _mm_loadu_ps(b + 4);
  return {_mm_shuffle_ps(al, ah, _MM_SHUFFLE(2, 0, 2, 0)),
          _mm_shuffle_ps(al, ah, _MM_SHUFFLE(3, 1, 3, 1)),
          _mm_shuffle_ps(bl, bh, _MM_SHUFFLE(2, 0, 2, 0)),
          _mm_shuffle_ps(bl, bh, _MM_SHUFFLE(3, 1, 3, 1))};
}
#endif

class Pool2DLayer final : public Layer, public detail::Pool2x2Kind {
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
    fast_ = is_max_ && pool_ == 2 && stride_ == 2 && pad_top_ == 0 && pad_left_ == 0 &&
            2 * oh_ <= h_ && 2 * ow_ <= w_;
    fast_avg_ = !is_max_ && pool_ == 2 && stride_ == 2 && pad_top_ == 0 && pad_left_ == 0 &&
                2 * oh_ <= h_ && 2 * ow_ <= w_;
    input_shape_ = input_shape;
    output_shape_ = {c_, oh_, ow_};
    return output_shape_;
  }

  // Splits the planes over the pool, unless the whole input is so small that
  // waking the pool costs more than the pooling (one LeNet image). A larger one
  // (one Keras-CNN image: 64 planes of 24x24) is split: each participant pools
  // the planes its share of the convolution before wrote (the same chunks), so
  // none is read from the other core's cache.
  template <class Fn>
  static void for_planes(const Context& ctx, int64_t planes, int64_t in_plane, Fn&& fn) {
    if (planes * in_plane < kInlineElements) return fn(int64_t{0}, planes, 0);
    ctx.pool->parallel_for(planes, fn);
  }
  static constexpr int64_t kInlineElements = int64_t{1} << 14;

  // x (N, C, H, W) -> y (N, C, OH, OW)
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    const int64_t n = x.dim(0), planes = n * c_, in_plane = int64_t{h_} * w_,
                  out_plane = int64_t{oh_} * ow_;
    y.resize(with_batch(n, output_shape_));
    // Inference keeps no winners (backward follows only a training forward).
    if (fast_ && !ctx.training && ow_ >= 8 && kernels::pool_2x2_avx512_available()) {
      for_planes(ctx, planes, in_plane, [&](int64_t p0, int64_t p1, int) {
        for (int64_t p = p0; p < p1; ++p)
          kernels::max_pool_2x2_inference(x.data() + p * in_plane, w_, oh_, ow_,
                                          y.data() + p * out_plane);
      });
      return;
    }
    if (fast_) {
      argmax8_.resize(static_cast<std::size_t>(planes * out_plane));
      for_planes(ctx, planes, in_plane, [&](int64_t p0, int64_t p1, int) {
        for (int64_t p = p0; p < p1; ++p)
          max_pool_2x2(x.data() + p * in_plane, y.data() + p * out_plane,
                       argmax8_.data() + p * out_plane);
      });
      return;
    }
    if (fast_avg_) {
      for_planes(ctx, planes, in_plane, [&](int64_t p0, int64_t p1, int) {
        for (int64_t p = p0; p < p1; ++p)
          avg_pool_2x2(x.data() + p * in_plane, y.data() + p * out_plane);
      });
      return;
    }
    if (is_max_) argmax_.resize(static_cast<std::size_t>(planes * out_plane));
    for_planes(ctx, planes, in_plane, [&](int64_t p0, int64_t p1, int) {
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
    if (fast_) {
      for_planes(ctx, planes, in_plane, [&](int64_t p0, int64_t p1, int) {
        for (int64_t p = p0; p < p1; ++p)
          max_unpool_2x2(dy.data() + p * out_plane, argmax8_.data() + p * out_plane,
                         dx->data() + p * in_plane);
      });
      return;
    }
    if (fast_avg_) {
      for_planes(ctx, planes, in_plane, [&](int64_t p0, int64_t p1, int) {
        for (int64_t p = p0; p < p1; ++p)
          avg_unpool_2x2(dy.data() + p * out_plane, dx->data() + p * in_plane);
      });
      return;
    }
    for_planes(ctx, planes, in_plane, [&](int64_t p0, int64_t p1, int) {
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

  // Backward uses the argmax (max) or the window sizes (average), never y.
  bool backward_reads_output() const override { return false; }
  bool per_sample() const override { return true; }
  bool is_max_pool_2x2() const override { return fast_; }
  bool is_avg_pool_2x2() const override { return fast_avg_ && h_ % 2 == 0 && w_ % 2 == 0; }

 private:
  // Average pooling 2x2/2 on one plane, the generic path's arithmetic to the bit:
  // y = ((((0 + a0) + a1) + b0) + b1) / 4 (the 0 keeps -0 sums at +0 as there),
  // four windows at a time.
  void avg_pool_2x2(const float* xp, float* yp) const {
    // Rows of fewer than 8 windows stay on 4-wide steps: 16-wide ones would be mostly empty.
    if (ow_ >= 8 && kernels::pool_2x2_avx512_available())
      return kernels::avg_pool_2x2(xp, w_, oh_, ow_, yp);
    for (int oh = 0; oh < oh_; ++oh) {
      const float* a = xp + 2 * oh * w_;
      const float* b = a + w_;
      float* yr = yp + oh * ow_;
      int ow = 0;
#if defined(__SSE2__)
      const __m128 quarter = _mm_set1_ps(0.25f);
      for (; ow + 4 <= ow_; ow += 4) {
        const auto [a0, a1, b0, b1] = windows4(a + 2 * ow, b + 2 * ow);
        const __m128 sum =
            _mm_add_ps(_mm_add_ps(_mm_add_ps(_mm_add_ps(_mm_setzero_ps(), a0), a1), b0), b1);
        _mm_storeu_ps(yr + ow, _mm_mul_ps(sum, quarter));  // x / 4 == x · 0.25 exactly
      }
#endif
      for (; ow < ow_; ++ow)
        yr[ow] = ((((0.0f + a[2 * ow]) + a[2 * ow + 1]) + b[2 * ow]) + b[2 * ow + 1]) / 4.0f;
    }
  }

  // Its backward: every cell of a window gets dy / 4, a dropped last row or
  // column 0; each dx element written once.
  void avg_unpool_2x2(const float* dyp, float* dxp) const {
    for (int oh = 0; oh < oh_; ++oh) {
      float* a = dxp + 2 * oh * w_;
      float* b = a + w_;
      const float* g = dyp + oh * ow_;
      int ow = 0;
#if defined(__SSE2__)
      const __m128 quarter = _mm_set1_ps(0.25f);
      for (; ow + 4 <= ow_; ow += 4) {
        const __m128 q = _mm_mul_ps(_mm_loadu_ps(g + ow), quarter);
        const __m128 lo = _mm_unpacklo_ps(q, q), hi = _mm_unpackhi_ps(q, q);
        _mm_storeu_ps(a + 2 * ow, lo);
        _mm_storeu_ps(a + 2 * ow + 4, hi);
        _mm_storeu_ps(b + 2 * ow, lo);
        _mm_storeu_ps(b + 2 * ow + 4, hi);
      }
#endif
      for (; ow < ow_; ++ow) {
        const float q = g[ow] / 4.0f;
        a[2 * ow] = a[2 * ow + 1] = b[2 * ow] = b[2 * ow + 1] = q;
      }
      for (int q = 2 * ow_; q < w_; ++q) a[q] = b[q] = 0.0f;  // dropped column
    }
    for (int r = 2 * oh_; r < h_; ++r) std::fill(dxp + r * w_, dxp + (r + 1) * w_, 0.0f);
  }

  // One plane (H, W) -> (OH, OW) and the winner's position in each window.
  void max_pool_2x2(const float* xp, float* yp, uint8_t* am) const {
    for (int oh = 0; oh < oh_; ++oh) {
      const float* a = xp + 2 * oh * w_;
      const float* b = a + w_;
      float* yr = yp + oh * ow_;
      uint8_t* ar = am + oh * ow_;
      int ow = 0;
#if defined(__SSE2__)
      const __m128 ninf = _mm_set1_ps(-std::numeric_limits<float>::infinity());
      for (; ow + 4 <= ow_; ow += 4) {
        const auto [a0, a1, b0, b1] = windows4(a + 2 * ow, b + 2 * ow);
        __m128 best = select(_mm_cmpgt_ps(a0, ninf), a0, ninf);
        __m128i at = _mm_setzero_si128();
        step(a1, 1, best, at);
        step(b0, 2, best, at);
        step(b1, 3, best, at);
        _mm_storeu_ps(yr + ow, best);
        const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(at, at), _mm_setzero_si128());
        const int32_t four = _mm_cvtsi128_si32(bytes);
        std::memcpy(ar + ow, &four, 4);
      }
#endif
      for (; ow < ow_; ++ow) {
        const float* w4[4] = {a + 2 * ow, a + 2 * ow + 1, b + 2 * ow, b + 2 * ow + 1};
        float best = -std::numeric_limits<float>::infinity();
        uint8_t at = 0;
        for (uint8_t k = 0; k < 4; ++k) {
          const bool t = *w4[k] > best;  // selects, not branches: the winner is unpredictable
          best = t ? *w4[k] : best;
          at = t ? k : at;
        }
        yr[ow] = best;
        ar[ow] = at;
      }
    }
  }

  // One plane: dy (OH, OW) and the winners -> dx (H, W), every element written once.
  void max_unpool_2x2(const float* dyp, const uint8_t* am, float* dxp) const {
    for (int oh = 0; oh < oh_; ++oh) {
      float* a = dxp + 2 * oh * w_;
      float* b = a + w_;
      const float* g = dyp + oh * ow_;
      const uint8_t* ar = am + oh * ow_;
      int ow = 0;
#if defined(__SSE2__)
      for (; ow + 4 <= ow_; ow += 4) {
        int32_t four;
        std::memcpy(&four, ar + ow, 4);
        const __m128i z = _mm_setzero_si128();
        const __m128i at = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(four), z), z);
        const __m128 gv = _mm_loadu_ps(g + ow);
        auto part = [&](int k) {
          return _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(at, _mm_set1_epi32(k))), gv);
        };
        const __m128 a0 = part(0), a1 = part(1), b0 = part(2), b1 = part(3);
        _mm_storeu_ps(a + 2 * ow, _mm_unpacklo_ps(a0, a1));
        _mm_storeu_ps(a + 2 * ow + 4, _mm_unpackhi_ps(a0, a1));
        _mm_storeu_ps(b + 2 * ow, _mm_unpacklo_ps(b0, b1));
        _mm_storeu_ps(b + 2 * ow + 4, _mm_unpackhi_ps(b0, b1));
      }
#endif
      for (; ow < ow_; ++ow) {
        const int k = ar[ow];
        a[2 * ow] = k == 0 ? g[ow] : 0.0f;
        a[2 * ow + 1] = k == 1 ? g[ow] : 0.0f;
        b[2 * ow] = k == 2 ? g[ow] : 0.0f;
        b[2 * ow + 1] = k == 3 ? g[ow] : 0.0f;
      }
      if (2 * ow_ < w_) a[w_ - 1] = b[w_ - 1] = 0.0f;  // the dropped last column
    }
    if (2 * oh_ < h_) std::fill(dxp + (h_ - 1) * w_, dxp + h_ * w_, 0.0f);  // the dropped last row
  }

#if defined(__SSE2__)
  static __m128 select(__m128 mask, __m128 a, __m128 b) {
    return _mm_or_ps(_mm_and_ps(mask, a), _mm_andnot_ps(mask, b));
  }
  // best, at = v > best ? (v, k) : (best, at)
  static void step(__m128 v, int k, __m128& best, __m128i& at) {
    const __m128 t = _mm_cmpgt_ps(v, best);
    best = select(t, v, best);
    const __m128i ti = _mm_castps_si128(t);
    at = _mm_or_si128(_mm_and_si128(ti, _mm_set1_epi32(k)), _mm_andnot_si128(ti, at));
  }
#endif

  bool is_max_;
  int pool_, stride_;
  Padding padding_;
  int c_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0, pad_top_ = 0, pad_left_ = 0;
  bool fast_ = false;             // max 2×2, stride 2, no padding (set by build)
  bool fast_avg_ = false;         // average 2×2, stride 2, no padding (set by build)
  std::vector<int32_t> argmax_;   // generic path: (N·C, OH·OW) index into the input plane
  std::vector<uint8_t> argmax8_;  // fast path: (N·C, OH·OW) winner's position in its window
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
