// digitnet/data/augment.hpp — random distortions of training images, on the fly.
//
//   FitOptions opt;
//   opt.augment = Augmentation::mnist();   // or set the parts: opt.augment.rotate = 12;
//   model.fit(train, opt);                  // training batches only; validation is not touched
//
// Each training image gets its own random affine warp (rotation, shift, scale,
// shear about the image centre) and, optionally, an elastic distortion (Simard,
// Steinkraus & Platt 2003: a field of uniform random displacements smoothed by a
// Gaussian of width sigma and scaled by alpha). Pixels are resampled bilinearly;
// what falls outside the image is 0 (background). An image's distortion depends
// only on the seed, the epoch and the image's index in the training set, so runs
// are bit-identical for any thread count and batch order.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "digitnet/core/tensor.hpp"
#include "digitnet/core/thread_pool.hpp"

namespace digitnet {

struct Augmentation {
  float rotate = 0.0f;         // degrees: angle ~ U(-rotate, rotate)
  float shift = 0.0f;          // pixels: each axis ~ U(-shift, shift)
  float scale = 0.0f;          // zoom ~ U(1 - scale, 1 + scale), both axes alike
  float shear = 0.0f;          // degrees: horizontal shear angle ~ U(-shear, shear)
  float elastic_alpha = 0.0f;  // elastic displacement scale (pixels per unit field)
  float elastic_sigma = 0.0f;  // the displacement field's Gaussian smoothing (pixels)

  // --augment: rotate 10°, shift 2 px, scale 0.1, shear 5°, no elastic distortion.
  static Augmentation mnist();
  bool active() const;
  bool elastic() const { return elastic_alpha > 0.0f && elastic_sigma > 0.0f; }
  // Throws Error naming the field for a negative, non-finite or too large value
  // (rotate ≤ 180, shear < 90, scale < 1, elastic sigma ≤ 64).
  void validate() const;
  // "rotate ±10°, shift ±2 px, scale ±0.1, shear ±5°" (or "none").
  std::string describe() const;
  nlohmann::json to_json() const;
  // `where` names the source in errors ("model.dnm: metadata.training.augment").
  static Augmentation from_json(const nlohmann::json& j, const std::string& where);
};

// One image's distortion: the affine part's parameters, and the elastic
// displacement field (per pixel, x then y; empty when there is none).
struct Warp {
  double rotate = 0.0;  // radians
  double shift_x = 0.0, shift_y = 0.0;
  double scale = 1.0;
  double shear = 0.0;  // radians
  std::vector<float> dx, dy;
};

// The warp of an image of h × w drawn from (seed, key): the same pair always gives
// the same warp.
Warp draw_warp(const Augmentation& a, uint64_t seed, uint64_t key, int64_t h, int64_t w);

// out(q) = in(A⁻¹·(q − c − t) + c + e(q)), bilinear, 0 outside; `in` and `out` are
// (channels, h, w) and must not overlap.
void apply_warp(const Warp& warp, const float* in, float* out, int64_t channels, int64_t h,
                int64_t w);

// draw_warp then apply_warp.
void augment_image(const Augmentation& a, uint64_t seed, uint64_t key, const float* in, float* out,
                   int64_t channels, int64_t h, int64_t w);

// The key of an image's distortion in a given epoch (fit's: epoch from 1, the
// image's index in the training set).
constexpr uint64_t augment_key(int epoch, int64_t index) {
  return (static_cast<uint64_t>(epoch) << 40) ^ static_cast<uint64_t>(index);
}

// Distorts every image of x (N, C, H, W) in place; image i uses keys[i]. Runs on
// the pool when one is given.
void augment_batch(const Augmentation& a, uint64_t seed, std::span<const uint64_t> keys, Tensor& x,
                   ThreadPool* pool);

}  // namespace digitnet
