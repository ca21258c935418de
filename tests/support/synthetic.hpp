// Small synthetic image datasets for quick training tests.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "digitnet/core/rng.hpp"
#include "digitnet/data/dataset.hpp"
#include "digitnet/layers/layers.hpp"
#include "digitnet/model/sequential.hpp"

namespace digitnet::testing {

// n images of size (1, h, w) in `classes` classes: class c lights up a
// horizontal band of rows [c·h/classes, (c+1)·h/classes) with noise, so the
// classes are learnable but not trivially by one pixel.
inline Dataset band_dataset(int64_t n, int classes, int h, int w, uint64_t seed) {
  Dataset d;
  d.image_shape = {1, h, w};
  d.num_classes = classes;
  Rng rng(seed);
  std::vector<uint8_t> image(static_cast<size_t>(h * w));
  for (int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng.below(static_cast<uint64_t>(classes)));
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const bool on = y * classes / h == c;
        const float v = (on ? 0.7f : 0.1f) + rng.uniform(-0.1f, 0.3f);
        image[static_cast<size_t>(y * w + x)] =
            static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v * 255.0f)));
      }
    d.add(image, c);
  }
  return d;
}

// A small CNN (conv 4 3x3, max pool, batch norm, dense) on band_dataset's 1x12x12
// images, trained one epoch with Adam; `last` is its output activation.
inline Sequential trained_band_cnn(uint64_t seed, const Dataset& train, int threads = 1,
                                   Activation last = Activation::softmax) {
  Sequential m({1, 12, 12}, seed, threads);
  m.add(Conv2D(4, 3, Activation::relu));
  m.add(MaxPooling2D(2));
  m.add(BatchNormalization());
  m.add(Flatten());
  m.add(Dense(train.num_classes, last));
  m.compile(Adam(1e-2f), sparse_categorical_crossentropy(), {accuracy});
  FitOptions fo;
  fo.epochs = 1;
  fo.batch_size = 32;
  fo.verbose = 0;
  m.fit(train, fo);
  return m;
}

}  // namespace digitnet::testing
