#include "digitnet/data/dataset.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>

#include "digitnet/core/error.hpp"

namespace digitnet {
namespace {

// uint8 pixel value → float in [0, 1], exactly as x.astype(float32) / 255.
const std::array<float, 256>& pixel_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[static_cast<size_t>(i)] = static_cast<float>(i) / 255.0f;
    return t;
  }();
  return table;
}

void check_consistent(const Dataset& d, const char* where) {
  const int64_t per = d.image_size();
  if (per <= 0 || (d.pixels.image_bytes() != per && !(d.pixels.empty() && d.size() == 0)))
    throw Error(std::string(where) + ": dataset holds images of " +
                std::to_string(d.pixels.image_bytes()) + " pixels but its image shape " +
                shape_str(d.image_shape) + " has " + std::to_string(per));
  if (d.pixels.size() != d.size())
    throw Error(std::string(where) + ": dataset holds " + std::to_string(d.pixels.size()) +
                " images but " + std::to_string(d.size()) + " labels");
}

void check_index(const Dataset& d, std::span<const int64_t> indices, const char* where) {
  for (size_t k = 0; k < indices.size(); ++k)
    if (indices[k] < 0 || indices[k] >= d.size())
      throw Error(std::string(where) + ": index " + std::to_string(indices[k]) + " (position " +
                  std::to_string(k) + ") is out of range [0, " + std::to_string(d.size()) + ")");
}

void check_range(const Dataset& d, int64_t begin, int64_t end, const char* where) {
  if (begin < 0 || end < begin || end > d.size())
    throw Error(std::string(where) + ": range [" + std::to_string(begin) + ", " +
                std::to_string(end) + ") is not within [0, " + std::to_string(d.size()) + "]");
}

Dataset empty_like(const Dataset& d) {
  Dataset out;
  out.image_shape = d.image_shape;
  out.pixels = PackedImages(d.image_size());
  out.num_classes = d.num_classes;
  out.class_names = d.class_names;
  return out;
}

}  // namespace

Dataset Dataset::from_bytes(Shape image_shape, std::span<const uint8_t> pixels,
                            std::vector<int32_t> labels, int num_classes) {
  Dataset d;
  d.image_shape = std::move(image_shape);
  const int64_t per = d.image_size();
  if (per <= 0 || static_cast<int64_t>(pixels.size()) != static_cast<int64_t>(labels.size()) * per)
    throw Error("Dataset: " + std::to_string(pixels.size()) + " pixel bytes do not hold " +
                std::to_string(labels.size()) + " images of shape " + shape_str(d.image_shape));
  d.pixels = PackedImages(per, pixels);
  int32_t top = -1;
  for (int32_t l : labels) top = std::max(top, l);
  d.labels = std::move(labels);
  d.num_classes = num_classes > 0 ? num_classes : top + 1;
  return d;
}

void Dataset::add(std::span<const uint8_t> image, int32_t label) {
  if (label < 0) throw Error("Dataset::add: label " + std::to_string(label) + " is negative");
  if (pixels.image_bytes() == 0 && pixels.empty()) pixels = PackedImages(image_size());
  if (static_cast<int64_t>(image.size()) != image_size())
    throw Error("Dataset::add: an image of " + std::to_string(image.size()) +
                " pixels does not have the shape " + shape_str(image_shape));
  pixels.push_back(image);
  labels.push_back(label);
  num_classes = std::max(num_classes, label + 1);
}

std::string Dataset::class_name(int64_t k) const { return digitnet::class_name(class_names, k); }

std::string class_name(const std::vector<std::string>& names, int64_t k) {
  if (k >= 0 && k < static_cast<int64_t>(names.size())) return names[static_cast<size_t>(k)];
  return std::to_string(k);
}

std::vector<uint8_t> Dataset::image(int64_t i) const {
  check_consistent(*this, "Dataset::image");
  if (i < 0 || i >= size())
    throw Error("Dataset::image: index " + std::to_string(i) + " is out of range [0, " +
                std::to_string(size()) + ")");
  return pixels.image(i);
}

Dataset Dataset::slice(int64_t begin, int64_t end) const {
  check_consistent(*this, "Dataset::slice");
  check_range(*this, begin, end, "Dataset::slice");
  Dataset out = empty_like(*this);
  out.pixels.reserve(end - begin, 0);
  for (int64_t i = begin; i < end; ++i) out.pixels.push_back_from(pixels, i);
  out.labels.assign(labels.begin() + begin, labels.begin() + end);
  return out;
}

Dataset Dataset::take(std::span<const int64_t> indices) const {
  check_consistent(*this, "Dataset::take");
  check_index(*this, indices, "Dataset::take");
  Dataset out = empty_like(*this);
  out.pixels.reserve(static_cast<int64_t>(indices.size()), 0);
  out.labels.resize(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    out.pixels.push_back_from(pixels, indices[k]);
    out.labels[k] = labels[static_cast<size_t>(indices[k])];
  }
  return out;
}

std::pair<Dataset, Dataset> Dataset::split_validation(double fraction) const {
  if (!(fraction >= 0.0 && fraction < 1.0))
    throw Error("validation_split: " + std::to_string(fraction) + " is not in [0, 1)");
  // As Keras: the first int(n * (1 - fraction)) rows train, the rest validate.
  const auto split_at = static_cast<int64_t>(static_cast<double>(size()) * (1.0 - fraction));
  if (fraction > 0.0 && (split_at == size() || split_at == 0))
    throw Error("validation_split: " + std::to_string(fraction) + " of " + std::to_string(size()) +
                " samples leaves " + (split_at == 0 ? "no training" : "no validation") +
                " samples");
  return {slice(0, split_at), slice(split_at, size())};
}

void Dataset::batch(std::span<const int64_t> indices, Tensor& x, std::vector<int32_t>& y,
                    ThreadPool* pool) const {
  check_consistent(*this, "Dataset::batch");
  check_index(*this, indices, "Dataset::batch");
  const auto n = static_cast<int64_t>(indices.size());
  x.resize(with_batch(n, image_shape));
  y.resize(indices.size());
  const auto& table = pixel_table();
  const int64_t per = image_size();
  // Rows [b, e). Codes two images ahead are fetched while this one unpacks (with
  // the single fill in decode: MNIST, 128 shuffled images, 100 -> 57-63 us a batch
  // alone; 62-68 -> 51-53 in order).
  auto rows = [&](int64_t b, int64_t e, int) {
    constexpr int64_t kAhead = 2;
    for (int64_t k = b; k < std::min(b + kAhead, e); ++k)
      pixels.prefetch(indices[static_cast<size_t>(k)]);
    for (int64_t k = b; k < e; ++k) {
      if (k + kAhead < e) pixels.prefetch(indices[static_cast<size_t>(k + kAhead)]);
      const int64_t i = indices[static_cast<size_t>(k)];
      pixels.unpack(i, x.data() + k * per, table.data());
      y[static_cast<size_t>(k)] = labels[static_cast<size_t>(i)];
    }
  };
  // Split where each share is worth a hand-off (a training batch of 128 MNIST
  // images: ~45 us on one core, serial between the steps).
  constexpr int64_t kSplitPixels = int64_t{1} << 15;
  if (pool && pool->size() > 1 && n * per >= kSplitPixels) return pool->parallel_for(n, rows);
  rows(0, n, 0);
}

Tensor Dataset::images(int64_t begin, int64_t end) const {
  check_consistent(*this, "Dataset::images");
  check_range(*this, begin, end, "Dataset::images");
  Tensor x(with_batch(end - begin, image_shape));
  const auto& table = pixel_table();
  const int64_t per = image_size();
  for (int64_t i = begin; i < end; ++i)
    pixels.unpack(i, x.data() + (i - begin) * per, table.data());
  return x;
}

std::vector<int64_t> shuffled_indices(int64_t n, Rng& rng) {
  if (n < 0) throw Error("shuffled_indices: n = " + std::to_string(n) + " is negative");
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
  }
  return idx;
}

}  // namespace digitnet
