// Training on a small subset of real MNIST (the cache is filled by
// `digitnet fetch`, which scripts/test.sh runs before the suite).
#include <gtest/gtest.h>

#include "digitnet/digitnet.hpp"

using namespace digitnet;

namespace {
Mnist load() {
  try {
    return load_mnist(mnist_cache_dir(), /*fetch=*/false);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (run `digitnet fetch` first; scripts/test.sh does)");
  }
}
}  // namespace

TEST(MnistSubset, MlpReachesNinetyPercentOnTwoThousandImages) {
  const Mnist m = load();
  ASSERT_EQ(m.train.size(), 60000);
  ASSERT_EQ(m.test.size(), 10000);
  ASSERT_EQ(m.train.num_classes, 10);
  Sequential model({1, 28, 28}, 42, 2);
  model.add(Flatten());
  model.add(Dense(128, relu));
  model.add(Dense(10, softmax));
  model.compile(Adam(1e-3f), sparse_categorical_crossentropy(), {accuracy});
  FitOptions fo;
  fo.epochs = 5;
  fo.batch_size = 32;
  fo.verbose = 0;
  fo.max_train_samples = 2000;
  model.fit(m.train, fo);
  const Evaluation e = model.evaluate(m.test.slice(0, 1000));
  // Stated target: a 2,000-image MLP reaches >= 88 % on 1,000 test images.
  EXPECT_GE(e.accuracy, 0.88) << e.to_table();
}

TEST(MnistSubset, CnnLearnsFromOneThousandImages) {
  const Mnist m = load();
  Sequential model({1, 28, 28}, 1, 2);
  model.add(Conv2D(8, 3, relu));
  model.add(MaxPooling2D(2));
  model.add(Flatten());
  model.add(Dense(10, softmax));
  model.compile(Adam(2e-3f), sparse_categorical_crossentropy(), {accuracy});
  FitOptions fo;
  fo.epochs = 6;
  fo.batch_size = 32;
  fo.verbose = 0;
  fo.max_train_samples = 1000;
  model.fit(m.train, fo);
  // Stated target: >= 85 % on 1,000 test images.
  EXPECT_GE(model.evaluate(m.test.slice(0, 1000)).accuracy, 0.85);
}

TEST(MnistSubset, OneSplitMatchesTheFullLoadAndBadSplitsAreErrors) {
  const Mnist m = load();
  const Dataset test = load_mnist_split(mnist_cache_dir(), "test", /*fetch=*/false);
  EXPECT_EQ(test.labels, m.test.labels);
  EXPECT_EQ(test.pixels, m.test.pixels);
  EXPECT_EQ(test.image_shape, m.test.image_shape);
  EXPECT_THROW(load_mnist_split(mnist_cache_dir(), "validation", false), Error);
}
