// im2col + sgemm per sample: the plain algorithm for any geometry.
//   col = im2col(x) (K, P), K = C·k·k, P = OH·OW;  y = W·col + b
//   dW += dz·colᵀ;  dx = col2im(Wᵀ·dz)
#include <algorithm>

#include "core/conv/algorithm.hpp"
#include "core/kernels.hpp"
#include "digitnet/core/error.hpp"

namespace digitnet::conv {
namespace {

class Im2colConv final : public ConvAlgorithm {
 public:
  using ConvAlgorithm::ConvAlgorithm;
  ConvBackend backend() const override { return ConvBackend::im2col; }
  bool fuses_activation() const override { return p_.act == Act::linear; }

  void forward(ThreadPool& pool, int64_t n, const float* x, const float* w, const float* b,
               float* y, bool) override {
    const int64_t in = in_per(), out = out_per();
    auto part = [&](int t) {
      const auto [s0, s1] = ThreadPool::chunk(n, pool.size(), t);
      for (int64_t i = s0; i < s1; ++i) forward_one(pool, t, x + i * in, w, b, y + i * out);
    };
    if (n == 1) return part(0);  // one image: participant 0's share, without waking the others
    pool.run(part);
  }

  void backward(ThreadPool& pool, const float* w, const Part& a) override {
    for (int i = 0; i < a.m; ++i)
      one(pool, a.t, a.x + i * in_per(), a.dz + i * out_per(), a.dx ? a.dx + i * in_per() : nullptr,
          dw_sum(a.t), w);
  }

  void data_grad(ThreadPool& pool, int t, int m, const float* dz, const float* w,
                 float* dx) override {
    for (int i = 0; i < m; ++i)
      one(pool, t, nullptr, dz + i * out_per(), dx + i * in_per(), nullptr, w);
  }

  void batched_weight_grad(ThreadPool& pool, int t, int m, const float* x, const float* dzt) {
    const int K = p_.c * p_.k * p_.k, P = p_.oh * p_.ow, F = p_.f;
    const int64_t mp = int64_t{m} * P;
    float* colb =
        pool.scratch(t, static_cast<std::size_t>(K) * static_cast<std::size_t>(mp) +
                            static_cast<std::size_t>(K) * P + static_cast<std::size_t>(K) * F);
    float* col = colb + K * mp;
    float* dwt = col + int64_t{K} * P;  // dWᵀ (K, F) of this sub-batch
    for (int i = 0; i < m; ++i) {
      kernels::im2col(x + i * in_per(), p_.c, p_.h, p_.w, p_.k, p_.k, p_.stride, p_.pad_top,
                      p_.pad_left, p_.oh, p_.ow, col);
      for (int k = 0; k < K; ++k)
        std::copy(col + int64_t{k} * P, col + int64_t{k + 1} * P, colb + k * mp + i * P);
    }
    kernels::sgemm(false, true, K, F, static_cast<int>(mp), 1.0f, colb, static_cast<int>(mp), dzt,
                   static_cast<int>(mp), 0.0f, dwt, F);
    float* dw = dw_sum(t);
    for (int f = 0; f < F; ++f)
      for (int k = 0; k < K; ++k) dw[int64_t{f} * K + k] += dwt[int64_t{k} * F + f];
  }

 private:
  int64_t in_per() const { return int64_t{p_.c} * p_.h * p_.w; }
  int64_t out_per() const { return int64_t{p_.f} * p_.oh * p_.ow; }
  float* col(ThreadPool& pool, int t) {
    return pool.scratch(t, static_cast<std::size_t>(p_.c) * p_.k * p_.k * p_.oh * p_.ow);
  }

  void forward_one(ThreadPool& pool, int t, const float* xs, const float* w, const float* b,
                   float* ys) {
    const int K = p_.c * p_.k * p_.k, P = p_.oh * p_.ow;
    float* c = col(pool, t);
    kernels::im2col(xs, p_.c, p_.h, p_.w, p_.k, p_.k, p_.stride, p_.pad_top, p_.pad_left, p_.oh,
                    p_.ow, c);
    kernels::sgemm(false, false, p_.f, P, K, 1.0f, w, K, c, P, 0.0f, ys, P);
    if (b)
      for (int f = 0; f < p_.f; ++f) {
        float* row = ys + int64_t{f} * P;
        for (int i = 0; i < P; ++i) row[i] += b[f];
      }
  }

  // For one sample: dw += dz · colᵀ (unless dw is null), dxs = col2im(Wᵀ · dz) (unless null).
  void one(ThreadPool& pool, int t, const float* xs, const float* dz, float* dxs, float* dw,
           const float* w) {
    const int K = p_.c * p_.k * p_.k, P = p_.oh * p_.ow, F = p_.f;
    float* c = col(pool, t);
    if (dw) {
      kernels::im2col(xs, p_.c, p_.h, p_.w, p_.k, p_.k, p_.stride, p_.pad_top, p_.pad_left, p_.oh,
                      p_.ow, c);
      kernels::sgemm(false, true, F, K, P, 1.0f, dz, P, c, P, 1.0f, dw, K);
    }
    if (dxs) {
      kernels::sgemm(true, false, K, P, F, 1.0f, w, K, dz, P, 0.0f, c, P);
      std::fill(dxs, dxs + in_per(), 0.0f);
      kernels::col2im(c, p_.c, p_.h, p_.w, p_.k, p_.k, p_.stride, p_.pad_top, p_.pad_left, p_.oh,
                      p_.ow, dxs);
    }
  }
};

}  // namespace

std::unique_ptr<ConvAlgorithm> make_im2col_conv(const ConvParams& p) {
  return std::make_unique<Im2colConv>(p);
}

void im2col_batched_weight_grad(ConvAlgorithm& im2col, ThreadPool& pool, int t, int m,
                                const float* x, const float* dz_filter_major) {
  auto* algo = dynamic_cast<Im2colConv*>(&im2col);
  if (!algo) throw Error("conv: the batched weight gradient is im2col's");
  algo->batched_weight_grad(pool, t, m, x, dz_filter_major);
}

}  // namespace digitnet::conv
