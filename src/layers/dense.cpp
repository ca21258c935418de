// src/layers/dense.cpp — fully connected layer with a fused activation.
//
//   forward:  z = x·W + b,  y = act(z)          x (N, in), W (in, units), b (units), y (N, units)
//   backward: dz = dy ⊙ act'(y)                  (softmax: Jacobian-vector product per row;
//                                                 logits output: dz = dy)
//             dW = xᵀ·dz,  db = Σ_n dz,  dx = dz·Wᵀ
//             (parts of a batch: dW = [x_1; …; x_k]ᵀ·[dz_1; …; dz_k] on the last part)
// The forward's way is select_dense_forward's (dense_plan.hpp): rows over the
// pool on sgemm; one small image on the calling thread (vecmat); a few rows
// with a large W split by input features, y = Σ_t x[:, K_t]·W[K_t, :], the
// partial sums added in participant order, so each participant reads only the
// rows of W its dx and dW use and the inputs its share of the layers before
// produced. Backward splits by rows of W (input features) for dW and dx, so no
// cross-thread reduction is needed. (Results may still differ in the last bit
// between thread counts or batch sizes: OpenBLAS' Haswell/Zen sgemm rounds a
// row by where it falls in the call's M; vecmat equals sgemm up to rounding.)
#include <algorithm>

#include "core/kernels.hpp"
#include "layers/dense_plan.hpp"
#include "layers/layer_util.hpp"

namespace digitnet {
namespace {

class DenseLayer final : public Layer {
 public:
  DenseLayer(int units, Activation act, bool use_bias)
      : units_(units), act_(act), use_bias_(use_bias) {
    if (units <= 0) throw Error("Dense: units must be >= 1 (got " + std::to_string(units) + ")");
  }

  std::string type() const override { return "Dense"; }

  Shape build(const Shape& input_shape, Rng& rng) override {
    if (input_shape.size() != 1 || input_shape[0] <= 0)
      throw Error(detail::layer_label(*this) + ": expects a flat per-sample input (rank 1), got " +
                  shape_str(input_shape) + "; add Flatten() before it");
    in_ = input_shape[0];
    kernel_ = Param{"kernel", Tensor({in_, units_}), Tensor({in_, units_}), true};
    detail::glorot_uniform(kernel_.value, in_, units_, rng);
    bias_ = Param{"bias", Tensor({units_}), Tensor({units_}), false};
    input_shape_ = input_shape;
    output_shape_ = {units_};
    return output_shape_;
  }

  Activation effective() const {
    return act_ == Activation::softmax && logits_ ? Activation::linear : act_;
  }

  // x (N, in) -> y (N, units)
  void forward(const Tensor& x, Tensor& y, const Context& ctx) override {
    detail::check_forward_input(*this, x);
    const int64_t n = x.dim(0), u = units_;
    y.resize({n, u});
    const Activation a = effective();
    const float* W = kernel_.value.data();
    const float* b = bias_.value.data();
    const int P = ctx.pool->size();
    const detail::DenseForward way = detail::select_dense_forward(n, in_, u, P);
    if (way == detail::DenseForward::vecmat_one) {
      kernels::vecmat(static_cast<int>(in_), static_cast<int>(u), x.data(), W, static_cast<int>(u),
                      use_bias_ ? b : nullptr, y.data());
      detail::activation_forward(a, kAlpha, y.data(), 1, u);
      return;
    }
    if (way == detail::DenseForward::split_inputs) {
      part_y_.resize({P, n, u});
      ctx.pool->parallel_for(in_, [&](int64_t i0, int64_t i1, int t) {
        float* part = part_y_.data() + t * n * u;
        if (n == 1)
          return kernels::vecmat(static_cast<int>(i1 - i0), static_cast<int>(u), x.data() + i0,
                                 W + i0 * u, static_cast<int>(u), nullptr, part);
        kernels::sgemm(false, false, static_cast<int>(n), static_cast<int>(u),
                       static_cast<int>(i1 - i0), 1.0f, x.data() + i0, static_cast<int>(in_),
                       W + i0 * u, static_cast<int>(u), 0.0f, part, static_cast<int>(u));
      });
      const float* p0 = part_y_.data();
      float* yv = y.data();
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < u; ++j) {
          float v = p0[r * u + j];
          for (int t = 1; t < P; ++t) v += p0[(t * n + r) * u + j];
          yv[r * u + j] = use_bias_ ? v + b[j] : v;
        }
      detail::activation_forward(a, kAlpha, yv, n, u);
      return;
    }
    if (way == detail::DenseForward::split_units) {
      // Columns [j0, j1) of every row; softmax needs whole rows, so it comes after.
      ctx.pool->parallel_for(u, [&](int64_t j0, int64_t j1, int) {
        for (int64_t r = 0; r < n; ++r) {
          float* yr = y.data() + r * u;
          kernels::vecmat(static_cast<int>(in_), static_cast<int>(j1 - j0), x.data() + r * in_,
                          W + j0, static_cast<int>(u), use_bias_ ? b + j0 : nullptr, yr + j0);
          if (a != Activation::softmax) detail::activation_forward(a, kAlpha, yr + j0, 1, j1 - j0);
        }
      });
      if (a == Activation::softmax) detail::activation_forward(a, kAlpha, y.data(), n, u);
      return;
    }
    ctx.pool->parallel_for(n, [&](int64_t r0, int64_t r1, int) {
      float* yr = y.data() + r0 * u;
      kernels::sgemm(false, false, static_cast<int>(r1 - r0), static_cast<int>(u),
                     static_cast<int>(in_), 1.0f, x.data() + r0 * in_, static_cast<int>(in_), W,
                     static_cast<int>(u), 0.0f, yr, static_cast<int>(u));
      if (use_bias_)
        for (int64_t r = 0; r < r1 - r0; ++r)
          for (int64_t j = 0; j < u; ++j) yr[r * u + j] += b[j];
      detail::activation_forward(a, kAlpha, yr, r1 - r0, u);
    });
  }

  // x (N, in), y, dy (N, units) -> dW (in, units), db (units), dx (N, in)
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context& ctx) override {
    detail::check_backward_grad(*this, y, dy);
    const int64_t n = x.dim(0), u = units_;
    const Activation a = effective();
    const float* dz = dy.data();
    if (a != Activation::linear) {
      dz_.resize({n, u});
      ctx.pool->parallel_for(n, [&](int64_t r0, int64_t r1, int) {
        detail::activation_backward_from_y(a, kAlpha, y.data() + r0 * u, dy.data() + r0 * u,
                                           dz_.data() + r0 * u, r1 - r0, u);
      });
      dz = dz_.data();
    }
    // dW[i0:i1, :] = x[:, i0:i1]ᵀ · dz (+ dW when accumulating). Parts of a batch
    // (ctx.more_parts) keep their rows of x and dz, and the last part takes dW
    // from all of them in one product: a rank-8 update per part reads and writes
    // all of dW (K's dense, 4.7 MB) sixteen times a step.
    if (!ctx.accumulate_grads) stash_rows_ = 0;  // a new sum (drops an abandoned batch's parts)
    const bool stash = ctx.more_parts || stash_rows_ > 0, take_dw = !ctx.more_parts;
    const int64_t rows = stash ? stash_rows_ + n : n;  // the rows dW is taken from
    if (stash) {
      if (stash_rows_ == 0) stash_adds_ = ctx.accumulate_grads;
      if (stash_x_.size() < rows * in_) stash_x_.resize({rows * in_});
      if (stash_dz_.size() < rows * u) stash_dz_.resize({rows * u});
      std::copy(dz, dz + n * u, stash_dz_.data() + stash_rows_ * u);
    }
    const float* gx = stash ? stash_x_.data() : x.data();
    const float* gz = stash ? stash_dz_.data() : dz;
    const float beta = (stash ? stash_adds_ : ctx.accumulate_grads) ? 1.0f : 0.0f;
    float* db = bias_.grad.data();
    if (!ctx.accumulate_grads) std::fill(db, db + u, 0.0f);
    if (use_bias_)
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < u; ++j) db[j] += dz[r * u + j];
    if (dx) dx->resize(x.shape());
    // One job split by input features [i0, i1): each participant copies its
    // columns of this part's x into the stash, takes its rows of dW, and its
    // columns of dx[:, i0:i1] = dz · W[i0:i1, :]ᵀ -- the same rows of W and
    // columns of x every time, which the split forward read too, so each core
    // keeps its share of W in its own cache (faster than a split by rows); the
    // stash is copied here rather than on the calling thread, so both cores copy.
    ctx.pool->parallel_for(in_, [&](int64_t i0, int64_t i1, int) {
      if (stash)
        for (int64_t r = 0; r < n; ++r)
          std::copy(x.data() + r * in_ + i0, x.data() + r * in_ + i1,
                    stash_x_.data() + (stash_rows_ + r) * in_ + i0);
      if (take_dw)
        kernels::sgemm(true, false, static_cast<int>(i1 - i0), static_cast<int>(u),
                       static_cast<int>(rows), 1.0f, gx + i0, static_cast<int>(in_), gz,
                       static_cast<int>(u), beta, kernel_.grad.data() + i0 * u,
                       static_cast<int>(u));
      if (dx)
        kernels::sgemm(false, true, static_cast<int>(n), static_cast<int>(i1 - i0),
                       static_cast<int>(u), 1.0f, dz, static_cast<int>(u),
                       kernel_.value.data() + i0 * u, static_cast<int>(u), 0.0f, dx->data() + i0,
                       static_cast<int>(in_));
    });
    stash_rows_ = take_dw ? 0 : rows;
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
    return {{"units", units_}, {"activation", activation_name(act_)}, {"use_bias", use_bias_}};
  }

  int64_t forward_macs() const override { return in_ * units_; }

  // dz = dy ⊙ act'(y) reads y unless the activation is linear (or logits output).
  bool backward_reads_output() const override { return effective() != Activation::linear; }

  bool has_softmax_output() const override { return act_ == Activation::softmax; }
  void set_logits_output(bool on) override { logits_ = on && act_ == Activation::softmax; }

 private:
  static constexpr float kAlpha = 0.3f;  // leaky_relu slope (Keras LeakyReLU default)
  int64_t units_;
  Activation act_;
  bool use_bias_;
  bool logits_ = false;
  int64_t in_ = 0;
  Param kernel_, bias_;
  Tensor dz_;      // dLoss/dz scratch, kept between calls
  Tensor part_y_;  // (participants, N, units): the forward's partial sums by input features
  // Parts of a batch awaiting dW: their rows of x and dz, and whether the first
  // of them accumulated (adds to dW) or overwrites it.
  Tensor stash_x_, stash_dz_;
  int64_t stash_rows_ = 0;
  bool stash_adds_ = false;
};

}  // namespace

LayerPtr Dense(int units, Activation activation, bool use_bias) {
  return std::make_unique<DenseLayer>(units, activation, use_bias);
}

namespace detail {
LayerPtr dense_from_config(const nlohmann::json& cfg) {
  const std::string t = "Dense";
  config_object(t, cfg);
  const int units = config_int(t, cfg, "units");
  if (units <= 0) throw Error(t + " config: field 'units' must be >= 1");
  return Dense(units, config_activation(t, cfg, Activation::linear),
               config_bool(t, cfg, "use_bias", true));
}
}  // namespace detail

}  // namespace digitnet
