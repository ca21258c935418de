// The classic Keras MNIST CNN tutorial, step by step, in C++ with digitnet.
//
//   build/examples/example_tutorial [EPOCHS] [TRAIN_IMAGES]
//
// (defaults: 12 epochs on all 60,000 training images)
#include <cstdio>
#include <cstdlib>
#include <digitnet/digitnet.hpp>
#include <iostream>

using namespace digitnet;

int main(int argc, char** argv) try {
  const int epochs = argc > 1 ? std::atoi(argv[1]) : 12;
  const long train_images = argc > 2 ? std::atol(argv[2]) : 0;

  // 1. Load the data (fetched into ~/.cache/digitnet/mnist on first use and
  //    checked against its SHA-256).
  Mnist mnist = load_mnist(mnist_cache_dir());
  Dataset& train = mnist.train;
  Dataset& test = mnist.test;
  if (train_images > 0) train = train.slice(0, train_images);

  // 2. Look at it: shapes, a few labels, one digit. Pixels are stored as bytes
  //    and scaled to [0, 1] floats batch by batch ("normalisation").
  std::printf("train: %lld images of shape %s, test: %lld images, %d classes\n",
              static_cast<long long>(train.size()), shape_str(train.image_shape).c_str(),
              static_cast<long long>(test.size()), train.num_classes);
  std::printf("first labels:");
  for (int i = 0; i < 10; ++i) std::printf(" %d", train.labels[static_cast<size_t>(i)]);
  std::printf("\n");
  const Tensor first = train.images(0, 1);
  for (int y = 0; y < 28; y += 2) {
    for (int x = 0; x < 28; ++x) std::putchar(first[y * 28 + x] > 0.5f ? '#' : '.');
    std::putchar('\n');
  }

  // 3. Build the model: the classic Keras CNN.
  Sequential model({1, 28, 28}, /*seed=*/42, /*threads=*/0);
  model.add(Conv2D(32, 3, relu));
  model.add(Conv2D(64, 3, relu));
  model.add(MaxPooling2D(2));
  model.add(Dropout(0.25f));
  model.add(Flatten());
  model.add(Dense(128, relu));
  model.add(Dropout(0.5f));
  model.add(Dense(10, softmax));
  std::cout << model.summary();

  // 4. Compile: optimizer, loss, metrics.
  model.compile(Adam(1e-3f), sparse_categorical_crossentropy(), {accuracy});

  // 5. Fit, validating on the test set after every epoch.
  History history = model.fit(train, {.epochs = epochs, .batch_size = 128, .validation = test});

  // 6. Evaluate.
  Evaluation result = model.evaluate(test);
  std::cout << result.to_table();

  // 7. The history, epoch by epoch.
  std::cout << "\n" << history.to_csv();
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
