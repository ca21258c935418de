// digitnet/data/dataset.hpp — labelled images kept packed as bytes, converted per batch.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "digitnet/core/rng.hpp"
#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/data/packed_images.hpp"

namespace digitnet {

// N images of one per-sample shape (C, H, W), stored as packed uint8 pixels
// (data/packed_images.hpp: 47 MB of MNIST training images take 12 MB), with
// integer labels in [0, num_classes). Pixels are unpacked, and become floats in
// [0, 1], only when a batch is assembled.
struct Dataset {
  Shape image_shape;            // per-sample (C, H, W), e.g. {1, 28, 28}
  PackedImages pixels;          // size() images of shape_size(image_shape) pixels
  std::vector<int32_t> labels;  // size() labels
  int num_classes = 0;          // 1 + the largest label (or more, if set so)
  // The classes' names, index = label ("T-shirt/top", "Trouser", ...); empty
  // when the classes are just their numbers (MNIST's digits).
  std::vector<std::string> class_names;

  // Class k's name: class_names[k], or k as a number when there are no names.
  std::string class_name(int64_t k) const;

  // From raw pixels (labels.size() images back to back). num_classes 0: 1 + the
  // largest label. Throws Error if the byte count does not match.
  static Dataset from_bytes(Shape image_shape, std::span<const uint8_t> pixels,
                            std::vector<int32_t> labels, int num_classes = 0);
  // Appends one image (shape_size(image_shape) pixels) and its label; raises
  // num_classes to cover the label.
  void add(std::span<const uint8_t> image, int32_t label);
  // Image i's pixels.
  std::vector<uint8_t> image(int64_t i) const;

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
  // (n, C, H, W), and their labels into y. With a pool (a model's, so that no
  // second pool competes for the cores), its participants unpack a share each;
  // the result is the same.
  void batch(std::span<const int64_t> indices, Tensor& x, std::vector<int32_t>& y,
             ThreadPool* pool = nullptr) const;
  // Images [begin, end) as a float tensor (n, C, H, W) in [0, 1].
  Tensor images(int64_t begin, int64_t end) const;
};

// names[k], or k as a number when names has no entry k (classes without names).
std::string class_name(const std::vector<std::string>& names, int64_t k);

// 0, 1, ..., n-1 shuffled by Fisher–Yates with draws from rng.
std::vector<int64_t> shuffled_indices(int64_t n, Rng& rng);

}  // namespace digitnet
