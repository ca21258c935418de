// oneDNN's convolutions (core/dnnl_conv.hpp): each pool participant drives its
// own single-threaded oneDNN objects on sub-batches of kSubBatch samples, kept
// per (samples, filters, mode); their blocked copies and scratchpad live in the
// pool's scratch for the participant, shared by every layer.
#include <algorithm>

#include "core/conv/algorithm.hpp"
#include "core/dnnl_conv.hpp"
#include "digitnet/core/error.hpp"

namespace digitnet::conv {
namespace {

class DnnlConvAlgo final : public ConvAlgorithm {
 public:
  DnnlConvAlgo(const ConvParams& p, bool winograd) : ConvAlgorithm(p), winograd_(winograd) {}
  ConvBackend backend() const override {
    return winograd_ ? ConvBackend::dnnl_winograd : ConvBackend::dnnl_direct;
  }
  // relu is a post-op of oneDNN's forward.
  bool fuses_activation() const override { return p_.act == Act::relu || p_.act == Act::linear; }

  void forward(ThreadPool& pool, int64_t n, const float* x, const float* w, const float* b,
               float* y, bool training) override {
    grow(pool.size());
    const int64_t in = in_per(), out = out_per();
    auto part = [&](int t) {
      const auto [s0, s1] = ThreadPool::chunk(n, pool.size(), t);
      for (int64_t s = s0; s < s1; s += kSubBatch) {
        const int m = static_cast<int>(std::min<int64_t>(kSubBatch, s1 - s));
        kernels::DnnlConv& conv = engine(t, m, training);
        conv.forward(x + s * in, w, b, y + s * out, pool.scratch(t, conv.workspace_floats()));
      }
    };
    if (n == 1) return part(0);  // one image: participant 0's share, without waking the others
    pool.run(part);
  }

  // Each participant convolves the image with its share of the filters.
  void forward_split(ThreadPool& pool, const float* x, const float* w, const float* b, float* y,
                     bool training) override {
    grow(pool.size());
    const int threads = pool.size(), P = p_.oh * p_.ow, K = p_.c * p_.k * p_.k;
    pool.run([&](int t) {
      const auto [f0, f1] = ThreadPool::chunk(p_.f, threads, t);
      if (f0 == f1) return;
      kernels::DnnlConv& conv = engine(t, 1, training, static_cast<int>(f1 - f0));
      conv.forward(x, w + f0 * K, b ? b + f0 : nullptr, y + f0 * P,
                   pool.scratch(t, conv.workspace_floats()));
    });
  }

  void begin_backward(ThreadPool& pool, const float* w, bool with_dx, bool accumulate) override {
    ConvAlgorithm::begin_backward(pool, w, with_dx, accumulate);
    grow(pool.size());
    const std::size_t n = static_cast<std::size_t>(p_.f) * p_.c * p_.k * p_.k;
    for (auto& d : dw_part_) d.resize(n);
  }

  // oneDNN overwrites the sub-batch's dW, which is then added to the participant's sum.
  void backward(ThreadPool& pool, const float* w, const Part& a) override {
    kernels::DnnlConv& conv = engine(a.t, a.m, true);
    float* dws = dw_part_[static_cast<std::size_t>(a.t)].data();
    conv.backward(a.x, a.dz, w, a.dx, dws, pool.scratch(a.t, conv.workspace_floats()));
    float* dw = dw_sum(a.t);
    const int64_t n = int64_t{p_.f} * p_.c * p_.k * p_.k;
    for (int64_t i = 0; i < n; ++i) dw[i] += dws[i];
  }

  // After begin_backward, which sized the per-participant objects.
  void data_grad(ThreadPool& pool, int t, int m, const float* dz, const float* w,
                 float* dx) override {
    kernels::DnnlConv& conv = engine(t, m, true);
    conv.backward(nullptr, dz, w, dx, nullptr, pool.scratch(t, conv.workspace_floats()));
  }

 private:
  int64_t in_per() const { return int64_t{p_.c} * p_.h * p_.w; }
  int64_t out_per() const { return int64_t{p_.f} * p_.oh * p_.ow; }
  void grow(int threads) {
    const std::size_t nt = static_cast<std::size_t>(threads);
    if (engines_.size() < nt) engines_.resize(nt);
    if (dw_part_.size() < nt) dw_part_.resize(nt);
  }

  // Participant t's oneDNN convolution for m samples and f filters (all by
  // default), created on first use and kept.
  kernels::DnnlConv& engine(int t, int m, bool training, int f = 0) {
    if (f == 0) f = p_.f;
    // Winograd is planned for training even for inference, so inference shares
    // the training objects: oneDNN's inference variant transforms the weights
    // in a reorder that costs more than a one-image convolution, and cannot be
    // kept because the weights may change between calls.
    const bool winograd = winograd_ && f >= 16;
    if (winograd) training = true;
    auto& cache = engines_[static_cast<std::size_t>(t)];
    for (const Engine& e : cache)
      if (e.n == m && e.f == f && e.training == training) return *e.conv;
    kernels::ConvGeometry g;
    g.n = m, g.c = p_.c, g.h = p_.h, g.w = p_.w, g.f = f, g.kh = p_.k, g.kw = p_.k;
    g.stride = p_.stride, g.pad_top = p_.pad_top, g.pad_left = p_.pad_left, g.oh = p_.oh,
    g.ow = p_.ow;
    const bool relu = p_.act == Act::relu;
    std::unique_ptr<kernels::DnnlConv> conv;
    if (winograd)
      conv = kernels::DnnlConv::create(g, kernels::ConvAlgo::winograd, true, p_.bias, relu);
    if (!conv)
      conv = kernels::DnnlConv::create(g, kernels::ConvAlgo::direct, training, p_.bias, relu);
    if (!conv) throw Error("conv: oneDNN has no kernel for this geometry");
    cache.push_back(Engine{m, f, training, std::move(conv)});
    return *cache.back().conv;
  }

  struct Engine {
    int n, f;
    bool training;
    std::unique_ptr<kernels::DnnlConv> conv;
  };
  bool winograd_;
  std::vector<std::vector<Engine>> engines_;  // [participant]
  std::vector<std::vector<float>> dw_part_;   // [participant] one sub-batch's dW
};

}  // namespace

std::unique_ptr<ConvAlgorithm> make_dnnl_conv(const ConvParams& p, bool winograd) {
  return std::make_unique<DnnlConvAlgo>(p, winograd);
}

}  // namespace digitnet::conv
