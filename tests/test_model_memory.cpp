// Sequential's shared buffers (see src/model/sequential.cpp): reshape layers as
// views, Dropout in place after a layer that does not read its output, two
// ping-pong gradient buffers, and the reusable inference workspace. Each model
// is trained with train_step and, alongside, by the plain algorithm (one tensor
// per activation and per gradient, every layer called); weights, losses and
// predictions must be bit-identical.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "digitnet/digitnet.hpp"
#include "synthetic.hpp"

using namespace digitnet;

namespace {

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

// Softmax per row, as predict does it.
void softmax_rows(Tensor& p) {
  const int64_t n = p.dim(0), k = p.dim(1);
  for (int64_t r = 0; r < n; ++r) {
    float* row = p.data() + r * k;
    float mx = row[0];
    for (int64_t j = 1; j < k; ++j) mx = std::max(mx, row[j]);
    double s = 0;
    for (int64_t j = 0; j < k; ++j) s += (row[j] = std::exp(row[j] - mx));
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t j = 0; j < k; ++j) row[j] *= inv;
  }
}

// The plain algorithm on the model's own layers, optimizer and loss.
double plain_train_step(Sequential& m, ThreadPool& pool, Rng& rng, const Tensor& x,
                        std::span<const int32_t> y, float lr) {
  const auto layers = m.layers();
  const std::size_t L = layers.size();
  std::vector<Tensor> acts(L), grads(L);
  Context ctx{true, &pool, &rng};
  for (std::size_t i = 0; i < L; ++i) layers[i]->forward(i == 0 ? x : acts[i - 1], acts[i], ctx);
  const double loss = m.loss()->compute(acts.back(), Targets{y, nullptr}, &grads.back(), true);
  for (std::size_t i = L; i-- > 0;)
    layers[i]->backward(i == 0 ? x : acts[i - 1], acts[i], grads[i],
                        i == 0 ? nullptr : &grads[i - 1], ctx);
  m.optimizer()->step(m.params(), lr);
  return loss;
}

// The plain forward in chunks of `batch` rows, as predict(x, batch) splits it.
// (Chunks matter: OpenBLAS' Haswell/Zen sgemm rounds a row differently depending
// on where it falls in the call's M, so a row's logits depend on its batch.)
Tensor plain_logits(const Sequential& m, ThreadPool& pool, const Tensor& x, int64_t batch) {
  const auto layers = m.layers();
  const int64_t n = x.dim(0), per = x.size() / n;
  Tensor out;
  Context ctx{false, &pool, nullptr};
  for (int64_t r0 = 0; r0 < n; r0 += batch) {
    const int64_t r1 = std::min(n, r0 + batch);
    Shape s = x.shape();
    s[0] = r1 - r0;
    Tensor xb(s);
    std::copy(x.data() + r0 * per, x.data() + r1 * per, xb.data());
    std::vector<Tensor> acts(layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i)
      layers[i]->forward(i == 0 ? xb : acts[i - 1], acts[i], ctx);
    const Tensor& y = acts.back();
    if (out.size() == 0) out.resize({n, y.size() / y.dim(0)});
    std::copy(y.data(), y.data() + y.size(), out.data() + r0 * out.dim(1));
  }
  softmax_rows(out);
  return out;
}

struct Net {
  std::string name;
  std::function<void(Sequential&)> add;
};

std::vector<Net> nets() {
  return {
      {"flatten_first_mlp",
       [](Sequential& m) {
         m.add(Flatten());
         m.add(Dense(16, relu));
         m.add(Dropout(0.3f));  // after Dense relu (reads y): not in place
         m.add(Dense(4, softmax));
       }},
      {"pool_dropout_flatten",
       [](Sequential& m) {
         m.add(Conv2D(4, 3, relu));
         m.add(MaxPooling2D(2));
         m.add(Dropout(0.25f));  // in place over the pooling output
         m.add(Flatten());
         m.add(Dense(8, relu));
         m.add(Dropout(0.5f));
         m.add(Dense(4, softmax));
       }},
      {"flatten_then_dropouts",
       [](Sequential& m) {
         m.add(Conv2D(3, 3, tanh_act));
         m.add(AveragePooling2D(2));
         m.add(Flatten());
         m.add(Dropout(0.2f));  // in place through the Flatten view
         m.add(Dropout(0.1f));  // and again
         m.add(Dense(8, linear));
         m.add(Dropout(0.3f));  // after a linear Dense (does not read y): in place
         m.add(Dense(4, softmax));
       }},
      {"dropout_first_and_batchnorm",
       [](Sequential& m) {
         m.add(Dropout(0.2f));  // reads the caller's input: never in place
         m.add(Conv2D(2, 3, relu));
         m.add(BatchNormalization());
         m.add(Dropout(0.2f));  // after BatchNorm (reads y by default): not in place
         m.add(Flatten());
         m.add(Flatten());
         m.add(Dense(4));
       }},
  };
}

class SharedBuffers : public ::testing::TestWithParam<std::tuple<Net, int>> {};

TEST_P(SharedBuffers, TrainingAndInferenceMatchThePlainAlgorithmBitForBit) {
  const auto& [net, threads] = GetParam();
  const uint64_t seed = 5;
  auto make = [&] {
    Sequential m({1, 10, 10}, seed, threads);
    net.add(m);
    m.compile(Adam(3e-3f), sparse_categorical_crossentropy());
    return m;
  };
  Sequential a = make(), b = make();
  ThreadPool pool(threads);
  Rng rng(seed ^ 0x7261696E5F726E67ull);  // Sequential's training stream
  const Dataset data = digitnet::testing::band_dataset(70, 4, 10, 10, 3);
  Tensor x;
  std::vector<int32_t> y;
  std::vector<int64_t> idx;
  for (int step = 0; step < 6; ++step) {
    const int64_t n = step == 3 ? 7 : 16;  // a smaller batch in between
    idx.clear();
    for (int64_t i = 0; i < n; ++i) idx.push_back((step * 16 + i) % data.size());
    data.batch(idx, x, y);
    const double la = a.train_step(x, y, 3e-3f).first;
    const double lb = plain_train_step(b, pool, rng, x, y, 3e-3f);
    ASSERT_EQ(la, lb) << "step " << step;
  }
  const auto wa = a.get_weights(), wb = b.get_weights();
  ASSERT_EQ(wa.size(), wb.size());
  for (std::size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(bit_equal(wa[i], wb[i])) << i;

  // predict: one batch, several batches (the last one short), batch 1 — the
  // probabilities of the plain forward, bit for bit.
  const Tensor all = data.images(0, 23);
  EXPECT_TRUE(bit_equal(a.predict(all, 100), plain_logits(b, pool, all, 100)));
  EXPECT_TRUE(bit_equal(a.predict(all, 5), plain_logits(b, pool, all, 5)));
  EXPECT_TRUE(bit_equal(a.predict(all, 1), plain_logits(b, pool, all, 1)));
  // A (N, 100) input is read as (N, 1, 10, 10), without a copy.
  Tensor flat = all;
  flat.reshape({23, 100});
  EXPECT_TRUE(bit_equal(a.predict(flat, 9), plain_logits(b, pool, all, 9)));
  // Across batch sizes the probabilities agree to rounding.
  const Tensor p1 = a.predict(all, 100), pb1 = a.predict(all, 1);
  for (int64_t i = 0; i < p1.size(); ++i) EXPECT_NEAR(p1.data()[i], pb1.data()[i], 1e-6f) << i;
  // evaluate uses the same workspace; twice gives the same result.
  const Evaluation e1 = a.evaluate(data, 32), e2 = a.evaluate(data, 70);
  EXPECT_EQ(e1.accuracy, e2.accuracy);
  EXPECT_NEAR(e1.loss, e2.loss, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Nets, SharedBuffers,
                         ::testing::Combine(::testing::ValuesIn(nets()), ::testing::Values(1, 3)),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + "_t" +
                                  std::to_string(std::get<1>(info.param));
                         });

// Identity layers that record how Sequential called them.
struct Calls {
  int forwards = 0, in_place = 0, backwards = 0;
  std::vector<int64_t> batches;  // the batch size of every forward
};
class Probe final : public Layer {
 public:
  Probe(Calls* c, bool reshape) : calls_(c), reshape_(reshape) {}
  std::string type() const override { return "Probe"; }
  Shape build(const Shape& s, Rng&) override {
    input_shape_ = s;
    output_shape_ = reshape_ ? Shape{shape_size(s)} : s;
    return output_shape_;
  }
  void forward(const Tensor& x, Tensor& y, const Context&) override {
    ++calls_->forwards;
    calls_->batches.push_back(x.dim(0));
    calls_->in_place += x.data() == y.data();
    y.resize(with_batch(x.dim(0), output_shape_));
    if (y.data() != x.data()) std::copy(x.data(), x.data() + x.size(), y.data());
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                const Context&) override {
    ++calls_->backwards;
    if (!dx) return;
    dx->resize(x.shape());
    std::copy(dy.data(), dy.data() + dy.size(), dx->data());
  }
  nlohmann::json config() const override { return {}; }
  bool is_reshape() const override { return reshape_; }
  bool backward_reads_output() const override { return false; }
  bool supports_in_place() const override { return !reshape_; }

 private:
  Calls* calls_;
  bool reshape_;
};

TEST(SharedBuffers, ReshapeLayersAreSkippedAndInPlaceFollowsTheOwnersBackward) {
  Calls after_pool, after_dense, reshape;
  Sequential m({1, 6, 6}, 1, 2);
  m.add(Conv2D(2, 3, relu));
  m.add(MaxPooling2D(2));
  m.add(std::make_unique<Probe>(&after_pool, false));  // pooling does not read y: in place
  m.add(std::make_unique<Probe>(&reshape, true));
  m.add(Dense(5, relu));
  m.add(std::make_unique<Probe>(&after_dense, false));  // Dense relu reads y: not in training
  m.add(Dense(3, softmax));
  m.compile(SGD(0.1f), sparse_categorical_crossentropy());
  Tensor x({4, 1, 6, 6}, 0.5f);
  const std::vector<int32_t> y = {0, 1, 2, 0};
  m.train_step(x, y, 0.1f);
  EXPECT_EQ(after_pool.forwards, 1);
  EXPECT_EQ(after_pool.in_place, 1);
  EXPECT_EQ(after_pool.backwards, 1);
  EXPECT_EQ(after_dense.forwards, 1);
  EXPECT_EQ(after_dense.in_place, 0);
  EXPECT_EQ(reshape.forwards + reshape.backwards, 0) << "a reshape layer is a view";
  m.predict(x);
  EXPECT_EQ(after_dense.forwards, 2);
  EXPECT_EQ(after_dense.in_place, 1) << "inference runs in place after any layer";
  EXPECT_EQ(reshape.forwards, 0);
}

TEST(SharedBuffers, InferenceRunsLargeActivationsInChunksThatFitEightMegabytes) {
  // 256x256 images through an identity layer: 2 x 256 KB per sample, so 16 fit
  // 8 MB; predict and evaluate of 70 images at batch 500 run 16 x 4 + 6 (one
  // thread) or at least one sub-batch of 16 per thread (3 threads: 48 + 22),
  // with the same probabilities as one image at a time.
  for (int threads : {1, 3}) {
    Calls probe;
    Sequential m({1, 256, 256}, 1, threads);
    m.add(std::make_unique<Probe>(&probe, false));
    m.add(Flatten());
    m.add(Dense(3, softmax));
    m.compile(SGD(0.1f), sparse_categorical_crossentropy());
    const Dataset data = digitnet::testing::band_dataset(70, 3, 256, 256, 9);
    const Tensor x = data.images(0, 70);
    const Tensor p = m.predict(x, 500);
    const std::vector<int64_t> want =
        threads == 1 ? std::vector<int64_t>{16, 16, 16, 16, 6} : std::vector<int64_t>{48, 22};
    EXPECT_EQ(probe.batches, want) << threads << " threads";
    probe.batches.clear();
    m.evaluate(data, 500);
    EXPECT_EQ(probe.batches, want) << threads << " threads";
    probe.batches.clear();
    EXPECT_EQ(m.predict(x, 10).dim(0), 70);
    EXPECT_EQ(probe.batches, (std::vector<int64_t>{10, 10, 10, 10, 10, 10, 10}))
        << "a smaller batch size is kept";
    const Tensor p1 = m.predict(x, 1);
    for (int64_t i = 0; i < p.size(); ++i) ASSERT_NEAR(p[i], p1[i], 1e-5f) << i;  // 65536 inputs
  }
}

// Nothing before the first layer with parameters learns: no backward runs there
// and that layer is not asked for its input gradient.
class NoDxProbe final : public Layer {
 public:
  explicit NoDxProbe(std::vector<bool>* asked) : asked_(asked) {}
  std::string type() const override { return "NoDxProbe"; }
  Shape build(const Shape& s, Rng&) override {
    input_shape_ = output_shape_ = s;
    w_ = Param{"w", Tensor({1}, 1.0f), Tensor({1}), true};
    return s;
  }
  void forward(const Tensor& x, Tensor& y, const Context&) override {
    y.resize(x.shape());
    std::copy(x.data(), x.data() + x.size(), y.data());
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                const Context&) override {
    asked_->push_back(dx != nullptr);
    w_.grad[0] = 0.0f;
    if (!dx) return;
    dx->resize(x.shape());
    std::copy(dy.data(), dy.data() + dy.size(), dx->data());
  }
  std::vector<Param*> params() override { return {&w_}; }
  std::vector<const Param*> params() const override { return {&w_}; }
  nlohmann::json config() const override { return {}; }

 private:
  std::vector<bool>* asked_;
  Param w_;
};

TEST(SharedBuffers, NoBackwardBeforeTheFirstLayerWithParameters) {
  Calls before;
  std::vector<bool> asked;
  Sequential m({1, 4, 4}, 1, 2);
  m.add(std::make_unique<Probe>(&before, false));  // no parameters: nothing to learn here
  m.add(Flatten());
  m.add(std::make_unique<NoDxProbe>(&asked));  // the first layer with parameters
  m.add(std::make_unique<NoDxProbe>(&asked));
  m.add(Dense(3, softmax));
  m.compile(SGD(0.1f), sparse_categorical_crossentropy());
  Tensor x({2, 1, 4, 4}, 0.25f);
  const std::vector<int32_t> y = {0, 2};
  m.train_step(x, y, 0.1f);
  EXPECT_EQ(before.forwards, 1);
  EXPECT_EQ(before.backwards, 0);
  // Backward runs last layer first: the second probe passes dx on, the first does not.
  EXPECT_EQ(asked, (std::vector<bool>{true, false}));
}

}  // namespace

namespace digitnet {
namespace {

// Probe that is per sample (so it allows micro-batches) and records batch sizes.
class SampleProbe final : public Layer {
 public:
  explicit SampleProbe(std::vector<int64_t>* batches) : batches_(batches) {}
  std::string type() const override { return "SampleProbe"; }
  Shape build(const Shape& s, Rng&) override {
    input_shape_ = output_shape_ = s;
    return s;
  }
  void forward(const Tensor& x, Tensor& y, const Context&) override {
    batches_->push_back(x.dim(0));
    y.resize(x.shape());
    std::copy(x.data(), x.data() + x.size(), y.data());
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                const Context&) override {
    if (!dx) return;
    dx->resize(x.shape());
    std::copy(dy.data(), dy.data() + dy.size(), dx->data());
  }
  nlohmann::json config() const override { return {}; }
  bool per_sample() const override { return true; }

 private:
  std::vector<int64_t>* batches_;
};

TEST(MicroBatches, ALargeBatchTrainsInPartsWithTheWholeBatchsGradient) {
  // 1x64x64 images, Conv2D(16, 3) -> 16x62x62: ~650 KB of activations and
  // gradients per sample, so a batch of 36 (over 20 MB, above the 16 MB that
  // train whole) runs as micro-batches of 8, 8, 8, 8, 4 (4 MB budget, multiples
  // of 8); a batch of 20 (13 MB) runs whole. The step must match the whole-batch plain
  // algorithm to rounding (Dropout draws the same mask), for 1 and 2 threads,
  // and repeat bit for bit.
  for (int threads : {1, 2}) {
    std::vector<int64_t> seen;
    auto make = [&](std::vector<int64_t>* probe) {
      Sequential m({1, 64, 64}, 11, threads);
      m.add(std::make_unique<SampleProbe>(probe));
      m.add(Conv2D(16, 3, relu));
      m.add(MaxPooling2D(2));
      m.add(Dropout(0.3f));
      m.add(Flatten());
      m.add(Dense(8, relu));
      m.add(Dense(3, softmax));
      m.compile(Adam(1e-3f), sparse_categorical_crossentropy());
      return m;
    };
    std::vector<int64_t> unused, unused2;
    Sequential a = make(&seen), b = make(&unused), c = make(&unused2);
    ThreadPool pool(threads);
    Rng rng(11 ^ 0x7261696E5F726E67ull);  // Sequential's training stream
    const Dataset data = digitnet::testing::band_dataset(36, 3, 64, 64, 4);
    const Tensor x = data.images(0, 36);
    for (int step = 0; step < 3; ++step) {
      seen.clear();
      const double la = a.train_step(x, data.labels, 1e-3f).first;
      EXPECT_EQ(seen, (std::vector<int64_t>{8, 8, 8, 8, 4})) << "step " << step;
      const double lb = plain_train_step(b, pool, rng, x, data.labels, 1e-3f);
      EXPECT_NEAR(la, lb, 1e-5 * (1 + std::abs(lb))) << "step " << step;
      c.train_step(x, data.labels, 1e-3f);
    }
    const auto wa = a.get_weights(), wb = b.get_weights(), wc = c.get_weights();
    for (std::size_t i = 0; i < wa.size(); ++i) {
      EXPECT_TRUE(bit_equal(wa[i], wc[i])) << "tensor " << i << ": a repeat is not bit-identical";
      for (int64_t j = 0; j < wa[i].size(); ++j)
        ASSERT_NEAR(wa[i][j], wb[i][j], 2e-5f * (1 + std::abs(wb[i][j])))
            << "tensor " << i << " element " << j << ", " << threads << " threads";
    }
    seen.clear();
    Sequential d = make(&seen);
    d.train_step(data.images(0, 20), std::span(data.labels).first(20), 1e-3f);
    EXPECT_EQ(seen, (std::vector<int64_t>{20})) << "a batch of 13 MB trains whole";
  }
  // A layer that is not per sample (BatchNorm) keeps the whole batch.
  std::vector<int64_t> seen;
  Sequential m({1, 64, 64}, 11, 1);
  m.add(std::make_unique<SampleProbe>(&seen));
  m.add(Conv2D(16, 3, relu));
  m.add(BatchNormalization());
  m.add(Flatten());
  m.add(Dense(3, softmax));
  m.compile(Adam(1e-3f), sparse_categorical_crossentropy());
  const Dataset data = digitnet::testing::band_dataset(36, 3, 64, 64, 4);  // over 16 MB
  m.train_step(data.images(0, 36), data.labels, 1e-3f);
  EXPECT_EQ(seen, (std::vector<int64_t>{36}));
  // An empty batch and a label count that does not match are errors, not a step.
  EXPECT_THROW(m.train_step(Tensor({0, 1, 64, 64}), {}, 1e-3f), Error);
  const std::vector<int32_t> too_few(35, 0);
  EXPECT_THROW(m.train_step(data.images(0, 36), too_few, 1e-3f), Error);
}

}  // namespace
}  // namespace digitnet
