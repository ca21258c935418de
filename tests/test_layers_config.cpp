// Config round trips (config -> make_layer -> same config, same forward), defaults,
// shape and config errors, initialisers, and the mode-specific behaviour of
// Dropout, BatchNormalization and softmax logits output.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "digitnet/core/error.hpp"
#include "digitnet/layers/layers.hpp"

using namespace digitnet;
using nlohmann::json;

namespace {

Tensor random_tensor(const Shape& s, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Rng r(seed);
  Tensor t(s);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = r.uniform(lo, hi);
  return t;
}

// Expects `fn` to throw digitnet::Error whose message contains every needle.
template <class Fn>
void expect_error(Fn&& fn, std::initializer_list<const char*> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected digitnet::Error containing '" << *needles.begin() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg;
  }
}

struct RoundTrip {
  std::function<LayerPtr()> make;
  Shape input;
  std::string type;
};

TEST(LayerConfig, RoundTripRebuildsAnEquivalentLayer) {
  const std::vector<RoundTrip> cases = {
      {[] { return Dense(7, sigmoid, false); }, {5}, "Dense"},
      {[] { return Dense(3, softmax); }, {4}, "Dense"},
      {[] { return Conv2D(4, 3, leaky_relu, 2, same, true); }, {2, 7, 6}, "Conv2D"},
      {[] { return Conv2D(2, 2, relu, 1, valid, false); }, {3, 5, 5}, "Conv2D"},
      {[] { return MaxPooling2D(3, 2, same); }, {2, 6, 5}, "MaxPooling2D"},
      {[] { return AveragePooling2D(2, 1, valid); }, {2, 5, 5}, "AveragePooling2D"},
      {[] { return Dropout(0.25f); }, {2, 3, 3}, "Dropout"},
      {[] { return Flatten(); }, {2, 3, 4}, "Flatten"},
      {[] { return BatchNormalization(0.9f, 1e-2f); }, {3, 2, 2}, "BatchNormalization"},
      {[] { return ActivationLayer(leaky_relu, 0.1f); }, {2, 3}, "Activation"},
      {[] { return ActivationLayer(softmax); }, {6}, "Activation"},
  };
  ThreadPool pool(2);
  for (const auto& c : cases) {
    LayerPtr a = c.make();
    SCOPED_TRACE(a->config().dump());
    EXPECT_EQ(a->type(), c.type);
    LayerPtr b = make_layer(a->type(), a->config());
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->type(), a->type());
    EXPECT_EQ(b->config(), a->config());
    // The rebuilt config also survives a trip through text.
    EXPECT_EQ(make_layer(a->type(), json::parse(a->config().dump()))->config(), a->config());

    Rng ra(1), rb(2);  // different init streams: only the copy makes them equal
    EXPECT_EQ(a->build(c.input, ra), b->build(c.input, rb));
    auto pa = a->params(), pb = b->params();
    ASSERT_EQ(pa.size(), pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
      EXPECT_EQ(pa[i]->name, pb[i]->name);
      for (int64_t j = 0; j < pa[i]->value.size(); ++j) pa[i]->value[j] += 0.01f * float(j % 7);
      pb[i]->value = pa[i]->value;
    }
    auto ba = a->buffers(), bb = b->buffers();
    ASSERT_EQ(ba.size(), bb.size());
    for (std::size_t i = 0; i < ba.size(); ++i) {
      EXPECT_EQ(ba[i].first, bb[i].first);
      for (int64_t j = 0; j < ba[i].second->size(); ++j)
        (*ba[i].second)[j] = 0.5f + 0.1f * float(j);
      *bb[i].second = *ba[i].second;
    }
    const Tensor x = random_tensor(with_batch(3, c.input), 9);
    Tensor ya, yb;
    const Context ctx{false, &pool, nullptr};
    a->forward(x, ya, ctx);
    b->forward(x, yb, ctx);
    ASSERT_EQ(ya.shape(), yb.shape());
    EXPECT_EQ(std::memcmp(ya.data(), yb.data(), sizeof(float) * std::size_t(ya.size())), 0);
  }
}

TEST(LayerConfig, ConfigsNameEverySetting) {
  EXPECT_EQ(Dense(128, relu)->config(),
            json({{"units", 128}, {"activation", "relu"}, {"use_bias", true}}));
  EXPECT_EQ(Conv2D(32, 3, relu, 2, same, false)->config(), json({{"filters", 32},
                                                                 {"kernel_size", 3},
                                                                 {"activation", "relu"},
                                                                 {"strides", 2},
                                                                 {"padding", "same"},
                                                                 {"use_bias", false}}));
  EXPECT_EQ(MaxPooling2D(2)->config(),
            json({{"pool_size", 2}, {"strides", 2}, {"padding", "valid"}}));
  EXPECT_EQ(Flatten()->config(), json::object());
  EXPECT_EQ(Dropout(0.5f)->config(), json({{"rate", 0.5}}));
  EXPECT_EQ(ActivationLayer(tanh_act)->config().at("activation"), "tanh");
}

TEST(LayerConfig, MissingOptionalFieldsTakeKerasDefaults) {
  EXPECT_EQ(make_layer("Dense", {{"units", 3}})->config(), Dense(3)->config());
  EXPECT_EQ(make_layer("Conv2D", {{"filters", 2}, {"kernel_size", 3}})->config(),
            Conv2D(2, 3)->config());
  EXPECT_EQ(make_layer("MaxPooling2D", json::object())->config(), MaxPooling2D()->config());
  EXPECT_EQ(make_layer("AveragePooling2D", {{"pool_size", 3}})->config(),
            AveragePooling2D(3, 3)->config());
  EXPECT_EQ(make_layer("BatchNormalization", json::object())->config(),
            BatchNormalization(0.99f, 1e-3f)->config());
  EXPECT_EQ(make_layer("Activation", {{"activation", "leaky_relu"}})->config(),
            ActivationLayer(leaky_relu, 0.3f)->config());
  EXPECT_EQ(make_layer("Flatten", json())->type(), "Flatten");
  // Keras writes sizes as pairs.
  EXPECT_EQ(make_layer("Conv2D", {{"filters", 2}, {"kernel_size", {3, 3}}, {"strides", {2, 2}}})
                ->config(),
            Conv2D(2, 3, linear, 2)->config());
}

TEST(LayerConfig, BadTypesAndFieldsAreErrorsNamingThem) {
  expect_error([] { make_layer("Dense2", {{"units", 3}}); }, {"Dense2"});
  expect_error([] { make_layer("Dense", json::object()); }, {"Dense", "units"});
  expect_error([] { make_layer("Dense", {{"units", "ten"}}); }, {"Dense", "units"});
  expect_error([] { make_layer("Dense", {{"units", 0}}); }, {"Dense", "units"});
  expect_error(
      [] {
        make_layer("Dense", {{"units", 2}, {"activation", "swish"}});
      },
      {"Dense", "activation", "swish"});
  expect_error(
      [] {
        make_layer("Dense", {{"units", 2}, {"use_bias", "yes"}});
      },
      {"Dense", "use_bias"});
  expect_error([] { make_layer("Conv2D", {{"filters", 2}}); }, {"Conv2D", "kernel_size"});
  expect_error(
      [] {
        make_layer("Conv2D", {{"filters", 2}, {"kernel_size", 3}, {"padding", "full"}});
      },
      {"Conv2D", "padding", "full"});
  expect_error(
      [] {
        make_layer("Conv2D", {{"filters", 2}, {"kernel_size", 3}, {"strides", 0}});
      },
      {"Conv2D", "strides"});
  expect_error(
      [] {
        make_layer("MaxPooling2D", {{"pool_size", -1}});
      },
      {"MaxPooling2D", "pool_size"});
  expect_error([] { make_layer("Dropout", json::object()); }, {"Dropout", "rate"});
  expect_error([] { make_layer("Dropout", {{"rate", 1.0}}); }, {"Dropout", "rate"});
  expect_error(
      [] {
        make_layer("BatchNormalization", {{"epsilon", "small"}});
      },
      {"BatchNormalization", "epsilon"});
  expect_error([] { make_layer("Activation", json::object()); }, {"Activation", "activation"});
  expect_error([] { make_layer("Flatten", json::array({1, 2})); }, {"Flatten"});
  expect_error([] { activation_from_name("gelu"); }, {"gelu"});
  for (Activation a : {linear, relu, leaky_relu, sigmoid, tanh_act, softmax})
    EXPECT_EQ(activation_from_name(activation_name(a)), a);
}

TEST(LayerShapes, OutputShapesFollowKerasAndTensorFlowPadding) {
  Rng r(0);
  EXPECT_EQ(Dense(10)->build({784}, r), Shape({10}));
  EXPECT_EQ(Conv2D(32, 3)->build({1, 28, 28}, r), Shape({32, 26, 26}));
  EXPECT_EQ(Conv2D(4, 3, linear, 1, same)->build({1, 7, 6}, r), Shape({4, 7, 6}));
  EXPECT_EQ(Conv2D(4, 3, linear, 2, same)->build({1, 7, 6}, r), Shape({4, 4, 3}));
  EXPECT_EQ(Conv2D(4, 3, linear, 2, valid)->build({1, 7, 6}, r), Shape({4, 3, 2}));
  EXPECT_EQ(MaxPooling2D(2)->build({3, 5, 5}, r), Shape({3, 2, 2}));
  EXPECT_EQ(MaxPooling2D(2, 0, same)->build({3, 5, 5}, r), Shape({3, 3, 3}));
  EXPECT_EQ(AveragePooling2D(3, 1)->build({2, 5, 6}, r), Shape({2, 3, 4}));
  EXPECT_EQ(Flatten()->build({2, 3, 4}, r), Shape({24}));
  EXPECT_EQ(BatchNormalization()->build({8, 3, 3}, r), Shape({8, 3, 3}));
}

TEST(LayerShapes, ShapesThatDoNotFitAreErrorsNamingTheLayer) {
  Rng r(0);
  expect_error([&] { Dense(3)->build({2, 3}, r); }, {"Dense", "(2, 3)"});
  LayerPtr named = Dense(3);
  named->name = "dense_7";
  expect_error([&] { named->build({1, 4, 4}, r); }, {"dense_7", "(1, 4, 4)"});
  expect_error([&] { Conv2D(2, 5)->build({1, 3, 3}, r); }, {"Conv2D", "(1, 3, 3)"});
  expect_error([&] { Conv2D(2, 3)->build({9}, r); }, {"Conv2D", "(9,)"});
  expect_error([&] { Conv2D(2, 3, softmax)->build({1, 5, 5}, r); }, {"Conv2D", "softmax"});
  expect_error([&] { MaxPooling2D(4)->build({1, 3, 8}, r); }, {"MaxPooling2D", "(1, 3, 8)"});
  expect_error([&] { AveragePooling2D(2)->build({8}, r); }, {"AveragePooling2D"});
  expect_error([&] { ActivationLayer(softmax)->build({2, 3}, r); }, {"Activation", "softmax"});
  expect_error([] { Dense(0); }, {"Dense"});
  expect_error([] { Conv2D(1, 0); }, {"Conv2D"});
  expect_error([] { Dropout(1.0f); }, {"Dropout"});
  expect_error([] { Dropout(-0.1f); }, {"Dropout"});
  expect_error([] { BatchNormalization(1.5f); }, {"BatchNormalization"});
  // A batch of the wrong per-sample shape is rejected at forward.
  LayerPtr d = Dense(3);
  d->build({4}, r);
  ThreadPool pool(1);
  Tensor y;
  expect_error(
      [&] {
        d->forward(Tensor({2, 5}), y, Context{false, &pool, nullptr});
      },
      {"Dense", "(2, 5)"});
}

TEST(LayerInit, GlorotUniformKernelsAndZeroBiases) {
  Rng r(3);
  LayerPtr d = Dense(200, relu);
  d->build({300}, r);
  LayerPtr c = Conv2D(16, 5);
  c->build({8, 12, 12}, r);
  struct Expect {
    Layer* layer;
    double limit;
  };
  for (const Expect& e : {Expect{d.get(), std::sqrt(6.0 / 500)},
                          Expect{c.get(), std::sqrt(6.0 / (8 * 25 + 16 * 25))}}) {
    auto ps = e.layer->params();
    ASSERT_EQ(ps.size(), 2u);
    EXPECT_EQ(ps[0]->name, "kernel");
    EXPECT_TRUE(ps[0]->decay);
    EXPECT_EQ(ps[1]->name, "bias");
    EXPECT_FALSE(ps[1]->decay);
    double sum = 0, sq = 0, maxabs = 0;
    const Tensor& k = ps[0]->value;
    for (int64_t i = 0; i < k.size(); ++i) {
      sum += k[i];
      sq += double(k[i]) * k[i];
      maxabs = std::max(maxabs, double(std::abs(k[i])));
    }
    const double n = double(k.size());
    EXPECT_LE(maxabs, e.limit);
    EXPECT_GT(maxabs, 0.95 * e.limit);
    EXPECT_NEAR(sum / n, 0.0, 0.05 * e.limit);
    EXPECT_NEAR(std::sqrt(sq / n), e.limit / std::sqrt(3.0), 0.03 * e.limit);
    for (int64_t i = 0; i < ps[1]->value.size(); ++i) EXPECT_EQ(ps[1]->value[i], 0.0f);
  }
  EXPECT_EQ(c->params()[0]->value.shape(), Shape({16, 8, 5, 5}));
  EXPECT_EQ(d->params()[0]->value.shape(), Shape({300, 200}));
  LayerPtr nb = Dense(4, linear, false);
  nb->build({3}, r);
  EXPECT_EQ(nb->params().size(), 1u);
}

TEST(LayerInit, ForwardMacs) {
  Rng r(0);
  LayerPtr d = Dense(10);
  d->build({784}, r);
  EXPECT_EQ(d->forward_macs(), 7840);
  LayerPtr c = Conv2D(32, 3);
  c->build({1, 28, 28}, r);
  EXPECT_EQ(c->forward_macs(), 26 * 26 * 32 * 9);
  LayerPtr c2 = Conv2D(8, 3, relu, 2, same);
  c2->build({4, 7, 7}, r);
  EXPECT_EQ(c2->forward_macs(), 4 * 4 * 8 * 4 * 9);
  LayerPtr p = MaxPooling2D();
  p->build({1, 4, 4}, r);
  EXPECT_EQ(p->forward_macs(), 0);
}

TEST(Dropout, InferenceIsIdentityAndTrainingKeepsTheExpectedFraction) {
  Rng init(0);
  LayerPtr d = Dropout(0.3f);
  d->build({100, 100}, init);
  ThreadPool pool(1);
  const Tensor x = random_tensor({10, 100, 100}, 4, 0.5f, 1.5f);
  Tensor y, dx;
  d->forward(x, y, Context{false, &pool, nullptr});
  ASSERT_EQ(y.shape(), x.shape());
  EXPECT_EQ(std::memcmp(x.data(), y.data(), sizeof(float) * std::size_t(x.size())), 0);

  Rng rng(8);
  d->forward(x, y, Context{true, &pool, &rng});
  int64_t kept = 0;
  for (int64_t i = 0; i < x.size(); ++i) {
    if (y[i] == 0.0f) continue;
    ++kept;
    ASSERT_FLOAT_EQ(y[i], x[i] / 0.7f);
  }
  EXPECT_NEAR(double(kept) / double(x.size()), 0.7, 0.005);
  // Backward routes the gradient through the same mask.
  const Tensor g = random_tensor(x.shape(), 5);
  d->backward(x, y, g, &dx, Context{true, &pool, &rng});
  for (int64_t i = 0; i < x.size(); ++i) ASSERT_FLOAT_EQ(dx[i], y[i] == 0.0f ? 0.0f : g[i] / 0.7f);
}

TEST(Dropout, MaskDependsOnTheSeedNotTheThreadCount) {
  Rng init(0);
  LayerPtr d = Dropout(0.5f);
  d->build({64}, init);
  const Tensor x = random_tensor({8, 64}, 4, 0.5f, 1.5f);
  auto run = [&](int threads, uint64_t seed) {
    ThreadPool pool(threads);
    Rng rng(seed);
    Tensor y;
    d->forward(x, y, Context{true, &pool, &rng});
    return y;
  };
  const Tensor a = run(1, 3), b = run(3, 3), c = run(1, 4);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * std::size_t(a.size())), 0);
  EXPECT_NE(std::memcmp(a.data(), c.data(), sizeof(float) * std::size_t(a.size())), 0);
}

TEST(BatchNorm, InferenceUsesMovingStatisticsAndTrainingUpdatesThem) {
  Rng init(0);
  LayerPtr bn = BatchNormalization(0.8f, 1e-3f);
  bn->build({2, 2, 3}, init);
  auto bufs = bn->buffers();
  ASSERT_EQ(bufs.size(), 3u);
  EXPECT_EQ(bufs[0].first, "moving_mean");
  EXPECT_EQ(bufs[1].first, "moving_variance");
  EXPECT_EQ(bufs[2].first, "moving_weight");
  for (int c = 0; c < 2; ++c) {
    EXPECT_EQ((*bufs[0].second)[c], 0.0f);
    EXPECT_EQ((*bufs[1].second)[c], 1.0f);
  }
  EXPECT_EQ((*bufs[2].second)[0], 0.0f);
  auto ps = bn->params();
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0]->name, "gamma");
  EXPECT_EQ(ps[1]->name, "beta");
  EXPECT_FALSE(ps[0]->decay);
  EXPECT_FALSE(ps[1]->decay);
  ps[0]->value[0] = 2.0f;
  ps[0]->value[1] = 0.5f;
  ps[1]->value[0] = 0.1f;
  ps[1]->value[1] = -0.3f;
  (*bufs[0].second)[0] = 1.0f;
  (*bufs[0].second)[1] = -2.0f;
  (*bufs[1].second)[0] = 4.0f;
  (*bufs[1].second)[1] = 0.25f;
  (*bufs[2].second)[0] = 1.0f;  // settled averages: the update below is the plain momentum

  ThreadPool pool(2);
  const Tensor x = random_tensor({5, 2, 2, 3}, 6, -3.0f, 3.0f);
  Tensor y;
  bn->forward(x, y, Context{false, &pool, nullptr});
  for (int n = 0; n < 5; ++n)
    for (int c = 0; c < 2; ++c)
      for (int j = 0; j < 6; ++j) {
        const int64_t i = (n * 2 + c) * 6 + j;
        const double mm = c == 0 ? 1.0 : -2.0, mv = c == 0 ? 4.0 : 0.25;
        const double want = ps[0]->value[c] * (x[i] - mm) / std::sqrt(mv + 1e-3) + ps[1]->value[c];
        ASSERT_NEAR(y[i], want, 1e-5);
      }
  // Inference leaves the statistics alone.
  EXPECT_EQ((*bufs[0].second)[0], 1.0f);
  EXPECT_EQ((*bufs[1].second)[1], 0.25f);

  Rng rng(1);
  bn->forward(x, y, Context{true, &pool, &rng});
  for (int c = 0; c < 2; ++c) {
    double s = 0, ss = 0;
    for (int n = 0; n < 5; ++n)
      for (int j = 0; j < 6; ++j) s += x[(n * 2 + c) * 6 + j];
    const double mean = s / 30;
    for (int n = 0; n < 5; ++n)
      for (int j = 0; j < 6; ++j) ss += std::pow(x[(n * 2 + c) * 6 + j] - mean, 2);
    const double mm = c == 0 ? 1.0 : -2.0, mv = c == 0 ? 4.0 : 0.25;
    EXPECT_NEAR((*bufs[0].second)[c], 0.8 * mm + 0.2 * mean, 1e-5);
    EXPECT_NEAR((*bufs[1].second)[c], 0.8 * mv + 0.2 * ss / 29, 1e-5);
    // Training output is normalised with the batch statistics.
    double ys = 0;
    for (int n = 0; n < 5; ++n)
      for (int j = 0; j < 6; ++j) ys += y[(n * 2 + c) * 6 + j];
    EXPECT_NEAR(ys / 30, ps[1]->value[c], 1e-5);
  }
  EXPECT_EQ((*bufs[2].second)[0], 1.0f);
}

TEST(BatchNorm, MovingAveragesAreDebiasedUntilTheirWeightReachesOne) {
  // Built: weight 0, so the first batch's statistics become the averages outright;
  // the second batch then weighs 0.2 against the first's 0.8·0.2: momentum 0.16/0.36.
  Rng init(0);
  LayerPtr bn = BatchNormalization(0.8f, 1e-3f);
  bn->build({1, 4}, init);
  auto bufs = bn->buffers();
  ThreadPool pool(1);
  Rng rng(1);
  const Tensor a = random_tensor({6, 1, 4}, 7, -1.0f, 2.0f),
               b = random_tensor({6, 1, 4}, 8, 0.0f, 5.0f);
  auto stats = [](const Tensor& x) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < x.size(); ++i) s += x[i];
    const double mean = s / double(x.size());
    for (int64_t i = 0; i < x.size(); ++i) ss += (x[i] - mean) * (x[i] - mean);
    return std::pair{mean, ss / double(x.size() - 1)};
  };
  Tensor y;
  bn->forward(a, y, Context{true, &pool, &rng});
  const auto [ma, va] = stats(a);
  EXPECT_NEAR((*bufs[0].second)[0], ma, 1e-6);
  EXPECT_NEAR((*bufs[1].second)[0], va, 1e-5);
  EXPECT_NEAR((*bufs[2].second)[0], 0.2, 1e-7);
  bn->forward(b, y, Context{true, &pool, &rng});
  const auto [mb, vb] = stats(b);
  const double mt = 0.16 / 0.36;
  EXPECT_NEAR((*bufs[0].second)[0], mt * ma + (1 - mt) * mb, 1e-5);
  EXPECT_NEAR((*bufs[1].second)[0], mt * va + (1 - mt) * vb, 1e-5);
  EXPECT_NEAR((*bufs[2].second)[0], 0.36, 1e-7);
}

TEST(Softmax, LogitsOutputSkipsTheSoftmaxAndPassesGradientsThrough) {
  for (bool dense : {true, false}) {
    Rng init(2);
    LayerPtr a = dense ? Dense(5, softmax) : ActivationLayer(softmax);
    LayerPtr l = dense ? Dense(5, softmax) : ActivationLayer(softmax);
    a->build({5}, init);
    Rng init2(2);
    l->build({5}, init2);
    EXPECT_TRUE(a->has_softmax_output());
    l->set_logits_output(true);
    ThreadPool pool(1);
    const Context ctx{true, &pool, &init};
    const Tensor x = random_tensor({4, 5}, 7, -2.0f, 2.0f);
    Tensor p, z, dx;
    a->forward(x, p, ctx);
    l->forward(x, z, ctx);
    for (int n = 0; n < 4; ++n) {
      double s = 0, m = -1e30;
      for (int k = 0; k < 5; ++k) m = std::max(m, double(z[n * 5 + k]));
      for (int k = 0; k < 5; ++k) s += std::exp(z[n * 5 + k] - m);
      double ps = 0;
      for (int k = 0; k < 5; ++k) {
        EXPECT_NEAR(p[n * 5 + k], std::exp(z[n * 5 + k] - m) / s, 1e-6);
        ps += p[n * 5 + k];
      }
      EXPECT_NEAR(ps, 1.0, 1e-6);
    }
    if (!dense) {
      const Tensor g = random_tensor({4, 5}, 8);
      l->backward(x, z, g, &dx, ctx);
      EXPECT_EQ(std::memcmp(g.data(), dx.data(), sizeof(float) * 20), 0);
    }
  }
  EXPECT_FALSE(Dense(3, relu)->has_softmax_output());
  EXPECT_FALSE(ActivationLayer(sigmoid)->has_softmax_output());
}

TEST(Softmax, IsNumericallyStableForHugeLogits) {
  Rng init(0);
  LayerPtr s = ActivationLayer(softmax);
  s->build({3}, init);
  ThreadPool pool(1);
  Tensor x({2, 3}), y;
  x[0] = 1000.0f, x[1] = 999.0f, x[2] = -1000.0f;
  x[3] = -500.0f, x[4] = -500.0f, x[5] = -500.0f;
  s->forward(x, y, Context{false, &pool, nullptr});
  const double e = std::exp(-1.0);
  EXPECT_NEAR(y[0], 1 / (1 + e), 1e-6);
  EXPECT_NEAR(y[1], e / (1 + e), 1e-6);
  EXPECT_EQ(y[2], 0.0f);
  for (int k = 3; k < 6; ++k) EXPECT_NEAR(y[k], 1.0 / 3, 1e-6);
}

TEST(Pooling, MaxRoutesGradientToTheFirstMaximumAndPaddingNeverWins) {
  Rng init(0);
  ThreadPool pool(1);
  const Context ctx{false, &pool, nullptr};
  // All-negative input with 'same' padding: the padded zeros must not win.
  LayerPtr mp = MaxPooling2D(2, 0, same);
  mp->build({1, 3, 3}, init);
  Tensor x({1, 1, 3, 3}), y, dx;
  for (int i = 0; i < 9; ++i) x[i] = -1.0f - float(i);
  x[1] = -1.0f;  // tie with x[0] in the first window: the first one wins
  mp->forward(x, y, ctx);
  ASSERT_EQ(y.shape(), Shape({1, 1, 2, 2}));
  EXPECT_EQ(y[0], -1.0f);  // window rows 0-1, cols 0-1
  EXPECT_EQ(y[1], -3.0f);  // rows 0-1, col 2 (col 3 is padding)
  EXPECT_EQ(y[2], -7.0f);  // row 2, cols 0-1
  EXPECT_EQ(y[3], -9.0f);  // row 2, col 2
  const Tensor g = random_tensor(y.shape(), 3);
  mp->backward(x, y, g, &dx, ctx);
  EXPECT_EQ(dx[0], g[0]);
  EXPECT_EQ(dx[1], 0.0f);
  EXPECT_EQ(dx[2], g[1]);
  EXPECT_EQ(dx[6], g[2]);
  EXPECT_EQ(dx[8], g[3]);
  // Average with 'same' padding divides by the count of real cells.
  LayerPtr ap = AveragePooling2D(2, 0, same);
  ap->build({1, 3, 3}, init);
  ap->forward(x, y, ctx);
  EXPECT_FLOAT_EQ(y[3], x[8]);
  EXPECT_FLOAT_EQ(y[1], (x[2] + x[5]) / 2);
}

}  // namespace
