// Conv2D's kernel paths at the layer level: oneDNN Winograd (3x3, stride 1,
// >= 16 channels), oneDNN direct, filters split over the pool for one sample,
// the direct one-image kernel for small layers at batch 1 (stride 1), sub-batches
// of 16 with a remainder; each against a double-precision direct
// convolution, and the gradients against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "conv_reference.hpp"
#include "core/direct_conv.hpp"
#include "digitnet/layers/layers.hpp"
#include "layer_check.hpp"

using namespace digitnet;

namespace {

struct PathCase {
  std::string name;
  int c, h, w, f, k, stride;
  Padding padding;
  int pad_top, pad_left, pad_bottom, pad_right;  // what 'same' means for this shape
};

// y against the double-precision direct convolution of x with the layer's
// weights and bias (relu), within tol of the output's scale.
void expect_reference_forward(const kernels::ConvGeometry& g, const Tensor& x, const Tensor& y,
                              const std::vector<Param*>& params, double tol) {
  const std::vector<float> xs(x.data(), x.data() + x.size());
  const std::vector<float> ws(params[0]->value.data(),
                              params[0]->value.data() + params[0]->value.size());
  const std::vector<float> want = convref::forward_ref(g, xs, ws, params[1]->value.data(), true);
  double scale = 1.0;
  for (float v : want) scale = std::max(scale, double(std::fabs(v)));
  ASSERT_EQ(y.size(), static_cast<int64_t>(want.size()));
  for (int64_t i = 0; i < y.size(); ++i)
    ASSERT_NEAR(y[i], want[static_cast<std::size_t>(i)], tol * scale) << "element " << i;
}

void check_against_reference(const PathCase& pc, int batch, int threads, double tol) {
  SCOPED_TRACE(pc.name + " batch " + std::to_string(batch) + " threads " + std::to_string(threads));
  LayerPtr layer = Conv2D(pc.f, pc.k, Activation::relu, pc.stride, pc.padding);
  Rng rng(3);
  const Shape out = layer->build({pc.c, pc.h, pc.w}, rng);
  std::vector<Param*> params = layer->params();
  for (Param* p : params)
    for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] += rng.uniform(-0.2f, 0.2f);
  kernels::ConvGeometry g;
  g.n = batch, g.c = pc.c, g.h = pc.h, g.w = pc.w, g.f = pc.f, g.kh = pc.k, g.kw = pc.k;
  g.stride = pc.stride, g.pad_top = pc.pad_top, g.pad_left = pc.pad_left;
  g.oh = static_cast<int>(out[1]), g.ow = static_cast<int>(out[2]);

  Tensor x({batch, pc.c, pc.h, pc.w}), y, dy(with_batch(batch, out)), dx;
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
  for (int64_t i = 0; i < dy.size(); ++i) dy[i] = rng.uniform(-1.0f, 1.0f);
  ThreadPool pool(threads);
  Rng ctx_rng(1);
  for (bool training : {false, true}) {
    Context ctx{training, &pool, &ctx_rng};
    y = Tensor(with_batch(batch, out), std::nanf(""));
    layer->forward(x, y, ctx);
    {
      SCOPED_TRACE(training ? "training forward" : "inference forward");
      expect_reference_forward(g, x, y, params, tol);
    }
    if (::testing::Test::HasFatalFailure() || !training) continue;
    // The backward checks' scale: the forward's.
    const std::vector<float> xs(x.data(), x.data() + x.size());
    const std::vector<float> ws(params[0]->value.data(),
                                params[0]->value.data() + params[0]->value.size());
    double scale = 1.0;
    for (float v : convref::forward_ref(g, xs, ws, params[1]->value.data(), true))
      scale = std::max(scale, double(std::fabs(v)));
    dx = Tensor(x.shape(), std::nanf(""));
    layer->backward(x, y, dy, &dx, ctx);
    std::vector<float> dz(static_cast<std::size_t>(dy.size()));
    for (int64_t i = 0; i < dy.size(); ++i) dz[static_cast<std::size_t>(i)] = y[i] > 0 ? dy[i] : 0;
    std::vector<float> rdx, rdw;
    convref::backward_ref(g, xs, dz, ws, rdx, rdw);
    for (int64_t i = 0; i < dx.size(); ++i)
      ASSERT_NEAR(dx[i], rdx[static_cast<std::size_t>(i)], tol * scale) << "dx " << i;
    double wscale = 1.0;
    for (float v : rdw) wscale = std::max(wscale, double(std::fabs(v)));
    for (int64_t i = 0; i < params[0]->grad.size(); ++i)
      ASSERT_NEAR(params[0]->grad[i], rdw[static_cast<std::size_t>(i)], tol * wscale) << "dW " << i;
    // The bias gradient: Σ dz over the samples and positions of each filter.
    const int64_t P = int64_t{g.oh} * g.ow;
    for (int f = 0; f < pc.f; ++f) {
      double want_db = 0.0, db_scale = 1.0;
      for (int n = 0; n < batch; ++n)
        for (int64_t p = 0; p < P; ++p) {
          const float v = dz[static_cast<std::size_t>((int64_t{n} * pc.f + f) * P + p)];
          want_db += v;
          db_scale += std::fabs(v);
        }
      ASSERT_NEAR(params[1]->grad[f], want_db, 1e-5 * db_scale) << "db " << f;
    }
  }
}

const std::vector<PathCase> kPaths = {
    {"winograd_valid", 16, 10, 9, 32, 3, 1, Padding::valid, 0, 0, 0, 0},
    {"winograd_same", 32, 7, 8, 16, 3, 1, Padding::same, 1, 1, 1, 1},
    {"direct_5x5_same", 3, 9, 9, 6, 5, 1, Padding::same, 2, 2, 2, 2},
    {"direct_3x3_s2_same", 4, 8, 7, 5, 3, 2, Padding::same, 0, 1, 1, 1},
    {"lenet_conv1", 1, 28, 28, 6, 5, 1, Padding::same, 2, 2, 2, 2},
    // one channel: batches on the one-image direct kernel, sample by sample
    {"keras_conv1", 1, 28, 28, 32, 3, 1, Padding::valid, 0, 0, 0, 0},
    // dW on the direct weight-gradient kernel (AVX-512; oneDNN's elsewhere), dx on oneDNN:
    {"lenet_conv2", 6, 14, 14, 16, 5, 1, Padding::valid, 0, 0, 0, 0},
    {"direct_wgrad_same", 3, 9, 8, 20, 3, 1, Padding::same, 1, 1, 1, 1},
};

}  // namespace

TEST(Conv2DPaths, MatchDirectReferenceForEveryBatchAndThreadSplit) {
  for (const PathCase& pc : kPaths)
    for (int threads : {1, 2, 3})
      for (int batch : {1, 2, 21}) check_against_reference(pc, batch, threads, 2e-4);
}

// Layers of few channels and odd sizes. tests/CMakeLists.txt also runs every
// Conv2DPaths test with each family forced (DIGITNET_CONV_KERNEL, read once per
// process): the own Winograd then runs these 3x3 layers, and oneDNN and im2col
// the ones that would use Winograd.
TEST(Conv2DPaths, FewChannelsMatchTheDirectReference) {
  const std::vector<PathCase> cases = {
      kPaths[0],
      kPaths[1],
      {"winograd_small_channels", 3, 9, 11, 5, 3, 1, Padding::same, 1, 1, 1, 1}};
  for (const PathCase& pc : cases)
    for (int threads : {1, 3})
      for (int batch : {1, 2, 21}) check_against_reference(pc, batch, threads, 2e-4);
}

TEST(Conv2DPaths, OneChannelBatchGivesEachSamplesOwnBits) {
  // A stride-1 layer on one channel runs a batch through the one-image direct
  // kernel sample by sample where the CPU has its AVX-512 bodies, each
  // participant with its own scratch: every row of the batch's output has the
  // bits of that sample run alone, whatever the thread count and activation.
  // (oneDNN's AVX-512 kernel for this shape happens to give the same bits, so
  // this checks the split and the scratch, not the choice.) Elsewhere the batch
  // runs on oneDNN and agrees within rounding.
  for (Activation act : {Activation::relu, Activation::tanh})
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE("threads " + std::to_string(threads));
      LayerPtr layer = Conv2D(7, 5, act, 1, Padding::same);
      Rng rng(11);
      layer->build({1, 12, 13}, rng);
      Tensor x({9, 1, 12, 13});
      for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
      ThreadPool pool(threads);
      Context ctx{false, &pool, nullptr};
      Tensor y;
      layer->forward(x, y, ctx);
      for (int64_t s = 0; s < 9; ++s) {
        Tensor xs({1, 1, 12, 13}), ys;
        std::memcpy(xs.data(), x.sample(s), sizeof(float) * 12 * 13);
        layer->forward(xs, ys, ctx);
        for (int64_t i = 0; i < ys.size(); ++i) {
          if (kernels::direct_conv_avx512()) {
            ASSERT_EQ(std::memcmp(&ys[i], y.sample(s) + i, sizeof(float)), 0)
                << "sample " << s << " element " << i;
          } else {
            ASSERT_NEAR(ys[i], y.sample(s)[i], 1e-5f) << "sample " << s << " element " << i;
          }
        }
      }
    }
}

TEST(Conv2DPaths, SmallLayerPassesTheGradientCheck) {
  // Forced to the own Winograd (see above): with tanh dz is written by the
  // layer; with linear the bias sum is folded into the kernel.
  for (Activation act : {Activation::tanh, Activation::linear})
    for (bool same : {false, true}) {
      LayerPtr layer = Conv2D(5, 3, act, 1, same ? Padding::same : Padding::valid);
      digitnet::testing::GradCheckOptions o;
      o.batch = 3;
      o.threads = 2;
      EXPECT_TRUE(digitnet::testing::check_layer_gradients(*layer, {4, 6, 5}, o))
          << activation_name(act) << (same ? " same" : " valid");
    }
}

TEST(Conv2DPaths, WinogradLayerPassesTheGradientCheck) {
  for (bool same : {false, true}) {
    LayerPtr layer = Conv2D(16, 3, Activation::tanh, 1, same ? Padding::same : Padding::valid);
    digitnet::testing::GradCheckOptions o;
    o.batch = 2;
    o.threads = 2;
    EXPECT_TRUE(digitnet::testing::check_layer_gradients(*layer, {16, 5, 6}, o))
        << (same ? "same" : "valid");
  }
}

TEST(Conv2DPaths, SameSeedAndThreadsGiveIdenticalBitsAcrossLayerInstances) {
  // Two layers with the same weights and input (fresh oneDNN objects each) give
  // the same bits: the kernels' work split does not depend on timing.
  for (int batch : {1, 37}) {
    std::vector<std::vector<float>> outs;
    for (int copy = 0; copy < 2; ++copy) {
      LayerPtr layer = Conv2D(32, 3, Activation::relu);
      Rng rng(9);
      layer->build({16, 12, 12}, rng);
      Tensor x({batch, 16, 12, 12}), y;
      for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
      ThreadPool pool(2);
      Rng ctx_rng(1);
      Context ctx{true, &pool, &ctx_rng};
      layer->forward(x, y, ctx);
      Tensor dx;
      layer->backward(x, y, y, &dx, ctx);
      std::vector<float> all(y.data(), y.data() + y.size());
      all.insert(all.end(), dx.data(), dx.data() + dx.size());
      for (Param* p : layer->params())
        all.insert(all.end(), p->grad.data(), p->grad.data() + p->grad.size());
      outs.push_back(all);
    }
    ASSERT_EQ(outs[0].size(), outs[1].size());
    for (std::size_t i = 0; i < outs[0].size(); ++i) ASSERT_EQ(outs[0][i], outs[1][i]) << i;
  }
}

// A single-channel layer with >= 16 filters asked for no input gradient (a first layer) takes its
// weight gradient from one GEMM over each sub-batch; it must equal the gradient
// computed alongside dx, for any activation, batch and thread split.
TEST(Conv2DPaths, FirstLayerWeightGradientWithoutDxMatches) {
  for (Activation act : {Activation::relu, Activation::tanh, Activation::linear})
    for (int threads : {1, 3})
      for (int batch : {1, 21, 40}) {
        SCOPED_TRACE("act " + activation_name(act) + " threads " + std::to_string(threads) +
                     " batch " + std::to_string(batch));
        LayerPtr layer = Conv2D(16, 3, act, 1, Padding::same);
        Rng rng(11);
        const Shape out = layer->build({1, 9, 8}, rng);
        Tensor x({batch, 1, 9, 8}), y, dy(with_batch(batch, out)), dx;
        for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
        for (int64_t i = 0; i < dy.size(); ++i) dy[i] = rng.uniform(-1.0f, 1.0f);
        ThreadPool pool(threads);
        Rng ctx_rng(1);
        Context ctx{true, &pool, &ctx_rng};
        layer->forward(x, y, ctx);
        layer->backward(x, y, dy, &dx, ctx);
        std::vector<std::vector<float>> with_dx;
        for (Param* p : layer->params()) {
          with_dx.emplace_back(p->grad.data(), p->grad.data() + p->grad.size());
          std::fill(p->grad.data(), p->grad.data() + p->grad.size(), std::nanf(""));
        }
        layer->backward(x, y, dy, nullptr, ctx);
        const auto params = layer->params();
        for (std::size_t k = 0; k < params.size(); ++k) {
          double scale = 1.0;
          for (float v : with_dx[k]) scale = std::max(scale, double(std::fabs(v)));
          for (int64_t i = 0; i < params[k]->grad.size(); ++i)
            ASSERT_NEAR(params[k]->grad[i], with_dx[k][static_cast<std::size_t>(i)], 1e-5 * scale)
                << params[k]->name << " " << i;
        }
      }
}

TEST(Conv2DPaths, OneImageFilterSplitGivesTheWholeLayersBits) {
  // One image of a small layer with 16 filters or more per participant (K's
  // conv1) runs the direct kernel on each participant's filters: the same bits
  // as the whole layer on one thread, for any activation and channel count.
  struct Geo {
    int c, h, w, f, k;
    Activation act;
  };
  for (const Geo& g :
       {Geo{1, 28, 28, 32, 3, Activation::relu}, Geo{2, 17, 19, 48, 3, Activation::tanh},
        Geo{1, 28, 28, 40, 5, Activation::linear}}) {
    SCOPED_TRACE("filters " + std::to_string(g.f) + " channels " + std::to_string(g.c));
    LayerPtr layer = Conv2D(g.f, g.k, g.act, 1, Padding::valid);
    Rng rng(12);
    layer->build({g.c, g.h, g.w}, rng);
    for (Param* p : layer->params())
      for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] += rng.uniform(-0.2f, 0.2f);
    Tensor x({1, g.c, g.h, g.w});
    for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
    ThreadPool one(1), two(2);
    Context c1{false, &one, nullptr}, c2{false, &two, nullptr};
    Tensor y1, y2;
    layer->forward(x, y1, c1);
    layer->forward(x, y2, c2);
    ASSERT_EQ(y1.shape(), y2.shape());
    EXPECT_EQ(std::memcmp(y1.data(), y2.data(), sizeof(float) * std::size_t(y1.size())), 0);
  }
}

TEST(Conv2DPaths, OneImageSplitSeesChangedWeights) {
  // The one-image Winograd split keeps each participant's filter transforms
  // while its filters stay the same: a change to any filter (either share, the
  // bias too) must show in the next forward.
  const PathCase pc{"keras_conv2", 32, 26, 26, 64, 3, 1, Padding::valid, 0, 0, 0, 0};
  LayerPtr layer = Conv2D(pc.f, pc.k, Activation::relu, 1, Padding::valid);
  Rng rng(13);
  const Shape out = layer->build({pc.c, pc.h, pc.w}, rng);
  std::vector<Param*> params = layer->params();
  Tensor x({1, pc.c, pc.h, pc.w});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(0.0f, 1.0f);
  kernels::ConvGeometry g;
  g.n = 1, g.c = pc.c, g.h = pc.h, g.w = pc.w, g.f = pc.f, g.kh = 3, g.kw = 3, g.stride = 1;
  g.oh = static_cast<int>(out[1]), g.ow = static_cast<int>(out[2]);
  ThreadPool pool(2);
  Context ctx{false, &pool, nullptr};
  const int64_t per_filter = int64_t{pc.c} * 9;
  for (int64_t changed : {int64_t{-1}, int64_t{0}, (pc.f - 1) * per_filter + 5, int64_t{-2}}) {
    SCOPED_TRACE("changed weight " + std::to_string(changed));
    if (changed >= 0) params[0]->value[changed] += 3.0f;
    if (changed == -2) params[1]->value[pc.f - 1] += 2.0f;  // a bias
    Tensor y;
    layer->forward(x, y, ctx);
    expect_reference_forward(g, x, y, params, 2e-4);
  }
}
