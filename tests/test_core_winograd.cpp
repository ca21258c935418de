// Winograd F(4x4, 3x3) against the direct double-precision reference on odd
// shapes: C and F not multiples of 8, H and W not multiples of 4, 'valid' and
// 'same' padding, one sample and several, tile blocks that split samples, and the
// backward-data filter form.
//
// Tolerance: |winograd - ref| <= 1e-4 · max|ref| (+ 1e-6). F(4x4) in fp32 loses
// more than a direct sum (the transforms scale by up to ~10² before cancelling);
// the measured error on these shapes is ~1e-6 of the output scale.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/winograd.hpp"
#include "digitnet/core/rng.hpp"

using namespace digitnet;
using kernels::Conv3x3Shape;

namespace {

std::vector<float> random_vector(std::size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(-1.0f, 1.0f);
  return v;
}

std::string describe(const Conv3x3Shape& s, int nb, int tile_block) {
  return "C" + std::to_string(s.C) + " F" + std::to_string(s.F) + " " + std::to_string(s.H) + "x" +
         std::to_string(s.W) + " -> " + std::to_string(s.OH) + "x" + std::to_string(s.OW) +
         " pad " + std::to_string(s.pad_top) + "," + std::to_string(s.pad_left) + " nb " +
         std::to_string(nb) + " tile_block " + std::to_string(tile_block);
}

// Max |a - b| / max|b|.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(double(a[i]) - b[i]));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return err / std::max(scale, 1e-30);
}

constexpr double kTol = 1e-4;

// 'valid' (pad 0, out = in - 2) or 'same' (pad 1, out = in) geometry.
Conv3x3Shape geometry(int C, int F, int H, int W, bool same) {
  return same ? Conv3x3Shape{C, F, H, W, H, W, 1, 1} : Conv3x3Shape{C, F, H, W, H - 2, W - 2, 0, 0};
}

struct Case {
  int C, F, H, W;
  bool same;
  int nb, tile_block;
};

const std::vector<Case> kCases = {
    {1, 1, 3, 3, false, 1, 64},     {3, 5, 7, 9, false, 1, 64}, {3, 5, 7, 9, true, 2, 64},
    {7, 13, 11, 6, true, 3, 5},     {9, 6, 5, 14, false, 4, 7}, {17, 10, 26, 26, false, 2, 64},
    {32, 64, 26, 26, false, 2, 64}, {12, 9, 1, 1, true, 3, 2},  {5, 3, 4, 4, false, 1, 1},
    {8, 8, 13, 10, true, 2, 512},   {6, 11, 9, 5, true, 1, 3},  {64, 32, 28, 28, true, 1, 64}};

}  // namespace

TEST(Winograd, ForwardMatchesDirectReference) {
  Rng rng(31);
  for (const Case& k : kCases)
    for (bool with_bias : {false, true})
      for (bool relu : {false, true}) {
        const Conv3x3Shape s = geometry(k.C, k.F, k.H, k.W, k.same);
        const auto x = random_vector(std::size_t(k.nb) * s.C * s.H * s.W, rng);
        const auto w = random_vector(std::size_t(s.F) * s.C * 9, rng);
        const auto b = random_vector(std::size_t(s.F), rng);
        std::vector<float> U(std::size_t(36) * s.F * s.C);
        kernels::winograd_filter_transform(w.data(), s.F, s.C, false, U.data());
        std::vector<float> ws(std::size_t(kernels::winograd_workspace_size(s, k.nb, k.tile_block)),
                              std::nanf(""));
        const std::size_t ny = std::size_t(k.nb) * s.F * s.OH * s.OW;
        std::vector<float> fast(ny, std::nanf("")), ref(ny, std::nanf(""));
        const float* bias = with_bias ? b.data() : nullptr;
        kernels::winograd_conv3x3(s, k.nb, x.data(), U.data(), bias, relu, fast.data(), ws.data(),
                                  k.tile_block);
        kernels::conv3x3_ref(s, k.nb, x.data(), w.data(), bias, relu, ref.data());
        for (std::size_t i = 0; i < ny; ++i) {
          ASSERT_TRUE(std::isfinite(fast[i]))
              << "output " << i << " unwritten, " << describe(s, k.nb, k.tile_block);
        }
        EXPECT_LE(relative_error(fast, ref), kTol)
            << describe(s, k.nb, k.tile_block) << " bias " << with_bias << " relu " << relu;
        if (relu) {
          EXPECT_TRUE(std::all_of(fast.begin(), fast.end(), [](float v) { return v >= 0.0f; }));
        }
      }
}

// dx = conv(dy, w') with w'[c][f][i][j] = w[f][c][2-i][2-j] and padding 2 - pad:
// the backward-data transform equals the forward transform of that explicit w'.
TEST(Winograd, BackwardDataKernelFormMatchesReference) {
  Rng rng(32);
  for (const Case& k : kCases) {
    const Conv3x3Shape fwd = geometry(k.C, k.F, k.H, k.W, k.same);
    // The backward-data convolution: F -> C channels, OH x OW -> H x W.
    const Conv3x3Shape s{fwd.F, fwd.C, fwd.OH,          fwd.OW,
                         fwd.H, fwd.W, 2 - fwd.pad_top, 2 - fwd.pad_left};
    const auto w = random_vector(std::size_t(fwd.F) * fwd.C * 9, rng);
    std::vector<float> w_bd(w.size());
    for (int f = 0; f < fwd.F; ++f)
      for (int c = 0; c < fwd.C; ++c)
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j)
            w_bd[((std::size_t(c) * fwd.F + f) * 3 + i) * 3 + j] =
                w[((std::size_t(f) * fwd.C + c) * 3 + (2 - i)) * 3 + (2 - j)];
    std::vector<float> U(std::size_t(36) * fwd.F * fwd.C), U_explicit(U.size());
    kernels::winograd_filter_transform(w.data(), fwd.F, fwd.C, true, U.data());
    kernels::winograd_filter_transform(w_bd.data(), fwd.C, fwd.F, false, U_explicit.data());
    EXPECT_EQ(U, U_explicit) << describe(s, k.nb, k.tile_block);

    const auto dy = random_vector(std::size_t(k.nb) * s.C * s.H * s.W, rng);
    std::vector<float> ws(std::size_t(kernels::winograd_workspace_size(s, k.nb, k.tile_block)));
    const std::size_t nx = std::size_t(k.nb) * s.F * s.OH * s.OW;
    std::vector<float> fast(nx, std::nanf("")), ref(nx, std::nanf(""));
    kernels::winograd_conv3x3(s, k.nb, dy.data(), U.data(), nullptr, false, fast.data(), ws.data(),
                              k.tile_block);
    kernels::conv3x3_ref(s, k.nb, dy.data(), w_bd.data(), nullptr, false, ref.data());
    EXPECT_LE(relative_error(fast, ref), kTol) << describe(s, k.nb, k.tile_block);

    // And directly as the adjoint: <conv(x, w), dy> = <x, dx> for a random x.
    const auto x = random_vector(std::size_t(k.nb) * fwd.C * fwd.H * fwd.W, rng);
    std::vector<float> y(std::size_t(k.nb) * fwd.F * fwd.OH * fwd.OW);
    kernels::conv3x3_ref(fwd, k.nb, x.data(), w.data(), nullptr, false, y.data());
    double lhs = 0.0, rhs = 0.0, mag = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      lhs += double(y[i]) * dy[i];
      mag += std::abs(double(y[i]) * dy[i]);
    }
    for (std::size_t i = 0; i < x.size(); ++i) rhs += double(x[i]) * fast[i];
    EXPECT_NEAR(lhs, rhs, 1e-4 * mag + 1e-6) << describe(s, k.nb, k.tile_block);
  }
}

// The output of a sample does not depend on how the samples are blocked
// together beyond rounding: one call over nb samples agrees with nb calls of one.
TEST(Winograd, BlockingChangesOnlyRounding) {
  Rng rng(33);
  const Conv3x3Shape s = geometry(10, 12, 10, 11, true);
  const int nb = 3;
  const auto x = random_vector(std::size_t(nb) * s.C * s.H * s.W, rng);
  const auto w = random_vector(std::size_t(s.F) * s.C * 9, rng);
  std::vector<float> U(std::size_t(36) * s.F * s.C);
  kernels::winograd_filter_transform(w.data(), s.F, s.C, false, U.data());
  const std::size_t per = std::size_t(s.F) * s.OH * s.OW, per_x = std::size_t(s.C) * s.H * s.W;
  std::vector<float> all(nb * per), one(nb * per);
  std::vector<float> ws(std::size_t(kernels::winograd_workspace_size(s, nb, 20)));
  kernels::winograd_conv3x3(s, nb, x.data(), U.data(), nullptr, false, all.data(), ws.data(), 20);
  for (int n = 0; n < nb; ++n)
    kernels::winograd_conv3x3(s, 1, x.data() + n * per_x, U.data(), nullptr, false,
                              one.data() + n * per, ws.data(), 20);
  EXPECT_LE(relative_error(all, one), kTol);
  // Same call twice: bit-identical.
  std::vector<float> again(all.size());
  kernels::winograd_conv3x3(s, nb, x.data(), U.data(), nullptr, false, again.data(), ws.data(), 20);
  EXPECT_EQ(all, again);
}

// The filter gradient through the transformed domain equals the direct sum
// Σ dz ⋆ x; accumulate adds a second batch's gradient to the first.
TEST(Winograd, FilterGradientMatchesDirectReference) {
  Rng rng(34);
  for (const Case& k : kCases) {
    const Conv3x3Shape s = geometry(k.C, k.F, k.H, k.W, k.same);
    const std::size_t nx = std::size_t(k.nb) * s.C * s.H * s.W;
    const std::size_t nz = std::size_t(k.nb) * s.F * s.OH * s.OW;
    const auto x = random_vector(2 * nx, rng);
    const auto dz = random_vector(2 * nz, rng);
    std::vector<float> ws(std::size_t(kernels::winograd_workspace_size(s, k.nb, k.tile_block)),
                          std::nanf(""));
    std::vector<float> dU(std::size_t(36) * s.F * s.C, std::nanf(""));
    const std::size_t nw = std::size_t(s.F) * s.C * 9;
    std::vector<float> fast(nw, std::nanf("")), ref(nw, std::nanf(""));
    // One batch, overwriting dU's NaN sentinels.
    kernels::winograd_filter_grad(s, k.nb, x.data(), dz.data(), dU.data(), false, ws.data(),
                                  k.tile_block);
    kernels::winograd_filter_grad_finish(dU.data(), s.F, s.C, fast.data());
    kernels::conv3x3_filter_grad_ref(s, k.nb, x.data(), dz.data(), ref.data());
    for (std::size_t i = 0; i < nw; ++i)
      ASSERT_TRUE(std::isfinite(fast[i]))
          << "dw " << i << " unwritten, " << describe(s, k.nb, k.tile_block);
    EXPECT_LE(relative_error(fast, ref), kTol) << describe(s, k.nb, k.tile_block);
    // Two batches: the second accumulated into dU equals the reference over both.
    kernels::winograd_filter_grad(s, k.nb, x.data() + nx, dz.data() + nz, dU.data(), true,
                                  ws.data(), k.tile_block);
    kernels::winograd_filter_grad_finish(dU.data(), s.F, s.C, fast.data());
    kernels::conv3x3_filter_grad_ref(s, 2 * k.nb, x.data(), dz.data(), ref.data());
    EXPECT_LE(relative_error(fast, ref), kTol)
        << "accumulated, " << describe(s, k.nb, k.tile_block);
  }
}

// The fused backward: dU as winograd_filter_grad gives it, and dx (the adjoint
// of the forward, patches added where they lie in the image) equal to the direct
// transposed convolution, on every shape above (padding, clipped tiles, blocks).
TEST(Winograd, FusedBackwardMatchesReferences) {
  Rng rng(35);
  for (const Case& k : kCases) {
    const Conv3x3Shape s = geometry(k.C, k.F, k.H, k.W, k.same);
    const std::size_t nx = std::size_t(k.nb) * s.C * s.H * s.W;
    const std::size_t nz = std::size_t(k.nb) * s.F * s.OH * s.OW;
    const auto x = random_vector(nx, rng), dz = random_vector(nz, rng);
    const auto w = random_vector(std::size_t(s.F) * s.C * 9, rng);
    std::vector<float> U(std::size_t(36) * s.F * s.C), Ut(U.size());
    kernels::winograd_filter_transform(w.data(), s.F, s.C, false, U.data());
    kernels::winograd_transpose_filters(U.data(), s.F, s.C, Ut.data());
    std::vector<float> ws(std::size_t(kernels::winograd_workspace_size(s, k.nb, k.tile_block)),
                          std::nanf(""));
    std::vector<float> dU(U.size(), std::nanf("")), dU_alone(U.size());
    std::vector<float> dx(nx, std::nanf(""));
    kernels::winograd_backward(s, k.nb, x.data(), dz.data(), Ut.data(), dU.data(), false, dx.data(),
                               ws.data(), k.tile_block);
    kernels::winograd_filter_grad(s, k.nb, x.data(), dz.data(), dU_alone.data(), false, ws.data(),
                                  k.tile_block);
    EXPECT_EQ(dU, dU_alone) << describe(s, k.nb, k.tile_block);
    // Reference dx: the direct convolution of dz with the flipped, transposed filters.
    std::vector<float> w_bd(w.size());
    for (int f = 0; f < s.F; ++f)
      for (int c = 0; c < s.C; ++c)
        for (int i = 0; i < 9; ++i)
          w_bd[(std::size_t(c) * s.F + f) * 9 + i] = w[(std::size_t(f) * s.C + c) * 9 + (8 - i)];
    const Conv3x3Shape bs{s.F, s.C, s.OH, s.OW, s.H, s.W, 2 - s.pad_top, 2 - s.pad_left};
    std::vector<float> ref(nx);
    kernels::conv3x3_ref(bs, k.nb, dz.data(), w_bd.data(), nullptr, false, ref.data());
    for (std::size_t i = 0; i < nx; ++i)
      ASSERT_TRUE(std::isfinite(dx[i]))
          << "dx " << i << " unwritten, " << describe(s, k.nb, k.tile_block);
    EXPECT_LE(relative_error(dx, ref), kTol) << describe(s, k.nb, k.tile_block);
  }
}

// The fold: with relu_y, exactly the bits of the unfolded call on dz ⊙ [y > 0]
// (dU and dx); db gets the sum of what was read, added to what it held. Every
// shape above, plus whole tiles in blocks that are not a multiple of 4 tiles.
TEST(Winograd, FoldedReluAndBiasMatchTheUnfoldedCall) {
  Rng rng(36);
  std::vector<Case> cases = kCases;
  cases.push_back({4, 5, 10, 10, false, 3, 5});
  cases.push_back({3, 2, 14, 10, true, 2, 7});
  for (const Case& k : cases)
    for (bool relu : {true, false}) {
      const Conv3x3Shape s = geometry(k.C, k.F, k.H, k.W, k.same);
      SCOPED_TRACE(describe(s, k.nb, k.tile_block) + (relu ? " relu" : " linear"));
      const std::size_t nx = std::size_t(k.nb) * s.C * s.H * s.W;
      const std::size_t P = std::size_t(s.OH) * s.OW, nz = std::size_t(k.nb) * s.F * P;
      const auto x = random_vector(nx, rng), dy = random_vector(nz, rng);
      auto y = random_vector(nz, rng);
      for (std::size_t i = 0; i < nz; i += 7) y[i] = 0.0f;  // relu'(0) = 0
      std::vector<float> dz(dy);
      if (relu)
        for (std::size_t i = 0; i < nz; ++i) dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
      const auto w = random_vector(std::size_t(s.F) * s.C * 9, rng);
      std::vector<float> U(std::size_t(36) * s.F * s.C), Ut(U.size());
      kernels::winograd_filter_transform(w.data(), s.F, s.C, false, U.data());
      kernels::winograd_transpose_filters(U.data(), s.F, s.C, Ut.data());
      std::vector<float> ws(std::size_t(kernels::winograd_workspace_size(s, k.nb, k.tile_block)));
      std::vector<float> dU(U.size(), std::nanf("")), dU_plain(U.size());
      std::vector<float> dx(nx, std::nanf("")), dx_plain(nx);
      std::vector<float> db(std::size_t(s.F));
      for (int f = 0; f < s.F; ++f) db[std::size_t(f)] = 0.5f * float(f);  // added to
      kernels::WinogradGradFold fold;
      fold.relu_y = relu ? y.data() : nullptr;
      fold.db = db.data();
      kernels::winograd_backward(s, k.nb, x.data(), dy.data(), Ut.data(), dU.data(), false,
                                 dx.data(), ws.data(), k.tile_block, fold);
      kernels::winograd_backward(s, k.nb, x.data(), dz.data(), Ut.data(), dU_plain.data(), false,
                                 dx_plain.data(), ws.data(), k.tile_block);
      EXPECT_EQ(dU, dU_plain);
      EXPECT_EQ(dx, dx_plain);
      for (int f = 0; f < s.F; ++f) {
        double want = 0.5 * f, scale = 1.0;
        for (int n = 0; n < k.nb; ++n)
          for (std::size_t p = 0; p < P; ++p) {
            const float v = dz[(std::size_t(n) * s.F + f) * P + p];
            want += v;
            scale += std::abs(v);
          }
        EXPECT_NEAR(db[std::size_t(f)], want, 1e-6 * scale) << "db " << f;
      }
    }
}

// With the transposed filters, a block's last few tiles (<= 8 past a multiple of
// 16) run with channels and filters in the lanes: the same bits as without them
// (every value through the same operations in the same order), on shapes where
// that tail occurs (one 24x24 output: 36 tiles; 18 tiles; a lone tile; a batch
// whose last block leaves 4) and where it must not (C or F not a multiple of 16,
// patches crossing the padding). Each result also against the reference.
TEST(Winograd, TransposedTailGivesTheLanePathsBits) {
  Rng rng(37);
  const std::vector<Case> cases = {{32, 32, 26, 26, false, 1, 64}, {32, 64, 26, 26, false, 1, 64},
                                   {64, 32, 26, 26, false, 1, 64}, {16, 48, 14, 26, false, 1, 64},
                                   {16, 16, 6, 6, false, 1, 64},   {32, 32, 26, 26, false, 5, 64},
                                   {16, 32, 10, 30, false, 2, 20}, {16, 16, 26, 26, true, 1, 64},
                                   {12, 16, 26, 26, false, 1, 64}, {16, 20, 26, 26, false, 1, 64}};
  for (const Case& k : cases)
    for (bool with_bias : {false, true})
      for (bool relu : {false, true}) {
        const Conv3x3Shape s = geometry(k.C, k.F, k.H, k.W, k.same);
        SCOPED_TRACE(describe(s, k.nb, k.tile_block) + (with_bias ? " bias" : "") +
                     (relu ? " relu" : ""));
        const auto x = random_vector(std::size_t(k.nb) * s.C * s.H * s.W, rng);
        const auto w = random_vector(std::size_t(s.F) * s.C * 9, rng);
        const auto b = random_vector(std::size_t(s.F), rng);
        std::vector<float> U(std::size_t(36) * s.F * s.C), Ut(U.size());
        kernels::winograd_filter_transform(w.data(), s.F, s.C, false, U.data());
        kernels::winograd_transpose_filters(U.data(), s.F, s.C, Ut.data());
        std::vector<float> ws(std::size_t(kernels::winograd_workspace_size(s, k.nb, k.tile_block)),
                              std::nanf(""));
        const std::size_t ny = std::size_t(k.nb) * s.F * s.OH * s.OW;
        std::vector<float> lanes(ny, std::nanf("")), tail(ny, std::nanf("")), ref(ny);
        const float* bias = with_bias ? b.data() : nullptr;
        kernels::winograd_conv3x3(s, k.nb, x.data(), U.data(), bias, relu, lanes.data(), ws.data(),
                                  k.tile_block);
        kernels::winograd_conv3x3(s, k.nb, x.data(), U.data(), bias, relu, tail.data(), ws.data(),
                                  k.tile_block, Ut.data());
        kernels::conv3x3_ref(s, k.nb, x.data(), w.data(), bias, relu, ref.data());
        ASSERT_TRUE(
            std::all_of(tail.begin(), tail.end(), [](float v) { return std::isfinite(v); }));
        EXPECT_EQ(0, std::memcmp(lanes.data(), tail.data(), ny * sizeof(float)));
        EXPECT_LE(relative_error(tail, ref), kTol);
      }
}
