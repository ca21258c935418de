// The own direct kernels (core/direct_conv.hpp), stride 1: forward image by
// image (relu and tanh applied in registers), the weight gradient over a
// sub-batch, and the input gradient image by image. They read the weights in a
// packed layout, remade only when the weights change.
#include <cstring>
#include <type_traits>

#include "core/conv/algorithm.hpp"
#include "core/direct_conv.hpp"
#include "digitnet/core/error.hpp"

namespace digitnet::conv {
namespace {

class DirectConvAlgo final : public ConvAlgorithm {
 public:
  using ConvAlgorithm::ConvAlgorithm;
  ConvBackend backend() const override { return ConvBackend::direct; }
  bool fuses_activation() const override { return p_.act != Act::other; }

  // A batch: each participant convolves its images one by one.
  void forward(ThreadPool& pool, int64_t n, const float* x, const float* w, const float* b,
               float* y, bool) override {
    const kernels::DirectConvShape g = p_.direct_shape();
    const float* packed = pack(w);
    if (n == 1) {
      image_scratch_.resize(kernels::direct_conv_scratch(g));
      return forward_image(x, w, b, y, image_scratch_.data());
    }
    pool.run([&](int t) {
      const auto [s0, s1] = ThreadPool::chunk(n, pool.size(), t);
      float* scratch = pool.scratch(t, kernels::direct_conv_scratch(g));
      for (int64_t i = s0; i < s1; ++i)
        kernels::direct_conv(g, x + i * in_per(), w, b, p_.direct_act(), y + i * out_per(), scratch,
                             packed);
    });
  }

  // One image, each participant computing its share of the filters.
  void forward_split(ThreadPool& pool, const float* x, const float* w, const float* b, float* y,
                     bool) override {
    const kernels::DirectConvShape g = p_.direct_shape();
    const int K = p_.c * p_.k * p_.k, P = p_.oh * p_.ow;
    pool.run([&](int t) {
      const auto [f0, f1] = ThreadPool::chunk(p_.f, pool.size(), t);
      kernels::DirectConvShape share = g;
      share.f = static_cast<int>(f1 - f0);
      kernels::direct_conv(share, x, w + f0 * K, b ? b + f0 : nullptr, p_.direct_act(), y + f0 * P,
                           pool.scratch(t, kernels::direct_conv_scratch(g)));
    });
  }

  // One image with the packed weights, which pack() made current before (any
  // participant may run this at once: it only reads them).
  void forward_image(const float* x, const float* w, const float* b, float* y,
                     float* scratch) const {
    kernels::direct_conv(p_.direct_shape(), x, w, b, p_.direct_act(), y, scratch, packed_.data());
  }

  void begin_backward(ThreadPool& pool, const float* w, bool with_dx, bool accumulate) override {
    ConvAlgorithm::begin_backward(pool, w, with_dx, accumulate);
    // The input gradient's vector body reads the packed weights.
    if (with_dx && kernels::direct_conv_dgrad_vectorised(p_.direct_shape())) (void)pack(w);
  }

  void backward(ThreadPool& pool, const float* w, const Part& a) override {
    const kernels::DirectConvShape g = p_.direct_shape();
    kernels::direct_conv_wgrad(g, a.m, a.x, a.dz, dw_sum(a.t),
                               pool.scratch(a.t, kernels::direct_conv_wgrad_scratch(g, a.m)));
    if (a.dx) data_grad(pool, a.t, a.m, a.dz, w, a.dx);
  }

  void data_grad(ThreadPool& pool, int t, int m, const float* dz, const float* w,
                 float* dx) override {
    const kernels::DirectConvShape g = p_.direct_shape();
    const float* packed = kernels::direct_conv_dgrad_vectorised(g) ? packed_.data() : nullptr;
    float* scratch = pool.scratch(t, kernels::direct_conv_dgrad_scratch(g));
    for (int i = 0; i < m; ++i)
      kernels::direct_conv_dgrad(g, dz + i * out_per(), w, packed, dx + i * in_per(), scratch);
  }

  // The weights in the kernels' packed layout, re-laid only when they changed.
  const float* pack(const float* w) {
    const kernels::DirectConvShape g = p_.direct_shape();
    packed_.resize(kernels::direct_conv_packed_size(g));
    const std::size_t n = static_cast<std::size_t>(p_.f) * p_.c * p_.k * p_.k;
    if (seen_.size() != n || std::memcmp(seen_.data(), w, n * sizeof(float)) != 0) {
      seen_.assign(w, w + n);
      kernels::direct_conv_pack(g, w, packed_.data());
    }
    return packed_.data();
  }

 private:
  int64_t in_per() const { return int64_t{p_.c} * p_.h * p_.w; }
  int64_t out_per() const { return int64_t{p_.f} * p_.oh * p_.ow; }

  std::vector<float, AlignedAllocator<float>> packed_;
  std::vector<float> seen_;           // the weights packed_ was made from
  std::vector<float> image_scratch_;  // one image's padded input, on the calling thread
};

}  // namespace

std::unique_ptr<ConvAlgorithm> make_direct_conv(const ConvParams& p) {
  return std::make_unique<DirectConvAlgo>(p);
}

std::size_t direct_image_scratch(const ConvParams& p) {
  return kernels::direct_conv_scratch(p.direct_shape());
}

namespace {
template <class A>
auto& as_direct(A& a) {
  using D = std::conditional_t<std::is_const_v<A>, const DirectConvAlgo, DirectConvAlgo>;
  auto* algo = dynamic_cast<D*>(&a);
  if (!algo) throw Error("conv: not the direct algorithm");
  return *algo;
}
}  // namespace

void direct_pack(ConvAlgorithm& direct, const float* w) { (void)as_direct(direct).pack(w); }

void direct_forward_image(const ConvAlgorithm& direct, const float* x, const float* w,
                          const float* b, float* y, float* scratch) {
  as_direct(direct).forward_image(x, w, b, y, scratch);
}

}  // namespace digitnet::conv
