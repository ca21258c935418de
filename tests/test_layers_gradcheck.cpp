// Finite-difference checks of every layer's backward pass (tests/support/layer_check.hpp),
// for every activation, odd sizes, stride 2, 'same' padding, with 1 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "digitnet/layers/layers.hpp"
#include "layer_check.hpp"

using namespace digitnet;
using digitnet::testing::check_layer_gradients;
using digitnet::testing::GradCheckOptions;
using digitnet::testing::InputKind;

namespace {

struct Spec {
  std::string name;
  std::function<LayerPtr()> make;
  Shape input;
  GradCheckOptions options;
  bool logits = false;  // set_logits_output(true) first
};

void PrintTo(const Spec& s, std::ostream* os) { *os << s.name; }

GradCheckOptions opts(InputKind input = InputKind::uniform, bool kinks = false, int batch = 3,
                      bool training = true) {
  GradCheckOptions o;
  o.input = input;
  o.allow_kinks = kinks;
  o.batch = batch;
  o.training = training;
  return o;
}

std::vector<Spec> specs() {
  std::vector<Spec> s;
  const std::vector<std::pair<std::string, Activation>> acts = {
      {"linear", linear},   {"relu", relu},     {"leaky_relu", leaky_relu},
      {"sigmoid", sigmoid}, {"tanh", tanh_act}, {"softmax", softmax}};
  for (const auto& [name, a] : acts) {
    const bool kinks = a == relu || a == leaky_relu;
    s.push_back(
        {"Dense_" + name, [a] { return Dense(4, a); }, {5}, opts(InputKind::uniform, kinks)});
    s.push_back({"Dense_odd_nobias_" + name,
                 [a] { return Dense(3, a, false); },
                 {7},
                 opts(InputKind::uniform, kinks, 5)});
    if (a != softmax) {
      s.push_back({"Conv2D_valid_" + name,
                   [a] { return Conv2D(3, 3, a); },
                   {2, 5, 6},
                   opts(InputKind::uniform, kinks, 2)});
      s.push_back({"Conv2D_same_s2_" + name,
                   [a] { return Conv2D(2, 3, a, 2, same); },
                   {2, 7, 6},
                   opts(InputKind::uniform, kinks, 2)});
      s.push_back({"Activation_image_" + name,
                   [a] { return ActivationLayer(a, 0.2f); },
                   {2, 3, 3},
                   opts(InputKind::away_from_zero)});
    }
    s.push_back({"Activation_flat_" + name,
                 [a] { return ActivationLayer(a); },
                 {6},
                 opts(InputKind::away_from_zero, false, 4)});
  }
  s.push_back({"Dense_softmax_logits", [] { return Dense(4, softmax); }, {5}, opts(), true});
  s.push_back(
      {"Activation_softmax_logits", [] { return ActivationLayer(softmax); }, {6}, opts(), true});
  s.push_back({"Conv2D_same_k2",
               [] { return Conv2D(3, 2, tanh_act, 1, same); },
               {2, 4, 5},
               opts(InputKind::uniform, false, 2)});
  s.push_back({"Conv2D_valid_s2_nobias",
               [] { return Conv2D(2, 3, sigmoid, 2, valid, false); },
               {3, 7, 8},
               opts(InputKind::uniform, false, 2)});
  s.push_back({"Conv2D_1x1", [] { return Conv2D(3, 1, linear); }, {4, 3, 3}, opts()});
  // Few filters on wide rows: on AVX-512 the weight gradient comes from the direct
  // kernel's columns body (16 output columns a vector, 18 = one tile and a tail).
  s.push_back({"Conv2D_few_filters_wide",
               [] { return Conv2D(4, 5, tanh_act, 1, same); },
               {2, 6, 18},
               opts(InputKind::uniform, false, 3)});
  s.push_back({"Conv2D_few_filters_one_channel",  // and dx on im2col + sgemm beside it
               [] { return Conv2D(3, 5, tanh_act, 1, same); },
               {1, 5, 20},
               opts(InputKind::uniform, false, 2)});
  s.push_back({"Conv2D_same_k4_s3",
               [] { return Conv2D(2, 4, linear, 3, same); },
               {1, 7, 5},
               opts(InputKind::uniform, false, 4)});
  s.push_back({"Conv2D_batch1",
               [] { return Conv2D(2, 3, tanh_act, 1, same); },
               {1, 5, 5},
               opts(InputKind::uniform, false, 1)});
  for (bool is_max : {true, false}) {
    const std::string p = is_max ? "MaxPool" : "AvgPool";
    auto make = [is_max](int pool, int stride, Padding pad) {
      return [=] {
        return is_max ? MaxPooling2D(pool, stride, pad) : AveragePooling2D(pool, stride, pad);
      };
    };
    const InputKind in = is_max ? InputKind::distinct : InputKind::uniform;
    s.push_back({p + "_2_valid", make(2, 0, valid), {2, 5, 5}, opts(in)});
    s.push_back({p + "_3_s2_same", make(3, 2, same), {2, 6, 5}, opts(in)});
    s.push_back({p + "_2_same_odd", make(2, 0, same), {1, 5, 7}, opts(in)});
    s.push_back({p + "_3_s1_overlap", make(3, 1, valid), {2, 5, 6}, opts(in, false, 2)});
  }
  s.push_back({"Dropout_train", [] { return Dropout(0.3f); }, {4, 3, 3}, opts()});
  s.push_back({"Dropout_infer",
               [] { return Dropout(0.5f); },
               {7},
               opts(InputKind::uniform, false, 3, false)});
  s.push_back({"Dropout_zero_rate", [] { return Dropout(0.0f); }, {5}, opts()});
  s.push_back({"Flatten", [] { return Flatten(); }, {2, 3, 4}, opts()});
  s.push_back({"BatchNorm_flat",
               [] { return BatchNormalization(); },
               {3},
               opts(InputKind::uniform, false, 5)});
  s.push_back({"BatchNorm_image", [] { return BatchNormalization(0.9f); }, {2, 3, 4}, opts()});
  s.push_back({"BatchNorm_image_odd",
               [] { return BatchNormalization(); },
               {3, 1, 5},
               opts(InputKind::uniform, false, 2)});
  s.push_back({"BatchNorm_infer",
               [] { return BatchNormalization(); },
               {2, 3, 3},
               opts(InputKind::uniform, false, 3, false)});
  return s;
}

class LayerGradCheck : public ::testing::TestWithParam<std::tuple<Spec, int>> {};

TEST_P(LayerGradCheck, BackwardMatchesFiniteDifferences) {
  const auto& [spec, threads] = GetParam();
  LayerPtr layer = spec.make();
  if (spec.logits) {
    ASSERT_TRUE(layer->has_softmax_output());
    layer->set_logits_output(true);
  }
  GradCheckOptions o = spec.options;
  o.threads = threads;
  EXPECT_TRUE(check_layer_gradients(*layer, spec.input, o));
}

INSTANTIATE_TEST_SUITE_P(AllLayers, LayerGradCheck,
                         ::testing::Combine(::testing::ValuesIn(specs()), ::testing::Values(1, 3)),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + "_t" +
                                  std::to_string(std::get<1>(info.param));
                         });

// The harness must be able to fail: a layer whose backward is wrong by a factor is caught.
// y = x², dx = factor·2x·dy; optionally claiming (wrongly: backward reads x) to run in place.
class ScaledGradLayer final : public Layer {
 public:
  explicit ScaledGradLayer(float factor, bool claim_in_place = false)
      : factor_(factor), in_place_(claim_in_place) {}
  std::string type() const override { return "Scaled"; }
  Shape build(const Shape& s, Rng&) override { return output_shape_ = input_shape_ = s; }
  void forward(const Tensor& x, Tensor& y, const Context&) override {
    y.resize(x.shape());
    for (int64_t i = 0; i < x.size(); ++i) y[i] = x[i] * x[i];
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx,
                const Context&) override {
    dx->resize(x.shape());
    for (int64_t i = 0; i < x.size(); ++i) (*dx)[i] = factor_ * 2.0f * x[i] * dy[i];
  }
  nlohmann::json config() const override { return {}; }
  bool supports_in_place() const override { return in_place_; }

 private:
  float factor_;
  bool in_place_;
};

TEST(LayerCheckHarness, DetectsWrongGradientAndAcceptsRightOne) {
  ScaledGradLayer right(1.0f), wrong(1.1f);
  EXPECT_TRUE(check_layer_gradients(right, {4}));
  EXPECT_FALSE(check_layer_gradients(wrong, {4}));
}

// y = e^x (dx = dy·y), honest or claiming one memory hook it does not keep.
class ExpLayer final : public Layer {
 public:
  enum Claim { none, reshape, output_unread, in_place };
  explicit ExpLayer(Claim c) : claim_(c) {}
  std::string type() const override { return "Exp"; }
  Shape build(const Shape& s, Rng&) override { return output_shape_ = input_shape_ = s; }
  void forward(const Tensor& x, Tensor& y, const Context&) override {
    y.resize(x.shape());
    for (int64_t i = 0; i < x.size(); ++i) y[i] = std::exp(x[i]);
  }
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx,
                const Context&) override {
    dx->resize(x.shape());
    for (int64_t i = 0; i < x.size(); ++i) (*dx)[i] = dy[i] * y[i];
  }
  nlohmann::json config() const override { return {}; }
  bool is_reshape() const override { return claim_ == reshape; }
  bool backward_reads_output() const override { return claim_ != output_unread; }
  bool supports_in_place() const override { return claim_ == in_place; }

 private:
  Claim claim_;
};

TEST(LayerCheckHarness, DetectsBrokenMemoryHookPromises) {
  ExpLayer honest(ExpLayer::none);
  EXPECT_TRUE(check_layer_gradients(honest, {4}));
  for (auto claim : {ExpLayer::reshape, ExpLayer::output_unread}) {
    ExpLayer liar(claim);
    EXPECT_FALSE(check_layer_gradients(liar, {4})) << "claim " << claim;
  }
  // In place: forward x² works element by element, but backward reads x, which
  // then holds y.
  ScaledGradLayer square(1.0f, true);
  EXPECT_FALSE(check_layer_gradients(square, {4}));
}

}  // namespace
