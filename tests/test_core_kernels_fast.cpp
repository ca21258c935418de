// Fast kernels against their plain references on odd shapes (padding, strides,
// kernels wider than the padded input on one side, single rows and columns).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include "core/direct_conv.hpp"
#include "core/kernels.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"

using namespace digitnet;

namespace {

struct ConvShape {
  int C, H, W, K, stride, pad_top, pad_left;
};

int out_size(int in, int k, int stride, int pad_before, int pad_after) {
  return (in + pad_before + pad_after - k) / stride + 1;
}

std::vector<float> random_vector(std::size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.uniform()) * 2.0f - 1.0f;
  return v;
}

const std::vector<ConvShape> kShapes = {
    {1, 28, 28, 3, 1, 0, 0}, {3, 7, 5, 3, 1, 1, 1}, {2, 9, 11, 5, 2, 2, 2}, {1, 1, 1, 1, 1, 0, 0},
    {4, 6, 13, 3, 3, 0, 1},  {2, 5, 5, 5, 1, 2, 2}, {1, 4, 9, 4, 2, 1, 2},  {5, 3, 17, 2, 1, 0, 0},
    {1, 6, 6, 7, 1, 3, 3},   {2, 8, 3, 3, 2, 1, 0}};

}  // namespace

TEST(KernelsFast, Im2colEqualsReferenceBitForBit) {
  Rng rng(11);
  for (const ConvShape& s : kShapes) {
    const int OH = out_size(s.H, s.K, s.stride, s.pad_top, s.pad_top);
    const int OW = out_size(s.W, s.K, s.stride, s.pad_left, s.pad_left + 1);  // odd pad at right
    ASSERT_GT(OH, 0);
    ASSERT_GT(OW, 0);
    const auto x = random_vector(static_cast<std::size_t>(s.C) * s.H * s.W, rng);
    const std::size_t n = static_cast<std::size_t>(s.C) * s.K * s.K * OH * OW;
    std::vector<float> fast(n, std::nanf("")), ref(n, std::nanf(""));
    kernels::im2col(x.data(), s.C, s.H, s.W, s.K, s.K, s.stride, s.pad_top, s.pad_left, OH, OW,
                    fast.data());
    kernels::im2col_ref(x.data(), s.C, s.H, s.W, s.K, s.K, s.stride, s.pad_top, s.pad_left, OH, OW,
                        ref.data());
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(fast[i], ref[i]) << "element " << i << " of shape C" << s.C << " H" << s.H << " W"
                                 << s.W << " k" << s.K << " s" << s.stride;
  }
}

TEST(KernelsFast, Col2imEqualsReferenceBitForBit) {
  Rng rng(12);
  for (const ConvShape& s : kShapes) {
    const int OH = out_size(s.H, s.K, s.stride, s.pad_top, s.pad_top);
    const int OW = out_size(s.W, s.K, s.stride, s.pad_left, s.pad_left + 1);
    const auto col = random_vector(static_cast<std::size_t>(s.C) * s.K * s.K * OH * OW, rng);
    // Start from the same non-zero image: col2im adds into it.
    const auto base = random_vector(static_cast<std::size_t>(s.C) * s.H * s.W, rng);
    std::vector<float> fast = base, ref = base;
    kernels::col2im(col.data(), s.C, s.H, s.W, s.K, s.K, s.stride, s.pad_top, s.pad_left, OH, OW,
                    fast.data());
    kernels::col2im_ref(col.data(), s.C, s.H, s.W, s.K, s.K, s.stride, s.pad_top, s.pad_left, OH,
                        OW, ref.data());
    bool changed = false;
    for (std::size_t i = 0; i < fast.size(); ++i) {
      ASSERT_EQ(fast[i], ref[i]) << "element " << i << " of shape C" << s.C << " H" << s.H << " W"
                                 << s.W << " k" << s.K << " s" << s.stride;
      changed = changed || fast[i] != base[i];
    }
    EXPECT_TRUE(changed) << "col2im added nothing";
  }
}

TEST(KernelsFast, SumMatchesReferenceOnOddLengths) {
  Rng rng(13);
  for (int64_t n : {0, 1, 7, 8, 9, 15, 17, 576, 677, 4099}) {
    const auto v = random_vector(static_cast<std::size_t>(n), rng);
    const float ref = kernels::sum_ref(v.data(), n);
    float abs_sum = 0.0f;
    for (float x : v) abs_sum += std::fabs(x);
    EXPECT_NEAR(kernels::sum(v.data(), n), ref, 1e-6f * (abs_sum + 1.0f)) << "n = " << n;
  }
  const std::vector<float> ones(1001, 1.0f);
  EXPECT_EQ(kernels::sum(ones.data(), 1001), 1001.0f);  // exact for integers
}

// tanh's gradient and the plane sum, direct and through a 2x2 average pooling:
// against the double-precision reference on widths that fill one, two and a
// part-filled tile of 16 columns; every dz cell written (pre-filled with NaN);
// the pooled call gives the bits of unpooling first (dy / 4 per window cell)
// and calling it unpooled, the pooling layer's backward and the layer's.
TEST(KernelsFast, TanhGradSumMatchesReferenceAndThePoolingsBits) {
  Rng rng(17);
  for (auto [h, w] : {std::pair{2, 2}, {4, 10}, {10, 10}, {6, 16}, {28, 28}, {2, 34}}) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    const std::size_t cells = static_cast<std::size_t>(h * w);
    std::vector<float> y(cells), dy(cells), dyp(cells / 4);
    for (float& v : y) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    for (float& v : dy) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    for (float& v : dyp) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> fast(cells, nan), ref(cells, nan);
    for (bool pooled : {false, true}) {
      const float* g = pooled ? dyp.data() : dy.data();
      const float s = kernels::tanh_grad_sum(y.data(), g, pooled, h, w, fast.data());
      const float sr = kernels::tanh_grad_sum_ref(y.data(), g, pooled, h, w, ref.data());
      float abs_sum = 0.0f;
      for (std::size_t i = 0; i < cells; ++i) {
        ASSERT_NEAR(fast[i], ref[i], 1e-6f) << "cell " << i << (pooled ? " pooled" : "");
        abs_sum += std::fabs(ref[i]);
      }
      EXPECT_NEAR(s, sr, 1e-6f * (abs_sum + 1.0f)) << (pooled ? "pooled" : "");
    }
    // Through the pooling: the same bits as the unpooled call on dy / 4 per window cell.
    std::vector<float> up(cells), z_pooled(cells, nan), z_unpooled(cells, nan);
    for (int r = 0; r < h; ++r)
      for (int c = 0; c < w; ++c) up[r * w + c] = dyp[(r / 2) * (w / 2) + c / 2] / 4.0f;
    const float sp = kernels::tanh_grad_sum(y.data(), dyp.data(), true, h, w, z_pooled.data());
    const float su = kernels::tanh_grad_sum(y.data(), up.data(), false, h, w, z_unpooled.data());
    EXPECT_EQ(std::memcmp(z_pooled.data(), z_unpooled.data(), cells * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(&sp, &su, sizeof(float)), 0);
  }
}

TEST(KernelsFast, TanhMatchesReferenceWithinAFewUlp) {
  Rng rng(14);
  for (int64_t n : {1, 3, 4, 5, 64, 1001}) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = (static_cast<float>(rng.uniform()) * 2.0f - 1.0f) * 12.0f;
    v[0] = n > 1 ? 1e-6f : -0.0f;  // tiny and signed-zero inputs
    std::vector<float> fast = v, ref = v;
    kernels::tanh(fast.data(), n);
    kernels::tanh_ref(ref.data(), n);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const float tol = 8.0f * std::numeric_limits<float>::epsilon() * std::fabs(ref[i]);
      ASSERT_NEAR(fast[i], ref[i], tol) << "tanh(" << v[i] << "), n = " << n;
      ASSERT_LE(std::fabs(fast[i]), 1.0f);
    }
  }
  // Saturation and the exact points.
  std::vector<float> e = {0.0f, 20.0f, -20.0f, 100.0f, -100.0f};
  kernels::tanh(e.data(), static_cast<int64_t>(e.size()));
  EXPECT_EQ(e[0], 0.0f);
  EXPECT_EQ(e[1], 1.0f);
  EXPECT_EQ(e[2], -1.0f);
  EXPECT_EQ(e[3], 1.0f);
  EXPECT_EQ(e[4], -1.0f);
}

TEST(KernelsFast, TanhOverASweepOfEveryFloatUpToSaturation) {
  // Every 997th float in [0, 12] and its negative, against tanh in double: the
  // relative error stays within 4 ulp (of 2^-23; the AVX-512 rational function
  // measured 2.8 over every float, libmvec's are within 4), |tanh| <= 1, the
  // function is odd, and far in the tails the result is exactly +-1.
  std::vector<float> v;
  for (uint32_t bits = 0; bits <= 0x41400000u; bits += 997) {  // 0x41400000 = 12.0f
    float x;
    std::memcpy(&x, &bits, sizeof x);
    v.push_back(x);
    v.push_back(-x);
  }
  for (float x : {9.0111f, 9.5f, 20.0f, 1e38f, std::numeric_limits<float>::infinity()}) {  // tails
    v.push_back(x);
    v.push_back(-x);
  }
  std::vector<float> y = v;
  kernels::tanh(y.data(), static_cast<int64_t>(y.size()));
  double worst = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double ref = std::tanh(static_cast<double>(v[i]));
    ASSERT_LE(std::fabs(y[i]), 1.0f) << "tanh(" << v[i] << ")";
    if (i % 2 == 1) {
      ASSERT_EQ(y[i], -y[i - 1]) << "tanh(" << v[i] << ") is not odd";
    }
    if (std::fabs(v[i]) >= 20.0f) {
      ASSERT_EQ(y[i], v[i] > 0 ? 1.0f : -1.0f) << "tanh(" << v[i] << ")";
      continue;
    }
    if (v[i] == 0.0f) {
      ASSERT_EQ(y[i], 0.0f);
      continue;
    }
    worst = std::max(worst, std::fabs(y[i] - ref) / std::fabs(ref));
  }
  EXPECT_LE(worst, 4.0 * std::numeric_limits<float>::epsilon()) << "worst relative error";
  std::vector<float> odd = {std::numeric_limits<float>::quiet_NaN(), -0.0f};
  kernels::tanh(odd.data(), 2);
  EXPECT_TRUE(std::isnan(odd[0]));
  EXPECT_TRUE(odd[1] == 0.0f && std::signbit(odd[1]));
}

TEST(KernelsFast, VecmatMatchesReferenceOnOddShapes) {
  // Column counts giving every vector count 1..8 after the 128-column blocks, odd row
  // counts (the unpaired last row), a row stride wider than n, no bias; nothing
  // past y[n) is written (NaN sentinels).
  Rng r(23);
  for (const auto& [k, n, ldw] : std::vector<std::tuple<int, int, int>>{{400, 120, 120},
                                                                        {120, 84, 84},
                                                                        {84, 10, 10},
                                                                        {1, 1, 1},
                                                                        {2, 17, 20},
                                                                        {7, 64, 64},
                                                                        {9216, 128, 128},
                                                                        {33, 65, 70},
                                                                        {5, 200, 203},
                                                                        {3, 48, 48},
                                                                        {0, 5, 5},
                                                                        {6, 100, 100},
                                                                        {11, 256, 260}})
    for (bool bias : {true, false}) {
      SCOPED_TRACE("k " + std::to_string(k) + " n " + std::to_string(n) + " ldw " +
                   std::to_string(ldw) + " bias " + std::to_string(bias));
      std::vector<float> x = random_vector(static_cast<size_t>(k), r);
      const std::vector<float> W = random_vector(static_cast<size_t>(std::max(k, 1) * ldw), r),
                               b = random_vector(static_cast<size_t>(n), r);
      // For even k, zeros in x (rows vecmat skips), in runs and scattered, as
      // after ReLU + pooling; odd k keep every row.
      if (k % 2 == 0)
        for (size_t i = 0; i < x.size(); ++i)
          if (i % 7 < 3 || (i / 300) % 2 == 1) x[i] = 0.0f;
      std::vector<float> y(static_cast<size_t>(n) + 19, std::numeric_limits<float>::quiet_NaN()),
          ref(static_cast<size_t>(n));
      kernels::vecmat(k, n, x.data(), W.data(), ldw, bias ? b.data() : nullptr, y.data());
      kernels::vecmat_ref(k, n, x.data(), W.data(), ldw, bias ? b.data() : nullptr, ref.data());
      for (int j = 0; j < n; ++j) {
        double mag = 1.0;  // float rounding scales with Σ |x_i · W_ij|
        for (int i = 0; i < k; ++i)
          mag += std::fabs(
              double(x[static_cast<size_t>(i)]) *
              W[static_cast<size_t>(i) * static_cast<size_t>(ldw) + static_cast<size_t>(j)]);
        ASSERT_NEAR(y[static_cast<size_t>(j)], ref[static_cast<size_t>(j)], 1e-6 * mag)
            << "column " << j;
      }
      for (size_t i = static_cast<size_t>(n); i < y.size(); ++i)
        ASSERT_TRUE(std::isnan(y[i])) << "wrote past the end";
    }
}

TEST(KernelsFast, VecmatPropagatesANanInput) {
  const int k = 600, n = 70;
  std::vector<float> x(k, 0.0f), W(static_cast<size_t>(k) * n, 0.5f), y(n, 0.0f);
  x[3] = 1.0f;
  x[517] = std::numeric_limits<float>::quiet_NaN();
  kernels::vecmat(k, n, x.data(), W.data(), n, nullptr, y.data());
  for (int j = 0; j < n; ++j) ASSERT_TRUE(std::isnan(y[static_cast<size_t>(j)])) << "column " << j;
}

TEST(KernelsFast, DirectConvMatchesTheDefinitionOnOddShapes) {
  // Against the definition summed in double: padding on either side, widths
  // below, at and above one 16-column tile, filter counts that leave every
  // remainder 0..7 after the blocks of 8 (AVX-512) and 0..3 after the blocks of
  // 4 (AVX2), no bias, relu; the output must not be written past its end (NaN
  // sentinels). The filters-in-the-vector kernel (LeNet's conv2 and the last
  // rows) must agree as well.
  Rng r(21);
  using kernels::DirectConvShape;
  const std::vector<DirectConvShape> shapes = {
      {1, 28, 28, 6, 5, 5, 2, 2, 28, 28},   // LeNet conv1 ('same')
      {6, 14, 14, 16, 5, 5, 0, 0, 10, 10},  // LeNet conv2
      {1, 28, 28, 32, 3, 3, 0, 0, 26, 26},  // Keras CNN conv1
      {3, 7, 9, 5, 3, 2, 1, 0, 7, 8},       // rectangular kernel, top padding only
      {2, 5, 40, 3, 3, 3, 1, 1, 5, 40},     // wider than two tiles
      {4, 6, 6, 1, 1, 1, 0, 0, 6, 6},       // 1x1
      {2, 9, 17, 2, 4, 4, 1, 2, 8, 18},     // even kernel, asymmetric padding
      {2, 6, 19, 15, 3, 3, 1, 1, 6, 19},    // 8 + 7 filters
      {1, 5, 12, 12, 3, 3, 0, 0, 3, 10},    // 8 + 4
      {3, 4, 4, 11, 2, 2, 0, 0, 3, 3},      // 8 + 3
      {1, 7, 7, 9, 3, 3, 1, 1, 7, 7},       // 8 + 1
      {2, 5, 5, 3, 3, 3, 1, 1, 5, 5},       // 3 (one partial block)
      // Filters in the vector (AVX-512, >= 16 filters, >= 32 taps, few columns):
      {4, 9, 9, 20, 3, 3, 1, 1, 9, 9},     // 16 + 4 filters (a masked group), 'same'
      {3, 6, 15, 32, 4, 4, 2, 1, 5, 13},   // two groups, columns in blocks of 7 + 6
      {6, 5, 5, 16, 5, 5, 0, 0, 1, 1},     // one output column
      {2, 8, 29, 16, 4, 4, 1, 1, 7, 28}};  // 28 columns: blocks of 10 + 9 + 9 (if chosen)
  for (const DirectConvShape& s : shapes)
    for (bool relu : {false, true})
      for (bool bias : {true, false}) {
        SCOPED_TRACE("c" + std::to_string(s.c) + " h" + std::to_string(s.h) + " w" +
                     std::to_string(s.w) + " f" + std::to_string(s.f) + " k" +
                     std::to_string(s.kh) + "x" + std::to_string(s.kw) + " relu " +
                     std::to_string(relu) + " bias " + std::to_string(bias));
        std::vector<float> x(static_cast<size_t>(s.c * s.h * s.w)),
            w(static_cast<size_t>(s.f * s.c * s.kh * s.kw)), b(static_cast<size_t>(s.f));
        for (auto& v : x) v = r.uniform(-1, 1);
        for (auto& v : w) v = r.uniform(-1, 1);
        for (auto& v : b) v = r.uniform(-1, 1);
        const size_t out = static_cast<size_t>(s.f * s.oh * s.ow);
        std::vector<float> y(out + 17, std::numeric_limits<float>::quiet_NaN());
        std::vector<float> scratch(kernels::direct_conv_scratch(s), 7.0f);  // garbage in scratch
        const kernels::ConvAct act = relu ? kernels::ConvAct::relu : kernels::ConvAct::linear;
        kernels::direct_conv(s, x.data(), w.data(), bias ? b.data() : nullptr, act, y.data(),
                             scratch.data());
        for (int f = 0; f < s.f; ++f)
          for (int oh = 0; oh < s.oh; ++oh)
            for (int ow = 0; ow < s.ow; ++ow) {
              double acc = bias ? b[static_cast<size_t>(f)] : 0.0;
              for (int c = 0; c < s.c; ++c)
                for (int kh = 0; kh < s.kh; ++kh)
                  for (int kw = 0; kw < s.kw; ++kw) {
                    const int ih = oh + kh - s.pad_top, iw = ow + kw - s.pad_left;
                    if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                    acc += double(w[static_cast<size_t>(((f * s.c + c) * s.kh + kh) * s.kw + kw)]) *
                           x[static_cast<size_t>((c * s.h + ih) * s.w + iw)];
                  }
              if (relu && acc < 0) acc = 0;
              const float got = y[static_cast<size_t>((f * s.oh + oh) * s.ow + ow)];
              ASSERT_NEAR(got, acc, 1e-5) << "f " << f << " oh " << oh << " ow " << ow;
            }
        for (size_t i = out; i < y.size(); ++i)
          ASSERT_TRUE(std::isnan(y[i])) << "wrote past the end";
        // With the weights packed beforehand (as a layer keeps them): the same bits.
        std::vector<float, AlignedAllocator<float>> packed(kernels::direct_conv_packed_size(s));
        kernels::direct_conv_pack(s, w.data(), packed.data());
        std::vector<float> y2(out, std::numeric_limits<float>::quiet_NaN());
        std::fill(scratch.begin(), scratch.end(), 7.0f);  // garbage again
        kernels::direct_conv(s, x.data(), w.data(), bias ? b.data() : nullptr, act, y2.data(),
                             scratch.data(), packed.data());
        ASSERT_EQ(std::memcmp(y.data(), y2.data(), out * sizeof(float)), 0)
            << "packed weights changed the result";
        // tanh (in the kernels' epilogue where they can): kernels::tanh's bits
        // on the linear output, packed weights or not.
        if (relu) continue;
        std::vector<float> yt = y;
        kernels::tanh(yt.data(), static_cast<int64_t>(out));
        const float* const packings[] = {nullptr, packed.data()};
        for (const float* pk : packings) {
          std::vector<float> y3(out + 17, std::numeric_limits<float>::quiet_NaN());
          kernels::direct_conv(s, x.data(), w.data(), bias ? b.data() : nullptr,
                               kernels::ConvAct::tanh, y3.data(), scratch.data(), pk);
          ASSERT_EQ(std::memcmp(yt.data(), y3.data(), out * sizeof(float)), 0)
              << "tanh differs from kernels::tanh" << (pk ? " (packed)" : "");
          for (size_t i = out; i < y3.size(); ++i)
            ASSERT_TRUE(std::isnan(y3[i])) << "wrote past the end";
        }
      }
}

TEST(KernelsFast, DirectInputGradientMatchesTheDefinitionAndOverwrites) {
  // dx = Σ_f w ⋆ dz (the adjoint of the direct convolution) against the
  // definition in double: LeNet's conv2, 'same' and asymmetric padding, channel
  // counts around the blocks of 6, widths around the blocks of 4 pixels, 1 and
  // 16 filters (17: the plain loops on every CPU); dx starts as NaN (overwritten).
  Rng r(31);
  using kernels::DirectConvShape;
  const std::vector<DirectConvShape> cases = {
      {6, 14, 14, 16, 5, 5, 0, 0, 10, 10},  // LeNet conv2
      {3, 9, 13, 5, 3, 3, 1, 1, 9, 13},     // 'same', a 1-pixel tail
      {7, 6, 7, 1, 2, 4, 1, 2, 6, 6},       // 6 + 1 channels, one filter, asymmetric
      {13, 5, 3, 16, 3, 1, 0, 0, 3, 3},     // 6 + 6 + 1 channels, narrower than a block
      {2, 8, 10, 9, 1, 1, 0, 0, 8, 10},     // 1x1
      {4, 6, 9, 17, 3, 3, 1, 1, 6, 9}};     // 17 filters: plain loops
  int vectorised = 0;
  for (const auto& s : cases) {
    SCOPED_TRACE("c" + std::to_string(s.c) + " f" + std::to_string(s.f) + " k" +
                 std::to_string(s.kh) + "x" + std::to_string(s.kw) + " " + std::to_string(s.h) +
                 "x" + std::to_string(s.w));
    vectorised += kernels::direct_conv_dgrad_vectorised(s);
    std::vector<float> dz(static_cast<size_t>(s.f * s.oh * s.ow)),
        w(static_cast<size_t>(s.f * s.c * s.kh * s.kw)),
        dx(static_cast<size_t>(s.c * s.h * s.w), NAN);
    for (auto& v : dz) v = r.uniform(-1, 1);
    for (auto& v : w) v = r.uniform(-1, 1);
    std::vector<float, AlignedAllocator<float>> wt(kernels::direct_conv_packed_size(s));
    kernels::direct_conv_pack(s, w.data(), wt.data());
    std::vector<float> scratch(kernels::direct_conv_dgrad_scratch(s), 7.0f);
    kernels::direct_conv_dgrad(s, dz.data(), w.data(), wt.data(), dx.data(), scratch.data());
    for (int c = 0; c < s.c; ++c)
      for (int h = 0; h < s.h; ++h)
        for (int x = 0; x < s.w; ++x) {
          double acc = 0;
          for (int f = 0; f < s.f; ++f)
            for (int kh = 0; kh < s.kh; ++kh)
              for (int kw = 0; kw < s.kw; ++kw) {
                const int oh = h + s.pad_top - kh, ow = x + s.pad_left - kw;
                if (oh < 0 || oh >= s.oh || ow < 0 || ow >= s.ow) continue;
                acc += double(w[static_cast<size_t>(((f * s.c + c) * s.kh + kh) * s.kw + kw)]) *
                       dz[static_cast<size_t>((f * s.oh + oh) * s.ow + ow)];
              }
          ASSERT_NEAR(dx[static_cast<size_t>((c * s.h + h) * s.w + x)], acc, 1e-4)
              << "c " << c << " h " << h << " w " << x;
        }
  }
  EXPECT_EQ(vectorised, kernels::direct_conv_avx512() ? 5 : 0);
}

TEST(KernelsFast, DirectWeightGradientMatchesTheDefinitionAndAdds) {
  // dw += Σ_i dz ⋆ x against the definition in double, on LeNet's conv2 and odd
  // shapes: filter counts around the 16-lane groups, odd kernel heights (a lone
  // last row), kernel widths 1..8, padding on one side, several images; dw
  // starts from non-zero values (the kernel adds).
  Rng r(29);
  using kernels::DirectConvShape;
  const std::vector<std::pair<DirectConvShape, int>> cases = {
      {{6, 14, 14, 16, 5, 5, 0, 0, 10, 10}, 3},  // LeNet conv2, 3 images
      {{2, 7, 9, 17, 3, 3, 1, 1, 7, 9}, 2},      // 16 + 1 filters, 'same'
      {{3, 6, 11, 5, 3, 1, 0, 0, 4, 11}, 1},     // width-1 kernel, 5 filters
      {{1, 9, 12, 33, 2, 8, 1, 0, 9, 5}, 2},     // width 8, 2 + 16 + 16 + 1 filters
      {{4, 5, 5, 16, 4, 4, 2, 1, 6, 5}, 1},      // even kernel, asymmetric padding
      {{2, 3, 20, 20, 3, 7, 1, 3, 3, 20}, 2},    // width 7
      {{2, 6, 12, 17, 2, 9, 0, 1, 5, 5}, 2},     // width 9: the plain loops on every CPU
      // Few filters, wide rows: the columns body on AVX-512 (16 columns a vector,
      // masked past the last column; filter groups of 8, 4, 3 or 2 by kernel width).
      {{1, 28, 28, 6, 5, 5, 2, 2, 28, 28}, 3},   // LeNet conv1: 'same', 2 groups of 3
      {{2, 9, 21, 7, 3, 3, 1, 1, 9, 21}, 2},     // 7 filters in groups of 4, a 5-column tail
      {{3, 8, 40, 1, 2, 8, 0, 3, 7, 36}, 1},     // one filter, width 8, three tiles
      {{1, 11, 17, 9, 4, 4, 1, 1, 10, 16}, 2}};  // width 4: groups of 4, 4, 1; one whole tile
  int by_columns = 0;
  for (const auto& [s, m] : cases) {
    by_columns += kernels::direct_conv_wgrad_by_columns(s);
    SCOPED_TRACE("c" + std::to_string(s.c) + " f" + std::to_string(s.f) + " k" +
                 std::to_string(s.kh) + "x" + std::to_string(s.kw) + " m" + std::to_string(m));
    std::vector<float> x(static_cast<size_t>(m * s.c * s.h * s.w)),
        dz(static_cast<size_t>(m * s.f * s.oh * s.ow)),
        dw(static_cast<size_t>(s.f * s.c * s.kh * s.kw));
    for (auto& v : x) v = r.uniform(-1, 1);
    for (auto& v : dz) v = r.uniform(-1, 1);
    for (auto& v : dw) v = r.uniform(-1, 1);
    const std::vector<float> before = dw;
    std::vector<float> scratch(kernels::direct_conv_wgrad_scratch(s, m), 7.0f);
    kernels::direct_conv_wgrad(s, m, x.data(), dz.data(), dw.data(), scratch.data());
    for (int f = 0; f < s.f; ++f)
      for (int c = 0; c < s.c; ++c)
        for (int kh = 0; kh < s.kh; ++kh)
          for (int kw = 0; kw < s.kw; ++kw) {
            double acc = 0;
            for (int i = 0; i < m; ++i)
              for (int oh = 0; oh < s.oh; ++oh)
                for (int ow = 0; ow < s.ow; ++ow) {
                  const int ih = oh + kh - s.pad_top, iw = ow + kw - s.pad_left;
                  if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                  acc += double(dz[static_cast<size_t>(((i * s.f + f) * s.oh + oh) * s.ow + ow)]) *
                         x[static_cast<size_t>(((i * s.c + c) * s.h + ih) * s.w + iw)];
                }
            const size_t k = static_cast<size_t>(((f * s.c + c) * s.kh + kh) * s.kw + kw);
            ASSERT_NEAR(dw[k], before[k] + acc, 1e-4)
                << "f " << f << " c " << c << " kh " << kh << " kw " << kw;
          }
  }
  // Both vector bodies ran where the CPU has them.
  if (kernels::direct_conv_avx512()) {
    EXPECT_EQ(by_columns, 5);
  } else {
    EXPECT_EQ(by_columns, 0);
  }
}
