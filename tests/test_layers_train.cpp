// Tiny end-to-end training runs: stacks of layers trained with plain SGD written
// inline (w -= lr·grad) on small synthetic separable problems.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "digitnet/layers/layers.hpp"

using namespace digitnet;

namespace {

// A minimal sequential stack: forward keeps every activation for backward.
struct Stack {
  std::vector<LayerPtr> layers;
  std::vector<Tensor> acts;

  Stack(const Shape& input, std::vector<LayerPtr> ls, uint64_t seed) : layers(std::move(ls)) {
    Rng rng(seed);
    Shape s = input;
    for (auto& l : layers) s = l->build(s, rng);
    layers.back()->set_logits_output(true);  // softmax fused with the loss below
  }
  const Tensor& forward(const Tensor& x, const Context& ctx) {
    acts.resize(layers.size() + 1);
    acts[0] = x;
    for (std::size_t i = 0; i < layers.size(); ++i) layers[i]->forward(acts[i], acts[i + 1], ctx);
    return acts.back();
  }
  void backward(const Tensor& dlogits, const Context& ctx) {
    Tensor g = dlogits, gx;
    for (std::size_t i = layers.size(); i-- > 0;) {
      layers[i]->backward(acts[i], acts[i + 1], g, i == 0 ? nullptr : &gx, ctx);
      std::swap(g, gx);
    }
  }
  void sgd(float lr) {
    for (auto& l : layers)
      for (Param* p : l->params())
        for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] -= lr * p->grad[i];
  }
};

// Mean softmax cross-entropy of logits (N, K); grad = (softmax - onehot) / N.
double softmax_xent(const Tensor& logits, const std::vector<int>& labels, Tensor* grad,
                    int* correct) {
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (grad) grad->resize(logits.shape());
  double loss = 0.0;
  *correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.data() + i * k;
    int64_t arg = 0;
    for (int64_t j = 1; j < k; ++j)
      if (z[j] > z[arg]) arg = j;
    double s = 0.0;
    for (int64_t j = 0; j < k; ++j) s += std::exp(double(z[j]) - z[arg]);
    const int y = labels[static_cast<std::size_t>(i)];
    loss += -(double(z[y]) - z[arg] - std::log(s));
    *correct += arg == y;
    if (grad)
      for (int64_t j = 0; j < k; ++j)
        (*grad)[i * k + j] =
            static_cast<float>((std::exp(double(z[j]) - z[arg]) / s - (j == y)) / double(n));
  }
  return loss / double(n);
}

// 8x8 images: class 0 has a bright horizontal bar, class 1 a vertical one, plus noise.
void bars(int n, Rng& rng, Tensor& x, std::vector<int>& labels) {
  x = Tensor({n, 1, 8, 8});
  labels.assign(static_cast<std::size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    const int cls = static_cast<int>(rng.below(2)), pos = 1 + static_cast<int>(rng.below(6));
    labels[static_cast<std::size_t>(i)] = cls;
    float* img = x.sample(i);
    for (int p = 0; p < 64; ++p) img[p] = rng.uniform(0.0f, 0.3f);
    for (int t = 0; t < 8; ++t) img[cls == 0 ? pos * 8 + t : t * 8 + pos] += 0.7f;
  }
}

// Three Gaussian blobs in 4-D.
void blobs(int n, Rng& rng, Tensor& x, std::vector<int>& labels) {
  const float centers[3][4] = {{1.5f, 0, 0, -1}, {-1.5f, 1, 0, 0}, {0, -1.5f, 1.5f, 1}};
  x = Tensor({n, 4});
  labels.assign(static_cast<std::size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    const int cls = static_cast<int>(rng.below(3));
    labels[static_cast<std::size_t>(i)] = cls;
    for (int d = 0; d < 4; ++d) x[i * 4 + d] = centers[cls][d] + 0.5f * rng.normal();
  }
}

// Trains with minibatches of `batch`, returns {first-epoch mean loss, final test loss, test acc}.
struct Outcome {
  double first_loss, test_loss, test_acc;
};
Outcome train(Stack& net, const Tensor& x, const std::vector<int>& y, const Tensor& tx,
              const std::vector<int>& ty, int epochs, int batch, float lr, int threads) {
  ThreadPool pool(threads);
  Rng rng(5);
  const int64_t n = x.dim(0), per = x.size() / n;
  Shape bs = x.shape();
  Outcome out{0, 0, 0};
  for (int e = 0; e < epochs; ++e) {
    double epoch_loss = 0.0;
    int batches = 0;
    for (int64_t b = 0; b + batch <= n; b += batch) {
      bs[0] = batch;
      Tensor xb(bs);
      std::copy(x.data() + b * per, x.data() + (b + batch) * per, xb.data());
      std::vector<int> yb(y.begin() + b, y.begin() + b + batch);
      const Context ctx{true, &pool, &rng};
      Tensor grad;
      int correct = 0;
      epoch_loss += softmax_xent(net.forward(xb, ctx), yb, &grad, &correct);
      ++batches;
      net.backward(grad, ctx);
      net.sgd(lr);
    }
    if (e == 0) out.first_loss = epoch_loss / batches;
  }
  const Context infer{false, &pool, nullptr};
  int correct = 0;
  out.test_loss = softmax_xent(net.forward(tx, infer), ty, nullptr, &correct);
  out.test_acc = double(correct) / double(tx.dim(0));
  return out;
}

TEST(LayersTraining, ConvNetLearnsBarOrientation) {
  Rng data(11);
  Tensor x, tx;
  std::vector<int> y, ty;
  bars(256, data, x, y);
  bars(100, data, tx, ty);
  std::vector<LayerPtr> ls;
  ls.push_back(Conv2D(4, 3, relu, 1, same));
  ls.push_back(MaxPooling2D(2));
  ls.push_back(Conv2D(4, 3, tanh_act, 2, same));
  ls.push_back(AveragePooling2D(2));
  ls.push_back(Flatten());
  ls.push_back(Dense(2, softmax));
  Stack net({1, 8, 8}, std::move(ls), 3);
  ThreadPool p(1);
  const Context infer{false, &p, nullptr};
  int correct0 = 0;
  const double loss0 = softmax_xent(net.forward(tx, infer), ty, nullptr, &correct0);
  const Outcome o = train(net, x, y, tx, ty, 15, 16, 0.2f, 2);
  std::printf("conv: loss %.4f -> %.4f, acc %.3f\n", loss0, o.test_loss, o.test_acc);
  EXPECT_GE(o.test_acc, 0.97) << "initial accuracy " << correct0 / 100.0;
  EXPECT_LT(o.test_loss, 0.2 * loss0) << "initial test loss " << loss0;
}

TEST(LayersTraining, MlpWithBatchNormAndDropoutLearnsBlobs) {
  Rng data(12);
  Tensor x, tx;
  std::vector<int> y, ty;
  blobs(300, data, x, y);
  blobs(150, data, tx, ty);
  std::vector<LayerPtr> ls;
  ls.push_back(Dense(16, tanh_act));
  ls.push_back(BatchNormalization(0.9f));
  ls.push_back(Dropout(0.1f));
  ls.push_back(Dense(8, leaky_relu));
  ls.push_back(Dense(3));
  ls.push_back(ActivationLayer(softmax));
  Stack net({4}, std::move(ls), 4);
  const Outcome o = train(net, x, y, tx, ty, 15, 20, 0.1f, 3);
  std::printf("mlp: first %.4f -> %.4f, acc %.3f\n", o.first_loss, o.test_loss, o.test_acc);
  EXPECT_GE(o.test_acc, 0.95);
  EXPECT_LT(o.test_loss, 0.1 * o.first_loss) << "first epoch loss " << o.first_loss;
}

}  // namespace
