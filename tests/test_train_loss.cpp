// Cross-entropy losses: hand-computed values, finite-difference gradients,
// PyTorch goldens, numerical stability and error reporting.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/model/loss.hpp"
#include "test_support.hpp"

using digitnet::testing::error_of;

using namespace digitnet;

namespace {

Tensor make_tensor(const Shape& shape, const std::vector<float>& values) {
  Tensor t(shape);
  EXPECT_EQ(static_cast<std::size_t>(t.size()), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) t[static_cast<int64_t>(i)] = values[i];
  return t;
}

nlohmann::json load_golden(const std::string& file) {
  std::ifstream in(std::string(DIGITNET_TEST_DATA_DIR) + "/golden_optim/" + file);
  EXPECT_TRUE(in.good()) << "missing golden " << file;
  return nlohmann::json::parse(in);
}

// Central-difference check of dLoss/doutput against compute()'s gradient.
void check_gradient(const Loss& loss, Tensor output, const Targets& targets, bool logits) {
  Tensor grad;
  loss.compute(output, targets, &grad, logits);
  ASSERT_EQ(grad.shape(), output.shape());
  const float h = 1e-3f;
  for (int64_t i = 0; i < output.size(); ++i) {
    const float keep = output[i];
    output[i] = keep + h;
    const double up = loss.compute(output, targets, nullptr, logits);
    output[i] = keep - h;
    const double down = loss.compute(output, targets, nullptr, logits);
    output[i] = keep;
    const double numeric = (up - down) / (2.0 * h);
    EXPECT_NEAR(grad[i], numeric, 4e-4 + 2e-3 * std::fabs(numeric))
        << loss.name() << " element " << i << (logits ? " (logits)" : " (probabilities)");
  }
}

Tensor random_logits(Rng& rng, int64_t n, int64_t k) {
  Tensor t({n, k});
  for (int64_t i = 0; i < t.size(); ++i) t[i] = 2.0f * rng.normal();
  return t;
}

// Rows of probabilities in [0.2, 0.8]-ish territory (away from the clip range).
Tensor random_probs(Rng& rng, int64_t n, int64_t k) {
  Tensor t({n, k});
  for (int64_t i = 0; i < n; ++i) {
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) sum += (t[i * k + j] = rng.uniform(1.0f, 2.0f));
    for (int64_t j = 0; j < k; ++j) t[i * k + j] /= sum;
  }
  return t;
}

}  // namespace

TEST(Loss, UniformLogitsGiveLogK) {
  const auto loss = sparse_categorical_crossentropy();
  Tensor z({3, 10}, 0.25f);
  const std::vector<int32_t> labels = {0, 4, 9};
  Tensor grad;
  const float value = loss->compute(z, {labels}, &grad, true);
  EXPECT_NEAR(value, std::log(10.0), 1e-6);
  ASSERT_EQ(grad.shape(), (Shape{3, 10}));
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 10; ++j) {
      const double expected = (0.1 - (j == labels[static_cast<std::size_t>(i)] ? 1.0 : 0.0)) / 3;
      EXPECT_NEAR(grad[i * 10 + j], expected, 1e-7);
    }
}

TEST(Loss, HandComputedLogitValues) {
  const auto loss = sparse_categorical_crossentropy();
  // logits (1, 2, 3), label 2: log(e + e² + e³) − 3 = log(1 + e⁻¹ + e⁻²).
  const Tensor z = make_tensor({2, 3}, {1, 2, 3, 1, 2, 3});
  const std::vector<int32_t> labels = {2, 0};
  const double l0 = std::log(1.0 + std::exp(-1.0) + std::exp(-2.0));
  const double l1 = l0 + 2.0;  // label 0: lse − 1
  EXPECT_NEAR(loss->compute(z, {labels}, nullptr, true), (l0 + l1) / 2, 1e-6);
  EXPECT_NEAR(0.4076059644, l0, 1e-9);  // the literal value of the first row

  // Label smoothing 0.3 with K = 3: t = 0.7·onehot + 0.1.
  const auto smooth = sparse_categorical_crossentropy(0.3f);
  const double lse = 3.0 + l0;
  const double row0 = 0.1 * (lse - 1) + 0.1 * (lse - 2) + 0.8 * (lse - 3);
  const double row1 = 0.8 * (lse - 1) + 0.1 * (lse - 2) + 0.1 * (lse - 3);
  EXPECT_NEAR(smooth->compute(z, {labels}, nullptr, true), (row0 + row1) / 2, 1e-6);
}

TEST(Loss, HandComputedProbabilityValuesAndClipping) {
  const auto loss = sparse_categorical_crossentropy();
  const Tensor p = make_tensor({1, 3}, {0.2f, 0.5f, 0.3f});
  const std::vector<int32_t> label = {1};
  Tensor grad;
  EXPECT_NEAR(loss->compute(p, {label}, &grad, false), std::log(2.0), 1e-6);
  EXPECT_NEAR(grad[0], 0.0, 1e-7);
  EXPECT_NEAR(grad[1], -2.0, 1e-6);  // −1/0.5
  EXPECT_NEAR(grad[2], 0.0, 1e-7);

  const auto smooth = sparse_categorical_crossentropy(0.15f);  // t = (0.05, 0.9, 0.05)
  const double expected = -(0.05 * std::log(0.2) + 0.9 * std::log(0.5) + 0.05 * std::log(0.3));
  EXPECT_NEAR(smooth->compute(p, {label}, &grad, false), expected, 1e-6);
  EXPECT_NEAR(grad[0], -0.05 / 0.2, 1e-6);

  // A zero probability on the true class is clipped to 1e-7 (Keras), and the
  // clipped element gets no gradient; a probability of exactly 1 is clipped too.
  const Tensor zero = make_tensor({2, 2}, {0.0f, 1.0f, 1.0f, 0.0f});
  const std::vector<int32_t> labels = {0, 0};
  const double big = -std::log(1e-7);
  const double tiny = -std::log(static_cast<double>(1.0f - 1e-7f));
  EXPECT_NEAR(loss->compute(zero, {labels}, &grad, false), (big + tiny) / 2, 1e-4);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(grad[i], 0.0f) << i;
}

TEST(Loss, FiniteDifferenceGradients) {
  Rng rng(42);
  const int64_t n = 4, k = 5;
  const std::vector<int32_t> labels = {3, 0, 4, 1};
  for (float eps : {0.0f, 0.2f}) {
    const auto sparse = sparse_categorical_crossentropy(eps);
    const auto onehot = categorical_crossentropy(eps);
    const Tensor soft = random_probs(rng, n, k);
    check_gradient(*sparse, random_logits(rng, n, k), {labels}, true);
    check_gradient(*sparse, random_probs(rng, n, k), {labels}, false);
    check_gradient(*onehot, random_logits(rng, n, k), {{}, &soft}, true);
    check_gradient(*onehot, random_probs(rng, n, k), {{}, &soft}, false);
    check_gradient(*onehot, random_logits(rng, n, k), {labels}, true);
  }
}

TEST(Loss, LogitGradientIsSoftmaxMinusTargetOverN) {
  Rng rng(3);
  const Tensor z = random_logits(rng, 2, 4);
  const std::vector<int32_t> labels = {1, 2};
  Tensor grad;
  sparse_categorical_crossentropy(0.2f)->compute(z, {labels}, &grad, true);
  for (int64_t i = 0; i < 2; ++i) {
    double sum = 0.0;
    for (int64_t j = 0; j < 4; ++j) sum += std::exp(z[i * 4 + j]);
    for (int64_t j = 0; j < 4; ++j) {
      const double t = 0.05 + (j == labels[static_cast<std::size_t>(i)] ? 0.8 : 0.0);
      EXPECT_NEAR(grad[i * 4 + j], (std::exp(z[i * 4 + j]) / sum - t) / 2, 1e-6);
    }
  }
}

TEST(Loss, CategoricalMatchesSparseForOneHotTargets) {
  Rng rng(9);
  const Tensor z = random_logits(rng, 3, 4);
  const std::vector<int32_t> labels = {2, 0, 3};
  Tensor onehot({3, 4}, 0.0f);
  for (int64_t i = 0; i < 3; ++i) onehot[i * 4 + labels[static_cast<std::size_t>(i)]] = 1.0f;
  for (bool logits : {true, false}) {
    const Tensor out = logits ? z : random_probs(rng, 3, 4);
    Tensor g_sparse, g_probs, g_labels;
    const float a =
        sparse_categorical_crossentropy(0.1f)->compute(out, {labels}, &g_sparse, logits);
    const auto cat = categorical_crossentropy(0.1f);
    const float b = cat->compute(out, {{}, &onehot}, &g_probs, logits);
    const float c = cat->compute(out, {labels}, &g_labels, logits);  // one-hot-encoded here
    EXPECT_NEAR(a, b, 1e-6);
    EXPECT_NEAR(a, c, 1e-6);
    for (int64_t i = 0; i < out.size(); ++i) {
      EXPECT_NEAR(g_sparse[i], g_probs[i], 1e-6);
      EXPECT_NEAR(g_sparse[i], g_labels[i], 1e-6);
    }
  }
}

TEST(Loss, HugeLogitsStayFinite) {
  const auto loss = sparse_categorical_crossentropy(0.1f);
  const Tensor z = make_tensor({2, 3}, {1e4f, -1e4f, 0.0f, -1e4f, -1e4f, 1e4f});
  const std::vector<int32_t> labels = {1, 2};
  Tensor grad;
  const float value = loss->compute(z, {labels}, &grad, true);
  ASSERT_TRUE(std::isfinite(value));
  // Row 0: lse = 1e4, t = (0.0333, 0.9333, 0.0333): 0.9333·2e4 + 0.0333·1e4.
  // Row 1: lse = 1e4, t = (0.0333, 0.0333, 0.9333): 0.0333·2e4 + 0.0333·2e4.
  const double row0 = (0.1 / 3 + 0.9) * 2e4 + (0.1 / 3) * 1e4;
  const double row1 = (0.1 / 3) * 2e4 * 2;
  EXPECT_NEAR(value, (row0 + row1) / 2, 1e-2);
  for (int64_t i = 0; i < grad.size(); ++i) EXPECT_TRUE(std::isfinite(grad[i])) << i;
  EXPECT_NEAR(grad[0], (1.0 - 0.1 / 3) / 2, 1e-6);  // softmax row 0 is (1, 0, 0)
  EXPECT_NEAR(grad[1], -(0.9 + 0.1 / 3) / 2, 1e-6);

  // Very confident and correct: the loss is zero, not NaN.
  const Tensor sure = make_tensor({1, 2}, {-1e4f, 1e4f});
  const std::vector<int32_t> one = {1};
  EXPECT_EQ(sparse_categorical_crossentropy()->compute(sure, {one}, &grad, true), 0.0f);
  EXPECT_EQ(grad[0], 0.0f);
  EXPECT_EQ(grad[1], 0.0f);
}

TEST(Loss, MatchesPyTorchGoldens) {
  const nlohmann::json golden = load_golden("losses.json");
  ASSERT_GE(golden["cases"].size(), 6u);
  for (const auto& c : golden["cases"]) {
    const int64_t n = c["n"], k = c["k"];
    const float eps = c["label_smoothing"];
    const Tensor z = make_tensor({n, k}, c["logits"].get<std::vector<float>>());
    Tensor grad;
    float value = 0.0f;
    if (c["kind"] == "sparse") {
      const auto labels = c["labels"].get<std::vector<int32_t>>();
      value = sparse_categorical_crossentropy(eps)->compute(z, {labels}, &grad, true);
    } else {
      const Tensor t = make_tensor({n, k}, c["targets"].get<std::vector<float>>());
      value = categorical_crossentropy(eps)->compute(z, {{}, &t}, &grad, true);
    }
    const std::string what = c["kind"].get<std::string>() + " ε=" + std::to_string(eps);
    EXPECT_NEAR(value, c["loss"].get<double>(), 2e-6 * (1 + c["loss"].get<double>())) << what;
    const auto expected = c["grad"].get<std::vector<double>>();
    for (int64_t i = 0; i < grad.size(); ++i)
      EXPECT_NEAR(grad[i], expected[static_cast<std::size_t>(i)], 1e-6) << what << " " << i;
  }
}

TEST(Loss, BadTargetsNameTheSample) {
  const auto loss = sparse_categorical_crossentropy();
  const Tensor z({3, 4}, 0.0f);
  std::vector<int32_t> labels = {0, 1, 7};
  std::string msg = error_of([&] { loss->compute(z, {labels}, nullptr, true); });
  EXPECT_NE(msg.find("sample 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 7"), std::string::npos) << msg;
  labels = {0, -1, 1};
  msg = error_of([&] { loss->compute(z, {labels}, nullptr, false); });
  EXPECT_NE(msg.find("sample 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label -1"), std::string::npos) << msg;

  const std::vector<int32_t> two = {0, 1};
  msg = error_of([&] { loss->compute(z, {two}, nullptr, true); });
  EXPECT_NE(msg.find("2 labels for 3 samples"), std::string::npos) << msg;
  msg = error_of([&] { loss->compute(z, {}, nullptr, true); });
  EXPECT_NE(msg.find("labels"), std::string::npos) << msg;

  const Tensor wrong({3, 5}, 0.2f);
  msg = error_of([&] { categorical_crossentropy()->compute(z, {{}, &wrong}, nullptr, true); });
  EXPECT_NE(msg.find("(3, 5)"), std::string::npos) << msg;
  const Tensor flat({12}, 0.0f);
  EXPECT_THROW(loss->compute(flat, {labels}, nullptr, true), Error);
  EXPECT_THROW(sparse_categorical_crossentropy(1.5f), Error);
  EXPECT_THROW(categorical_crossentropy(-0.1f), Error);
}

TEST(Loss, MakeLossRoundTripsConfig) {
  for (const auto& original :
       {sparse_categorical_crossentropy(0.1f), categorical_crossentropy(0.0f)}) {
    const auto rebuilt = make_loss(original->name(), original->config());
    EXPECT_EQ(rebuilt->name(), original->name());
    EXPECT_EQ(rebuilt->config(), original->config());
  }
  EXPECT_FLOAT_EQ(make_loss("categorical_crossentropy", {{"label_smoothing", 0.2}})
                      ->config()["label_smoothing"]
                      .get<float>(),
                  0.2f);
  EXPECT_EQ(make_loss("sparse_categorical_crossentropy")->config()["label_smoothing"], 0.0);
  // The rebuilt loss computes the same value.
  const Tensor z = make_tensor({1, 3}, {0.5f, -1.0f, 2.0f});
  const std::vector<int32_t> label = {0};
  EXPECT_EQ(make_loss("sparse_categorical_crossentropy", {{"label_smoothing", 0.1}})
                ->compute(z, {label}, nullptr, true),
            sparse_categorical_crossentropy(0.1f)->compute(z, {label}, nullptr, true));

  std::string msg = error_of([] { make_loss("hinge"); });
  EXPECT_NE(msg.find("hinge"), std::string::npos) << msg;
  msg = error_of([] { make_loss("categorical_crossentropy", {{"from_logits", true}}); });
  EXPECT_NE(msg.find("from_logits"), std::string::npos) << msg;
  msg = error_of([] { make_loss("categorical_crossentropy", {{"label_smoothing", "x"}}); });
  EXPECT_NE(msg.find("label_smoothing"), std::string::npos) << msg;
}
