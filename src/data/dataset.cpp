#include "digitnet/data/dataset.hpp"

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
  if (per <= 0 || static_cast<int64_t>(d.pixels.size()) != d.size() * per)
    throw Error(std::string(where) + ": dataset holds " + std::to_string(d.pixels.size()) +
                " pixel bytes but " + std::to_string(d.size()) + " images of shape " +
                shape_str(d.image_shape) + " need " + std::to_string(d.size() * per));
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
  out.num_classes = d.num_classes;
  return out;
}

}  // namespace

Dataset Dataset::slice(int64_t begin, int64_t end) const {
  check_consistent(*this, "Dataset::slice");
  check_range(*this, begin, end, "Dataset::slice");
  Dataset out = empty_like(*this);
  const int64_t per = image_size();
  out.pixels.assign(pixels.begin() + begin * per, pixels.begin() + end * per);
  out.labels.assign(labels.begin() + begin, labels.begin() + end);
  return out;
}

Dataset Dataset::take(std::span<const int64_t> indices) const {
  check_consistent(*this, "Dataset::take");
  check_index(*this, indices, "Dataset::take");
  Dataset out = empty_like(*this);
  const auto per = static_cast<size_t>(image_size());
  out.pixels.resize(indices.size() * per);
  out.labels.resize(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    const auto i = static_cast<size_t>(indices[k]);
    std::memcpy(out.pixels.data() + k * per, pixels.data() + i * per, per);
    out.labels[k] = labels[i];
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

void Dataset::batch(std::span<const int64_t> indices, Tensor& x, std::vector<int32_t>& y) const {
  check_consistent(*this, "Dataset::batch");
  check_index(*this, indices, "Dataset::batch");
  const auto n = static_cast<int64_t>(indices.size());
  x.resize(with_batch(n, image_shape));
  y.resize(indices.size());
  const auto& table = pixel_table();
  const auto per = static_cast<size_t>(image_size());
  float* dst = x.data();
  for (size_t k = 0; k < indices.size(); ++k) {
    const auto i = static_cast<size_t>(indices[k]);
    const uint8_t* src = pixels.data() + i * per;
    float* out = dst + k * per;
    for (size_t p = 0; p < per; ++p) out[p] = table[src[p]];
    y[k] = labels[i];
  }
}

Tensor Dataset::images(int64_t begin, int64_t end) const {
  check_consistent(*this, "Dataset::images");
  check_range(*this, begin, end, "Dataset::images");
  Tensor x(with_batch(end - begin, image_shape));
  const auto& table = pixel_table();
  const auto per = static_cast<size_t>(image_size());
  const uint8_t* src = pixels.data() + static_cast<size_t>(begin) * per;
  const size_t total = static_cast<size_t>(end - begin) * per;
  float* out = x.data();
  for (size_t p = 0; p < total; ++p) out[p] = table[src[p]];
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
