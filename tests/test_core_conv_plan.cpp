// The convolution plan's decision table (select_conv_plan), and every algorithm
// family against a plain double-precision convolution, called directly.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/conv/algorithm.hpp"
#include "core/conv/plan.hpp"
#include "digitnet/core/error.hpp"

using namespace digitnet;
using conv::Act;
using conv::ConvBackend;
using conv::ConvParams;
using conv::ConvPlan;
using conv::ConvSupport;

namespace {

// A layer's geometry with TensorFlow's padding.
ConvParams geometry(int c, int hw, int f, int k, int stride, bool same, Act act = Act::relu,
                    bool bias = true) {
  ConvParams p;
  p.c = c, p.h = p.w = hw, p.f = f, p.k = k, p.stride = stride, p.act = act, p.bias = bias;
  if (same) {
    p.oh = p.ow = (hw + stride - 1) / stride;
    const int pad = std::max((p.oh - 1) * stride + k - hw, 0);
    p.pad_top = p.pad_left = pad / 2;
  } else {
    p.oh = p.ow = (hw - k) / stride + 1;
  }
  return p;
}

ConvSupport cpu(bool avx512) {
  ConvSupport s;
  s.avx512 = s.pool_avx512 = avx512;
  return s;
}

constexpr ConvBackend W = ConvBackend::winograd, D = ConvBackend::direct,
                      N = ConvBackend::dnnl_direct, NW = ConvBackend::dnnl_winograd,
                      I = ConvBackend::im2col;

struct Row {
  const char* what;
  ConvParams p;
  int threads;
  ConvSupport s;
  std::optional<ConvBackend> forced;
  // expected
  ConvBackend batch_forward, image_forward;
  bool split_image;
  ConvBackend weight_grad, data_grad;
  bool batched_weight_grad, fold;
};

}  // namespace

TEST(ConvPlan, DecisionTable) {
  const ConvParams keras1 = geometry(1, 28, 32, 3, 1, false);   // Keras CNN conv1
  const ConvParams keras2 = geometry(32, 26, 64, 3, 1, false);  // Keras CNN conv2 (13.5 M MAC)
  const ConvParams lenet1 = geometry(1, 28, 6, 5, 1, true, Act::tanh);
  const ConvParams lenet2 = geometry(6, 14, 16, 5, 1, false, Act::tanh);
  const ConvParams same5 = geometry(32, 14, 64, 5, 1, true);  // 5x5 'same', 32 -> 64
  const ConvParams s2 = geometry(16, 28, 32, 3, 2, true);     // stride 2
  const ConvParams point = geometry(32, 7, 64, 1, 1, false);  // 1x1
  const ConvParams wide9 = geometry(8, 28, 8, 9, 1, true);    // kernel wider than 8
  const ConvParams small3 = geometry(4, 14, 8, 3, 1, true);   // 3x3 below Winograd's channels
  const ConvParams sig = geometry(32, 14, 32, 3, 1, true, Act::other);
  const std::vector<Row> rows = {
      // what, params, threads, cpu, forced: batch fwd, image fwd, split, dW, dx, batched dW, fold
      {"3x3 >= 16 channels: own Winograd, split by filters for one large image", keras2, 2,
       cpu(true), std::nullopt, W, W, true, W, W, false, true},
      {"... one thread: no split", keras2, 1, cpu(true), std::nullopt, W, W, false, W, W, false,
       true},
      {"... on AVX2 as well", keras2, 2, cpu(false), std::nullopt, W, W, true, W, W, false, true},
      {"Winograd with another activation: relu' not folded", sig, 2, cpu(true), std::nullopt, W, W,
       true, W, W, false, false},
      {"first layer, one channel, 32 filters: direct batches, batched dW", keras1, 2, cpu(true),
       std::nullopt, D, D, true, I, I, true, false},
      {"... without AVX-512: oneDNN batches", keras1, 2, cpu(false), std::nullopt, N, D, true, I, I,
       true, false},
      {"... one thread: the image is not split", keras1, 1, cpu(true), std::nullopt, D, D, false, I,
       I, true, false},
      {"LeNet conv1 (6 filters, wide rows): direct dW by columns", lenet1, 2, cpu(true),
       std::nullopt, D, D, false, D, D, false, false},
      {"... without AVX-512: im2col backward", lenet1, 2, cpu(false), std::nullopt, N, D, false, I,
       I, false, false},
      {"LeNet conv2 (6 -> 16, 5x5): direct throughout", lenet2, 2, cpu(true), std::nullopt, D, D,
       false, D, D, false, false},
      {"5x5 'same' 32 -> 64: oneDNN forward, direct dW, oneDNN dx", same5, 2, cpu(true),
       std::nullopt, N, N, true, D, N, false, false},
      {"... without AVX-512: oneDNN throughout", same5, 2, cpu(false), std::nullopt, N, N, true, N,
       N, false, false},
      {"stride 2: oneDNN throughout", s2, 2, cpu(true), std::nullopt, N, N, false, N, N, false,
       false},
      {"1x1: direct dW on oneDNN's forward", point, 2, cpu(true), std::nullopt, N, D, false, D, N,
       false, false},
      {"9x9, too many weights for direct: oneDNN throughout", wide9, 2, cpu(true), std::nullopt, N,
       N, true, N, N, false, false},
      {"3x3 with few channels: small enough for direct", small3, 2, cpu(true), std::nullopt, D, D,
       false, D, D, false, false},
      {"forced im2col", keras2, 2, cpu(true), I, I, I, false, I, I, false, false},
      {"forced oneDNN direct: no own kernels", lenet2, 2, cpu(true), N, N, N, false, N, N, false,
       false},
      {"forced Winograd on a 3x3 layer with few channels", small3, 2, cpu(true), W, W, W, false, W,
       W, false, true},
      {"forced Winograd where it cannot run (5x5): oneDNN", same5, 2, cpu(true), W, N, N, true, N,
       N, false, false},
      {"forced oneDNN Winograd, unsupported: own Winograd", keras2, 2, cpu(true), NW, W, W, true, W,
       W, false, true},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    const ConvPlan plan = conv::select_conv_plan(r.p, r.threads, r.s, r.forced);
    EXPECT_EQ(conv::backend_name(plan.batch_forward),
              std::string(conv::backend_name(r.batch_forward)));
    EXPECT_EQ(conv::backend_name(plan.image_forward),
              std::string(conv::backend_name(r.image_forward)));
    EXPECT_EQ(plan.split_image, r.split_image);
    EXPECT_EQ(conv::backend_name(plan.weight_grad), std::string(conv::backend_name(r.weight_grad)));
    EXPECT_EQ(conv::backend_name(plan.data_grad), std::string(conv::backend_name(r.data_grad)));
    EXPECT_EQ(plan.batched_weight_grad_without_dx, r.batched_weight_grad);
    EXPECT_EQ(plan.fold_activation_grad, r.fold);
    EXPECT_EQ(plan.forced, r.forced.has_value());
  }
}

TEST(ConvPlan, SupportedOneDnnWinogradIsUsedWhenForced) {
  ConvSupport s = cpu(true);
  s.dnnl_winograd = true;
  const ConvPlan plan = conv::select_conv_plan(geometry(32, 26, 64, 3, 1, false), 2, s, NW);
  EXPECT_EQ(plan.family, NW);
  EXPECT_EQ(plan.batch_forward, NW);
  EXPECT_EQ(plan.weight_grad, NW);
}

TEST(ConvPlan, OneImageOnTheDirectKernelSplitsOnlyWithSixteenFiltersPerParticipant) {
  // 64 filters of 0.2 M MAC on 2 threads: split; on 5 threads (12 filters each): not.
  const ConvParams p = geometry(1, 28, 64, 3, 1, true);
  ASSERT_GE(p.macs(), conv::kSplitImageDirectMacs);
  ASSERT_LT(p.macs(), conv::kSplitImageMacs);
  EXPECT_TRUE(conv::select_conv_plan(p, 2, cpu(true)).split_image);
  EXPECT_FALSE(conv::select_conv_plan(p, 5, cpu(true)).split_image);
  EXPECT_FALSE(conv::select_conv_plan(p, 1, cpu(true)).split_image);
}

TEST(ConvPlan, BackendNamesRoundTrip) {
  for (ConvBackend b : {W, D, N, NW, I}) EXPECT_EQ(conv::parse_backend(conv::backend_name(b)), b);
  EXPECT_FALSE(conv::parse_backend("winograd4x4").has_value());
  EXPECT_FALSE(conv::parse_backend("").has_value());
}

// ---- every family against the plain convolution ----

namespace {

struct Ref {
  std::vector<double> y, dw, dx;
};

// Plain convolution in double: y = act(W ⋆ x + b) (relu or none), dW = Σ dz ⋆ x, dx = Wᵀ ⋆ dz.
Ref reference(const ConvParams& p, int n, const std::vector<float>& x, const std::vector<float>& w,
              const std::vector<float>& b, const std::vector<float>& dz) {
  Ref r;
  const int64_t in = int64_t{p.c} * p.h * p.w, out = int64_t{p.f} * p.oh * p.ow;
  r.y.assign(static_cast<std::size_t>(n * out), 0.0);
  r.dw.assign(w.size(), 0.0);
  r.dx.assign(static_cast<std::size_t>(n * in), 0.0);
  for (int s = 0; s < n; ++s)
    for (int f = 0; f < p.f; ++f)
      for (int oy = 0; oy < p.oh; ++oy)
        for (int ox = 0; ox < p.ow; ++ox) {
          const std::size_t yi = static_cast<std::size_t>(s * out + (f * p.oh + oy) * p.ow + ox);
          double acc = p.bias ? b[static_cast<std::size_t>(f)] : 0.0;
          for (int c = 0; c < p.c; ++c)
            for (int i = 0; i < p.k; ++i)
              for (int j = 0; j < p.k; ++j) {
                const int iy = oy * p.stride + i - p.pad_top, ix = ox * p.stride + j - p.pad_left;
                if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                const std::size_t xi = static_cast<std::size_t>(s * in + (c * p.h + iy) * p.w + ix);
                const std::size_t wi =
                    static_cast<std::size_t>(((f * p.c + c) * p.k + i) * p.k + j);
                acc += double{w[wi]} * x[xi];
                r.dw[wi] += double{dz[yi]} * x[xi];
                r.dx[xi] += double{w[wi]} * dz[yi];
              }
          r.y[yi] = p.act == Act::relu ? std::max(acc, 0.0) : acc;
        }
  return r;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol,
                  const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1e-6;
  for (double v : want) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * scale) << what << " element " << i;
}

void check_family(ConvBackend b, const ConvParams& p, int n, int threads) {
  SCOPED_TRACE(std::string(conv::backend_name(b)) + " c" + std::to_string(p.c) + " f" +
               std::to_string(p.f) + " k" + std::to_string(p.k) + " s" + std::to_string(p.stride) +
               " n" + std::to_string(n) + " t" + std::to_string(threads));
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto fill = [&](std::size_t size) {
    std::vector<float> v(size);
    for (float& e : v) e = u(gen);
    return v;
  };
  const std::size_t in = static_cast<std::size_t>(p.c) * p.h * p.w;
  const std::size_t out = static_cast<std::size_t>(p.f) * p.oh * p.ow;
  const auto x = fill(in * n), w = fill(static_cast<std::size_t>(p.f) * p.c * p.k * p.k),
             bias = fill(static_cast<std::size_t>(p.f)), dz = fill(out * n);
  const Ref ref = reference(p, n, x, w, bias, dz);

  ThreadPool pool(threads);
  auto algo = conv::make_conv_algorithm(b, p);
  ASSERT_EQ(algo->backend(), b);
  std::vector<float> y(out * n, NAN);
  algo->forward(pool, n, x.data(), w.data(), p.bias ? bias.data() : nullptr, y.data(), true);
  if (!algo->fuses_activation() && p.act == Act::relu)
    for (float& v : y) v = std::max(v, 0.0f);
  expect_close(y, ref.y, 1e-4, "y");

  // Backward in the layer's way: each participant's share in sub-batches; dx
  // into `dx` when given, the weight gradient written (or added) into dw.
  std::vector<float> dx(in * n, NAN), dw(w.size(), NAN);
  auto backward = [&](float* dx_out, bool add) {
    algo->begin_backward(pool, w.data(), dx_out != nullptr, add);
    pool.run([&](int t) {
      const auto [s0, s1] = ThreadPool::chunk(n, threads, t);
      for (int64_t s = s0; s < s1; s += conv::kSubBatch) {
        conv::ConvAlgorithm::Part part;
        part.t = t, part.m = static_cast<int>(std::min<int64_t>(conv::kSubBatch, s1 - s));
        part.x = x.data() + s * static_cast<int64_t>(in);
        part.dz = dz.data() + s * static_cast<int64_t>(out);
        part.dx = dx_out ? dx_out + s * static_cast<int64_t>(in) : nullptr;
        algo->backward(pool, w.data(), part);
      }
    });
    algo->end_backward(dw.data(), add, false);
  };
  backward(dx.data(), false);
  expect_close(dw, ref.dw, 1e-4, "dW");
  expect_close(dx, ref.dx, 1e-4, "dx");

  // A second pass that adds: the weight gradient doubles.
  backward(nullptr, true);
  std::vector<double> twice = ref.dw;
  for (double& v : twice) v *= 2;
  expect_close(dw, twice, 1e-4, "dW accumulated");

  // The input gradient alone, where the family offers it separately.
  if (b != ConvBackend::winograd) {
    std::vector<float> dx2(in * n, NAN);
    algo->begin_backward(pool, w.data(), true, false);
    for (int s = 0; s < n; ++s)
      algo->data_grad(pool, 0, 1, dz.data() + s * out, w.data(), dx2.data() + s * in);
    expect_close(dx2, ref.dx, 1e-4, "dx alone");
  }
}

}  // namespace

TEST(ConvAlgorithms, EveryFamilyMatchesThePlainConvolution) {
  const std::vector<ConvParams> shapes = {
      geometry(16, 10, 16, 3, 1, true),                  // Winograd's shape
      geometry(3, 9, 5, 3, 1, false, Act::linear),       // 3x3 with few channels, odd sizes
      geometry(2, 11, 6, 5, 1, true, Act::relu, false),  // 5x5 'same', no bias
      geometry(4, 9, 7, 3, 2, true),                     // stride 2
      geometry(5, 6, 3, 1, 1, false),                    // 1x1
  };
  for (const ConvParams& p : shapes)
    for (ConvBackend b : {W, D, N, I}) {
      if (b == W && (p.k != 3 || p.stride != 1)) continue;
      if (b == D && p.stride != 1) continue;
      for (int threads : {1, 2})
        for (int n : {1, 3, 11}) check_family(b, p, n, threads);
    }
}

TEST(ConvAlgorithms, FamiliesRefuseGeometriesTheyCannotRun) {
  EXPECT_THROW(conv::make_conv_algorithm(W, geometry(16, 10, 16, 5, 1, true)), Error);
  EXPECT_THROW(conv::make_conv_algorithm(D, geometry(4, 9, 7, 3, 2, true)), Error);
}
