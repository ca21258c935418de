// The own Winograd F(4x4, 3x3) (core/winograd.hpp): forward on each
// participant's share of the batch; backward gives dW in the transformed
// domain (dU) and dx as the adjoint of the forward in one pass over the tiles.
// dU stays with the participants until a batch's last part (micro-batches) and
// is mapped back once: dW = Gᵀ (Σ_t dU_t) G, as dU is linear.
#include <algorithm>
#include <cstring>

#include "core/conv/algorithm.hpp"
#include "core/kernels.hpp"
#include "core/winograd.hpp"
#include "digitnet/core/error.hpp"

namespace digitnet::conv {
namespace {

// Tiles per block when one image is split by filters: smaller transformed
// buffers, so more of the next layer's weights stay in L2 between calls.
constexpr int kSplitTileBlock = 16;

class WinogradConv final : public ConvAlgorithm {
 public:
  using ConvAlgorithm::ConvAlgorithm;
  ConvBackend backend() const override { return ConvBackend::winograd; }
  bool fuses_activation() const override { return p_.act == Act::relu || p_.act == Act::linear; }

  void forward(ThreadPool& pool, int64_t n, const float* x, const float* w, const float* b,
               float* y, bool) override {
    const int threads = pool.size();
    ensure(threads, (n + threads - 1) / threads);
    transform(w);
    // One sample leaves a part-filled group of tiles, which the kernel takes
    // faster with the transposed filters (kept for backward's dx too).
    if (n == 1) transpose();
    const float* ut = u_t_current_ ? u_t_.data() : nullptr;
    const kernels::Conv3x3Shape g = shape();
    pool.run([&](int t) {
      const auto [s0, s1] = ThreadPool::chunk(n, threads, t);
      if (s0 == s1) return;
      kernels::winograd_conv3x3(g, static_cast<int>(s1 - s0), x + s0 * in_per(), u_.data(), b,
                                relu(), y + s0 * out_per(), ws_[static_cast<std::size_t>(t)].data(),
                                kernels::kWinogradTileBlock, ut);
    });
  }

  void forward_split(ThreadPool& pool, const float* x, const float* w, const float* b, float* y,
                     bool) override {
    split(pool, x, w, b, y, false);
  }

  // Each participant transforms and applies its share of the filters (the
  // transforms kept while its weights stay the same), writing those planes,
  // or with `pooled` their 2x2/2 max pooling from its own scratch.
  void split(ThreadPool& pool, const float* x, const float* w, const float* b, float* y,
             bool pooled) {
    const int threads = pool.size(), P = p_.oh * p_.ow, C = p_.c;
    const int poh = p_.oh / 2, pow = p_.ow / 2;
    ensure(threads, 1);
    if (split_.size() < static_cast<std::size_t>(threads))
      split_.resize(static_cast<std::size_t>(threads));
    pool.run([&](int t) {
      const auto [f0, f1] = ThreadPool::chunk(p_.f, threads, t);
      if (f0 == f1) return;
      const int ft = static_cast<int>(f1 - f0);
      Share& sh = split_[static_cast<std::size_t>(t)];
      const float* wf = w + f0 * C * 9;
      const std::size_t nw = static_cast<std::size_t>(ft) * static_cast<std::size_t>(C * 9);
      if (sh.seen.size() != nw || std::memcmp(sh.seen.data(), wf, nw * sizeof(float)) != 0) {
        sh.seen.assign(wf, wf + nw);
        sh.u.resize(std::size_t{36} * static_cast<std::size_t>(ft) * static_cast<std::size_t>(C));
        sh.ut.resize(sh.u.size());
        kernels::winograd_filter_transform(wf, ft, C, false, sh.u.data());
        kernels::winograd_transpose_filters(sh.u.data(), ft, C, sh.ut.data());
      }
      kernels::Conv3x3Shape g = shape();
      g.F = ft;
      float* ys = pooled ? pool.scratch(t, static_cast<std::size_t>(ft) * P) : y + f0 * P;
      kernels::winograd_conv3x3(g, 1, x, sh.u.data(), b ? b + f0 : nullptr, relu(), ys,
                                ws_[static_cast<std::size_t>(t)].data(), kSplitTileBlock,
                                sh.ut.data());
      if (pooled)
        for (int f = 0; f < ft; ++f)
          kernels::max_pool_2x2_inference(ys + int64_t{f} * P, p_.ow, poh, pow,
                                          y + (f0 + f) * poh * pow);
    });
  }

  void begin_backward(ThreadPool& pool, const float* w, bool with_dx, bool accumulate) override {
    const std::size_t nt = static_cast<std::size_t>(pool.size());
    ensure(pool.size(), kSubBatch);
    transform(w);
    if (with_dx) transpose();
    // A part that does not accumulate starts a new sum of dU (and drops what an
    // abandoned batch's parts left).
    if (held_.size() < nt) held_.resize(nt, 0);
    if (!accumulate) std::fill(held_.begin(), held_.end(), 0);
    if (std::find(held_.begin(), held_.end(), 1) == held_.end()) adds_ = accumulate;
  }

  void backward(ThreadPool&, const float*, const Part& a) override {
    const std::size_t t = static_cast<std::size_t>(a.t);
    kernels::WinogradGradFold fold;
    fold.relu_y = a.relu_y;
    fold.db = a.db;
    kernels::winograd_backward(shape(), a.m, a.x, a.dz, u_t_.data(), du_[t].data(), held_[t] != 0,
                               a.dx, ws_[t].data(), kernels::kWinogradTileBlock, fold);
    held_[t] = 1;
  }

  void data_grad(ThreadPool&, int, int, const float*, const float*, float*) override {
    throw Error("conv: the Winograd input gradient runs with its weight gradient");
  }

  void end_backward(float* grad, bool, bool more_parts) override {
    if (more_parts) return;
    const int64_t nu = int64_t{36} * p_.f * p_.c, nw = int64_t{p_.f} * p_.c * 9;
    // Participants without samples left theirs unwritten.
    float* du = du_[0].data();
    bool any = false;
    for (std::size_t t = 0; t < held_.size(); ++t) {
      if (!held_[t]) continue;
      const float* pu = du_[t].data();
      if (!any) {
        if (t != 0) std::copy(pu, pu + nu, du);
      } else {
        for (int64_t i = 0; i < nu; ++i) du[i] += pu[i];
      }
      any = true;
    }
    if (!any) std::fill(du, du + nu, 0.0f);
    std::fill(held_.begin(), held_.end(), 0);
    if (!adds_) return kernels::winograd_filter_grad_finish(du, p_.f, p_.c, grad);
    spare_.resize(static_cast<std::size_t>(nw));
    kernels::winograd_filter_grad_finish(du, p_.f, p_.c, spare_.data());
    for (int64_t i = 0; i < nw; ++i) grad[i] += spare_[static_cast<std::size_t>(i)];
  }

  void forward_split_max_pool(ThreadPool& pool, const float* x, const float* w, const float* b,
                              float* y) {
    split(pool, x, w, b, y, true);
  }

 private:
  int64_t in_per() const { return int64_t{p_.c} * p_.h * p_.w; }
  int64_t out_per() const { return int64_t{p_.f} * p_.oh * p_.ow; }
  bool relu() const { return p_.act == Act::relu; }
  kernels::Conv3x3Shape shape() const {
    return {p_.c, p_.f, p_.h, p_.w, p_.oh, p_.ow, p_.pad_top, p_.pad_left};
  }

  // U (36, F, C) of w, remade only when the weights changed since the last
  // call (training changes them every step; repeated inference keeps U).
  void transform(const float* w) {
    const std::size_t n = static_cast<std::size_t>(p_.f) * p_.c * 9;
    if (seen_.size() == n && std::memcmp(seen_.data(), w, n * sizeof(float)) == 0) return;
    seen_.assign(w, w + n);
    kernels::winograd_filter_transform(w, p_.f, p_.c, false, u_.data());
    u_t_current_ = false;
  }
  // U transposed per position (36, C, F), once per transform.
  void transpose() {
    if (u_t_current_) return;
    kernels::winograd_transpose_filters(u_.data(), p_.f, p_.c, u_t_.data());
    u_t_current_ = true;
  }

  // U, Uᵀ, and per participant a workspace for up to nb samples and dU (36, F, C).
  void ensure(int threads, int64_t nb) {
    const std::size_t nt = static_cast<std::size_t>(threads);
    const std::size_t nu = std::size_t{36} * static_cast<std::size_t>(p_.f) * p_.c;
    if (u_.size() < nu) u_.resize(nu);
    if (u_t_.size() < nu) u_t_.resize(nu);
    const int m = static_cast<int>(std::max<int64_t>(nb, 1));
    const std::size_t ws = static_cast<std::size_t>(kernels::winograd_workspace_size(shape(), m));
    if (ws_.size() < nt) ws_.resize(nt);
    if (du_.size() < nt) du_.resize(nt);
    for (std::size_t t = 0; t < nt; ++t) {
      if (ws_[t].size() < ws) ws_[t].resize(ws);
      if (du_[t].size() < nu) du_[t].resize(nu);
    }
  }

  struct Share {  // one participant's filters of a split image
    std::vector<float> u, ut, seen;
  };
  std::vector<float> u_, u_t_, seen_;
  bool u_t_current_ = false;                 // u_t_ is the transpose of the current u_
  std::vector<std::vector<float>> ws_, du_;  // [participant] workspace, dU
  std::vector<Share> split_;                 // [participant]
  // [participant] whether du_ holds a sum of this batch's parts not yet in the
  // gradient; and whether that sum adds to the gradient (its first part
  // accumulated) or overwrites it.
  std::vector<char> held_;
  bool adds_ = false;
  std::vector<float> spare_;
};

}  // namespace

std::unique_ptr<ConvAlgorithm> make_winograd_conv(const ConvParams& p) {
  return std::make_unique<WinogradConv>(p);
}

void winograd_forward_split_max_pool(ConvAlgorithm& winograd, ThreadPool& pool, const float* x,
                                     const float* w, const float* b, float* y) {
  auto* algo = dynamic_cast<WinogradConv*>(&winograd);
  if (!algo) throw Error("conv: the split max pooling is Winograd's");
  algo->forward_split_max_pool(pool, x, w, b, y);
}

}  // namespace digitnet::conv
