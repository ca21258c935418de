// PackedImages: the zero-run code round-trips every kind of image, is canonical,
// and packs real MNIST to about a quarter of its raw size.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/data/idx.hpp"
#include "digitnet/data/mnist.hpp"
#include "digitnet/data/packed_images.hpp"

namespace digitnet {
namespace {

// An image of n pixels built from runs: {zeros, literals, zeros, literals, ...};
// literal pixels are 1..255 drawn from rng.
std::vector<uint8_t> runs_image(std::vector<int> runs, Rng& rng) {
  std::vector<uint8_t> img;
  for (size_t r = 0; r < runs.size(); ++r)
    for (int k = 0; k < runs[r]; ++k)
      img.push_back(r % 2 == 0 ? 0 : static_cast<uint8_t>(1 + rng.below(255)));
  return img;
}

TEST(DataPacked, RoundTripsRunsAroundTheCodeLimits) {
  Rng rng(5);
  // Runs of 0, 1, 254, 255, 256, 511, 600 zeros and literals, an image of one
  // pixel, all zeros, no zeros, ending in zeros or in literals.
  const std::vector<std::vector<int>> cases = {
      {700, 0},      {0, 700},         {255, 255, 190}, {256, 256, 188}, {254, 1, 1, 255, 189},
      {0, 1},        {1, 0},           {511, 189},      {0, 511, 189},   {3, 4, 5, 6, 7, 8, 667},
      {0, 600, 100}, {1, 1, 1, 1, 696}};
  for (const auto& c : cases) {
    const std::vector<uint8_t> img = runs_image(c, rng);
    PackedImages p(static_cast<int64_t>(img.size()));
    p.push_back(img);
    p.push_back(img);
    ASSERT_EQ(p.size(), 2);
    EXPECT_EQ(p.image(0), img) << "runs starting " << c[0] << ", " << c[1];
    EXPECT_EQ(p.image(1), img);
    // Floats through the table, zeros included.
    std::vector<float> table(256), f(img.size(), -1.0f);
    for (int v = 0; v < 256; ++v) table[static_cast<size_t>(v)] = 0.5f + static_cast<float>(v);
    p.unpack(1, f.data(), table.data());
    for (size_t i = 0; i < img.size(); ++i) ASSERT_EQ(f[i], 0.5f + img[i]) << i;
  }
  // Worst case: no zeros costs 2 bytes per 255 pixels.
  PackedImages dense(700);
  dense.push_back(runs_image({0, 700}, rng));
  EXPECT_EQ(dense.packed_bytes(), 700 + 2 * 3);
}

TEST(DataPacked, RandomImagesRoundTripAndTheCodeIsCanonical) {
  Rng rng(11);
  const int64_t n = 97;  // odd size, many short runs
  std::vector<uint8_t> raw;
  for (int i = 0; i < 300; ++i)
    for (int64_t p = 0; p < n; ++p)
      raw.push_back(rng.below(3) == 0 ? static_cast<uint8_t>(rng.below(256)) : 0);
  const PackedImages a(n, raw);
  ASSERT_EQ(a.size(), 300);
  EXPECT_EQ(a.unpack_all(), raw);
  PackedImages b(n);
  for (int64_t i = a.size(); i-- > 0;) b.push_back_from(a, i);  // reversed, copied packed
  for (int64_t i = 0; i < a.size(); ++i) EXPECT_EQ(b.image(i), a.image(a.size() - 1 - i));
  PackedImages c(n);
  for (int64_t i = 0; i < a.size(); ++i) c.push_back(a.image(i));
  EXPECT_EQ(c, a);  // packing the same pixels again gives the same code
  c.pop_back();
  EXPECT_EQ(c.size(), 299);
  EXPECT_NE(c, a);
}

TEST(DataPacked, WrongSizesAndIndicesAreErrors) {
  EXPECT_THROW(PackedImages(0), Error);
  EXPECT_THROW(PackedImages(4, std::vector<uint8_t>(7, 1)), Error);
  PackedImages p(4);
  EXPECT_THROW(p.push_back(std::vector<uint8_t>(5, 1)), Error);
  EXPECT_THROW(p.image(0), Error);
  EXPECT_THROW(p.pop_back(), Error);
  p.push_back(std::vector<uint8_t>{0, 1, 0, 2});
  EXPECT_THROW(p.image(1), Error);
  EXPECT_THROW(p.image(-1), Error);
  // A prefetch is only a hint: any index, in range or not, changes nothing.
  EXPECT_NO_THROW(p.prefetch(-1));
  EXPECT_NO_THROW(p.prefetch(1));
  EXPECT_NO_THROW(p.prefetch(0));
  EXPECT_EQ(p.image(0), (std::vector<uint8_t>{0, 1, 0, 2}));
  PackedImages q(5);
  EXPECT_THROW(q.push_back_from(p, 0), Error);
}

TEST(DataPacked, MnistTrainingImagesPackToAboutAQuarter) {
  Dataset train;
  try {
    train = load_mnist_split(mnist_cache_dir(), "train", /*fetch=*/false);
  } catch (const Error& e) {
    FAIL() << e.what() << " (run `digitnet fetch` first; scripts/test.sh does)";
  }
  ASSERT_EQ(train.size(), 60000);
  const int64_t raw = train.size() * train.image_size();
  // 12.1 MB of 47.0 MB (25.8 %) when written; the offsets add 8 bytes per image.
  EXPECT_LT(train.pixels.packed_bytes(), raw * 27 / 100)
      << train.pixels.packed_bytes() << " of " << raw;
  // Every image unpacks to the IDX file's own bytes.
  const IdxArray idx = read_idx(mnist_cache_dir() + "/train-images-idx3-ubyte");
  ASSERT_EQ(train.pixels.unpack_all(), idx.bytes);
}

}  // namespace
}  // namespace digitnet
