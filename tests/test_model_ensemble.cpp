// Ensembles: the mean of the members' probabilities, stored and loaded as any
// model, never trained, and refused when the members do not fit together.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "digitnet/digitnet.hpp"
#include "synthetic.hpp"
#include "test_support.hpp"

using namespace digitnet;
using digitnet::testing::band_dataset;
using digitnet::testing::TempDir;
using digitnet::testing::trained_band_cnn;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Ensemble, PredictsTheMeanOfItsMembersAndEvaluatesIt) {
  const Dataset train = band_dataset(300, 4, 12, 12, 1), test = band_dataset(50, 4, 12, 12, 2);
  const Tensor x = test.images(0, test.size());
  std::vector<Sequential> members;
  members.push_back(trained_band_cnn(1, train));
  members.push_back(trained_band_cnn(2, train));
  const Tensor p0 = members[0].predict(x), p1 = members[1].predict(x);
  for (int threads : {1, 2}) {
    std::vector<Sequential> copy;
    for (int s : {1, 2}) copy.push_back(trained_band_cnn(static_cast<uint64_t>(s), train));
    const Sequential e = make_ensemble(std::move(copy), threads);
    const Tensor p = e.predict(x);
    ASSERT_EQ(p.shape(), p0.shape());
    for (int64_t i = 0; i < p.size(); ++i) ASSERT_NEAR(p[i], 0.5f * (p0[i] + p1[i]), 1e-7f) << i;
    const Evaluation ev = e.evaluate(test);
    double loss = 0;
    for (int64_t i = 0; i < 50; ++i)
      loss -= std::log(double(p[i * 4 + test.labels[static_cast<size_t>(i)]]));
    EXPECT_NEAR(ev.loss, loss / 50, 1e-6);
  }
}

TEST(Ensemble, SavedAndLoadedAsAnyModelAndCompiledStillGivesProbabilities) {
  const Dataset train = band_dataset(300, 4, 12, 12, 3), test = band_dataset(40, 4, 12, 12, 4);
  std::vector<Sequential> members;
  members.push_back(trained_band_cnn(5, train));
  members.push_back(trained_band_cnn(6, train));
  members.push_back(trained_band_cnn(7, train));
  Sequential e = make_ensemble(std::move(members), 2);
  TempDir dir;
  const std::string path = dir.file("ens.dnm");
  save_model(e, path);
  const nlohmann::json j = read_model_json(path);
  EXPECT_EQ(j["architecture"]["layers"][0]["type"], "Ensemble");
  EXPECT_EQ(j["architecture"]["layers"][0]["members"].size(), 3u);
  EXPECT_EQ(j["tensors"][0]["name"], "ensemble/m0/conv2d/kernel");
  const Sequential back = load_model(path, 1);
  const Tensor x = test.images(0, test.size());
  const Tensor a = e.predict(x), b = back.predict(x);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * size_t(a.size())), 0);
  // Compiled, the loss reads log p̄ as logits; predict still gives p̄.
  e.compile(Adam(), sparse_categorical_crossentropy());
  const Tensor c = e.predict(x);
  for (int64_t i = 0; i < a.size(); ++i) ASSERT_NEAR(c[i], a[i], 2e-6f) << i;
  FitOptions fo;
  fo.verbose = 0;
  fo.epochs = 1;
  EXPECT_NE(error_of([&] { e.fit(train, fo); }).find("not trained"), std::string::npos);
}

TEST(Ensemble, MembersThatDoNotFitTogetherAreRefused) {
  const Dataset train = band_dataset(200, 4, 12, 12, 5);
  std::vector<Sequential> no_softmax;
  no_softmax.push_back(trained_band_cnn(1, train));
  no_softmax.push_back(trained_band_cnn(2, train, 1, linear));
  EXPECT_NE(error_of([&] {
              EnsembleLayer(std::move(no_softmax));
            }).find("member 2 does not end in a softmax"),
            std::string::npos);
  std::vector<Sequential> shapes;
  shapes.push_back(trained_band_cnn(1, train));
  Sequential other({1, 10, 10}, 1, 1);
  other.add(Flatten());
  other.add(Dense(4, softmax));
  shapes.push_back(std::move(other));
  EXPECT_NE(error_of([&] { EnsembleLayer(std::move(shapes)); }).find("member 2 takes (1, 10, 10)"),
            std::string::npos);
  EXPECT_NE(error_of([] { EnsembleLayer({}); }).find("at least one member"), std::string::npos);
}
