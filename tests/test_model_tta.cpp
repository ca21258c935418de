// Test-time augmentation: the averaged prediction is the mean of the model's
// predictions on the fixed views, and its evaluation counts what that mean says.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "digitnet/digitnet.hpp"
#include "synthetic.hpp"

using namespace digitnet;
using digitnet::testing::band_dataset;
using digitnet::testing::trained_band_cnn;

TEST(Tta, ViewsAreTheImageShiftsAndRotations) {
  const std::vector<Warp> v = tta_views();
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(v[0].shift_x, 0.0);
  EXPECT_EQ(v[0].rotate, 0.0);
  EXPECT_EQ(v[0].scale, 1.0);
  int shifts = 0, rotations = 0;
  for (const Warp& w : v) {
    shifts += std::abs(w.shift_x) + std::abs(w.shift_y) == 1.0;
    rotations += std::abs(std::abs(w.rotate) * 180 / 3.14159265358979 - 6.0) < 1e-9;
  }
  EXPECT_EQ(shifts, 4);
  EXPECT_EQ(rotations, 2);
}

TEST(Tta, PredictionIsTheMeanOverTheViewsAndEvaluationCountsIt) {
  const Dataset train = band_dataset(400, 4, 12, 12, 1), test = band_dataset(60, 4, 12, 12, 2);
  const Sequential m = trained_band_cnn(5, train, 2);
  const Tensor x = test.images(0, test.size());
  const Tensor p = predict_tta(m, x);
  ASSERT_EQ(p.shape(), (Shape{60, 4}));
  // By hand: warp every image with each view, predict, average.
  Tensor sum({60, 4}, 0.0f), view(x.shape());
  for (const Warp& w : tta_views()) {
    for (int64_t i = 0; i < 60; ++i)
      apply_warp(w, x.data() + i * 144, view.data() + i * 144, 1, 12, 12);
    const Tensor q = m.predict(view);
    for (int64_t i = 0; i < q.size(); ++i) sum[i] += q[i];
  }
  for (int64_t i = 0; i < p.size(); ++i) ASSERT_NEAR(p[i], sum[i] / 7.0f, 1e-6f) << i;
  for (int64_t i = 0; i < 60; ++i) {
    double s = 0;
    for (int k = 0; k < 4; ++k) s += p[i * 4 + k];
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
  const Evaluation ev = evaluate_tta(m, test);
  int64_t correct = 0;
  double loss = 0;
  for (int64_t i = 0; i < 60; ++i) {
    const float* row = p.data() + i * 4;
    correct += std::max_element(row, row + 4) - row == test.labels[static_cast<size_t>(i)];
    loss -= std::log(double(row[test.labels[static_cast<size_t>(i)]]));
  }
  EXPECT_EQ(ev.samples, 60);
  EXPECT_DOUBLE_EQ(ev.accuracy, double(correct) / 60.0);
  EXPECT_NEAR(ev.loss, loss / 60.0, 1e-6);
  // Not the plain prediction: the views change the probabilities.
  const Tensor plain = m.predict(x);
  EXPECT_NE(std::memcmp(plain.data(), p.data(), sizeof(float) * size_t(p.size())), 0);
}
