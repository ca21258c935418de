// Known-value forward/backward checks against PyTorch (float64) goldens written by
// scripts/make_goldens.py into tests/data/golden/layers.json.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "digitnet/core/error.hpp"
#include "digitnet/layers/layers.hpp"
#include "golden.hpp"

using namespace digitnet;
using digitnet::testing::golden_tensor;
using digitnet::testing::load_golden;
using nlohmann::json;

namespace {

// |got - want| <= 1e-5 · (1 + |want|), elementwise, with matching shapes.
::testing::AssertionResult near(const std::string& what, const Tensor& got, const json& want_j) {
  const Tensor want = golden_tensor(want_j);
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << what << ": shape " << shape_str(got.shape())
                                         << ", expected " << shape_str(want.shape());
  int bad = 0;
  std::ostringstream msg;
  for (int64_t i = 0; i < got.size(); ++i) {
    const double tol = 1e-5 * (1.0 + std::abs(want[i]));
    if (!(std::abs(double(got[i]) - want[i]) <= tol) && ++bad <= 5)
      msg << "  " << what << "[" << i << "] = " << got[i] << ", expected " << want[i] << "\n";
  }
  if (bad) return ::testing::AssertionFailure() << bad << " mismatches\n" << msg.str();
  return ::testing::AssertionSuccess();
}

class Golden : public ::testing::TestWithParam<int> {};

TEST_P(Golden, MatchesPyTorch) {
  static const json goldens = load_golden("layers.json");
  const auto& cases = goldens.at("cases");
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    LayerPtr layer = make_layer(c.at("type").get<std::string>(), c.at("config"));
    Rng rng(0);
    const Shape in = c.at("input_shape").get<Shape>();
    layer->build(in, rng);
    // Load the golden parameters and initial buffers over the initialised ones.
    const auto params = layer->params();
    ASSERT_EQ(params.size(), c.at("params").size());
    for (Param* p : params) {
      Tensor v = golden_tensor(c.at("params").at(p->name));
      ASSERT_EQ(v.shape(), p->value.shape()) << p->name;
      p->value = v;
    }
    if (c.contains("buffers")) {
      for (auto& [name, t] : layer->buffers()) *t = golden_tensor(c.at("buffers").at(name));
    }

    ThreadPool pool(GetParam());
    Rng run_rng(1);
    const Context ctx{c.at("training").get<bool>(), &pool, &run_rng};
    const Tensor x = golden_tensor(c.at("x"));
    Tensor y, dx;
    layer->forward(x, y, ctx);
    EXPECT_TRUE(near("y", y, c.at("y")));
    const Tensor dy = golden_tensor(c.at("dy"));
    layer->backward(x, y, dy, &dx, ctx);
    EXPECT_TRUE(near("dx", dx, c.at("dx")));
    for (Param* p : params) EXPECT_TRUE(near("d" + p->name, p->grad, c.at("grads").at(p->name)));
    if (c.contains("buffers_after")) {
      for (auto& [name, t] : layer->buffers())
        EXPECT_TRUE(near(name, *t, c.at("buffers_after").at(name)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, Golden, ::testing::Values(1, 3));

TEST(GoldenFile, CoversEveryLayerKind) {
  const json g = load_golden("layers.json");
  std::set<std::string> types, names;
  for (const auto& c : g.at("cases")) {
    types.insert(c.at("type").get<std::string>());
    names.insert(c.at("name").get<std::string>());
  }
  for (const char* t :
       {"Dense", "Conv2D", "MaxPooling2D", "AveragePooling2D", "BatchNormalization", "Activation"})
    EXPECT_TRUE(types.count(t)) << t;
  for (const char* n : {"dense_linear", "dense_relu", "dense_leaky_relu", "dense_sigmoid",
                        "dense_tanh", "dense_softmax", "conv_same_stride2", "maxpool_same_s2",
                        "avgpool_same_s2", "batchnorm_image_train", "activation_softmax"})
    EXPECT_TRUE(names.count(n)) << n;
}

}  // namespace
