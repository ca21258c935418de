// Small synthetic image datasets for quick training tests.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "digitnet/core/rng.hpp"
#include "digitnet/data/dataset.hpp"

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

}  // namespace digitnet::testing
