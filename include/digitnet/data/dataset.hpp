// digitnet/data/dataset.hpp — labelled images kept as bytes, converted per batch.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"

namespace digitnet {

// N images of one per-sample shape (C, H, W), stored as uint8 pixels, with
// integer labels in [0, num_classes). Pixels become floats in [0, 1] only when
// a batch is assembled.
struct Dataset {
  Shape image_shape;            // per-sample (C, H, W), e.g. {1, 28, 28}
  std::vector<uint8_t> pixels;  // size() * shape_size(image_shape) bytes
  std::vector<int32_t> labels;  // size() labels
  int num_classes = 0;          // 1 + the largest label (or more, if set so)

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_size() const { return shape_size(image_shape); }

  // Rows [begin, end).
  Dataset slice(int64_t begin, int64_t end) const;
  // The rows at `indices`, in that order.
  Dataset take(std::span<const int64_t> indices) const;
  // Keras validation_split: the LAST fraction of the rows (before any shuffling)
  // become the validation set; returns {train, validation}.
  std::pair<Dataset, Dataset> split_validation(double fraction) const;

  // Writes the images at `indices` as floats in [0, 1] into x, shape
  // (n, C, H, W), and their labels into y.
  void batch(std::span<const int64_t> indices, Tensor& x, std::vector<int32_t>& y) const;
  // Images [begin, end) as a float tensor (n, C, H, W) in [0, 1].
  Tensor images(int64_t begin, int64_t end) const;
};

// 0, 1, ..., n-1 shuffled by Fisher–Yates with draws from rng.
std::vector<int64_t> shuffled_indices(int64_t n, Rng& rng);

}  // namespace digitnet
