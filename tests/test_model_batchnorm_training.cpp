// BatchNormalization's moving statistics after training, against PyTorch: a small
// network trained 300 Adam steps from the same weights on the same batches
// (scripts/make_bn_goldens.py writes tests/data/golden/batchnorm_training.json).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "digitnet/digitnet.hpp"
#include "golden.hpp"

using namespace digitnet;
using digitnet::testing::golden_tensor;
using digitnet::testing::load_golden;
using nlohmann::json;

namespace {

// The golden network with the golden initial weights (the BN layer as built).
Sequential make_model(const json& g, int threads) {
  Sequential m({1, 8, 8}, 0, threads);
  m.add(Conv2D(4, 3, linear, 1, Padding::same, /*use_bias=*/false));
  m.add(BatchNormalization(g.at("momentum").get<float>(), g.at("epsilon").get<float>()));
  m.add(ActivationLayer(relu));
  m.add(Flatten());
  m.add(Dense(10, softmax));
  m.compile(Adam(g.at("lr").get<float>()), sparse_categorical_crossentropy());
  for (Layer* l : m.layers())
    for (Param* p : l->params())
      if (const auto it = g.at("initial").find(l->name + "/" + p->name);
          it != g.at("initial").end())
        p->value = golden_tensor(*it);
  return m;
}

const Tensor& buffer(Sequential& m, const std::string& name) {
  for (Layer* l : m.layers())
    for (auto& [n, t] : l->buffers())
      if (n == name) return *t;
  throw std::runtime_error("no buffer " + name);
}

// The largest |got - want| / |want| over a golden tensor.
double max_rel(const Tensor& got, const json& want_j) {
  const Tensor want = golden_tensor(want_j);
  EXPECT_EQ(got.shape(), want.shape());
  double worst = 0.0;
  for (int64_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - want[i]) / std::abs(double(want[i])));
  return worst;
}

}  // namespace

class BatchNormTraining : public ::testing::TestWithParam<int> {};

TEST_P(BatchNormTraining, MovingStatisticsMatchPyTorchAfterHundredsOfSteps) {
  const json g = load_golden("batchnorm_training.json");
  Sequential m = make_model(g, GetParam());
  const Tensor x = golden_tensor(g.at("x"));
  const auto labels = g.at("y").get<std::vector<int32_t>>();
  const int64_t batch = g.at("batch").get<int64_t>(), n = x.dim(0), per = x.size() / n;
  const float lr = g.at("lr").get<float>();
  int checked = 0;
  for (int step = 1; step <= 300; ++step) {
    const int64_t first = ((step - 1) % (n / batch)) * batch;
    Tensor xb({batch, 1, 8, 8});
    std::copy(x.data() + first * per, x.data() + (first + batch) * per, xb.data());
    const std::span<const int32_t> yb(labels.data() + first, static_cast<std::size_t>(batch));
    const auto [loss, acc] = m.train_step(xb, yb, lr);
    (void)acc;
    const auto it = g.at("after").find(std::to_string(step));
    if (it == g.at("after").end()) continue;
    SCOPED_TRACE("after step " + std::to_string(step));
    ++checked;
    // float32 against float64 over hundreds of Adam steps: the losses agree to ~1e-5,
    // the statistics (means near zero, so relative errors are larger) to ~1e-3.
    EXPECT_NEAR(loss, it->at("loss").get<double>(), 1e-4 * (1.0 + it->at("loss").get<double>()));
    EXPECT_LT(max_rel(buffer(m, "moving_mean"), it->at("moving_mean")), 1e-2);
    EXPECT_LT(max_rel(buffer(m, "moving_variance"), it->at("moving_variance")), 1e-3);
    EXPECT_LT(max_rel(buffer(m, "moving_weight"), it->at("moving_weight")), 1e-6);
  }
  EXPECT_EQ(checked, 3);
  // The debiasing matters here: PyTorch's fixed-momentum variance after 300 steps is
  // several times the true one, and digitnet's is not that.
  const Tensor fixed =
      golden_tensor(g.at("pytorch_fixed_momentum").at("300").at("moving_variance"));
  const Tensor& var = buffer(m, "moving_variance");
  for (int64_t c = 0; c < var.size(); ++c) EXPECT_GT(fixed[c], 3.0f * var[c]);
}

INSTANTIATE_TEST_SUITE_P(Threads, BatchNormTraining, ::testing::Values(1, 2));
