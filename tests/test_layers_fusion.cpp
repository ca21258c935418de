// The fusion pass (src/layers/fusion.hpp): every fused layer gives the bits of
// the layers it replaces, run one after the other, and keeps the layer contract
// (the generic harness of support/layer_check.hpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/direct_conv.hpp"
#include "core/kernels.hpp"
#include "digitnet/digitnet.hpp"
#include "layer_check.hpp"
#include "layers/fusion.hpp"

using namespace digitnet;
using digitnet::testing::bit_equal;

namespace {

struct Pair {
  const char* what;
  int c, hw, filters, k;
  Activation act;
  Padding padding;
  bool max;  // max pooling, else average
};

// The patterns the pass fuses, on the shapes whose pooled entry points run
// (LeNet's tanh + average pooling, a Winograd layer + max pooling) and on
// others where the fused layer runs the two layers one after the other.
const std::vector<Pair> kPairs = {
    {"lenet_conv1_tanh_avg", 1, 28, 6, 5, Activation::tanh, Padding::same, false},
    {"lenet_conv2_tanh_avg", 6, 14, 16, 5, Activation::tanh, Padding::valid, false},
    {"direct_relu_avg", 2, 12, 8, 3, Activation::relu, Padding::same, false},
    {"sigmoid_avg", 3, 10, 5, 3, Activation::sigmoid, Padding::same, false},
    {"winograd_relu_max", 32, 16, 32, 3, Activation::relu, Padding::same, true},
    {"winograd_tanh_max", 16, 12, 16, 3, Activation::tanh, Padding::same, true},
    {"one_channel_relu_max", 1, 28, 32, 3, Activation::relu, Padding::valid, true},
    {"winograd_relu_avg", 16, 12, 16, 3, Activation::relu, Padding::same, false},
};

struct Built {
  std::vector<LayerPtr> layers;
  std::vector<std::unique_ptr<detail::FusedLayer>> fused;
};

Built build(const Pair& p, uint64_t seed) {
  Built b;
  b.layers.push_back(Conv2D(p.filters, p.k, p.act, 1, p.padding));
  b.layers.push_back(p.max ? MaxPooling2D(2) : AveragePooling2D(2));
  b.layers[0]->name = "conv2d";
  b.layers[1]->name = "pool";
  Rng rng(seed);
  const Shape mid = b.layers[0]->build({p.c, p.hw, p.hw}, rng);
  b.layers[1]->build(mid, rng);
  for (Param* q : b.layers[0]->params())
    for (int64_t i = 0; i < q->value.size(); ++i) q->value[i] += rng.uniform(-0.3f, 0.3f);
  b.fused = detail::plan_fusions(b.layers);
  return b;
}

struct Outputs {
  Tensor y, dx;
  std::vector<Tensor> grads;
};

// forward (and in training backward) of the fused layer, or of the two layers in turn.
Outputs run(Built& b, bool fused, const Tensor& x, const Tensor& g, int threads, bool training) {
  ThreadPool pool(threads);
  Rng rng(5);
  Context ctx{training, &pool, &rng};
  Outputs r;
  Tensor u, du;
  if (fused) {
    b.fused[0]->forward(x, r.y, ctx);
  } else {
    b.layers[0]->forward(x, u, ctx);
    b.layers[1]->forward(u, r.y, ctx);
  }
  if (!training) return r;
  r.dx = Tensor(x.shape(), NAN);
  for (Param* q : b.layers[0]->params()) q->grad.fill(NAN);
  if (fused) {
    b.fused[0]->backward(x, r.y, g, &r.dx, ctx);
  } else {
    b.layers[1]->backward(u, r.y, g, &du, ctx);
    b.layers[0]->backward(x, u, du, &r.dx, ctx);
  }
  for (Param* q : b.layers[0]->params()) r.grads.push_back(q->grad);
  return r;
}

}  // namespace

TEST(Fusion, ThePassFindsConvolutionsFollowedBy2x2Pooling) {
  std::vector<LayerPtr> layers;
  layers.push_back(Conv2D(8, 3, Activation::relu, 1, Padding::same));
  layers.push_back(MaxPooling2D(2));
  layers.push_back(Conv2D(8, 3, Activation::relu, 1, Padding::same));
  layers.push_back(MaxPooling2D(3));  // not 2x2
  layers.push_back(Flatten());
  layers.push_back(Dense(10, Activation::softmax));
  Rng rng(1);
  Shape s{1, 12, 12};
  for (auto& l : layers) {
    l->name = l->type();
    s = l->build(s, rng);
  }
  const auto fused = detail::plan_fusions(layers);
  ASSERT_EQ(fused.size(), layers.size());
  ASSERT_TRUE(fused[0]);
  EXPECT_EQ(fused[0]->span(), 2);
  EXPECT_EQ(fused[0]->type(), "Conv2D+MaxPooling2D");
  EXPECT_EQ(fused[0]->input_shape(), layers[0]->input_shape());
  EXPECT_EQ(fused[0]->output_shape(), layers[1]->output_shape());
  for (std::size_t i = 1; i < fused.size(); ++i) EXPECT_FALSE(fused[i]) << i;
}

TEST(Fusion, EveryFusedLayerGivesTheBitsOfTheLayersItReplaces) {
  int pooled_paths = 0;  // configurations where a pooled entry point ran
  for (const Pair& p : kPairs)
    for (bool training : {true, false})
      for (int threads : {1, 2})
        for (int n : {1, 4, 17}) {
          SCOPED_TRACE(std::string(p.what) + (training ? " training" : " inference") + " t" +
                       std::to_string(threads) + " n" + std::to_string(n));
          Built a = build(p, 3), b = build(p, 3);
          ASSERT_TRUE(b.fused[0]);
          pooled_paths += b.fused[0]->runs(n, threads, training);
          Rng rng(9);
          Tensor x({n, p.c, p.hw, p.hw});
          for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
          Tensor g(with_batch(n, a.layers[1]->output_shape()));
          for (int64_t i = 0; i < g.size(); ++i) g[i] = rng.uniform(-1.0f, 1.0f);
          const Outputs want = run(a, false, x, g, threads, training);
          const Outputs got = run(b, true, x, g, threads, training);
          EXPECT_TRUE(bit_equal(got.y, want.y)) << "y";
          if (!training) continue;
          EXPECT_TRUE(bit_equal(got.dx, want.dx)) << "dx";
          ASSERT_EQ(got.grads.size(), want.grads.size());
          for (std::size_t i = 0; i < got.grads.size(); ++i)
            EXPECT_TRUE(bit_equal(got.grads[i], want.grads[i])) << "gradient " << i;
        }
  // On a CPU with the direct kernels' AVX-512 bodies (and the 2x2 pooling's),
  // the pooled entry points themselves were compared, not only the fallback.
  if (kernels::direct_conv_avx512() && kernels::pool_2x2_avx512_available()) {
    EXPECT_GT(pooled_paths, 20);
  }
}

// On small shapes, where central differences see few relu kinks and few
// changes of a max window's winner.
TEST(Fusion, EveryFusedLayerKeepsTheLayerContract) {
  const std::vector<Pair> pairs = {
      {"tanh_avg", 2, 6, 4, 5, Activation::tanh, Padding::same, false},
      {"relu_avg", 2, 6, 3, 3, Activation::relu, Padding::same, false},
      {"sigmoid_avg_valid", 2, 6, 3, 3, Activation::sigmoid, Padding::valid, false},
      {"tanh_max", 2, 6, 3, 3, Activation::tanh, Padding::same, true},
      {"winograd_linear_max", 16, 4, 16, 3, Activation::linear, Padding::same, true},
  };
  for (const Pair& p : pairs)
    for (int threads : {1, 2}) {
      SCOPED_TRACE(std::string(p.what) + " t" + std::to_string(threads));
      Built b = build(p, 4);
      digitnet::testing::GradCheckOptions o;
      o.prebuilt = true;
      o.threads = threads;
      o.batch = 2;
      // A perturbation may move a max window's winner or cross relu's kink.
      o.allow_kinks = p.max || p.act == Activation::relu;
      if (p.max && p.c < 16) o.eps = 1e-3;  // fewer winners move within the step
      EXPECT_TRUE(digitnet::testing::check_layer_gradients(*b.fused[0], {p.c, p.hw, p.hw}, o));
    }
}
