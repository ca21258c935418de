// src/data/augment.cpp — the random affine and elastic distortions of training images.
//
// For an output pixel q = (x, y) the source point is
//   p = A⁻¹·(q − c − t) + c + e(q),   A = s·R(θ)·Sh(φ),  Sh(φ) = [[1, tan φ], [0, 1]]
// with c the image centre, t the shift, e the elastic displacement (0 when off),
// and the output is the bilinear interpolation of the input at p, 0 outside.
// e = alpha · G_sigma * U, U uniform in [-1, 1] per pixel and axis, G the Gaussian
// (separable, radius ⌈3σ⌉, mirrored at the borders as scipy's 'reflect').
#include "digitnet/data/augment.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"

namespace digitnet {

Augmentation Augmentation::mnist() {
  Augmentation a;
  a.rotate = 10.0f;
  a.shift = 2.0f;
  a.scale = 0.1f;
  a.shear = 5.0f;
  return a;
}

bool Augmentation::active() const {
  return rotate > 0.0f || shift > 0.0f || scale > 0.0f || shear > 0.0f || elastic();
}

void Augmentation::validate() const {
  auto check = [](const char* field, float v, float max, bool inclusive) {
    if (!std::isfinite(v) || v < 0.0f || (inclusive ? v > max : v >= max)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "augmentation: %s must be in [0, %g%s (got %g)", field,
                    static_cast<double>(max), inclusive ? "]" : ")", static_cast<double>(v));
      throw Error(buf);
    }
  };
  check("rotate", rotate, 180.0f, true);
  check("shift", shift, 1000.0f, true);
  check("scale", scale, 1.0f, false);
  check("shear", shear, 90.0f, false);
  check("elastic alpha", elastic_alpha, 1000.0f, true);
  check("elastic sigma", elastic_sigma, 64.0f, true);
  if ((elastic_alpha > 0.0f) != (elastic_sigma > 0.0f))
    throw Error("augmentation: elastic distortion needs both alpha and sigma > 0");
}

std::string Augmentation::describe() const {
  if (!active()) return "none";
  std::string out;
  auto add = [&](bool on, const char* fmt, double v, double v2 = 0.0) {
    if (!on) return;
    char buf[96];
    std::snprintf(buf, sizeof buf, fmt, v, v2);
    out += (out.empty() ? "" : ", ") + std::string(buf);
  };
  add(rotate > 0.0f, "rotate ±%g°", rotate);
  add(shift > 0.0f, "shift ±%g px", shift);
  add(scale > 0.0f, "scale ±%g", scale);
  add(shear > 0.0f, "shear ±%g°", shear);
  add(elastic(), "elastic alpha %g sigma %g", elastic_alpha, elastic_sigma);
  return out;
}

nlohmann::json Augmentation::to_json() const {
  return {{"rotate", rotate},
          {"shift", shift},
          {"scale", scale},
          {"shear", shear},
          {"elastic_alpha", elastic_alpha},
          {"elastic_sigma", elastic_sigma}};
}

Augmentation Augmentation::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected a JSON object");
  Augmentation a;
  for (const auto& [key, v] : j.items()) {
    float* field = key == "rotate"          ? &a.rotate
                   : key == "shift"         ? &a.shift
                   : key == "scale"         ? &a.scale
                   : key == "shear"         ? &a.shear
                   : key == "elastic_alpha" ? &a.elastic_alpha
                   : key == "elastic_sigma" ? &a.elastic_sigma
                                            : nullptr;
    if (!field) throw Error(where + ": unknown field '" + key + "'");
    if (!v.is_number()) throw Error(where + "." + key + ": expected a number");
    *field = v.get<float>();
  }
  try {
    a.validate();
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  return a;
}

namespace {

constexpr double kDegree = std::numbers::pi / 180.0;

// Index i mirrored into [0, n) as scipy's 'reflect' (d c b a | a b c d | d c b a).
int64_t reflect(int64_t i, int64_t n) {
  const int64_t period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

// out (h, w) = Σ_k g[k]·src[reflect(y + k - r)]: the Gaussian along columns, one
// long contiguous loop per tap over the row-mirrored copy in pad.
void smooth_columns(const float* src, float* out, int64_t h, int64_t w, const std::vector<float>& g,
                    std::vector<float>& pad) {
  const int64_t r = static_cast<int64_t>(g.size() / 2);
  pad.resize(static_cast<size_t>((h + 2 * r) * w));
  for (int64_t j = 0; j < h + 2 * r; ++j) {
    const float* row = src + reflect(j - r, h) * w;
    std::copy(row, row + w, pad.begin() + j * w);
  }
  const int64_t n = h * w;
  const float* centre = pad.data() + r * w;
  const float gc = g[static_cast<size_t>(r)];
  for (int64_t i = 0; i < n; ++i) out[i] = gc * centre[i];
  for (int64_t k = 0; k < r; ++k) {  // g is symmetric: the taps at ±(r - k) together
    const float gk = g[static_cast<size_t>(k)];
    const float *lo = pad.data() + k * w, *hi = pad.data() + (2 * r - k) * w;
    for (int64_t i = 0; i < n; ++i) out[i] += gk * (lo[i] + hi[i]);
  }
}

// dst (w, h) = srcᵀ, src (h, w).
void transpose(const float* src, float* dst, int64_t h, int64_t w) {
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) dst[x * h + y] = src[y * w + x];
}

// The Gaussian G_sigma, radius ⌈3σ⌉, normalised to sum 1.
std::vector<float> gaussian(float sigma) {
  const int64_t r = static_cast<int64_t>(std::ceil(3.0f * sigma));
  std::vector<float> g(static_cast<size_t>(2 * r + 1));
  double sum = 0.0;
  for (int64_t k = -r; k <= r; ++k)
    sum += g[static_cast<size_t>(k + r)] =
        static_cast<float>(std::exp(-0.5 * double(k * k) / (double(sigma) * sigma)));
  for (float& v : g) v = static_cast<float>(v / sum);
  return g;
}

// field (h, w) ← alpha · (g * field): columns, then rows as the columns of the transpose.
void smooth(std::vector<float>& field, int64_t h, int64_t w, const std::vector<float>& g,
            float alpha) {
  const size_t n = field.size();
  std::vector<float> a(n), b(n), pad;
  smooth_columns(field.data(), a.data(), h, w, g, pad);
  transpose(a.data(), b.data(), h, w);
  smooth_columns(b.data(), a.data(), w, h, g, pad);
  transpose(a.data(), field.data(), w, h);
  for (float& v : field) v *= alpha;
}

}  // namespace

Warp draw_warp(const Augmentation& a, uint64_t seed, uint64_t key, int64_t h, int64_t w) {
  // One stream per (seed, key); every draw is made whatever the ranges, in a fixed order.
  Rng rng(seed ^ (key * 0x9E3779B97F4A7C15ull) ^ 0x6175676D656E7473ull);
  Warp warp;
  warp.rotate = rng.uniform(-a.rotate, a.rotate) * kDegree;
  warp.shift_x = rng.uniform(-a.shift, a.shift);
  warp.shift_y = rng.uniform(-a.shift, a.shift);
  warp.scale = 1.0 + rng.uniform(-a.scale, a.scale);
  warp.shear = rng.uniform(-a.shear, a.shear) * kDegree;
  if (a.elastic()) {
    const size_t n = static_cast<size_t>(h * w);
    warp.dx.resize(n), warp.dy.resize(n);
    // Two uniform values in [-1, 1) from each 64-bit draw (24 bits each).
    auto fill = [&](std::vector<float>& f) {
      constexpr float k = 2.0f / float(1 << 24);
      for (size_t i = 0; i < n; i += 2) {
        const uint64_t r = rng.next_u64();
        f[i] = static_cast<float>(r >> 40) * k - 1.0f;
        if (i + 1 < n) f[i + 1] = static_cast<float>((r >> 16) & 0xFFFFFF) * k - 1.0f;
      }
    };
    fill(warp.dx);
    fill(warp.dy);
    const std::vector<float> g = gaussian(a.elastic_sigma);
    smooth(warp.dx, h, w, g, a.elastic_alpha);
    smooth(warp.dy, h, w, g, a.elastic_alpha);
  }
  return warp;
}

void apply_warp(const Warp& warp, const float* in, float* out, int64_t channels, int64_t h,
                int64_t w) {
  // A = s·R·Sh, A⁻¹ = Sh⁻¹·Rᵀ / s.
  const double c = std::cos(warp.rotate), sn = std::sin(warp.rotate), t = std::tan(warp.shear);
  const double s = warp.scale;
  const float i00 = static_cast<float>((c + t * sn) / s),
              i01 = static_cast<float>((sn - t * c) / s);
  const float i10 = static_cast<float>(-sn / s), i11 = static_cast<float>(c / s);
  const double cx = 0.5 * double(w - 1), cy = 0.5 * double(h - 1);
  const bool elastic = !warp.dx.empty();
  const int64_t plane = h * w;
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  for (int64_t y = 0; y < h; ++y) {
    // The source point of (0, y); each step in x adds (i00, i10).
    const double v = double(y) - cy - warp.shift_y, u0 = -cx - warp.shift_x;
    const float px0 = static_cast<float>(i00 * u0 + i01 * v + cx);
    const float py0 = static_cast<float>(i10 * u0 + i11 * v + cy);
    for (int64_t x = 0; x < w; ++x) {
      float px = px0 + i00 * static_cast<float>(x), py = py0 + i10 * static_cast<float>(x);
      if (elastic) {
        px += warp.dx[static_cast<size_t>(y * w + x)];
        py += warp.dy[static_cast<size_t>(y * w + x)];
      }
      const int64_t o = y * w + x;
      if (!(px > -1.0f && px < fw && py > -1.0f && py < fh)) {  // no neighbour inside (or NaN)
        for (int64_t ch = 0; ch < channels; ++ch) out[ch * plane + o] = 0.0f;
        continue;
      }
      // floor for values > -1
      const int64_t x0 = static_cast<int64_t>(px + 1.0f) - 1,
                    y0 = static_cast<int64_t>(py + 1.0f) - 1;
      const float fx = px - static_cast<float>(x0), fy = py - static_cast<float>(y0);
      float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
      // Neighbours outside the image count as 0: their weights go, their index is clamped.
      if (x0 < 0) w00 = w10 = 0.0f;
      if (x0 + 1 >= w) w01 = w11 = 0.0f;
      if (y0 < 0) w00 = w01 = 0.0f;
      if (y0 + 1 >= h) w10 = w11 = 0.0f;
      const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min<int64_t>(x0 + 1, w - 1);
      const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + 1, h - 1);
      for (int64_t ch = 0; ch < channels; ++ch) {
        const float* p = in + ch * plane;
        out[ch * plane + o] = w00 * p[ya * w + xa] + w01 * p[ya * w + xb] + w10 * p[yb * w + xa] +
                              w11 * p[yb * w + xb];
      }
    }
  }
}

void augment_image(const Augmentation& a, uint64_t seed, uint64_t key, const float* in, float* out,
                   int64_t channels, int64_t h, int64_t w) {
  apply_warp(draw_warp(a, seed, key, h, w), in, out, channels, h, w);
}

void augment_batch(const Augmentation& a, uint64_t seed, std::span<const uint64_t> keys, Tensor& x,
                   ThreadPool* pool) {
  if (x.rank() != 4)
    throw Error("augment_batch: expected images (N, C, H, W), got " + shape_str(x.shape()));
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), per = c * h * w;
  if (static_cast<int64_t>(keys.size()) != n)
    throw Error("augment_batch: " + std::to_string(keys.size()) + " keys for " + std::to_string(n) +
                " images");
  if (!a.active() || n == 0) return;
  auto run = [&](int64_t b, int64_t e, int) {
    std::vector<float> src(static_cast<size_t>(per));
    for (int64_t i = b; i < e; ++i) {
      float* img = x.data() + i * per;
      std::copy(img, img + per, src.begin());
      augment_image(a, seed, keys[static_cast<size_t>(i)], src.data(), img, c, h, w);
    }
  };
  if (pool)
    pool->parallel_for(n, run);
  else
    run(0, n, 0);
}

}  // namespace digitnet
