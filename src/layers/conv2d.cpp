// src/layers/conv2d.cpp — 2-D convolution with a fused activation.
//
// Per sample, with K = C·k·k and P = OH·OW:
//   forward:  z = W ⋆ x + b,  y = act(z)          x (C, H, W), W (F, C, k, k), b (F), y (F, OH, OW)
//   backward: dz = dy ⊙ act'(y)                   (F, P)
//             dW = Σ_n dz ⋆ x,  db = Σ_n Σ_p dz   (F, C, k, k), (F)
//             dx = Wᵀ ⋆ dz (transposed convolution)  (C, H, W)
// The layer holds the weights, computes dz and the bias gradient, and asks
// core/conv's plan which algorithm runs each part (select_conv_plan, one pure
// function; docs/PERFORMANCE.md gives the table). Backward runs each pool
// participant's share of the batch in sub-batches of conv::kSubBatch samples;
// per-participant sums are added in participant order (bit-identical results
// for a given thread count). Padding follows TensorFlow ('same': the odd
// padding row/column goes at the bottom/right).
#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/conv/algorithm.hpp"
#include "core/kernels.hpp"
#include "layers/fusion.hpp"
#include "layers/layer_util.hpp"

namespace digitnet {
namespace {

// z = y > 0 ? g : 0 over n elements; returns Σ z, added in the lane order of
// kernels::sum (eight running sums, so it equals kernels::sum(z, n)). SSE2: the
// mask is the compare y > 0 (all ones or zero) and'ed with g (a generic 8-float
// vector compiles for the x86-64-v2 baseline to scalar compares and stack round trips).
float relu_backward_sum(const float* __restrict y, const float* __restrict g, float* __restrict z,
                        int64_t n) {
  float lane[8] = {};
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128 zero = _mm_setzero_ps();
  __m128 acc0 = zero, acc1 = zero;  // lanes 0-3 and 4-7
  for (; i + 8 <= n; i += 8) {
    const __m128 v0 = _mm_and_ps(_mm_loadu_ps(g + i), _mm_cmpgt_ps(_mm_loadu_ps(y + i), zero));
    const __m128 v1 =
        _mm_and_ps(_mm_loadu_ps(g + i + 4), _mm_cmpgt_ps(_mm_loadu_ps(y + i + 4), zero));
    _mm_storeu_ps(z + i, v0);
    _mm_storeu_ps(z + i + 4, v1);
    acc0 = _mm_add_ps(acc0, v0);
    acc1 = _mm_add_ps(acc1, v1);
  }
  _mm_storeu_ps(lane, acc0);
  _mm_storeu_ps(lane + 4, acc1);
#else
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const float v = y[i + j] > 0.0f ? g[i + j] : 0.0f;
      z[i + j] = v;
      lane[j] += v;
    }
#endif
  for (int j = 0; i < n; ++i, ++j) {  // fewer than 8 left
    const float v = y[i] > 0.0f ? g[i] : 0.0f;
    z[i] = v;
    lane[j] += v;
  }
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

class Conv2DLayer final : public Layer, public detail::ConvPool2x2 {
 public:
  Conv2DLayer(int filters, int k, Activation act, int stride, Padding padding, bool use_bias)
      : filters_(filters),
        k_(k),
        stride_(stride),
        act_(act),
        padding_(padding),
        use_bias_(use_bias) {
    if (filters <= 0)
      throw Error("Conv2D: filters must be >= 1 (got " + std::to_string(filters) + ")");
    if (k <= 0) throw Error("Conv2D: kernel_size must be >= 1 (got " + std::to_string(k) + ")");
    if (stride <= 0)
      throw Error("Conv2D: strides must be >= 1 (got " + std::to_string(stride) + ")");
  }

  std::string type() const override { return "Conv2D"; }

  Shape build(const Shape& input_shape, Rng& rng) override {
    if (input_shape.size() != 3 || shape_size(input_shape) <= 0)
      throw Error(detail::layer_label(*this) + ": expects a (channels, height, width) input, got " +
                  shape_str(input_shape));
    if (act_ == Activation::softmax)
      throw Error(
          detail::layer_label(*this) +
          ": softmax needs a flat per-sample output; use Flatten() and Dense(..., softmax)");
    const int c = static_cast<int>(input_shape[0]);
    const int h = static_cast<int>(input_shape[1]);
    const int w = static_cast<int>(input_shape[2]);
    const detail::Axis ah = detail::spatial_axis(h, k_, stride_, padding_);
    const detail::Axis aw = detail::spatial_axis(w, k_, stride_, padding_);
    if (ah.out <= 0 || aw.out <= 0)
      throw Error(detail::layer_label(*this) + ": kernel " + std::to_string(k_) + "x" +
                  std::to_string(k_) + " is larger than the input " + shape_str(input_shape) +
                  " with 'valid' padding");
    p_ = conv::ConvParams{c,
                          h,
                          w,
                          filters_,
                          k_,
                          stride_,
                          ah.pad_before,
                          aw.pad_before,
                          ah.out,
                          aw.out,
                          kernel_act(),
                          use_bias_};
    const int64_t kk = int64_t{c} * k_ * k_;
    kernel_ = Param{"kernel", Tensor({filters_, c, k_, k_}), Tensor({filters_, c, k_, k_}), true};
    detail::glorot_uniform(kernel_.value, kk, int64_t{filters_} * k_ * k_, rng);
    bias_ = Param{"bias", Tensor({filters_}), Tensor({filters_}), false};
    algos_ = {};
    support_.reset();
    input_shape_ = input_shape;
    output_shape_ = {filters_, p_.oh, p_.ow};
    return output_shape_;
  }

  // x (N, C, H, W) -> y (N, F, OH, OW)
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    const int64_t n = x.dim(0);
    y.resize(with_batch(n, output_shape_));
    const conv::ConvPlan plan = plan_for(ctx.pool->size());
    conv::ConvAlgorithm& a = algo(n == 1 ? plan.image_forward : plan.batch_forward);
    if (n == 1 && plan.split_image)
      a.forward_split(*ctx.pool, x.data(), weights(), bias(), y.data(), ctx.training);
    else
      a.forward(*ctx.pool, n, x.data(), weights(), bias(), y.data(), ctx.training);
    if (!a.fuses_activation()) activate(y, *ctx.pool);
  }

  // x (N, C, H, W), y, dy (N, F, OH, OW) -> dW (F, C, k, k), db (F), dx (N, C, H, W)
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context& ctx) override {
    detail::check_backward_grad(*this, y, dy);
    backward_impl(x, y, dy, false, dx, ctx);
  }

  std::vector<Param*> params() override {
    if (use_bias_) return {&kernel_, &bias_};
    return {&kernel_};
  }
  std::vector<const Param*> params() const override {
    if (use_bias_) return {&kernel_, &bias_};
    return {&kernel_};
  }

  bool per_sample() const override { return true; }

  nlohmann::json config() const override {
    return {{"filters", filters_},
            {"kernel_size", k_},
            {"activation", activation_name(act_)},
            {"strides", stride_},
            {"padding", detail::padding_name(padding_)},
            {"use_bias", use_bias_}};
  }

  int64_t forward_macs() const override { return p_.macs(); }

  // ---- Pooled entry points (detail::ConvPool2x2, for the fusion pass) ----

  // tanh on the generic dz path: dz = unpool(dy_pooled) ⊙ tanh'(y) and the bias
  // sums in one pass (kernels::tanh_grad_sum).
  bool fuses_avg_pool_2x2_backward() override {
    const conv::ConvPlan plan = plan_for(1);
    return act_ == Activation::tanh && p_.oh % 2 == 0 && p_.ow % 2 == 0 &&
           plan.family != conv::ConvBackend::winograd && !plan.batched_weight_grad_without_dx;
  }
  // dy_pooled (N, F, OH/2, OW/2)
  void backward_from_avg_pool_2x2(const Tensor& x, const Tensor& y, const Tensor& dy_pooled,
                                  Tensor* dx, const Context& ctx) override {
    if (!fuses_avg_pool_2x2_backward()) throw not_fused("average pooling backward");
    const Shape want{y.dim(0), filters_, p_.oh / 2, p_.ow / 2};
    if (dy_pooled.shape() != want)
      throw Error(detail::layer_label(*this) + ": pooled output gradient " +
                  shape_str(dy_pooled.shape()) + " does not match " + shape_str(want));
    backward_impl(x, y, dy_pooled, true, dx, ctx);
  }

  // One image split by filters on the own Winograd: each participant pools its
  // planes right after computing them, from its own scratch.
  bool fuses_max_pool_2x2(int64_t n, int threads) override {
    const conv::ConvPlan plan = plan_for(threads);
    return n == 1 && plan.split_image && plan.image_forward == conv::ConvBackend::winograd &&
           support().pool_avx512 && algo(conv::ConvBackend::winograd).fuses_activation();
  }
  void forward_max_pool_2x2(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    if (ctx.training || !fuses_max_pool_2x2(x.dim(0), ctx.pool->size()))
      throw not_fused("max pooling");
    y.resize({1, filters_, p_.oh / 2, p_.ow / 2});
    conv::winograd_forward_split_max_pool(algo(conv::ConvBackend::winograd), *ctx.pool, x.data(),
                                          weights(), bias(), y.data());
  }

  // A layer on the direct kernel image by image (a batch, or one image on the
  // calling thread): each image is pooled right after its convolution, while
  // its planes are in L1. y is written in training (backward reads it); in
  // inference each image's planes go to the participant's scratch instead.
  bool fuses_avg_pool_2x2(int64_t n, int threads) override {
    const conv::ConvPlan plan = plan_for(threads);
    if (p_.oh % 2 != 0 || p_.ow % 2 != 0 || plan.forced) return false;
    if (n > 1) return plan.batch_forward == conv::ConvBackend::direct;
    return n == 1 && plan.image_forward == conv::ConvBackend::direct && !plan.split_image;
  }
  void forward_avg_pool_2x2(const Tensor& x, Tensor* y, Tensor& pooled,
                            const Context& ctx) override {
    detail::check_forward_input(*this, x);
    const int64_t n = x.dim(0);
    const int threads = ctx.pool->size();
    if (!fuses_avg_pool_2x2(n, threads)) throw not_fused("average pooling");
    if (y) y->resize(with_batch(n, output_shape_));
    pooled.resize({n, filters_, p_.oh / 2, p_.ow / 2});
    conv::ConvAlgorithm& direct = algo(conv::ConvBackend::direct);
    conv::direct_pack(direct, weights());  // before the participants read the packing
    const int64_t out_per = int64_t{filters_} * p_.oh * p_.ow, plane = int64_t{p_.oh} * p_.ow;
    const std::size_t conv_scratch = conv::direct_image_scratch(p_);
    const std::size_t scratch_size = conv_scratch + (y ? 0 : static_cast<std::size_t>(out_per));
    auto image = [&](int64_t i, float* scratch) {
      float* yi = y ? y->sample(i) : scratch + conv_scratch;
      conv::direct_forward_image(direct, x.sample(i), weights(), bias(), yi, scratch);
      if (!direct.fuses_activation()) detail::activation_forward(act_, kAlpha, yi, 1, out_per);
      for (int f = 0; f < filters_; ++f)
        kernels::avg_pool_2x2(yi + f * plane, p_.ow, p_.oh / 2, p_.ow / 2,
                              pooled.sample(i) + f * (plane / 4));
    };
    if (n == 1) {
      image_scratch_.resize(scratch_size);
      return image(0, image_scratch_.data());
    }
    ctx.pool->run([&](int t) {
      const auto [s0, s1] = ThreadPool::chunk(n, threads, t);
      float* scratch = ctx.pool->scratch(t, scratch_size);
      for (int64_t i = s0; i < s1; ++i) image(i, scratch);
    });
  }

 private:
  Error not_fused(const std::string& what) const {
    return Error(detail::layer_label(*this) + ": no fused 2x2 " + what + " here");
  }

  // dy is (N, F, OH, OW), or with `pooled` the following 2x2/2 average pooling's
  // output gradient (N, F, OH/2, OW/2) (only where fuses_avg_pool_2x2_backward).
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, bool pooled, Tensor* dx,
                     const Context& ctx) {
    const int64_t n = x.dim(0);
    const int P = p_.oh * p_.ow, F = filters_;
    const int threads = ctx.pool->size();
    ThreadPool& pool = *ctx.pool;
    if (dx) dx->resize(x.shape());
    const conv::ConvPlan plan = plan_for(threads);
    // A first layer (no dx) on one channel: dW as one GEMM per sub-batch.
    const bool batched = !dx && plan.batched_weight_grad_without_dx;
    conv::ConvAlgorithm& wg = algo(batched ? conv::ConvBackend::im2col : plan.weight_grad);
    conv::ConvAlgorithm* dg =
        dx && plan.data_grad != plan.weight_grad ? &algo(plan.data_grad) : nullptr;
    wg.begin_backward(pool, weights(), dx && !dg, ctx.accumulate_grads);
    if (dg) dg->begin_backward(pool, weights(), true, false);
    // relu' and the bias sum folded into the algorithm's read of dy: no dz.
    const bool fold = plan.fold_activation_grad && !batched;
    const int64_t sub = std::min<int64_t>(conv::kSubBatch, (n + threads - 1) / threads);
    grow(dz_, threads, fold ? 0 : static_cast<std::size_t>(sub) * F * P);
    grow(db_part_, threads, static_cast<std::size_t>(F));
    pool.run([&](int t) {
      const std::size_t ti = static_cast<std::size_t>(t);
      float* db = db_part_[ti].data();
      std::fill(db, db + F, 0.0f);
      const auto [s0, s1] = ThreadPool::chunk(n, threads, t);
      for (int64_t s = s0; s < s1; s += conv::kSubBatch) {
        const int m = static_cast<int>(std::min<int64_t>(conv::kSubBatch, s1 - s));
        if (batched) {
          // dz kept filter-major, (F, m·P), against the columns of the m samples side by side.
          float* dzt = dz_[ti].data();
          for (int64_t q = 0; q < int64_t{m} * F; ++q) {
            const int64_t i = q / F, f = q % F, o = q * P;
            const float b = plane_grad(y.sample(s) + o, dy.sample(s) + o, dzt + (f * m + i) * P);
            if (use_bias_) db[f] += b;
          }
          conv::im2col_batched_weight_grad(wg, pool, t, m, x.sample(s), dzt);
          continue;
        }
        conv::ConvAlgorithm::Part part;
        part.t = t, part.m = m, part.x = x.sample(s);
        part.dx = dx && !dg ? dx->sample(s) : nullptr;
        if (fold) {
          part.dz = dy.sample(s);
          part.relu_y = act_ == Activation::relu ? y.sample(s) : nullptr;
          part.db = use_bias_ ? db : nullptr;
        } else {
          part.dz = activation_grad(y.sample(s), dy.sample(s), pooled, m, dz_[ti].data(), db);
        }
        wg.backward(pool, weights(), part);
        if (dg) dg->data_grad(pool, t, m, part.dz, weights(), dx->sample(s));
      }
    });
    float* gb = bias_.grad.data();
    for (int t = 0; t < threads; ++t) {
      const float* pb = db_part_[static_cast<std::size_t>(t)].data();
      if (t == 0 && !ctx.accumulate_grads)
        std::copy(pb, pb + F, gb);
      else
        for (int f = 0; f < F; ++f) gb[f] += pb[f];
    }
    wg.end_backward(kernel_.grad.data(), ctx.accumulate_grads, ctx.more_parts);
  }

  // dz = dy ⊙ act'(y) for m samples into z (or dy itself for a linear layer),
  // the bias sums added into db, one output plane at a time (tanh through the
  // pooling's gradient when `pooled`).
  const float* activation_grad(const float* y, const float* dy, bool pooled, int m, float* z,
                               float* db) {
    const int64_t P = int64_t{p_.oh} * p_.ow, planes = int64_t{m} * filters_;
    if (act_ == Activation::tanh) {
      const int64_t dy_plane = pooled ? P / 4 : P;
      for (int64_t q = 0; q < planes; ++q) {
        const float b =
            kernels::tanh_grad_sum(y + q * P, dy + q * dy_plane, pooled, p_.oh, p_.ow, z + q * P);
        if (use_bias_) db[q % filters_] += b;
      }
      return z;
    }
    if (act_ == Activation::relu && use_bias_) {
      for (int64_t q = 0; q < planes; ++q)
        db[q % filters_] += plane_grad(y + q * P, dy + q * P, z + q * P);
      return z;
    }
    const float* dz = dy;
    if (act_ != Activation::linear) {
      detail::activation_backward_from_y(act_, kAlpha, y, dy, z, 1, planes * P);
      dz = z;
    }
    if (use_bias_)
      for (int64_t q = 0; q < planes; ++q) db[q % filters_] += kernels::sum(dz + q * P, P);
    return dz;
  }

  // One plane: z = dy ⊙ act'(y), returning Σ z (the plane's share of db).
  float plane_grad(const float* y, const float* dy, float* z) const {
    const int64_t P = int64_t{p_.oh} * p_.ow;
    if (act_ == Activation::relu) return relu_backward_sum(y, dy, z, P);
    if (act_ != Activation::linear)
      detail::activation_backward_from_y(act_, kAlpha, y, dy, z, 1, P);
    else
      std::copy(dy, dy + P, z);
    return kernels::sum(z, P);
  }

  // The activation as the algorithms see it.
  conv::Act kernel_act() const {
    if (act_ == Activation::relu) return conv::Act::relu;
    if (act_ == Activation::tanh) return conv::Act::tanh;
    if (act_ == Activation::linear) return conv::Act::linear;
    return conv::Act::other;
  }
  // y = act(y), the batch split over the pool.
  void activate(Tensor& y, ThreadPool& pool) const {
    const int64_t n = y.dim(0), per = shape_size(output_shape_);
    if (n == 1) return detail::activation_forward(act_, kAlpha, y.data(), 1, per);
    pool.parallel_for(n, [&](int64_t s0, int64_t s1, int) {
      detail::activation_forward(act_, kAlpha, y.sample(s0), 1, (s1 - s0) * per);
    });
  }

  const conv::ConvSupport& support() {
    if (!support_)
      support_ = conv::conv_support(p_, conv::conv_override() == conv::ConvBackend::dnnl_winograd);
    return *support_;
  }
  conv::ConvPlan plan_for(int threads) {
    return conv::select_conv_plan(p_, threads, support(), conv::conv_override());
  }
  // The algorithm of family b, made on first use and kept with its state.
  conv::ConvAlgorithm& algo(conv::ConvBackend b) {
    auto& slot = algos_[static_cast<std::size_t>(b)];
    if (!slot) slot = conv::make_conv_algorithm(b, p_);
    return *slot;
  }

  const float* weights() const { return kernel_.value.data(); }
  const float* bias() const { return use_bias_ ? bias_.value.data() : nullptr; }

  // Per-participant buffers; they only grow, so steady-state training allocates nothing.
  static void grow(std::vector<std::vector<float>>& v, int threads, std::size_t size) {
    const std::size_t nt = static_cast<std::size_t>(threads);
    if (v.size() < nt) v.resize(nt);
    for (std::size_t t = 0; t < nt; ++t)
      if (v[t].size() < size) v[t].resize(size);
  }

  static constexpr float kAlpha = 0.3f;  // leaky_relu slope
  int filters_, k_, stride_;
  Activation act_;
  Padding padding_;
  bool use_bias_;
  conv::ConvParams p_;
  Param kernel_, bias_;
  std::optional<conv::ConvSupport> support_;
  std::array<std::unique_ptr<conv::ConvAlgorithm>, 5> algos_;  // by ConvBackend
  std::vector<std::vector<float>> dz_, db_part_;               // [participant]
  std::vector<float> image_scratch_;  // one image's direct-kernel scratch (pooling fusion)
};

}  // namespace

LayerPtr Conv2D(int filters, int kernel_size, Activation activation, int stride, Padding padding,
                bool use_bias) {
  return std::make_unique<Conv2DLayer>(filters, kernel_size, activation, stride, padding, use_bias);
}

namespace detail {
LayerPtr conv2d_from_config(const nlohmann::json& cfg) {
  const std::string t = "Conv2D";
  config_object(t, cfg);
  const int filters = config_int(t, cfg, "filters");
  if (filters <= 0) throw Error(t + " config: field 'filters' must be >= 1");
  const int k = config_int(t, cfg, "kernel_size");
  if (k <= 0) throw Error(t + " config: field 'kernel_size' must be >= 1");
  const int stride = config_int(t, cfg, "strides", 1);
  if (stride <= 0) throw Error(t + " config: field 'strides' must be >= 1");
  return Conv2D(filters, k, config_activation(t, cfg, Activation::linear), stride,
                padding_from_name(t, config_string(t, cfg, "padding", "valid")),
                config_bool(t, cfg, "use_bias", true));
}
}  // namespace detail

}  // namespace digitnet
