// src/layers/conv2d.cpp — 2-D convolution with a fused activation.
//
// Per sample, with K = C·k·k and P = OH·OW:
//   forward:  z = W ⋆ x + b,  y = act(z)          x (C, H, W), W (F, C, k, k), b (F), y (F, OH, OW)
//   backward: dz = dy ⊙ act'(y)                   (F, P)
//             dW = Σ_n dz ⋆ x,  db = Σ_n Σ_p dz   (F, C, k, k), (F)
//             dx = Wᵀ ⋆ dz (transposed convolution)  (C, H, W)
// Kernels, chosen by measurement (docs/PERFORMANCE.md), for 3x3 stride-1 kernels
// with >= 16 channels in and out: digitnet's own Winograd F(4x4,3x3)
// (core/winograd.hpp: forward; dW in the transformed domain and dx as the
// adjoint of the forward, in one pass over the tiles). oneDNN's AVX-512 Winograd
// (DIGITNET_CONV_KERNEL=dnnl-winograd) keeps a 9 MB scratchpad per thread whatever
// the sub-batch, a fifth of K's training footprint, and was no faster on Zen 4
// (K 3500 against 3800 images/s, S 3740-4100 against 3770-4110).
// Otherwise oneDNN's direct JIT convolutions. oneDNN runs
// on sub-batches of up to kSub samples, each pool participant driving its own
// single-threaded oneDNN objects. When oneDNN has no kernel for the geometry,
// im2col + sgemm per sample:
//   col = im2col(x) (K, P);  z = W·col;  dW += dz·colᵀ;  dx = col2im(Wᵀ·dz).
// A single image (latency) of a layer too small to split over the pool, stride 1,
// runs the direct kernel (kernels/direct_conv.hpp) on the calling thread; a
// batch through a stride-1 layer on one input channel runs it sample by sample
// (see direct_for_batches).
// A stride-1 layer on oneDNN's direct kernels with several channels and >= 16
// filters, or with few filters on wide rows (LeNet's first), takes its weight
// gradient from kernels::direct_conv_wgrad on AVX-512, and with at most 16
// filters its input gradient from kernels::direct_conv_dgrad (LeNet's second;
// else dx stays on oneDNN, or im2col + sgemm for one channel). Other
// single-channel inputs (a first layer, which needs no dx) run backward on
// im2col + sgemm whatever the forward uses: oneDNN's direct weight gradient for
// one channel took twice as long (K's first layer: 11.3 vs 5.2 ms per step).
// In a model's micro-batches (Context::more_parts) the own Winograd keeps its
// transformed dW per participant and maps it back once, on the last part.
// DIGITNET_CONV_KERNEL=dnnl-winograd|winograd|dnnl-direct|im2col forces one
// (where the geometry allows it, for every batch size and layer, the first
// layer's single channel included; for tests and A/B measurements).
// The batch is split over the pool in fixed chunks; per-thread partial dW / db sums
// are added in thread order (bit-identical results for a given thread count).
// Padding follows TensorFlow ('same': the odd padding row/column goes at the
// bottom/right).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/dnnl_conv.hpp"
#include "core/direct_conv.hpp"
#include "core/kernels.hpp"
#include "core/winograd.hpp"
#include "layers/layer_util.hpp"

namespace digitnet {
namespace {

// z = y > 0 ? g : 0 over n elements; returns Σ z, added in the lane order of
// kernels::sum (eight running sums, so it equals kernels::sum(z, n)). SSE2: the
// mask is the compare y > 0 (all ones or zero) and'ed with g. (A generic 8-float
// vector here compiled for the x86-64-v2 baseline to scalar compares and stack
// round trips: 1 ns an element, 4.5 % of K's training on one thread.)
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
#endif
  for (int j = 0; i < n; ++i, ++j) {  // fewer than 8 left
    const float v = y[i] > 0.0f ? g[i] : 0.0f;
    z[i] = v;
    lane[j] += v;
  }
  return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

// dst = src (overwrite) or dst += src (accumulate) over n elements.
void add_or_copy(const float* src, float* dst, int64_t n, bool add) {
  if (add)
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
  else
    std::copy(src, src + n, dst);
}

class Conv2DLayer final : public Layer {
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
    c_ = static_cast<int>(input_shape[0]);
    h_ = static_cast<int>(input_shape[1]);
    w_ = static_cast<int>(input_shape[2]);
    const detail::Axis ah = detail::spatial_axis(h_, k_, stride_, padding_);
    const detail::Axis aw = detail::spatial_axis(w_, k_, stride_, padding_);
    if (ah.out <= 0 || aw.out <= 0)
      throw Error(detail::layer_label(*this) + ": kernel " + std::to_string(k_) + "x" +
                  std::to_string(k_) + " is larger than the input " + shape_str(input_shape) +
                  " with 'valid' padding");
    oh_ = ah.out;
    ow_ = aw.out;
    pad_top_ = ah.pad_before;
    pad_left_ = aw.pad_before;
    const int64_t kk = int64_t{c_} * k_ * k_;
    kernel_ = Param{"kernel", Tensor({filters_, c_, k_, k_}), Tensor({filters_, c_, k_, k_}), true};
    detail::glorot_uniform(kernel_.value, kk, int64_t{filters_} * k_ * k_, rng);
    bias_ = Param{"bias", Tensor({filters_}), Tensor({filters_}), false};
    input_shape_ = input_shape;
    output_shape_ = {filters_, oh_, ow_};
    return output_shape_;
  }

  // x (N, C, H, W) -> y (N, F, OH, OW)
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    const int64_t n = x.dim(0);
    y.resize(with_batch(n, output_shape_));
    const int threads = ctx.pool->size();
    ensure_scratch(threads, false);
    const float* W = kernel_.value.data();
    const float* b = use_bias_ ? bias_.value.data() : nullptr;
    const int64_t out_per = int64_t{filters_} * oh_ * ow_;
    // One sample: split the filters over the pool only when the convolution
    // outweighs the hand-off (LeNet's 0.1-0.2 M MAC layers ran slower split:
    // 24 vs 16 us; K's 10.6 M MAC conv2 gains).
    const bool split = n == 1 && splits_one_image(threads);
    if (split && own_winograd()) return forward_winograd_split_filters(x, y, ctx);
    if (split && forward_split_filters(x, y, ctx)) return;
    if (own_winograd()) {
      ensure_winograd(threads, (n + threads - 1) / threads);
      if (!same_weights_as(u_seen_)) {
        kernels::winograd_filter_transform(W, filters_, c_, false, u_.data());
        u_t_current_ = false;
      }
      // One sample leaves a part-filled group of tiles (K's 36), which the kernel
      // takes faster with the transposed filters (kept for backward's dx too).
      if (n == 1 && !u_t_current_) {
        kernels::winograd_transpose_filters(u_.data(), filters_, c_, u_t_.data());
        u_t_current_ = true;
      }
      const float* ut = u_t_current_ ? u_t_.data() : nullptr;
      const kernels::Conv3x3Shape g = wino_shape();
      ctx.pool->run([&](int t) {
        const auto [s0, s1] = ThreadPool::chunk(n, threads, t);
        if (s0 == s1) return;
        kernels::winograd_conv3x3(g, static_cast<int>(s1 - s0), x.sample(s0), u_.data(), b,
                                  act_ == Activation::relu, y.sample(s0),
                                  wino_ws_[static_cast<std::size_t>(t)].data(),
                                  kernels::kWinogradTileBlock, ut);
        if (act_ != Activation::relu && act_ != Activation::linear)
          detail::activation_forward(act_, kAlpha, y.sample(s0), 1, (s1 - s0) * out_per);
      });
      return;
    }
    const kernels::DirectConvShape dg = direct_shape();
    const float* packed = n > 1 && direct_for_batches() ? direct_packed(dg) : nullptr;
    auto part = [&](int t) {
      const auto [s0, s1] = ThreadPool::chunk(n, threads, t);
      if (packed) {
        float* scratch = ctx.pool->scratch(t, kernels::direct_conv_scratch(dg));
        for (int64_t i = s0; i < s1; ++i) {
          kernels::direct_conv(dg, x.sample(i), W, b, direct_act(), y.sample(i), scratch, packed);
          if (act_after_direct()) detail::activation_forward(act_, kAlpha, y.sample(i), 1, out_per);
        }
        return;
      }
      for (int64_t s = s0; s < s1; s += kSub) {
        const int m = static_cast<int>(std::min<int64_t>(kSub, s1 - s));
        if (kernels::DnnlConv* conv = engine(t, m, ctx.training)) {
          conv->forward(x.sample(s), W, b, y.sample(s),
                        ctx.pool->scratch(t, conv->workspace_floats()));
          if (act_ != Activation::relu)  // relu is fused into oneDNN's kernel
            detail::activation_forward(act_, kAlpha, y.sample(s), 1, m * out_per);
        } else {
          for (int64_t i = s; i < s + m; ++i) forward_im2col(x.sample(i), y.sample(i), t);
        }
      }
    };
    // One sample not worth splitting, stride 1: the direct kernel on the calling
    // thread (a oneDNN call or im2col costs more in set-up than the arithmetic
    // here). With 16 filters or more per participant and enough work (the Keras
    // CNN's first layer: 32 filters, 0.2 M MAC), each participant runs it on its
    // filters, every output the same sum in the same order. Any
    // other single sample: participant 0's share, on the calling thread, without
    // waking the others.
    if (n == 1 && stride_ == 1 && !kernel_forced()) {
      // Filters [f0, f1) of the one image.
      auto direct = [&](int64_t f0, int64_t f1, float* scratch, const float* packed) {
        kernels::DirectConvShape share = dg;
        share.f = static_cast<int>(f1 - f0);
        float* ys = y.sample(0) + f0 * oh_ * ow_;
        kernels::direct_conv(share, x.sample(0), W + f0 * c_ * k_ * k_, b ? b + f0 : nullptr,
                             direct_act(), ys, scratch, packed);
        if (act_after_direct())
          detail::activation_forward(act_, kAlpha, ys, 1, (f1 - f0) * oh_ * ow_);
      };
      if (splits_one_image_direct(threads)) {
        ctx.pool->run([&](int t) {
          const auto [f0, f1] = ThreadPool::chunk(filters_, threads, t);
          direct(f0, f1, ctx.pool->scratch(t, kernels::direct_conv_scratch(dg)), nullptr);
        });
      } else {
        direct_scratch_.resize(kernels::direct_conv_scratch(dg));
        direct(0, filters_, direct_scratch_.data(), direct_packed(dg));
      }
      return;
    }
    if (n == 1) return part(0);
    ctx.pool->run(part);
  }

  // x (N, C, H, W), y, dy (N, F, OH, OW) -> dW (F, C, k, k), db (F), dx (N, C, H, W)
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context& ctx) override {
    detail::check_backward_grad(*this, y, dy);
    backward_impl(x, y, dy, false, dx, ctx);
  }

  // tanh on the generic dz path (not the own Winograd's, nor the single-channel
  // batched dW's): dz = unpool(dy_pooled) ⊙ tanh'(y) and the bias sums in one
  // pass (kernels::tanh_grad_sum). (LeNet's two poolings: their backward and the
  // tanh gradient took ~15 % of its training step on one thread, as separate passes.)
  bool fuses_avg_pool_2x2_backward() override {
    return act_ == Activation::tanh && oh_ % 2 == 0 && ow_ % 2 == 0 && !own_winograd() &&
           !(c_ == 1 && filters_ >= 16);
  }
  // dy_pooled (N, F, OH/2, OW/2)
  void backward_from_avg_pool_2x2(const Tensor& x, const Tensor& y, const Tensor& dy_pooled,
                                  Tensor* dx, const Context& ctx) override {
    if (!fuses_avg_pool_2x2_backward())
      return Layer::backward_from_avg_pool_2x2(x, y, dy_pooled, dx, ctx);
    const Shape want{y.dim(0), filters_, oh_ / 2, ow_ / 2};
    if (dy_pooled.shape() != want)
      throw Error(detail::layer_label(*this) + ": pooled output gradient " +
                  shape_str(dy_pooled.shape()) + " does not match " + shape_str(want));
    backward_impl(x, y, dy_pooled, true, dx, ctx);
  }

  // dy is (N, F, OH, OW), or with `pooled` the following 2x2/2 average pooling's
  // output gradient (N, F, OH/2, OW/2) (only where fuses_avg_pool_2x2_backward).
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, bool pooled, Tensor* dx,
                     const Context& ctx) {
    const int64_t n = x.dim(0);
    const int K = c_ * k_ * k_, P = oh_ * ow_, F = filters_;
    const int threads = ctx.pool->size();
    ensure_scratch(threads, true, std::min<int64_t>(kSub, (n + threads - 1) / threads));
    if (dx) dx->resize(x.shape());
    const float* W = kernel_.value.data();
    const bool wino = own_winograd();
    if (wino) {
      // The forward's transform (kept while the weights are unchanged), transposed
      // per position for dx (once per transform: the parts of a batch share it).
      ensure_winograd(threads, kSub);
      if (!same_weights_as(u_seen_)) {
        kernels::winograd_filter_transform(W, filters_, c_, false, u_.data());
        u_t_current_ = false;
      }
      if (dx && !u_t_current_) {
        kernels::winograd_transpose_filters(u_.data(), filters_, c_, u_t_.data());
        u_t_current_ = true;
      }
      // A part that does not accumulate starts a new sum of dU (and drops what an
      // abandoned batch's parts left).
      if (du_held_.size() < du_.size()) du_held_.resize(du_.size(), 0);
      if (!ctx.accumulate_grads) std::fill(du_held_.begin(), du_held_.end(), 0);
      if (std::find(du_held_.begin(), du_held_.end(), 1) == du_held_.end())
        du_adds_ = ctx.accumulate_grads;
    }
    const kernels::Conv3x3Shape wg = wino ? wino_shape() : kernels::Conv3x3Shape{};
    const bool direct_dw = !wino && direct_wgrad();
    // The direct input gradient reads the direct kernel's packed weights (LeNet's
    // conv2 backward with dx 1.30-1.40 -> 1.10-1.17 ms a step, 2 threads, against
    // oneDNN's AVX2 kernel).
    const float* dgrad = dx && direct_dw && kernels::direct_conv_dgrad_vectorised(direct_shape())
                             ? direct_packed(direct_shape())
                             : nullptr;
    ctx.pool->run([&](int t) {
      const std::size_t ti = static_cast<std::size_t>(t);
      float* dw = dw_part_[ti].data();
      float* db = db_part_[ti].data();
      std::fill(dw, dw + int64_t{F} * K, 0.0f);
      std::fill(db, db + F, 0.0f);
      const auto [s0, s1] = ThreadPool::chunk(n, threads, t);
      for (int64_t s = s0; s < s1; s += kSub) {
        const int m = static_cast<int>(std::min<int64_t>(kSub, s1 - s));
        // dz = dy ⊙ act'(y) and the bias gradient, one output plane at a time.
        const float* dz = dy.sample(s);
        // A single-channel first layer (no dx) with >= 16 filters takes dW from
        // one GEMM over the whole sub-batch: dz kept filter-major, (F, m·P),
        // against the im2col columns of the m samples side by side, (K, m·P).
        // (Measured: K's and S's first layers gain 10-15 %; LeNet's 6 filters
        // lose, the column copies outweigh the GEMM.)
        const bool batched_dw = c_ == 1 && filters_ >= 16 && !dx && !wino;
        if (batched_dw) {
          float* dzt = dz_[ti].data();
          for (int64_t p = 0; p < int64_t{m} * F; ++p) {
            const int64_t i = p / F, f = p % F, o = p * P;
            float* z = dzt + (f * m + i) * P;
            if (act_ == Activation::relu) {
              const float b = relu_backward_sum(y.sample(s) + o, dy.sample(s) + o, z, P);
              if (use_bias_) db[f] += b;
            } else {
              if (act_ != Activation::linear)
                detail::activation_backward_from_y(act_, kAlpha, y.sample(s) + o, dy.sample(s) + o,
                                                   z, 1, P);
              else
                std::copy(dy.sample(s) + o, dy.sample(s) + o + P, z);
              if (use_bias_) db[f] += kernels::sum(z, P);
            }
          }
          float* colb = colb_buffer(t, m);
          const int64_t mp = int64_t{m} * P;
          for (int i = 0; i < m; ++i) {
            float* col = col_buffer(t);
            kernels::im2col(x.sample(s + i), c_, h_, w_, k_, k_, stride_, pad_top_, pad_left_, oh_,
                            ow_, col);
            for (int k = 0; k < K; ++k)
              std::copy(col + int64_t{k} * P, col + int64_t{k + 1} * P, colb + k * mp + i * P);
          }
          float* dwt = dw_sub_[ti].data();  // dWᵀ (K, F) of this sub-batch
          kernels::sgemm(false, true, K, F, static_cast<int>(mp), 1.0f, colb, static_cast<int>(mp),
                         dzt, static_cast<int>(mp), 0.0f, dwt, F);
          for (int f = 0; f < F; ++f)
            for (int k = 0; k < K; ++k) dw[int64_t{f} * K + k] += dwt[int64_t{k} * F + f];
          continue;
        }
        if (wino && (act_ == Activation::relu || act_ == Activation::linear)) {
          // relu' and the bias sum folded into the kernel's read of dy: no dz
          // written and read back (K's conv2d_1: one pass over 2 x 1.2 MB less
          // per part and thread of 4 samples).
          kernels::WinogradGradFold fold;
          fold.relu_y = act_ == Activation::relu ? y.sample(s) : nullptr;
          fold.db = use_bias_ ? db : nullptr;
          kernels::winograd_backward(wg, m, x.sample(s), dy.sample(s), u_t_.data(), du_[ti].data(),
                                     s != s0 || du_held_[ti], dx ? dx->sample(s) : nullptr,
                                     wino_ws_[ti].data(), kernels::kWinogradTileBlock, fold);
          continue;
        }
        if (act_ == Activation::relu && use_bias_) {
          // The common case in one pass per plane: relu' and the bias sum together.
          for (int64_t p = 0; p < int64_t{m} * F; ++p) {
            const int64_t o = p * P;
            db[p % F] +=
                relu_backward_sum(y.sample(s) + o, dy.sample(s) + o, dz_[ti].data() + o, P);
          }
          dz = dz_[ti].data();
        } else if (act_ == Activation::tanh) {
          // tanh' and the bias sum in one pass per plane, through the pooling if fused.
          const int64_t dy_plane = pooled ? P / 4 : P;
          float* z = dz_[ti].data();
          for (int64_t p = 0; p < int64_t{m} * F; ++p) {
            const float b = kernels::tanh_grad_sum(y.sample(s) + p * P, dz + p * dy_plane, pooled,
                                                   oh_, ow_, z + p * P);
            if (use_bias_) db[p % F] += b;
          }
          dz = z;
        } else {
          if (act_ != Activation::linear) {
            detail::activation_backward_from_y(act_, kAlpha, y.sample(s), dy.sample(s),
                                               dz_[ti].data(), 1, int64_t{m} * F * P);
            dz = dz_[ti].data();
          }
          if (use_bias_)
            for (int64_t p = 0; p < int64_t{m} * F; ++p) db[p % F] += kernels::sum(dz + p * P, P);
        }
        if (wino) {
          // dW and dx in one pass over the tiles (they share the transform of dz).
          kernels::winograd_backward(wg, m, x.sample(s), dz, u_t_.data(), du_[ti].data(),
                                     s != s0 || du_held_[ti], dx ? dx->sample(s) : nullptr,
                                     wino_ws_[ti].data());
        } else if (direct_dw) {
          // dW on the direct kernel (added into this participant's sum), whether or
          // not dx is wanted (the same bits either way); dx on the direct input
          // gradient (up to 16 filters), else on oneDNN, or for one input channel
          // (oneDNN's kernel is slow there) on im2col + sgemm.
          const kernels::DirectConvShape dg = direct_shape();
          kernels::direct_conv_wgrad(
              dg, m, x.sample(s), dz, dw,
              ctx.pool->scratch(t, kernels::direct_conv_wgrad_scratch(dg, m)));
          if (dx && dgrad) {
            float* scratch = ctx.pool->scratch(t, kernels::direct_conv_dgrad_scratch(dg));
            for (int i = 0; i < m; ++i)
              kernels::direct_conv_dgrad(dg, dz + int64_t{i} * F * P, W, dgrad, dx->sample(s + i),
                                         scratch);
          } else if (dx && c_ == 1) {
            for (int i = 0; i < m; ++i)
              backward_im2col(x.sample(s + i), dz + int64_t{i} * F * P, dx->sample(s + i), nullptr,
                              t);
          } else if (dx) {
            kernels::DnnlConv* conv = engine(t, m, true);
            if (!conv) throw Error(detail::layer_label(*this) + ": no oneDNN kernel for dx");
            conv->backward(x.sample(s), dz, W, dx->sample(s), nullptr,
                           ctx.pool->scratch(t, conv->workspace_floats()));
          }
        } else if (kernels::DnnlConv* conv = c_ == 1 ? nullptr : engine(t, m, true)) {
          float* dws = dw_sub_[ti].data();
          conv->backward(x.sample(s), dz, W, dx ? dx->sample(s) : nullptr, dws,
                         ctx.pool->scratch(t, conv->workspace_floats()));
          for (int64_t i = 0; i < int64_t{F} * K; ++i) dw[i] += dws[i];
        } else {
          for (int i = 0; i < m; ++i)
            backward_im2col(x.sample(s + i), dz + int64_t{i} * F * P,
                            dx ? dx->sample(s + i) : nullptr, dw, t);
        }
      }
      if (wino && s1 > s0) du_held_[ti] = 1;
    });
    // Reduce the partial sums in thread order.
    float* gw = kernel_.grad.data();
    float* gb = bias_.grad.data();
    if (wino) {
      add_or_copy(db_part_[0].data(), gb, F, ctx.accumulate_grads);
      for (int t = 1; t < threads; ++t) {
        const float* pb = db_part_[static_cast<std::size_t>(t)].data();
        for (int f = 0; f < F; ++f) gb[f] += pb[f];
      }
      // dU stays with the participants until the batch's last part. Those without
      // samples left theirs unwritten; dU is linear, so the sum is taken before
      // mapping back: dW = Gᵀ (Σ_t dU_t) G.
      if (ctx.more_parts) return;
      const int64_t nu = int64_t{36} * F * c_;
      float* du = du_[0].data();
      bool any = false;
      for (std::size_t t = 0; t < du_held_.size(); ++t) {
        if (!du_held_[t]) continue;
        const float* pu = du_[t].data();
        if (!any) {
          if (t != 0) std::copy(pu, pu + nu, du);
        } else {
          for (int64_t i = 0; i < nu; ++i) du[i] += pu[i];
        }
        any = true;
      }
      if (!any) std::fill(du, du + nu, 0.0f);
      std::fill(du_held_.begin(), du_held_.end(), 0);
      // Adding: the sum's dW into participant 0's spare buffer, then added.
      float* part = du_adds_ ? dw_sub_[0].data() : gw;
      kernels::winograd_filter_grad_finish(du, F, c_, part);
      add_or_copy(part, gw, int64_t{F} * K, du_adds_);
      return;
    }
    add_or_copy(dw_part_[0].data(), gw, int64_t{F} * K, ctx.accumulate_grads);
    add_or_copy(db_part_[0].data(), gb, F, ctx.accumulate_grads);
    for (int t = 1; t < threads; ++t) {
      const float* pw = dw_part_[static_cast<std::size_t>(t)].data();
      const float* pb = db_part_[static_cast<std::size_t>(t)].data();
      for (int64_t i = 0; i < int64_t{F} * K; ++i) gw[i] += pw[i];
      for (int f = 0; f < F; ++f) gb[f] += pb[f];
    }
  }

  // One image on the split Winograd path (forward): each participant pools the
  // planes of its filters right after computing them, with the pooling layer's
  // kernel (the same bits), so its unpooled planes stay in its own cache and the
  // pooling layer's hand-off goes.
  bool fuses_max_pool_2x2(int64_t n, int threads) override {
    return n == 1 && splits_one_image(threads) && own_winograd() &&
           kernels::pool_2x2_avx512_available();
  }
  void forward_max_pool_2x2(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    if (ctx.training || !fuses_max_pool_2x2(x.dim(0), ctx.pool->size()))
      return Layer::forward_max_pool_2x2(x, y, ctx);
    y.resize({1, filters_, oh_ / 2, ow_ / 2});
    forward_winograd_split_filters(x, y, ctx, true);
  }

  // Training and inference, a layer on the per-image direct kernel (a batch
  // through direct_for_batches, or one image on the calling thread): each image
  // is pooled right after its convolution and activation, while its planes are
  // in L1, with the pooling layer's kernel (the same bits). y is written in
  // training (backward reads it); in inference each image's planes go to the
  // participant's scratch instead.
  bool fuses_avg_pool_2x2(int64_t n, int threads) override {
    if (stride_ != 1 || oh_ % 2 != 0 || ow_ % 2 != 0 || kernel_forced() || own_winograd())
      return false;
    if (n > 1) return direct_for_batches();
    // one image, unless forward splits it over the pool
    return n == 1 && !splits_one_image(threads) && !splits_one_image_direct(threads);
  }
  void forward_avg_pool_2x2(const Tensor& x, Tensor* y, Tensor& pooled,
                            const Context& ctx) override {
    detail::check_forward_input(*this, x);
    const int64_t n = x.dim(0);
    const int threads = ctx.pool->size();
    if (!fuses_avg_pool_2x2(n, threads)) return Layer::forward_avg_pool_2x2(x, y, pooled, ctx);
    if (y) y->resize(with_batch(n, output_shape_));
    pooled.resize({n, filters_, oh_ / 2, ow_ / 2});
    const kernels::DirectConvShape dg = direct_shape();
    const float* W = kernel_.value.data();
    const float* b = use_bias_ ? bias_.value.data() : nullptr;
    const float* packed = direct_packed(dg);
    const int64_t out_per = int64_t{filters_} * oh_ * ow_, plane = int64_t{oh_} * ow_;
    const std::size_t conv_scratch = kernels::direct_conv_scratch(dg);
    const std::size_t scratch_size = conv_scratch + (y ? 0 : static_cast<std::size_t>(out_per));
    // forward's per-image steps, then the image's pooling
    auto image = [&](int64_t i, float* scratch) {
      float* yi = y ? y->sample(i) : scratch + conv_scratch;
      kernels::direct_conv(dg, x.sample(i), W, b, direct_act(), yi, scratch, packed);
      if (act_after_direct()) detail::activation_forward(act_, kAlpha, yi, 1, out_per);
      for (int f = 0; f < filters_; ++f)
        kernels::avg_pool_2x2(yi + f * plane, ow_, oh_ / 2, ow_ / 2,
                              pooled.sample(i) + f * (plane / 4));
    };
    if (n == 1) {
      direct_scratch_.resize(scratch_size);
      return image(0, direct_scratch_.data());
    }
    ensure_scratch(threads, false);
    ctx.pool->run([&](int t) {
      const auto [s0, s1] = ThreadPool::chunk(n, threads, t);
      float* scratch = ctx.pool->scratch(t, scratch_size);
      for (int64_t i = s0; i < s1; ++i) image(i, scratch);
    });
  }

  std::vector<Param*> params() override {
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

  int64_t forward_macs() const override { return int64_t{oh_} * ow_ * filters_ * c_ * k_ * k_; }

 private:
  // The im2col + sgemm path for one sample (geometries oneDNN does not cover).
  void forward_im2col(const float* xs, float* ys, int t) {
    const int K = c_ * k_ * k_, P = oh_ * ow_;
    float* col = col_buffer(t);
    kernels::im2col(xs, c_, h_, w_, k_, k_, stride_, pad_top_, pad_left_, oh_, ow_, col);
    kernels::sgemm(false, false, filters_, P, K, 1.0f, kernel_.value.data(), K, col, P, 0.0f, ys,
                   P);
    // Bias and activation in one pass over each output plane (still in cache).
    for (int f = 0; f < filters_; ++f) {
      float* row = ys + int64_t{f} * P;
      if (use_bias_) {
        const float bf = bias_.value[f];
        for (int p = 0; p < P; ++p) row[p] += bf;
      }
      detail::activation_forward(act_, kAlpha, row, 1, P);
    }
  }
  // For one sample: dw += dz · colᵀ (unless dw is null) and dxs = col2im(Wᵀ · dz) (unless dxs is
  // null).
  void backward_im2col(const float* xs, const float* dz, float* dxs, float* dw, int t) {
    const int K = c_ * k_ * k_, P = oh_ * ow_, F = filters_;
    float* col = col_buffer(t);
    if (dw) {
      kernels::im2col(xs, c_, h_, w_, k_, k_, stride_, pad_top_, pad_left_, oh_, ow_, col);
      kernels::sgemm(false, true, F, K, P, 1.0f, dz, P, col, P, 1.0f, dw, K);
    }
    if (dxs) {
      kernels::sgemm(true, false, K, P, F, 1.0f, kernel_.value.data(), K, dz, P, 0.0f, col, P);
      std::fill(dxs, dxs + int64_t{c_} * h_ * w_, 0.0f);
      kernels::col2im(col, c_, h_, w_, k_, k_, stride_, pad_top_, pad_left_, oh_, ow_, dxs);
    }
  }

  // One sample (the latency case): the filters are split over the pool instead
  // of the batch. Returns false when oneDNN has no kernel for a share.
  bool forward_split_filters(const Tensor& x, Tensor& y, const Context& ctx) {
    const int threads = ctx.pool->size(), P = oh_ * ow_, K = c_ * k_ * k_;
    for (int t = 0; t < threads; ++t) {
      const auto [f0, f1] = ThreadPool::chunk(filters_, threads, t);
      if (f0 < f1 && !engine(t, 1, ctx.training, static_cast<int>(f1 - f0))) return false;
    }
    ctx.pool->run([&](int t) {
      const auto [f0, f1] = ThreadPool::chunk(filters_, threads, t);
      if (f0 == f1) return;
      float* ys = y.sample(0) + f0 * P;
      kernels::DnnlConv* conv = engine(t, 1, ctx.training, static_cast<int>(f1 - f0));
      conv->forward(x.sample(0), kernel_.value.data() + f0 * K,
                    use_bias_ ? bias_.value.data() + f0 : nullptr, ys,
                    ctx.pool->scratch(t, conv->workspace_floats()));
      if (act_ != Activation::relu) detail::activation_forward(act_, kAlpha, ys, 1, (f1 - f0) * P);
    });
    return true;
  }

  // Whether forward splits one image over the pool: by filters on the own
  // Winograd or oneDNN (kSplitMacs), or on the direct kernel, each participant at
  // least 16 filters (kSplitDirectMacs).
  bool splits_one_image(int threads) const { return threads > 1 && forward_macs() >= kSplitMacs; }
  bool splits_one_image_direct(int threads) const {
    return threads > 1 && filters_ >= 16 * threads && forward_macs() >= kSplitDirectMacs;
  }

  // The activation the direct kernel applies itself (relu, tanh), and whether
  // another follows as a pass of its own.
  kernels::ConvAct direct_act() const {
    if (act_ == Activation::relu) return kernels::ConvAct::relu;
    if (act_ == Activation::tanh) return kernels::ConvAct::tanh;
    return kernels::ConvAct::linear;
  }
  bool act_after_direct() const {
    return act_ != Activation::relu && act_ != Activation::tanh && act_ != Activation::linear;
  }

  // Whether a batch's forward runs the one-image direct kernel sample by sample
  // instead of oneDNN: a stride-1 layer on a single channel (a first layer),
  // where oneDNN's kernel is slow (train_bench --profile, alternating: LeNet's
  // conv1 0.77-1.12 -> 0.39-0.48 ms a step, infer at batch 1000 58-86 k -> 99-134 k
  // images/s; K's conv1 0.75-1.18 -> 0.64-0.97 ms), and a small layer of at most
  // 16 filters and 160 weights a filter (LeNet's conv2, 6 -> 16, 5x5: level with
  // oneDNN on Zen 4; since its broadcasts stay in registers, on one core of the
  // Intel Xeon 0.58-0.62 -> 0.51-0.53 ms a step, infer at batch 1000 77-78 k ->
  // 91-93 k images/s, alternating). Larger layers were not measured, so they stay
  // on oneDNN. Only where the direct kernel has its AVX-512 bodies (the AVX2 body
  // was not measured against oneDNN for batches).
  bool direct_for_batches() {
    const bool small = c_ == 1 || (filters_ <= 16 && c_ * k_ * k_ <= 160);
    return stride_ == 1 && small && !kernel_forced() && !own_winograd() &&
           kernels::direct_conv_avx512();
  }

  // The weights in the direct kernel's packed layout, re-laid only when they
  // changed since the last call.
  const float* direct_packed(const kernels::DirectConvShape& g) {
    direct_packed_.resize(kernels::direct_conv_packed_size(g));
    if (!same_weights_as(direct_seen_))
      kernels::direct_conv_pack(g, kernel_.value.data(), direct_packed_.data());
    return direct_packed_.data();
  }

  // Which kernel family this layer uses, decided once (on first use) from the
  // geometry, the CPU and DIGITNET_CONV_KERNEL.
  enum class Kernel { unset, dnnl_winograd, winograd, dnnl_direct, im2col };
  Kernel kernel_choice() {
    if (choice_ != Kernel::unset) return choice_;
    const bool wino_shape_ok = k_ == 3 && stride_ == 1 && c_ >= 16 && filters_ >= 16;
    const char* env = std::getenv("DIGITNET_CONV_KERNEL");
    const std::string want = env ? env : "";
    forced_ = !want.empty();
    auto dnnl_has = [&](kernels::ConvAlgo algo) {
      kernels::ConvGeometry g;
      g.n = kSub, g.c = c_, g.h = h_, g.w = w_, g.f = filters_, g.kh = k_, g.kw = k_;
      g.stride = stride_, g.pad_top = pad_top_, g.pad_left = pad_left_, g.oh = oh_, g.ow = ow_;
      return kernels::DnnlConv::create(g, algo, true, use_bias_, act_ == Activation::relu) !=
             nullptr;
    };
    if (want == "im2col") {
      choice_ = Kernel::im2col;
    } else if (want == "dnnl-direct") {
      choice_ = Kernel::dnnl_direct;
    } else if (want == "winograd" && k_ == 3 && stride_ == 1) {
      choice_ = Kernel::winograd;
    } else if (want == "dnnl-winograd" && wino_shape_ok && dnnl_has(kernels::ConvAlgo::winograd)) {
      choice_ = Kernel::dnnl_winograd;
    } else if (wino_shape_ok) {
      choice_ = Kernel::winograd;
    } else {
      choice_ = Kernel::dnnl_direct;
    }
    return choice_;
  }
  bool own_winograd() { return kernel_choice() == Kernel::winograd; }
  kernels::DirectConvShape direct_shape() const {
    return {c_, h_, w_, filters_, k_, k_, pad_top_, pad_left_, oh_, ow_};
  }
  // The weight gradient on kernels::direct_conv_wgrad instead of oneDNN's: for
  // stride-1 layers on oneDNN's direct kernels with several input channels and
  // >= 16 filters, on AVX-512 (few input channels send oneDNN to its AVX2
  // weight-gradient kernel). With one channel and few filters (6 of 16 lanes)
  // the filters body loses to im2col + sgemm, but layers with few filters and
  // wide rows take it from the kernel's columns body, which beats both. Not when
  // a kernel family is forced.
  bool direct_wgrad() {
    if (kernel_choice() != Kernel::dnnl_direct || forced_ || stride_ != 1) return false;
    const kernels::DirectConvShape g = direct_shape();
    return (c_ > 1 && filters_ >= 16 && kernels::direct_conv_wgrad_vectorised(g)) ||
           kernels::direct_conv_wgrad_by_columns(g);
  }
  // DIGITNET_CONV_KERNEL names a family: every sample count then runs on it.
  bool kernel_forced() {
    (void)kernel_choice();
    return forced_;
  }

  kernels::Conv3x3Shape wino_shape() const {
    return {c_, filters_, h_, w_, oh_, ow_, pad_top_, pad_left_};
  }

  // Buffers of the own-Winograd path: the transformed filters (forward and
  // backward-data forms), and per participant a workspace for up to nb samples
  // and the transformed filter gradient dU (36, F, C).
  void ensure_winograd(int threads, int64_t nb) {
    const std::size_t nt = static_cast<std::size_t>(threads);
    const std::size_t nu =
        std::size_t{36} * static_cast<std::size_t>(filters_) * static_cast<std::size_t>(c_);
    if (u_.size() < nu) u_.resize(nu);
    if (u_t_.size() < nu) u_t_.resize(nu);
    const int m = static_cast<int>(std::max<int64_t>(nb, 1));
    const std::size_t ws =
        static_cast<std::size_t>(kernels::winograd_workspace_size(wino_shape(), m));
    if (wino_ws_.size() < nt) wino_ws_.resize(nt);
    if (du_.size() < nt) du_.resize(nt);
    for (std::size_t t = 0; t < nt; ++t) {
      if (wino_ws_[t].size() < ws) wino_ws_[t].resize(ws);
      if (du_[t].size() < nu) du_[t].resize(nu);
    }
  }

  // Whether the weights equal `seen` (the weights a cached transform was made
  // from); if not, `seen` becomes a copy of them. Training changes the weights
  // every step (the comparison stops at the first difference); repeated
  // inference reuses the transform (K's conv2: 35 us per call).
  bool same_weights_as(std::vector<float>& seen) const {
    const float* w = kernel_.value.data();
    const std::size_t n = static_cast<std::size_t>(kernel_.value.size());
    if (seen.size() == n && std::memcmp(seen.data(), w, n * sizeof(float)) == 0) return true;
    seen.assign(w, w + n);
    return false;
  }

  // One sample on the own Winograd path: each participant transforms and applies
  // its share of the filters (U for filters f0..f1 only), writing those output
  // planes.
  // With pooled, y is the 2x2/2 max pooling of the output, each participant's
  // planes pooled from its own scratch.
  void forward_winograd_split_filters(const Tensor& x, Tensor& y, const Context& ctx,
                                      bool pooled = false) {
    const int threads = ctx.pool->size(), P = oh_ * ow_;
    const int poh = oh_ / 2, pw = ow_ / 2;
    ensure_winograd(threads, 1);
    if (u_split_.size() < static_cast<std::size_t>(threads)) {
      u_split_.resize(static_cast<std::size_t>(threads));
      u_split_t_.resize(static_cast<std::size_t>(threads));
      u_split_seen_.resize(static_cast<std::size_t>(threads));
    }
    ctx.pool->run([&](int t) {
      const auto [f0, f1] = ThreadPool::chunk(filters_, threads, t);
      if (f0 == f1) return;
      const int ft = static_cast<int>(f1 - f0);
      const std::size_t ti = static_cast<std::size_t>(t);
      std::vector<float>& u = u_split_[ti];
      std::vector<float>& ut = u_split_t_[ti];
      // A share's transforms are kept while its weights stay the same; each
      // participant checks only its own filters (K's predict: the whole layer's
      // check on the calling thread, 2 x 74 KB read, cost 5.6 us a call).
      const float* wf = kernel_.value.data() + f0 * c_ * k_ * k_;
      const std::size_t nw = static_cast<std::size_t>(ft) * static_cast<std::size_t>(c_ * k_ * k_);
      std::vector<float>& seen = u_split_seen_[ti];
      if (seen.size() != nw || std::memcmp(seen.data(), wf, nw * sizeof(float)) != 0) {
        seen.assign(wf, wf + nw);
        u.resize(std::size_t{36} * static_cast<std::size_t>(ft) * static_cast<std::size_t>(c_));
        ut.resize(u.size());
        kernels::winograd_filter_transform(wf, ft, c_, false, u.data());
        kernels::winograd_transpose_filters(u.data(), ft, c_, ut.data());
      }
      kernels::Conv3x3Shape g = wino_shape();
      g.F = ft;
      float* ys =
          pooled ? ctx.pool->scratch(t, static_cast<std::size_t>(ft) * P) : y.sample(0) + f0 * P;
      kernels::winograd_conv3x3(
          g, 1, x.sample(0), u.data(), use_bias_ ? bias_.value.data() + f0 : nullptr,
          act_ == Activation::relu, ys, wino_ws_[static_cast<std::size_t>(t)].data(),
          kSplitTileBlock, ut.data());
      if (act_ != Activation::relu && act_ != Activation::linear)
        detail::activation_forward(act_, kAlpha, ys, 1, int64_t{ft} * P);
      if (pooled)
        for (int f = 0; f < ft; ++f)
          kernels::max_pool_2x2_inference(ys + int64_t{f} * P, ow_, poh, pw,
                                          y.sample(0) + (f0 + f) * poh * pw);
    });
  }

  // Participant t's im2col buffer for m samples side by side, (K, m·P).
  float* colb_buffer(int t, int m) {
    auto& col = colb_[static_cast<std::size_t>(t)];
    col.resize(static_cast<std::size_t>(c_) * k_ * k_ * oh_ * ow_ * static_cast<std::size_t>(m));
    return col.data();
  }

  // Participant t's one-sample im2col buffer (K, P), allocated on first use.
  float* col_buffer(int t) {
    auto& col = col_[static_cast<std::size_t>(t)];
    col.resize(static_cast<std::size_t>(c_) * k_ * k_ * oh_ * ow_);
    return col.data();
  }

  // Participant t's oneDNN convolution for sub-batches of m samples and f filters
  // (all by default), created on first use and kept; null when oneDNN has no
  // kernel: use im2col. Its blocked activation copies and scratchpad live in
  // the pool's scratch for participant t, shared by every layer (with
  // DIGITNET_CONV_KERNEL=dnnl-winograd, K: one 9 MB Winograd workspace per
  // thread instead of one per object, four objects each).
  kernels::DnnlConv* engine(int t, int m, bool training, int f = 0) {
    if (f == 0) f = filters_;
    const Kernel choice = kernel_choice();
    // Winograd is planned for training even for inference (so inference shares the
    // training objects): oneDNN's inference variant transforms the weights in a
    // separate reorder that costs more than the convolution itself at batch 1
    // (0.17 vs 0.07 ms here), and the weights may change between calls, so that
    // transform cannot be kept.
    const bool winograd = choice == Kernel::dnnl_winograd && f >= 16;
    if (winograd) training = true;
    auto& cache = engines_[static_cast<std::size_t>(t)];
    for (const Engine& e : cache)
      if (e.n == m && e.f == f && e.training == training) return e.conv.get();
    kernels::ConvGeometry g;
    g.n = m, g.c = c_, g.h = h_, g.w = w_, g.f = f, g.kh = k_, g.kw = k_;
    g.stride = stride_, g.pad_top = pad_top_, g.pad_left = pad_left_, g.oh = oh_, g.ow = ow_;
    const bool relu = act_ == Activation::relu;
    std::unique_ptr<kernels::DnnlConv> conv;
    if (choice == Kernel::im2col) {
      cache.push_back(Engine{m, f, training, nullptr});
      return nullptr;
    }
    if (winograd)
      conv = kernels::DnnlConv::create(g, kernels::ConvAlgo::winograd, true, use_bias_, relu);
    if (!conv)
      conv = kernels::DnnlConv::create(g, kernels::ConvAlgo::direct, training, use_bias_, relu);
    cache.push_back(Engine{m, f, training, std::move(conv)});
    return cache.back().conv.get();
  }

  // Per-thread buffers; they only grow, so steady-state training allocates nothing.
  // Backward's dz holds `sub` samples: a participant's share of a micro-batch
  // (K's conv2 at micro-batches of 8 on 2 threads: 0.6 MB a participant, not 1.2).
  void ensure_scratch(int threads, bool for_backward, int64_t sub = kSub) {
    const std::size_t nt = static_cast<std::size_t>(threads);
    const std::size_t K = static_cast<std::size_t>(c_) * k_ * k_;
    const std::size_t P = static_cast<std::size_t>(oh_) * ow_;
    const std::size_t F = static_cast<std::size_t>(filters_);
    auto grow = [nt](std::vector<std::vector<float>>& v, std::size_t size) {
      if (v.size() < nt) v.resize(nt);
      for (std::size_t t = 0; t < nt; ++t)
        if (v[t].size() < size) v[t].resize(size);
    };
    if (engines_.size() < nt) engines_.resize(nt);
    if (col_.size() < nt) col_.resize(nt);
    if (colb_.size() < nt) colb_.resize(nt);
    if (for_backward) {
      // (The own Winograd folds relu' and the bias into its read of dy: no dz.)
      const bool folded =
          own_winograd() && (act_ == Activation::relu || act_ == Activation::linear);
      if (!folded) grow(dz_, static_cast<std::size_t>(sub) * F * P);
      grow(dw_part_, F * K);
      grow(dw_sub_, F * K);
      grow(db_part_, F);
    }
  }

  struct Engine {
    int n, f;
    bool training;
    std::unique_ptr<kernels::DnnlConv> conv;
  };
  static constexpr int64_t kSplitMacs = 1 << 20;        // see forward
  static constexpr int64_t kSplitDirectMacs = 1 << 17;  // see forward
  // Tiles per block in the one-image split: K's 36 as 16 + 16 + a tail of 4
  // (smaller transformed buffers, so more of the dense layer's weights stay in
  // L2 between calls). K's predict, median of 100 x 6 alternating: 64: 69-71,
  // 32: 66-68, 24: 70-72, 20: 68-69, 16: 65-68, 12: 72-73, 8: 74-75 us.
  static constexpr int kSplitTileBlock = 16;
  // Samples per oneDNN call (its buffers stay in L2). Measured at 2 threads, K / S
  // images/s (median of 5): 16: 4670 / 5208; 8: 5019 / 5331 and 10 MB less RSS;
  // 4: 4812 / 5106.
  static constexpr int kSub = 8;
  static constexpr float kAlpha = 0.3f;  // leaky_relu slope
  int filters_, k_, stride_;
  Activation act_;
  Padding padding_;
  bool use_bias_;
  int c_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0, pad_top_ = 0, pad_left_ = 0;
  Param kernel_, bias_;
  std::vector<std::vector<float>> col_, colb_, dz_, dw_part_, dw_sub_, db_part_;
  Kernel choice_ = Kernel::unset;
  bool forced_ = false;                // set with choice_
  std::vector<float> direct_scratch_;  // the padded input of the one-sample direct kernel
  // The weights as direct_conv_pack lays them: the direct forward and input gradient read them.
  std::vector<float, AlignedAllocator<float>> direct_packed_;
  std::vector<float> direct_seen_;  // the weights direct_packed_ was made from
  std::vector<float> u_, u_t_;  // own Winograd: U (36, F, C), U transposed per position (36, C, F)
  std::vector<std::vector<float>> wino_ws_, du_;  // [participant] workspace, dU (36, F, C)
  std::vector<std::vector<float>> u_split_;       // [participant] U of its filters (batch 1)
  std::vector<std::vector<float>> u_split_t_;     // [participant] u_split_ transposed per position
  std::vector<float> u_seen_;                     // the weights u_ was made from
  std::vector<std::vector<float>> u_split_seen_;  // [participant] the weights of its u_split_
  bool u_t_current_ = false;                      // u_t_ is the transpose of the current u_
  // [participant] whether du_ holds a sum of this batch's parts not yet in the
  // kernel's gradient; and whether that sum adds to the gradient (its first part
  // accumulated) or overwrites it.
  std::vector<char> du_held_;
  bool du_adds_ = false;
  std::vector<std::vector<Engine>> engines_;  // [participant] oneDNN objects by (samples, mode)
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
