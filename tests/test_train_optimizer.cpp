// Optimizers: hand-computed first steps, PyTorch goldens, weight decay,
// state checks, config round trips and convergence on a quadratic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/model/optimizer.hpp"
#include "test_support.hpp"

using digitnet::testing::error_of;

using namespace digitnet;

namespace {

Param make_param(const std::vector<float>& values, bool decay = true, std::string name = "w") {
  Param p;
  p.name = std::move(name);
  p.decay = decay;
  p.value = Tensor({static_cast<int64_t>(values.size())});
  for (std::size_t i = 0; i < values.size(); ++i) p.value[static_cast<int64_t>(i)] = values[i];
  p.grad = Tensor(p.value.shape(), 0.0f);
  return p;
}

void set_grad(Param& p, const std::vector<float>& g) {
  ASSERT_EQ(static_cast<std::size_t>(p.grad.size()), g.size());
  for (std::size_t i = 0; i < g.size(); ++i) p.grad[static_cast<int64_t>(i)] = g[i];
}

void expect_values(const Param& p, const std::vector<double>& expected, double tol,
                   const std::string& what) {
  ASSERT_EQ(static_cast<std::size_t>(p.value.size()), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(p.value[static_cast<int64_t>(i)], expected[i], tol) << what << " element " << i;
}

// Two steps: w0 = (1, −2, 0.5), g1 = (0.5, −0.25, 0), g2 = (−0.5, −0.25, 1).
const std::vector<float> kW0 = {1.0f, -2.0f, 0.5f};
const std::vector<float> kG1 = {0.5f, -0.25f, 0.0f};
const std::vector<float> kG2 = {-0.5f, -0.25f, 1.0f};

}  // namespace

TEST(Optimizer, SgdPlainHandComputed) {
  auto opt = SGD(0.1f);
  Param p = make_param(kW0);
  std::vector<Param*> params = {&p};
  set_grad(p, kG1);
  opt->step(params, 0.1f);
  // w −= 0.1·g
  expect_values(p, {1.0 - 0.05, -2.0 + 0.025, 0.5}, 1e-7, "step 1");
  set_grad(p, kG2);
  opt->step(params, 0.2f);  // the lr argument (schedule value) is what counts
  expect_values(p, {0.95 + 0.1, -1.975 + 0.05, 0.5 - 0.2}, 1e-7, "step 2");
  EXPECT_EQ(opt->iterations, 2);
}

TEST(Optimizer, SgdMomentumHandComputed) {
  auto opt = SGD(0.1f, 0.9f);
  Param p = make_param(kW0);
  std::vector<Param*> params = {&p};
  set_grad(p, kG1);
  opt->step(params, 0.1f);
  // v1 = −0.1·g1 = (−0.05, 0.025, 0); w1 = w0 + v1
  expect_values(p, {0.95, -1.975, 0.5}, 1e-7, "step 1");
  set_grad(p, kG2);
  opt->step(params, 0.1f);
  // v2 = 0.9·v1 − 0.1·g2 = (−0.045 + 0.05, 0.0225 + 0.025, −0.1) = (0.005, 0.0475, −0.1)
  expect_values(p, {0.955, -1.9275, 0.4}, 1e-7, "step 2");
}

TEST(Optimizer, SgdNesterovHandComputed) {
  auto opt = SGD(0.1f, 0.9f, true);
  Param p = make_param(kW0);
  std::vector<Param*> params = {&p};
  set_grad(p, kG1);
  opt->step(params, 0.1f);
  // v1 = (−0.05, 0.025, 0); w += 0.9·v1 − 0.1·g1 = (−0.095, 0.0475, 0)
  expect_values(p, {0.905, -1.9525, 0.5}, 1e-7, "step 1");
  set_grad(p, kG2);
  opt->step(params, 0.1f);
  // v2 = (0.005, 0.0475, −0.1); w += 0.9·v2 − 0.1·g2 = (0.0045 + 0.05, 0.04275 + 0.025, −0.19)
  expect_values(p, {0.9595, -1.88475, 0.31}, 1e-7, "step 2");
}

TEST(Optimizer, AdamHandComputed) {
  auto opt = Adam(0.1f);
  EXPECT_EQ(opt->config()["epsilon"].get<float>(), 1e-7f);  // Keras default
  Param p = make_param(kW0);
  std::vector<Param*> params = {&p};
  set_grad(p, kG1);
  opt->step(params, 0.1f);
  // t = 1: m̂ = g, v̂ = g², so w −= 0.1·g/(|g| + 1e-7); a zero gradient leaves w alone.
  const std::vector<double> w1 = {1.0 - 0.1 * 0.5 / (0.5 + 1e-7), -2.0 + 0.1 * 0.25 / (0.25 + 1e-7),
                                  0.5};
  expect_values(p, w1, 1e-6, "step 1");
  set_grad(p, kG2);
  opt->step(params, 0.1f);
  // m2 = 0.9·0.1·g1 + 0.1·g2 = (−0.005, −0.0475, 0.1)
  // v2 = 0.999·0.001·g1² + 0.001·g2² = (0.00049975, 0.0001249375, 0.001)
  // bias corrections: 1 − 0.9² = 0.19, 1 − 0.999² = 0.001999
  const double m2[] = {-0.005, -0.0475, 0.1};
  const double v2[] = {0.00049975, 0.0001249375, 0.001};
  std::vector<double> w2(3);
  for (int i = 0; i < 3; ++i)
    w2[i] = w1[i] - 0.1 * (m2[i] / 0.19) / (std::sqrt(v2[i] / 0.001999) + 1e-7);
  expect_values(p, w2, 1e-6, "step 2");

  // A large ε shows where it sits: outside the square root, w −= 0.1·g/(|g| + 0.1).
  auto big_eps = Adam(0.1f, 0.9f, 0.999f, 0.1f);
  Param q = make_param(kW0);
  std::vector<Param*> qs = {&q};
  set_grad(q, kG1);
  big_eps->step(qs, 0.1f);
  expect_values(q, {1.0 - 0.1 * 0.5 / 0.6, -2.0 + 0.1 * 0.25 / 0.35, 0.5}, 1e-6, "ε = 0.1");
}

TEST(Optimizer, AdamWHandComputedAndDecayOnlyWhereAllowed) {
  auto opt = AdamW(0.1f, 0.5f);
  Param kernel = make_param(kW0, true, "kernel");
  Param bias = make_param(kW0, false, "bias");
  std::vector<Param*> params = {&kernel, &bias};
  set_grad(kernel, kG1);
  set_grad(bias, kG1);
  opt->step(params, 0.1f);
  // Kernel: w·(1 − 0.1·0.5) − 0.1·g/(|g| + 1e-7); bias: no decay.
  expect_values(
      kernel,
      {0.95 * 1.0 - 0.1 * 0.5 / (0.5 + 1e-7), 0.95 * -2.0 + 0.1 * 0.25 / (0.25 + 1e-7), 0.95 * 0.5},
      1e-6, "kernel");
  expect_values(bias, {1.0 - 0.1 * 0.5 / (0.5 + 1e-7), -2.0 + 0.1 * 0.25 / (0.25 + 1e-7), 0.5},
                1e-6, "bias");
}

TEST(Optimizer, RmspropHandComputed) {
  auto opt = RMSprop(0.01f);
  Param p = make_param(kW0);
  std::vector<Param*> params = {&p};
  set_grad(p, kG1);
  opt->step(params, 0.01f);
  // ms1 = 0.1·g1² = (0.025, 0.00625, 0); w −= 0.01·g/(sqrt(ms1) + 1e-7)
  const double ms1[] = {0.025, 0.00625, 0.0};
  const double g1[] = {0.5, -0.25, 0.0}, g2[] = {-0.5, -0.25, 1.0};
  std::vector<double> w1(3), w2(3);
  for (int i = 0; i < 3; ++i) w1[i] = kW0[i] - 0.01 * g1[i] / (std::sqrt(ms1[i]) + 1e-7);
  expect_values(p, w1, 1e-6, "step 1");
  set_grad(p, kG2);
  opt->step(params, 0.01f);
  // ms2 = 0.9·ms1 + 0.1·g2² = (0.0475, 0.011875, 0.1)
  const double ms2[] = {0.0475, 0.011875, 0.1};
  for (int i = 0; i < 3; ++i) w2[i] = w1[i] - 0.01 * g2[i] / (std::sqrt(ms2[i]) + 1e-7);
  expect_values(p, w2, 1e-6, "step 2");

  // ε = 0.1 with ρ = 0: w −= 0.01·g/(|g| + 0.1).
  auto big_eps = RMSprop(0.01f, 0.0f, 0.0f, 0.1f);
  Param q = make_param(kW0);
  std::vector<Param*> qs = {&q};
  set_grad(q, kG1);
  big_eps->step(qs, 0.01f);
  expect_values(q, {1.0 - 0.01 * 0.5 / 0.6, -2.0 + 0.01 * 0.25 / 0.35, 0.5}, 1e-7, "ε = 0.1");
}

TEST(Optimizer, RmspropMomentumHandComputed) {
  auto opt = RMSprop(0.01f, 0.9f, 0.5f);
  Param p = make_param(kW0);
  std::vector<Param*> params = {&p};
  const double g1[] = {0.5, -0.25, 0.0}, g2[] = {-0.5, -0.25, 1.0};
  const double ms1[] = {0.025, 0.00625, 0.0}, ms2[] = {0.0475, 0.011875, 0.1};
  double mom[3];
  std::vector<double> w(kW0.begin(), kW0.end());
  set_grad(p, kG1);
  opt->step(params, 0.01f);
  // mom1 = 0.01·g1/(sqrt(ms1) + ε); w −= mom1
  for (int i = 0; i < 3; ++i) {
    mom[i] = 0.01 * g1[i] / (std::sqrt(ms1[i]) + 1e-7);
    w[i] -= mom[i];
  }
  expect_values(p, w, 1e-6, "step 1");
  set_grad(p, kG2);
  opt->step(params, 0.01f);
  // mom2 = 0.5·mom1 + 0.01·g2/(sqrt(ms2) + ε); w −= mom2
  for (int i = 0; i < 3; ++i) {
    mom[i] = 0.5 * mom[i] + 0.01 * g2[i] / (std::sqrt(ms2[i]) + 1e-7);
    w[i] -= mom[i];
  }
  expect_values(p, w, 1e-6, "step 2");
}

TEST(Optimizer, MatchesPyTorchGoldens) {
  std::ifstream in(std::string(DIGITNET_TEST_DATA_DIR) + "/golden_optim/optimizers.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json golden = nlohmann::json::parse(in);
  ASSERT_GE(golden["cases"].size(), 8u);
  for (const auto& c : golden["cases"]) {
    const std::string what = c["name"].get<std::string>() + " " + c["config"].dump();
    auto opt = make_optimizer(c["name"], c["config"]);
    Param p = make_param(c["w0"].get<std::vector<float>>());
    std::vector<Param*> params = {&p};
    const float lr = c["config"]["learning_rate"];
    const auto& grads = c["grads"];
    for (std::size_t s = 0; s < grads.size(); ++s) {
      set_grad(p, grads[s].get<std::vector<float>>());
      opt->step(params, lr);
      expect_values(p, c["trajectory"][s].get<std::vector<double>>(), 2e-6,
                    what + " step " + std::to_string(s + 1));
    }
  }
}

TEST(Optimizer, L2WeightDecayOnlyOnDecayParams) {
  for (const std::string name : {"sgd", "adam", "rmsprop"}) {
    auto decayed = make_optimizer(name, {{"learning_rate", 0.1}, {"weight_decay", 0.1}});
    auto plain = make_optimizer(name, {{"learning_rate", 0.1}});
    Param kernel = make_param({1.0f, -2.0f}, true, "kernel");
    Param bias = make_param({1.0f, -2.0f}, false, "bias");
    Param kernel_ref = make_param({1.0f, -2.0f}, true, "kernel");
    Param bias_ref = make_param({1.0f, -2.0f}, false, "bias");
    for (Param* p : {&kernel, &bias, &kernel_ref, &bias_ref}) set_grad(*p, {0.3f, 0.0f});
    std::vector<Param*> params = {&kernel, &bias}, ref = {&kernel_ref, &bias_ref};
    decayed->step(params, 0.1f);
    plain->step(ref, 0.1f);
    // Bias: identical to no decay. Kernel: decay pulls both weights towards zero.
    EXPECT_EQ(bias.value[0], bias_ref.value[0]) << name;
    EXPECT_EQ(bias.value[1], bias_ref.value[1]) << name;
    EXPECT_EQ(bias.value[1], -2.0f) << name;  // zero gradient, no decay: unchanged
    EXPECT_EQ(kernel_ref.value[1], -2.0f) << name;
    EXPECT_GT(kernel.value[1], -2.0f) << name;  // only the decay term moves it
  }
  // Plain SGD with decay and a zero gradient shrinks w by 1 − lr·wd exactly.
  auto sgd = SGD(0.1f, 0.0f, false, 0.1f);
  Param w = make_param({1.0f, -2.0f});
  std::vector<Param*> params = {&w};
  sgd->step(params, 0.1f);
  expect_values(w, {0.99, -1.98}, 1e-7, "sgd decay");
}

TEST(Optimizer, ParallelStepGivesTheSameBitsAsTheSerialStep) {
  // step_parallel splits every parameter into one chunk per participant; the
  // updates are elementwise, so the result must equal step() bit for bit, for
  // every rule and pool size, including parameters smaller than the pool and
  // chunk edges that fall inside a vector.
  Rng r(11);
  const std::vector<int64_t> sizes = {40001, 7, 1, 3 * 1024 + 5};  // > kParallelElements in all
  struct Case {
    std::string name;
    nlohmann::json config;
  };
  const std::vector<Case> cases = {
      {"sgd", {{"learning_rate", 0.1}}},
      {"sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}, {"weight_decay", 0.01}}},
      {"sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}, {"nesterov", true}}},
      {"adam", {{"learning_rate", 0.01}, {"weight_decay", 0.01}}},
      {"adamw", {{"learning_rate", 0.01}}},
      {"rmsprop", {{"learning_rate", 0.01}}},
      {"rmsprop", {{"learning_rate", 0.01}, {"momentum", 0.5}}}};
  for (const Case& c : cases)
    for (int threads : {2, 3}) {
      SCOPED_TRACE(c.name + " " + c.config.dump() + " threads " + std::to_string(threads));
      ThreadPool pool(threads);
      auto serial = make_optimizer(c.name, c.config);
      auto parallel = make_optimizer(c.name, c.config);
      std::vector<Param> a, b;
      for (int64_t n : sizes) {
        std::vector<float> v(static_cast<std::size_t>(n));
        for (auto& x : v) x = r.uniform(-1, 1);
        a.push_back(make_param(v, n != 7));
        b.push_back(make_param(v, n != 7));
      }
      std::vector<Param*> pa, pb;
      for (std::size_t i = 0; i < a.size(); ++i) pa.push_back(&a[i]), pb.push_back(&b[i]);
      const float start_last = a[0].value[40000];
      for (int step = 0; step < 3; ++step) {
        for (std::size_t i = 0; i < a.size(); ++i)
          for (int64_t j = 0; j < a[i].grad.size(); ++j)
            a[i].grad[j] = b[i].grad[j] = r.uniform(-1, 1);
        serial->step(pa, 0.05f);
        parallel->step_parallel(pb, 0.05f, pool);
      }
      for (std::size_t i = 0; i < a.size(); ++i) {
        ASSERT_EQ(0, std::memcmp(a[i].value.data(), b[i].value.data(),
                                 static_cast<std::size_t>(a[i].value.size()) * sizeof(float)))
            << "parameter " << i;
      }
      EXPECT_NE(a[0].value[40000], start_last) << "the steps must move the weights";
      EXPECT_EQ(parallel->iterations, 3);
    }
}

TEST(Optimizer, ChangedParameterListIsAnError) {
  auto opt = Adam();
  Param a = make_param({1, 2, 3}, true, "kernel"), b = make_param({4}, false, "bias");
  std::vector<Param*> params = {&a, &b};
  opt->step(params, 1e-3f);
  opt->step(params, 1e-3f);
  EXPECT_EQ(opt->iterations, 2);

  std::vector<Param*> fewer = {&a};
  std::string msg = error_of([&] { opt->step(fewer, 1e-3f); });
  EXPECT_NE(msg.find("got 1 parameters"), std::string::npos) << msg;

  Param wide = make_param({1, 2, 3, 4}, true, "kernel");
  std::vector<Param*> reshaped = {&wide, &b};
  msg = error_of([&] { opt->step(reshaped, 1e-3f); });
  EXPECT_NE(msg.find("parameter 0 (kernel)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(3,)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(4,)"), std::string::npos) << msg;
  EXPECT_EQ(opt->iterations, 2);  // failed steps do not count

  Param bad = make_param({1, 2});
  bad.grad = Tensor({3});
  std::vector<Param*> mismatched = {&bad};
  msg = error_of([&] { SGD()->step(mismatched, 0.1f); });
  EXPECT_NE(msg.find("gradient shape"), std::string::npos) << msg;
  EXPECT_THROW(SGD()->step(params, -1.0f), Error);
  EXPECT_THROW(SGD()->step(params, std::nanf("")), Error);
}

TEST(Optimizer, MakeOptimizerRoundTripsConfig) {
  const std::vector<OptimizerPtr> originals = {
      SGD(0.05f, 0.8f, true, 1e-4f), Adam(2e-3f, 0.85f, 0.99f, 1e-6f, 1e-3f),
      AdamW(3e-3f, 0.01f, 0.8f, 0.95f, 1e-8f), RMSprop(1e-2f, 0.95f, 0.3f, 1e-5f, 2e-4f)};
  for (const auto& original : originals) {
    const auto rebuilt = make_optimizer(original->name(), original->config());
    EXPECT_EQ(rebuilt->name(), original->name());
    EXPECT_EQ(rebuilt->config(), original->config()) << original->config().dump();
    EXPECT_EQ(rebuilt->learning_rate, original->learning_rate);
    // Same hyper-parameters: bit-identical updates.
    Param a = make_param({0.3f, -0.7f, 1.1f, 2.0f, -0.1f}),
          b = make_param({0.3f, -0.7f, 1.1f, 2.0f, -0.1f});
    std::vector<Param*> pa = {&a}, pb = {&b};
    for (int s = 0; s < 3; ++s) {
      for (Param* p : {&a, &b}) set_grad(*p, {0.1f * s, -0.2f, 0.3f, 0.05f, -0.4f * s});
      original->step(pa, 0.01f);
      rebuilt->step(pb, 0.01f);
    }
    for (int64_t i = 0; i < a.value.size(); ++i) EXPECT_EQ(a.value[i], b.value[i]);
  }
  for (const char* key : {"learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay"})
    EXPECT_TRUE(originals[1]->config().contains(key)) << key;
  EXPECT_EQ(originals[0]->config()["nesterov"], true);
  EXPECT_FLOAT_EQ(make_optimizer("adamw")->config()["weight_decay"].get<float>(), 0.004f);
  EXPECT_FLOAT_EQ(make_optimizer("Adam")->config()["beta_2"].get<float>(), 0.999f);
  EXPECT_FLOAT_EQ(make_optimizer("rmsprop")->config()["rho"].get<float>(), 0.9f);
  EXPECT_FLOAT_EQ(make_optimizer("sgd")->learning_rate, 0.01f);

  std::string msg = error_of([] { make_optimizer("adagrad"); });
  EXPECT_NE(msg.find("adagrad"), std::string::npos) << msg;
  msg = error_of([] { make_optimizer("sgd", {{"beta_1", 0.9}}); });
  EXPECT_NE(msg.find("beta_1"), std::string::npos) << msg;
  msg = error_of([] { make_optimizer("sgd", {{"nesterov", 1}}); });
  EXPECT_NE(msg.find("nesterov"), std::string::npos) << msg;
  msg = error_of([] { make_optimizer("adam", {{"beta_1", 1.5}}); });
  EXPECT_NE(msg.find("beta_1"), std::string::npos) << msg;
  EXPECT_THROW(make_optimizer("rmsprop", {{"epsilon", 0}}), Error);
  EXPECT_THROW(make_optimizer("adam", nlohmann::json::array()), Error);
}

TEST(Optimizer, VectorAndScalarLanesAgree) {
  // 11 equal elements cover the 4-wide vector body and the scalar tail.
  for (const std::string name : {"sgd", "adam", "adamw", "rmsprop"}) {
    auto opt = make_optimizer(name, {{"learning_rate", 0.03}});
    Param p = make_param(std::vector<float>(11, 0.7f));
    std::vector<Param*> params = {&p};
    for (int s = 0; s < 4; ++s) {
      p.grad.fill(0.2f - 0.15f * s);
      opt->step(params, 0.03f);
    }
    for (int64_t i = 1; i < p.value.size(); ++i) EXPECT_EQ(p.value[i], p.value[0]) << name;
    EXPECT_NE(p.value[0], 0.7f) << name;
  }
}

// Minimises f(w) = ½ Σ a_i (w_i − c_i)² with an ill-conditioned diagonal.
TEST(Optimizer, EveryOptimizerMinimisesAQuadratic) {
  const std::vector<double> a = {1.0, 10.0, 0.3, 3.0, 5.0};
  const std::vector<double> c = {1.5, -2.0, 0.5, 3.0, -0.25};
  const auto f = [&](const Param& p) {
    double sum = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double d = p.value[static_cast<int64_t>(i)] - c[i];
      sum += 0.5 * a[i] * d * d;
    }
    return sum;
  };
  struct Case {
    OptimizerPtr opt;
    float lr;
  };
  const std::vector<Case> cases = {{SGD(0.05f), 0.05f},
                                   {SGD(0.02f, 0.9f), 0.02f},
                                   {SGD(0.02f, 0.9f, true), 0.02f},
                                   {Adam(0.05f), 0.05f},
                                   {AdamW(0.05f, 0.0f), 0.05f},
                                   {RMSprop(0.01f), 0.01f},
                                   {RMSprop(0.005f, 0.9f, 0.5f), 0.005f}};
  const auto schedule = cosine_schedule();  // decays to zero so adaptive methods settle
  const int64_t steps = 1500;
  for (const auto& [opt, lr] : cases) {
    Param p = make_param({0, 0, 0, 0, 0});
    std::vector<Param*> params = {&p};
    const double start = f(p);
    for (int64_t s = 0; s < steps; ++s) {
      for (std::size_t i = 0; i < a.size(); ++i) {
        const auto k = static_cast<int64_t>(i);
        p.grad[k] = static_cast<float>(a[i] * (p.value[k] - c[i]));
      }
      opt->step(params, schedule->lr(lr, s, steps, 100));
    }
    EXPECT_LT(f(p), 1e-6 * start) << opt->name() << " " << opt->config().dump();
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_NEAR(p.value[static_cast<int64_t>(i)], c[i], 5e-3) << opt->name() << " " << i;
    EXPECT_EQ(opt->iterations, steps);
  }
}
