// Learning-rate schedules: hand-computed values, shape (monotonicity, peak),
// PyTorch OneCycleLR goldens, config round trips and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>

#include "digitnet/core/error.hpp"
#include "digitnet/model/optimizer.hpp"
#include "test_support.hpp"

using digitnet::testing::error_of;

using namespace digitnet;

namespace {

constexpr double kPi = std::numbers::pi;

}  // namespace

TEST(Schedule, ConstantIgnoresTheStep) {
  const auto s = constant_schedule();
  for (int64_t step : {0, 5, 999}) EXPECT_EQ(s->lr(0.25f, step, 1000, 10), 0.25f);
  EXPECT_EQ(s->name(), "constant");
}

TEST(Schedule, StepDecaysEveryStepEpochs) {
  const auto s = step_schedule(2, 0.5f);  // halve every 2 epochs
  const int64_t spe = 10;                 // steps per epoch
  EXPECT_FLOAT_EQ(s->lr(0.4f, 0, 100, spe), 0.4f);
  EXPECT_FLOAT_EQ(s->lr(0.4f, 19, 100, spe), 0.4f);   // epoch 1
  EXPECT_FLOAT_EQ(s->lr(0.4f, 20, 100, spe), 0.2f);   // epoch 2
  EXPECT_FLOAT_EQ(s->lr(0.4f, 45, 100, spe), 0.1f);   // epoch 4
  EXPECT_FLOAT_EQ(s->lr(0.4f, 59, 100, spe), 0.1f);   // epoch 5
  EXPECT_FLOAT_EQ(s->lr(0.4f, 60, 100, spe), 0.05f);  // epoch 6
  float previous = 1.0f;
  for (int64_t step = 0; step < 100; ++step) {
    const float lr = s->lr(0.4f, step, 100, spe);
    EXPECT_LE(lr, previous) << step;
    previous = lr;
  }
  EXPECT_THROW(s->lr(0.4f, 3, 100, 0), Error);
}

TEST(Schedule, CosineWithWarmup) {
  const auto s = cosine_schedule(0.1f, 10);
  const int64_t total = 110;                          // 10 warmup + 100 decay steps
  EXPECT_NEAR(s->lr(0.2f, 0, total, 1), 0.02, 1e-7);  // 0.2·1/10
  EXPECT_NEAR(s->lr(0.2f, 4, total, 1), 0.1, 1e-7);   // 0.2·5/10
  EXPECT_NEAR(s->lr(0.2f, 9, total, 1), 0.2, 1e-7);
  EXPECT_NEAR(s->lr(0.2f, 10, total, 1), 0.2, 1e-7);  // cosine starts at the full rate
  EXPECT_NEAR(s->lr(0.2f, 35, total, 1), 0.2 * (0.1 + 0.9 * (1 + std::cos(kPi / 4)) / 2), 1e-7);
  EXPECT_NEAR(s->lr(0.2f, 60, total, 1), 0.2 * (0.1 + 0.9 * 0.5), 1e-7);  // half way
  EXPECT_NEAR(s->lr(0.2f, 109, total, 1), 0.2 * (0.1 + 0.9 * (1 + std::cos(kPi * 0.99)) / 2), 1e-7);
  EXPECT_NEAR(s->lr(0.2f, 500, total, 1), 0.02, 1e-7);  // past the end: the floor
  for (int64_t step = 1; step < total; ++step) {
    const float now = s->lr(0.2f, step, total, 1), before = s->lr(0.2f, step - 1, total, 1);
    if (step < 10) {
      EXPECT_GT(now, before) << step;
    } else {
      EXPECT_LE(now, before) << step;
    }
  }
  // Without warmup the first step uses the full rate.
  EXPECT_FLOAT_EQ(cosine_schedule()->lr(0.3f, 0, 50, 5), 0.3f);
  EXPECT_THROW(s->lr(0.2f, 0, 0, 1), Error);
}

TEST(Schedule, OneCycleHandComputedAndPeaksAtPctStart) {
  const auto s = one_cycle_schedule(0.3f, 25.0f, 1e4f);
  const int64_t total = 100;
  const float max_lr = 0.1f;
  EXPECT_NEAR(s->lr(max_lr, 0, total, 10), 0.004, 1e-9);  // 0.1/25
  // Phase 1 ends at step 0.3·100 − 1 = 29: cosine from 0.004 up to 0.1.
  EXPECT_NEAR(s->lr(max_lr, 10, total, 10), 0.1 + (0.004 - 0.1) / 2 * (std::cos(kPi * 10 / 29) + 1),
              1e-7);
  EXPECT_NEAR(s->lr(max_lr, 29, total, 10), 0.1, 1e-7);
  // Phase 2 from step 29 to 99: cosine from 0.1 down to 0.004/1e4 = 4e-7.
  EXPECT_NEAR(s->lr(max_lr, 64, total, 10), (0.1 + 4e-7) / 2, 1e-7);
  EXPECT_NEAR(s->lr(max_lr, 99, total, 10), 4e-7, 1e-10);
  EXPECT_NEAR(s->lr(max_lr, 150, total, 10), 4e-7, 1e-10);  // clamped after the end

  int64_t argmax = 0;
  for (int64_t step = 1; step < total; ++step) {
    const float now = s->lr(max_lr, step, total, 10);
    const float before = s->lr(max_lr, step - 1, total, 10);
    if (now > s->lr(max_lr, argmax, total, 10)) argmax = step;
    if (step <= 29) {
      EXPECT_GT(now, before) << step;
    } else {
      EXPECT_LT(now, before) << step;
    }
  }
  EXPECT_EQ(argmax, 29);
}

TEST(Schedule, OneCycleMatchesPyTorch) {
  std::ifstream in(std::string(DIGITNET_TEST_DATA_DIR) + "/golden_optim/schedules.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json golden = nlohmann::json::parse(in);
  ASSERT_GE(golden["cases"].size(), 2u);
  for (const auto& c : golden["cases"]) {
    const auto s = make_schedule(c["name"], c["config"]);
    const int64_t total = c["total_steps"];
    const float base = c["base_lr"];
    const auto expected = c["lr"].get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(expected.size()), total);
    for (int64_t step = 0; step < total; ++step) {
      const double e = expected[static_cast<std::size_t>(step)];
      EXPECT_NEAR(s->lr(base, step, total, 7), e, 1e-6 * e + 1e-12)
          << c["config"].dump() << " step " << step;
    }
  }
}

TEST(Schedule, MakeScheduleRoundTripsConfig) {
  const std::vector<SchedulePtr> originals = {constant_schedule(), step_schedule(3, 0.3f),
                                              cosine_schedule(0.05f, 120),
                                              one_cycle_schedule(0.25f, 10.0f, 100.0f)};
  for (const auto& original : originals) {
    const auto rebuilt = make_schedule(original->name(), original->config());
    EXPECT_EQ(rebuilt->name(), original->name());
    EXPECT_EQ(rebuilt->config(), original->config()) << original->config().dump();
    for (int64_t step : {0, 7, 150, 399})
      EXPECT_EQ(rebuilt->lr(0.01f, step, 400, 25), original->lr(0.01f, step, 400, 25))
          << original->name() << " " << step;
  }
  EXPECT_EQ(make_schedule("one_cycle")->config()["div_factor"], 25.0);
  EXPECT_EQ(make_schedule("cosine")->config()["warmup_steps"], 0);

  std::string msg = error_of([] { make_schedule("exponential"); });
  EXPECT_NE(msg.find("exponential"), std::string::npos) << msg;
  msg = error_of([] { make_schedule("cosine", {{"warmup", 5}}); });
  EXPECT_NE(msg.find("warmup"), std::string::npos) << msg;
  msg = error_of([] { make_schedule("step", {{"gamma", 0.5}}); });
  EXPECT_NE(msg.find("step_epochs"), std::string::npos) << msg;
  msg = error_of([] { make_schedule("cosine", {{"warmup_steps", 2.5}}); });
  EXPECT_NE(msg.find("warmup_steps"), std::string::npos) << msg;
  EXPECT_THROW(make_schedule("one_cycle", {{"pct_start", 1.5}}), Error);
  EXPECT_THROW(make_schedule("constant", {{"lr", 1}}), Error);
  EXPECT_THROW(step_schedule(0), Error);
  EXPECT_THROW(cosine_schedule(2.0f), Error);
}
