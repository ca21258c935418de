// winograd_ab — the Winograd kernels of two revisions in one process, taking
// turns call by call on the same data, so that the machine's drift (this VM's
// speed wanders by ±30 % over minutes) falls on both alike. Built and run by
// bench/ab/winograd_ab.sh, which compiles the old revision's winograd.cpp into
// namespace `before` with the library's flags; the library is "after".
//
//   winograd_ab C F H nb [tile_block]
// prints the 25th and 50th percentile of forward and backward (with the relu
// fold) of each, and whether y, dU and dx came out bit-identical.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/winograd.hpp"

using digitnet::kernels::Conv3x3Shape;
using digitnet::kernels::WinogradGradFold;
namespace before {
// Revisions since session 12 take the transposed filters as a last argument
// (the script defines DIGITNET_AB_BEFORE_UT for them); the A/B passes none.
#ifdef DIGITNET_AB_BEFORE_UT
void winograd_conv3x3(const Conv3x3Shape& s, int nb, const float* x, const float* U,
                      const float* bias, bool relu, float* y, float* workspace, int tile_block,
                      const float* Ut);
inline void winograd_conv3x3(const Conv3x3Shape& s, int nb, const float* x, const float* U,
                             const float* bias, bool relu, float* y, float* workspace,
                             int tile_block) {
  before::winograd_conv3x3(s, nb, x, U, bias, relu, y, workspace, tile_block, nullptr);
}
#else
void winograd_conv3x3(const Conv3x3Shape& s, int nb, const float* x, const float* U,
                      const float* bias, bool relu, float* y, float* workspace, int tile_block);
#endif
void winograd_backward(const Conv3x3Shape& s, int nb, const float* x, const float* dz,
                       const float* Ut, float* dU, bool accumulate, float* dx, float* workspace,
                       int tile_block, const WinogradGradFold& fold);
int64_t winograd_workspace_size(const Conv3x3Shape& s, int nb, int tile_block);
}  // namespace before

namespace {
using Clock = std::chrono::steady_clock;
double ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: winograd_ab C F H nb [tile_block]\n");
    return 2;
  }
  namespace k = digitnet::kernels;
  const int C = std::atoi(argv[1]), F = std::atoi(argv[2]), H = std::atoi(argv[3]),
            nb = std::atoi(argv[4]);
  const int tb = argc > 5 ? std::atoi(argv[5]) : k::kWinogradTileBlock;
  if (C < 1 || F < 1 || H < 3 || nb < 1 || tb < 1 || tb > k::kWinogradMaxTileBlock) {
    std::fprintf(stderr, "winograd_ab: bad shape\n");
    return 2;
  }
  const Conv3x3Shape s{C, F, H, H, H - 2, H - 2, 0, 0};  // 'valid', as K's and S's layers
  const std::size_t nx = std::size_t(nb) * C * H * H, ny = std::size_t(nb) * F * (H - 2) * (H - 2);
  std::vector<float> x(nx), w(std::size_t(F) * C * 9), U(std::size_t(36) * F * C), Ut(U.size());
  std::vector<float> dy(ny), y[2] = {std::vector<float>(ny), std::vector<float>(ny)},
                             dU[2] = {std::vector<float>(U.size()), std::vector<float>(U.size())},
                             dx[2] = {std::vector<float>(nx), std::vector<float>(nx)};
  for (std::size_t i = 0; i < nx; ++i) x[i] = float(i % 7) * 0.1f - 0.2f;
  for (std::size_t i = 0; i < ny; ++i) dy[i] = float(i % 5) * 0.1f - 0.2f;
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i % 11) * 0.01f - 0.05f;
  k::winograd_filter_transform(w.data(), F, C, false, U.data());
  k::winograd_transpose_filters(U.data(), F, C, Ut.data());
  std::vector<float> ws(std::size_t(
      std::max(k::winograd_workspace_size(s, nb, tb), before::winograd_workspace_size(s, nb, tb))));
  std::vector<double> fwd[2], bwd[2];
  for (int r = 0; r < 2000; ++r) {
    const int v = r % 2;  // 0: before, 1: after
    WinogradGradFold fold;
    fold.relu_y = y[v].data();
    const auto t0 = Clock::now();
    if (v)
      k::winograd_conv3x3(s, nb, x.data(), U.data(), nullptr, true, y[v].data(), ws.data(), tb);
    else
      before::winograd_conv3x3(s, nb, x.data(), U.data(), nullptr, true, y[v].data(), ws.data(),
                               tb);
    const auto t1 = Clock::now();
    if (v)
      k::winograd_backward(s, nb, x.data(), dy.data(), Ut.data(), dU[v].data(), false, dx[v].data(),
                           ws.data(), tb, fold);
    else
      before::winograd_backward(s, nb, x.data(), dy.data(), Ut.data(), dU[v].data(), false,
                                dx[v].data(), ws.data(), tb, fold);
    const auto t2 = Clock::now();
    if (r >= 20) {
      fwd[v].push_back(ms(t0, t1));
      bwd[v].push_back(ms(t1, t2));
    }
  }
  std::printf(
      "C%d F%d %dx%d nb %d tile_block %d: forward before %.3f after %.3f ms (p25; p50 %.3f / "
      "%.3f), backward before %.3f after %.3f (p25; p50 %.3f / %.3f); after/before p25: "
      "forward %.3f, backward %.3f; bit-identical y, dU, dx: %s\n",
      C, F, H, H, nb, tb, quantile(fwd[0], .25), quantile(fwd[1], .25), quantile(fwd[0], .5),
      quantile(fwd[1], .5), quantile(bwd[0], .25), quantile(bwd[1], .25), quantile(bwd[0], .5),
      quantile(bwd[1], .5), quantile(fwd[1], .25) / quantile(fwd[0], .25),
      quantile(bwd[1], .25) / quantile(bwd[0], .25),
      y[0] == y[1] && dU[0] == dU[1] && dx[0] == dx[1] ? "yes" : "no");
  return 0;
}
