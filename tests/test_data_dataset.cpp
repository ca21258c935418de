// Dataset slicing, batching and shuffling; SHA-256 known vectors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/core/rng.hpp"
#include "digitnet/core/thread_pool.hpp"
#include "digitnet/data/dataset.hpp"
#include "digitnet/data/mnist.hpp"
#include "test_support.hpp"

namespace digitnet {
namespace {

// n samples of shape {1, 2, 2}: pixel p of sample k is 10*k + p; label k % 3.
Dataset make(int n) {
  Dataset d;
  d.image_shape = {1, 2, 2};
  for (int k = 0; k < n; ++k) {
    std::vector<uint8_t> image;
    for (int p = 0; p < 4; ++p) image.push_back(static_cast<uint8_t>(10 * k + p));
    d.add(image, k % 3);
  }
  d.num_classes = 3;
  return d;
}

std::vector<int32_t> first_pixels(const Dataset& d) {
  std::vector<int32_t> out;
  for (int64_t k = 0; k < d.size(); ++k) out.push_back(d.image(k)[0]);
  return out;
}

TEST(DataDataset, SliceCopiesRowsAndKeepsMetadata) {
  const Dataset d = make(5);
  const Dataset s = d.slice(1, 4);
  EXPECT_EQ(s.size(), 3);
  EXPECT_EQ(s.image_shape, d.image_shape);
  EXPECT_EQ(s.num_classes, 3);
  EXPECT_EQ(s.labels, (std::vector<int32_t>{1, 2, 0}));
  EXPECT_EQ(first_pixels(s), (std::vector<int32_t>{10, 20, 30}));
  EXPECT_EQ(s.image(2)[3], 33);
  EXPECT_EQ(d.slice(2, 2).size(), 0);
  EXPECT_THROW(d.slice(-1, 2), Error);
  EXPECT_THROW(d.slice(3, 2), Error);
  EXPECT_THROW(d.slice(0, 6), Error);
}

TEST(DataDataset, TakeFollowsIndexOrderAndValidates) {
  const Dataset d = make(5);
  const std::vector<int64_t> idx = {4, 0, 4};
  const Dataset t = d.take(idx);
  EXPECT_EQ(t.labels, (std::vector<int32_t>{1, 0, 1}));
  EXPECT_EQ(first_pixels(t), (std::vector<int32_t>{40, 0, 40}));
  const std::vector<int64_t> bad = {0, 5};
  EXPECT_THROW(d.take(bad), Error);
  const std::vector<int64_t> neg = {-1};
  EXPECT_THROW(d.take(neg), Error);
}

TEST(DataDataset, SplitValidationTakesTheLastFraction) {
  const auto [train, val] = make(5).split_validation(0.2);
  EXPECT_EQ(train.size(), 4);
  EXPECT_EQ(val.size(), 1);
  EXPECT_EQ(first_pixels(val), (std::vector<int32_t>{40}));
  // Keras: split_at = int(n * (1 - fraction)) → int(7.5) = 7.
  const auto [tr2, va2] = make(10).split_validation(0.25);
  EXPECT_EQ(tr2.size(), 7);
  EXPECT_EQ(va2.size(), 3);
  EXPECT_EQ(first_pixels(va2), (std::vector<int32_t>{70, 80, 90}));
  // 60000 * 0.9 = 54000 exactly, as in the MNIST example.
  const Dataset big = Dataset::from_bytes({1, 1, 1}, std::vector<uint8_t>(60000, 0),
                                          std::vector<int32_t>(60000, 0));
  EXPECT_EQ(big.split_validation(0.1).first.size(), 54000);
  const auto [all, none] = make(5).split_validation(0.0);
  EXPECT_EQ(all.size(), 5);
  EXPECT_EQ(none.size(), 0);
  EXPECT_THROW(make(5).split_validation(1.0), Error);
  EXPECT_THROW(make(5).split_validation(-0.1), Error);
  EXPECT_THROW(make(5).split_validation(std::numeric_limits<double>::quiet_NaN()), Error);
  EXPECT_THROW(make(5).split_validation(0.99), Error);        // no training rows left
  EXPECT_EQ(make(5).split_validation(0.1).second.size(), 1);  // int(4.5) = 4 train rows
}

TEST(DataDataset, BatchScalesPixelsAndReusesAllocation) {
  Dataset d;
  d.image_shape = {1, 2, 2};
  for (int k = 0; k < 4; ++k) {
    std::vector<uint8_t> image;
    for (int p = 0; p < 4; ++p)
      image.push_back(static_cast<uint8_t>(k == 0 && p == 0 ? 255 : 10 * k + p));
    d.add(image, k % 3);
  }
  Tensor x;
  std::vector<int32_t> y;
  const std::vector<int64_t> idx = {0, 3, 2};
  d.batch(idx, x, y);
  EXPECT_EQ(x.shape(), (Shape{3, 1, 2, 2}));
  EXPECT_EQ(y, (std::vector<int32_t>{0, 0, 2}));
  EXPECT_EQ(x[0], 1.0f);
  EXPECT_EQ(x[1], 1.0f / 255.0f);
  EXPECT_EQ(x[4], 30.0f / 255.0f);
  EXPECT_EQ(x[11], 23.0f / 255.0f);
  const float* before = x.data();
  const std::vector<int64_t> two = {1, 1};
  d.batch(two, x, y);
  EXPECT_EQ(x.shape(), (Shape{2, 1, 2, 2}));
  EXPECT_EQ(x.data(), before);
  EXPECT_EQ(x[7], 13.0f / 255.0f);
  d.batch(idx, x, y);
  EXPECT_EQ(x.data(), before);
  const std::vector<int64_t> bad = {4};
  EXPECT_THROW(d.batch(bad, x, y), Error);
}

// On a pool, each participant unpacks a share of a batch large enough to split
// (150 images of 16x16, more than 2^15 pixels): the same floats and labels as
// on the calling thread alone, in index order; a small batch is not split.
TEST(DataDataset, BatchOnAPoolGivesTheSameRows) {
  Dataset d;
  d.image_shape = {1, 16, 16};
  for (int k = 0; k < 300; ++k) {
    std::vector<uint8_t> image(256);
    for (int p = 0; p < 256; ++p) image[static_cast<size_t>(p)] = static_cast<uint8_t>(k * 7 + p);
    d.add(image, k % 10);
  }
  std::vector<int64_t> idx(150);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>((i * 37) % 300);
  Tensor alone, shared;
  std::vector<int32_t> ya, ys;
  d.batch(idx, alone, ya);
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    d.batch(idx, shared, ys, &pool);
    ASSERT_EQ(shared.shape(), alone.shape());
    for (int64_t i = 0; i < alone.size(); ++i) ASSERT_EQ(shared[i], alone[i]) << "element " << i;
    EXPECT_EQ(ys, ya);
    const std::vector<int64_t> few = {5, 2};
    d.batch(few, shared, ys, &pool);
    EXPECT_EQ(shared[0], static_cast<float>(35 % 256) / 255.0f);
    EXPECT_EQ(ys, (std::vector<int32_t>{5, 2}));
  }
}

TEST(DataDataset, ImagesMatchesBatch) {
  const Dataset d = make(5);
  const Tensor a = d.images(1, 3);
  Tensor b;
  std::vector<int32_t> y;
  const std::vector<int64_t> idx = {1, 2};
  d.batch(idx, b, y);
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
  EXPECT_THROW(d.images(4, 6), Error);
}

TEST(DataDataset, InconsistentDatasetIsAnError) {
  Dataset d = make(3);
  d.pixels.pop_back();  // 2 images, 3 labels
  EXPECT_THROW(d.slice(0, 1), Error);
  EXPECT_THROW(d.images(0, 1), Error);
  Dataset e = make(3);
  e.image_shape = {1, 2, 3};  // 6 pixels per image, the store holds 4
  Tensor x;
  std::vector<int32_t> y;
  EXPECT_THROW(e.batch(std::vector<int64_t>{0}, x, y), Error);
  EXPECT_THROW(e.image(0), Error);
  Dataset f;
  f.image_shape = {1, 2, 2};
  EXPECT_THROW(f.add(std::vector<uint8_t>(5, 1), 0), Error);   // wrong pixel count
  EXPECT_THROW(f.add(std::vector<uint8_t>(4, 1), -1), Error);  // negative label
  EXPECT_EQ(f.size(), 0);
  EXPECT_THROW(Dataset::from_bytes({1, 2, 2}, std::vector<uint8_t>(7, 0), {0, 1}), Error);
}

TEST(DataShuffle, DeterministicPermutation) {
  Rng a(42), b(42), c(43);
  const auto pa = shuffled_indices(100, a);
  const auto pb = shuffled_indices(100, b);
  const auto pc = shuffled_indices(100, c);
  EXPECT_EQ(pa, pb);
  EXPECT_NE(pa, pc);
  std::vector<int64_t> sorted = pa;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(100);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(pa, iota);
  // The next shuffle from the same generator differs (the stream advanced).
  EXPECT_NE(shuffled_indices(100, a), pa);
  Rng r(1);
  EXPECT_TRUE(shuffled_indices(0, r).empty());
  EXPECT_EQ(shuffled_indices(1, r), (std::vector<int64_t>{0}));
  EXPECT_THROW(shuffled_indices(-1, r), Error);
}

TEST(DataShuffle, AllPermutationsEquallyLikely) {
  Rng rng(7);
  std::map<std::vector<int64_t>, int> counts;
  const int trials = 6000;
  for (int t = 0; t < trials; ++t) ++counts[shuffled_indices(3, rng)];
  ASSERT_EQ(counts.size(), 6u);
  for (const auto& [perm, count] : counts) EXPECT_NEAR(count, trials / 6, 150);
}

TEST(DataSha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(std::string_view("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string_view("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(
      sha256_hex(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::vector<uint8_t> abc = {'a', 'b', 'c'};
  EXPECT_EQ(sha256_hex(std::span<const uint8_t>(abc)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DataSha256, FileHashesAcrossBufferBoundaries) {
  testing::TempDir dir;
  const std::string p = dir.file("million-a");
  testing::write_file(p, std::string(1000000, 'a'));
  EXPECT_EQ(sha256_file(p), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Larger than the 1 MiB read buffer: compare with the system sha256sum.
  const std::string q = dir.file("big");
  std::string big(3u << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  testing::write_file(q, big);
  const auto r = testing::run_command("sha256sum '" + q + "'");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(sha256_file(q), r.out.substr(0, 64));
  const std::string missing = dir.file("missing");
  try {
    sha256_file(missing);
    ADD_FAILURE() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
  }
}

}  // namespace
}  // namespace digitnet
