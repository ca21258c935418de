// Augmentation: the warp's geometry on known parameters, the elastic field's
// statistics, reproducibility from (seed, key) for any thread count, and the
// options' validation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>

#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/data/augment.hpp"
#include "test_support.hpp"

using namespace digitnet;

namespace {

std::vector<float> random_image(int64_t h, int64_t w, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(h * w));
  for (float& x : v) x = rng.uniform();
  return v;
}

float at(const std::vector<float>& img, int64_t w, int64_t x, int64_t y) {
  return img[static_cast<size_t>(y * w + x)];
}

std::string error_of(const Augmentation& a) {
  try {
    a.validate();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Augment, IdentityWarpCopiesExactly) {
  const auto in = random_image(28, 28, 1);
  std::vector<float> out(in.size());
  apply_warp(Warp{}, in.data(), out.data(), 1, 28, 28);
  EXPECT_EQ(std::memcmp(in.data(), out.data(), in.size() * sizeof(float)), 0);
}

TEST(Augment, IntegerShiftMovesEveryPixelAndFillsWithZero) {
  const int64_t h = 20, w = 24;
  const auto in = random_image(h, w, 2);
  std::vector<float> out(in.size());
  Warp warp;
  warp.shift_x = 3.0, warp.shift_y = -2.0;
  apply_warp(warp, in.data(), out.data(), 1, h, w);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int64_t sx = x - 3, sy = y + 2;
      const float want = (sx >= 0 && sx < w && sy >= 0 && sy < h) ? at(in, w, sx, sy) : 0.0f;
      ASSERT_NEAR(at(out, w, x, y), want, 1e-6f) << x << "," << y;
    }
}

TEST(Augment, RotationScaleAndShearMapPointsAsTheFormulaSays) {
  // out(q) = in(A⁻¹(q − c) + c): a single bright pixel shows where each q samples.
  const int64_t n = 29, c = 14;  // odd, so the centre is a pixel
  struct Case {
    const char* what;
    Warp warp;
    int64_t src_dx, src_dy;  // the bright pixel, relative to the centre
    int64_t dst_dx, dst_dy;  // where it must land
  };
  Warp rot, zoom, shear;
  rot.rotate = std::numbers::pi / 2;  // A⁻¹(u, v) = (v, −u)
  zoom.scale = 2.0;                   // A⁻¹(u, v) = (u, v) / 2
  shear.shear = std::atan(1.0);       // A⁻¹(u, v) = (u − v, v)
  const std::vector<Case> cases = {
      {"rotate 90", rot, 3, -5, 5, 3},
      {"scale 2", zoom, 2, -3, 4, -6},
      {"shear 45", shear, 1, 4, 5, 4},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.what);
    std::vector<float> in(static_cast<size_t>(n * n), 0.0f), out(in.size());
    in[static_cast<size_t>((c + k.src_dy) * n + c + k.src_dx)] = 1.0f;
    apply_warp(k.warp, in.data(), out.data(), 1, n, n);
    EXPECT_NEAR(at(out, n, c + k.dst_dx, c + k.dst_dy), 1.0f, 1e-5f);
    // Nothing else is lit except what bilinear sampling spreads (the zoom spreads
    // the pixel over its 2x neighbourhood, at weights below 1).
    float total_other = 0.0f;
    for (int64_t i = 0; i < n * n; ++i)
      if (i != (c + k.dst_dy) * n + c + k.dst_dx)
        total_other += std::abs(out[static_cast<size_t>(i)]);
    EXPECT_LT(total_other, k.warp.scale > 1.0 ? 3.01f : 1e-4f);
  }
}

TEST(Augment, DrawsStayInTheirRangesAndCoverThem) {
  Augmentation a;
  a.rotate = 12.0f, a.shift = 3.0f, a.scale = 0.2f, a.shear = 7.0f;
  double max_rot = 0, max_shift = 0, max_scale = 0, max_shear = 0;
  for (uint64_t key = 0; key < 2000; ++key) {
    const Warp w = draw_warp(a, 5, key, 28, 28);
    max_rot = std::max(max_rot, std::abs(w.rotate) * 180 / std::numbers::pi);
    max_shift = std::max({max_shift, std::abs(w.shift_x), std::abs(w.shift_y)});
    max_scale = std::max(max_scale, std::abs(w.scale - 1.0));
    max_shear = std::max(max_shear, std::abs(w.shear) * 180 / std::numbers::pi);
    EXPECT_TRUE(w.dx.empty());
  }
  EXPECT_LE(max_rot, 12.0 + 1e-4);
  EXPECT_GT(max_rot, 11.5);
  EXPECT_LE(max_shift, 3.0 + 1e-6);
  EXPECT_GT(max_shift, 2.9);
  EXPECT_LE(max_scale, 0.2 + 1e-6);
  EXPECT_GT(max_scale, 0.19);
  EXPECT_LE(max_shear, 7.0 + 1e-4);
  EXPECT_GT(max_shear, 6.7);
}

TEST(Augment, ElasticFieldHasTheSmoothedUniformStatistics) {
  // e = alpha · (G_sigma * U), U uniform in [-1, 1]: mean 0, and away from the
  // borders a standard deviation of alpha · sqrt(1/3) · sqrt(Σ g²) over the 2-D kernel.
  Augmentation a;
  a.elastic_alpha = 34.0f, a.elastic_sigma = 4.0f;
  const int64_t n = 28, r = 12;
  double g2 = 0.0, gsum = 0.0;
  for (int k = -r; k <= r; ++k) gsum += std::exp(-0.5 * k * k / 16.0);
  for (int k = -r; k <= r; ++k) g2 += std::pow(std::exp(-0.5 * k * k / 16.0) / gsum, 2);
  const double want_sd = 34.0 * std::sqrt(1.0 / 3.0) * g2;  // sqrt(Σ_i Σ_j g_i² g_j²) = Σ g²
  double s = 0, ss = 0, count = 0, neighbour = 0;
  for (uint64_t key = 0; key < 400; ++key) {
    const Warp w = draw_warp(a, 9, key, n, n);
    ASSERT_EQ(w.dx.size(), static_cast<size_t>(n * n));
    const float centre = w.dx[static_cast<size_t>(14 * n + 14)];
    s += centre, ss += double(centre) * centre, ++count;
    neighbour += std::abs(w.dx[static_cast<size_t>(14 * n + 15)] - centre);
  }
  const double mean = s / count, sd = std::sqrt(ss / count - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.2 * want_sd);
  EXPECT_NEAR(sd, want_sd, 0.15 * want_sd);
  // Smooth: neighbours differ by far less than the field's spread.
  EXPECT_LT(neighbour / count, 0.3 * want_sd);
}

TEST(Augment, SameSeedAndKeysGiveTheSameBitsForAnyThreadCount) {
  Augmentation a = Augmentation::mnist();
  a.elastic_alpha = 20.0f, a.elastic_sigma = 3.0f;
  Tensor x({10, 2, 16, 16});
  Rng rng(4);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform();
  std::vector<uint64_t> keys(10);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = (uint64_t{3} << 40) ^ (i * 7);
  auto run = [&](int threads, uint64_t seed) {
    Tensor y = x;
    ThreadPool pool(threads);
    augment_batch(a, seed, keys, y, &pool);
    return y;
  };
  const Tensor a1 = run(1, 42), a3 = run(3, 42), again = run(2, 42), other = run(1, 43);
  EXPECT_EQ(std::memcmp(a1.data(), a3.data(), sizeof(float) * size_t(a1.size())), 0);
  EXPECT_EQ(std::memcmp(a1.data(), again.data(), sizeof(float) * size_t(a1.size())), 0);
  EXPECT_NE(std::memcmp(a1.data(), other.data(), sizeof(float) * size_t(a1.size())), 0);
  EXPECT_NE(std::memcmp(a1.data(), x.data(), sizeof(float) * size_t(a1.size())), 0);
  // Both channels of an image get the same warp: equal channels stay equal.
  Tensor same({1, 2, 16, 16});
  for (int64_t i = 0; i < 256; ++i) same[i] = same[256 + i] = x[i];
  ThreadPool pool(1);
  augment_batch(a, 42, std::span<const uint64_t>(keys).first(1), same, &pool);
  EXPECT_EQ(std::memcmp(same.data(), same.data() + 256, 256 * sizeof(float)), 0);
}

TEST(Augment, InactiveLeavesTheBatchUntouchedAndKeysMustMatch) {
  Tensor x({3, 1, 8, 8});
  Rng rng(5);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform();
  const Tensor before = x;
  const std::vector<uint64_t> keys = {1, 2, 3};
  augment_batch(Augmentation{}, 1, keys, x, nullptr);
  EXPECT_EQ(std::memcmp(x.data(), before.data(), sizeof(float) * size_t(x.size())), 0);
  EXPECT_THROW(
      augment_batch(Augmentation::mnist(), 1, std::span<const uint64_t>(keys).first(2), x, nullptr),
      Error);
}

TEST(Augment, BadOptionsAreErrorsNamingTheField) {
  Augmentation a;
  a.rotate = -1.0f;
  EXPECT_NE(error_of(a).find("rotate"), std::string::npos);
  a = {};
  a.shear = 90.0f;
  EXPECT_NE(error_of(a).find("shear"), std::string::npos);
  a = {};
  a.scale = std::nanf("");
  EXPECT_NE(error_of(a).find("scale"), std::string::npos);
  a = {};
  a.elastic_alpha = 30.0f;
  EXPECT_NE(error_of(a).find("both alpha and sigma"), std::string::npos);
  EXPECT_EQ(error_of(Augmentation::mnist()), "");
}

TEST(Augment, JsonRoundTripAndErrors) {
  Augmentation a = Augmentation::mnist();
  a.elastic_alpha = 34.0f, a.elastic_sigma = 4.0f;
  const Augmentation b = Augmentation::from_json(a.to_json(), "x");
  EXPECT_EQ(b.to_json(), a.to_json());
  EXPECT_EQ(b.describe(),
            "rotate ±10°, shift ±2 px, scale ±0.1, shear ±5°, elastic alpha 34 sigma 4");
  EXPECT_EQ(Augmentation{}.describe(), "none");
  auto message = [](const nlohmann::json& j) {
    try {
      Augmentation::from_json(j, "m.dnm: metadata.training.augment");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({{"twist", 3}}).find("m.dnm: metadata.training.augment: unknown field 'twist'"),
            std::string::npos);
  EXPECT_NE(message({{"rotate", "ten"}}).find("rotate: expected a number"), std::string::npos);
  EXPECT_NE(message({{"rotate", 400}}).find("rotate must be in"), std::string::npos);
  EXPECT_NE(message(nlohmann::json::array()).find("expected a JSON object"), std::string::npos);
}
