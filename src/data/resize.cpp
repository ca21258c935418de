#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/data/image.hpp"

namespace digitnet {
namespace {

// The source taps of each output pixel along one axis: pixel o reads
// [first[o], first[o] + count[o]) with weights w[o * taps + k], summing to 1.
struct Taps {
  int taps = 0;
  std::vector<int> first, count;
  std::vector<double> w;
};

double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// As Pillow's precompute_coeffs for BILINEAR: the triangle is stretched by the
// shrink factor when downscaling, so every covered source pixel contributes.
Taps make_taps(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  const double stretch = std::max(scale, 1.0);
  const double support = 1.0 * stretch;
  Taps t;
  t.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<size_t>(out));
  t.count.resize(static_cast<size_t>(out));
  t.w.assign(static_cast<size_t>(out) * static_cast<size_t>(t.taps), 0.0);
  for (int o = 0; o < out; ++o) {
    // Output pixel o's centre in source coordinates where pixel i spans [i, i + 1).
    const double centre = (o + 0.5) * scale;
    const int lo = std::max(static_cast<int>(std::floor(centre - support + 0.5)), 0);
    const int hi = std::min(static_cast<int>(std::floor(centre + support + 0.5)), in);
    const int n = std::min(hi - lo, t.taps);
    double* w = &t.w[static_cast<size_t>(o) * static_cast<size_t>(t.taps)];
    double sum = 0.0;
    for (int k = 0; k < n; ++k) sum += w[k] = triangle((lo + k + 0.5 - centre) / stretch);
    for (int k = 0; k < n; ++k) w[k] /= sum;
    t.first[static_cast<size_t>(o)] = lo;
    t.count[static_cast<size_t>(o)] = n;
  }
  return t;
}

}  // namespace

GrayImage resize_image(const GrayImage& in, int height, int width) {
  const auto size_str = [](int64_t h, int64_t w) {
    return std::to_string(h) + "x" + std::to_string(w);
  };
  if (in.width <= 0 || in.height <= 0 ||
      in.pixels.size() != static_cast<size_t>(int64_t{in.width} * in.height))
    throw Error("resize_image: the input (" + size_str(in.height, in.width) + ", " +
                std::to_string(in.pixels.size()) + " pixels) is not a valid image");
  if (height <= 0 || width <= 0 || int64_t{width} > kMaxImagePixels / height)
    throw Error("resize_image: output size " + size_str(height, width) + " is not in 1.." +
                std::to_string(kMaxImagePixels) + " pixels");
  if (height == in.height && width == in.width) return in;

  // Rows first into doubles, then columns, rounding once at the end.
  const Taps tx = make_taps(in.width, width), ty = make_taps(in.height, height);
  std::vector<double> rows(static_cast<size_t>(in.height) * static_cast<size_t>(width));
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* src = &in.pixels[static_cast<size_t>(y) * static_cast<size_t>(in.width)];
    double* dst = &rows[static_cast<size_t>(y) * static_cast<size_t>(width)];
    for (int x = 0; x < width; ++x) {
      const double* w = &tx.w[static_cast<size_t>(x) * static_cast<size_t>(tx.taps)];
      const uint8_t* s = src + tx.first[static_cast<size_t>(x)];
      double v = 0.0;
      for (int k = 0; k < tx.count[static_cast<size_t>(x)]; ++k) v += w[k] * s[k];
      dst[x] = v;
    }
  }
  GrayImage out;
  out.width = width;
  out.height = height;
  out.pixels.resize(static_cast<size_t>(height) * static_cast<size_t>(width));
  std::vector<double> acc(static_cast<size_t>(width));
  for (int y = 0; y < height; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0);
    const double* w = &ty.w[static_cast<size_t>(y) * static_cast<size_t>(ty.taps)];
    for (int k = 0; k < ty.count[static_cast<size_t>(y)]; ++k) {
      const double* src = &rows[static_cast<size_t>(ty.first[static_cast<size_t>(y)] + k) *
                                static_cast<size_t>(width)];
      for (int x = 0; x < width; ++x) acc[static_cast<size_t>(x)] += w[k] * src[x];
    }
    uint8_t* dst = &out.pixels[static_cast<size_t>(y) * static_cast<size_t>(width)];
    for (int x = 0; x < width; ++x)
      dst[x] = static_cast<uint8_t>(
          std::clamp(std::floor(acc[static_cast<size_t>(x)] + 0.5), 0.0, 255.0));
  }
  return out;
}

}  // namespace digitnet
